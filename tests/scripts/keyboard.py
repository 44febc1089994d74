def work():
    return sum(range(1000))


def interrupt():
    work()
    raise KeyboardInterrupt


interrupt()
