"""PYR103 list-membership-in-loop: `x in list` vs `x in set` inside a loop."""

from _bench import compare, require_311

require_311()
N = 1_000
WORDS = [f"w{i}" for i in range(0, 2 * N, 2)]
VOCAB = [f"w{i}" for i in range(N)]


def with_list():
    vocabulary = list(VOCAB)
    return [w for w in WORDS if w in vocabulary]


def with_set():
    vocabulary = set(VOCAB)
    return [w for w in WORDS if w in vocabulary]


compare("PYR103", f"{N:,} tests against {N:,} items", with_list, with_set)
