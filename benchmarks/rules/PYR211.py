"""PYR211 range-len-indexing: for i in range(len(x)): x[i] vs for item in x."""

from _bench import compare, require_311

require_311()
N = 10_000
WORDS = [f"word{i}" for i in range(N)]


def indexed():
    total = 0
    for i in range(len(WORDS)):
        total += len(WORDS[i])
    return total


def direct():
    total = 0
    for word in WORDS:
        total += len(word)
    return total


def indexed_with_index():
    total = 0
    for i in range(len(WORDS)):
        total += i * len(WORDS[i])
    return total


def enumerated():
    total = 0
    for i, word in enumerate(WORDS):
        total += i * len(word)
    return total


compare("PYR211", f"{N:,} items, item only", indexed, direct)
compare(
    "PYR211",
    f"{N:,} items, index used too (enumerate; not reported)",
    indexed_with_index,
    enumerated,
)
