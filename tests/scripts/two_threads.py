"""One thread computes, one waits; both live the same time."""

import threading
import time


def cruncher():
    end = time.monotonic() + 1.5
    total = 0
    while time.monotonic() < end:
        total += sum(range(200))


def sleeper():
    time.sleep(1.5)


threads = [threading.Thread(target=cruncher, name="cruncher"), threading.Thread(target=sleeper, name="sleeper")]
for t in threads:
    t.start()
for t in threads:
    t.join()
