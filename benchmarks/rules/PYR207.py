"""PYR207 sorted-for-min-max: sorted(x)[0] vs min(x)."""

import random

from _bench import compare, require_311

require_311()
N = 10_000
random.seed(2)
VALUES = [random.random() for _ in range(N)]


def sorted_first():
    return sorted(VALUES)[0]


def builtin_min():
    return min(VALUES)


compare("PYR207", f"{N:,} random floats", sorted_first, builtin_min)
