"""Works, announces it is ready, then waits until killed from outside."""

import time


def work():
    return sum(i * i for i in range(20000))


def idle():
    while True:
        time.sleep(0.05)


work()
print("ready", flush=True)
idle()
