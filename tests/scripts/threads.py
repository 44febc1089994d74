"""Threads doing known amounts of work: counts are exact by construction."""

import sys
import threading


def leaf(i):
    return i * 2


def worker(n):
    total = 0
    for i in range(n):
        total += leaf(i)
    return total


def main():
    started_before = threading.Thread(target=worker, args=(100,), name="early")
    started_before.start()
    started_before.join()
    threads = [threading.Thread(target=worker, args=(1000 * (k + 1),), name=f"worker-{k}") for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    worker(10)


main()
print("threads done", file=sys.stderr)
