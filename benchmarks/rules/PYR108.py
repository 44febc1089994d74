"""PYR108 loop-invariant-linear-call: `max(values)` in a loop vs hoisted."""

from _bench import compare, require_311

require_311()
N = 2_000
VALUES = [float(i % 97) + 1.0 for i in range(N)]


def in_loop():
    values = VALUES
    return [v / max(values) for v in values]


def hoisted():
    values = VALUES
    top = max(values)
    return [v / top for v in values]


compare("PYR108", f"{N:,} items", in_loop, hoisted)
