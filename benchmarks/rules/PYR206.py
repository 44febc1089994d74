"""PYR206 manual-any-all: loop with early return vs any(generator)."""

from _bench import compare, require_311

require_311()
N = 10_000
VALUES = list(range(N))  # no negative value: both scan everything


def loop():
    for v in VALUES:
        if v < 0:
            return True
    return False


def builtin():
    return any(v < 0 for v in VALUES)


def builtin_map():
    return any(map((0).__gt__, VALUES))


compare("PYR206", f"any() over {N:,} items, generator", loop, builtin)
compare("PYR206", f"any() over {N:,} items, C predicate via map", loop, builtin_map)
