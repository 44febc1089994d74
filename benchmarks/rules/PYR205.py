"""PYR205 manual-sum-min-max: accumulation loops vs sum() / max()."""

from _bench import compare, require_311

require_311()
N = 10_000
VALUES = [(i * 7919) % 10_007 for i in range(N)]


def loop_sum():
    total = 0
    for v in VALUES:
        total += v
    return total


def builtin_sum():
    return sum(VALUES)


def loop_max():
    best = VALUES[0]
    for v in VALUES:
        if v > best:
            best = v
    return best


def builtin_max():
    return max(VALUES)


compare("PYR205", f"sum of {N:,} ints", loop_sum, builtin_sum)
compare("PYR205", f"max of {N:,} ints", loop_max, builtin_max)
