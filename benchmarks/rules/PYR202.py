"""PYR202 manual-list-copy: loop + append(item) vs list(items)."""

from _bench import compare, require_311

require_311()
N = 10_000
ITEMS = tuple(range(N))


def loop():
    result = []
    for item in ITEMS:
        result.append(item)
    return result


def builtin():
    return list(ITEMS)


compare("PYR202", f"{N:,} items", loop, builtin)
