"""PYR212 unnecessary-list-cast: for x in list(t) vs for x in t."""

from _bench import compare, require_311

require_311()
N = 10_000
NAMES = tuple(f"n{i}" for i in range(N))


def with_cast():
    count = 0
    for name in list(NAMES):
        count += 1
    return count


def direct():
    count = 0
    for name in NAMES:
        count += 1
    return count


compare("PYR212", f"tuple of {N:,} items", with_cast, direct)
