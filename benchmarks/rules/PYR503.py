"""PYR503 loop-invariant-len: while i < len(x) vs n = len(x)."""

from _bench import compare, require_311

require_311()
N = 100_000
DATA = [i % 3 for i in range(N)]


def len_in_loop():
    data = DATA
    i = 0
    pairs = 0
    while i < len(data) - 1:
        pairs += data[i] == data[i + 1]
        i += 1
    return pairs


def hoisted():
    data = DATA
    i = 0
    pairs = 0
    n = len(data)
    while i < n - 1:
        pairs += data[i] == data[i + 1]
        i += 1
    return pairs


compare("PYR503", f"{N:,} iterations", len_in_loop, hoisted)
