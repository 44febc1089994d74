"""PYR201 manual-list-comprehension: loop + append vs a list comprehension."""

from _bench import compare, require_311

require_311()
N = 10_000
VALUES = list(range(N))


def loop():
    result = []
    for v in VALUES:
        if v % 2:
            result.append(v * v)
    return result


def comprehension():
    return [v * v for v in VALUES if v % 2]


compare("PYR201", f"{N:,} items, filter + map", loop, comprehension)
