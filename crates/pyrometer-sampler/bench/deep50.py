"""Benchmark target: one thread, a 50-frame-deep Python stack, busy at the leaf forever."""
import sys


def leaf():
    x = 0
    while True:
        x += 1


def down(n):
    if n <= 1:
        return leaf()
    return down(n - 1)


# <module> + 48 x down + leaf = 50 frames.
down(int(sys.argv[1]) - 2 if len(sys.argv) > 1 else 48)
