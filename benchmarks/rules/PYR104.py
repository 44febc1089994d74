"""PYR104 quadratic-list-concat: `out = out + group` and `sum(lists, [])` vs in place."""

import itertools

from _bench import compare, require_311

require_311()
N = 5_000
GROUPS = [[i, i + 1, i + 2] for i in range(N)]


def concat():
    out = []
    for group in GROUPS:
        out = out + group
    return out


def extend():
    out = []
    for group in GROUPS:
        out += group
    return out


def sum_lists():
    return sum(GROUPS, [])


def chain():
    return list(itertools.chain.from_iterable(GROUPS))


compare("PYR104", f"x = x + group, {N:,} groups of 3", concat, extend)
compare("PYR104", f"sum(lists, []), {N:,} lists of 3", sum_lists, chain)
