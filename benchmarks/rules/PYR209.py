"""PYR209 list-comp-in-reduction: sum([...]) vs sum(generator): time and memory."""

from _bench import compare, compare_memory, require_311

require_311()
N = 100_000
VALUES = list(range(N))


def list_sum():
    return sum([v * 2 for v in VALUES])


def gen_sum():
    return sum(v * 2 for v in VALUES)


compare("PYR209", f"sum of {N:,} items (time)", list_sum, gen_sum)
compare_memory("PYR209", f"sum of {N:,} items (memory)", list_sum, gen_sum)
