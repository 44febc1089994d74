"""PYR106 exchange-sort: bubble sort vs list.sort()."""

import random

from _bench import compare, require_311

require_311()
N = 1_000
random.seed(1)
DATA = [random.random() for _ in range(N)]


def bubble():
    a = list(DATA)
    n = len(a)
    for i in range(n):
        for j in range(n - i - 1):
            if a[j] > a[j + 1]:
                a[j], a[j + 1] = a[j + 1], a[j]
    return a


def builtin():
    a = list(DATA)
    a.sort()
    return a


compare("PYR106", f"{N:,} random floats", bubble, builtin)
