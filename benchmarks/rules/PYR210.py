"""PYR210 list-comp-iterated-once: for x in [...] vs for x in (...): time and memory."""

from _bench import compare, compare_memory, require_311

require_311()
N = 100_000
VALUES = list(range(N))


def over_list():
    total = 0
    for x in [v * 3 for v in VALUES]:
        total += x
    return total


def over_generator():
    total = 0
    for x in (v * 3 for v in VALUES):
        total += x
    return total


compare("PYR210", f"{N:,} items (time)", over_list, over_generator)
compare_memory("PYR210", f"{N:,} items (memory)", over_list, over_generator)
