"""PYR203 manual-dict-comprehension: loop + d[k] = v vs a dict comprehension."""

from _bench import compare, require_311

require_311()
N = 10_000
PAIRS = [(f"k{i}", i) for i in range(N)]


def loop():
    table = {}
    for key, value in PAIRS:
        table[key] = value
    return table


def comprehension():
    return {key: value for key, value in PAIRS}


compare("PYR203", f"{N:,} pairs", loop, comprehension)
