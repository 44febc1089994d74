def inner():
    raise RuntimeError("the program failed")


def outer():
    inner()


outer()
