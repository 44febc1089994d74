"""Threads start and stop all the time while the main thread keeps busy."""
import threading
import time


def short_life(n):
    total = 0
    for i in range(n):
        total += i
    time.sleep(0.001)
    return total


def spawner():
    while True:
        threads = [threading.Thread(target=short_life, args=(2000,)) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()


print("READY {}", flush=True)
threading.Thread(target=spawner, daemon=True).start()
x = 0
while True:
    x += 1  # LINE:main
