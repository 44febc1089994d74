"""PYR501 global-lookup-in-loop: a module global read in a loop vs a local."""

from _bench import compare, require_311

require_311()
N = 100_000
SCALE = 2.5
VALUES = [float(i) for i in range(N)]


def global_in_loop():
    total = 0.0
    for v in VALUES:
        total += v * SCALE
    return total


def local_alias():
    scale = SCALE
    total = 0.0
    for v in VALUES:
        total += v * scale
    return total


def builtin_in_loop():
    total = 0
    for v in VALUES:
        total += abs(v)
    return total


def builtin_local():
    _abs = abs
    total = 0
    for v in VALUES:
        total += _abs(v)
    return total


compare("PYR501", f"global read, {N:,} iterations", global_in_loop, local_alias)
compare("PYR501", f"builtin call, {N:,} iterations", builtin_in_loop, builtin_local)
