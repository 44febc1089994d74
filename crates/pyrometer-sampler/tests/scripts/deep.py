"""A thread 500 frames deep in `recurse`, sleeping at the bottom."""
import sys
import time

sys.setrecursionlimit(5000)


def bottom():
    while True:
        time.sleep(0.1)  # LINE:bottom


def recurse(n):
    if n == 0:
        return bottom()
    return recurse(n - 1)  # LINE:recurse


def main():
    print("READY {}", flush=True)
    recurse(int(sys.argv[1]) - 1)


main()
