"""PYR109 list-as-set: a list the loop grows, tested with `in` / `.index` vs a set or a dict."""

import random
from collections import Counter
from functools import partial

from _bench import compare, require_311

require_311()


def tokens(distinct):
    """Each of `distinct` words twice, shuffled: half the tests miss, half hit."""
    words = [f"w{i % distinct}" for i in range(2 * distinct)]
    random.Random(109).shuffle(words)
    return words


def dedupe_list(words):
    seen = []
    for word in words:
        if word not in seen:
            seen.append(word)
    return seen


def dedupe_set_beside(words):
    seen = []
    seen_set = set()
    for word in words:
        if word not in seen_set:
            seen_set.add(word)
            seen.append(word)
    return seen


def count_parallel_lists(words):
    seen, counts = [], []
    for word in words:
        if word in seen:
            counts[seen.index(word)] += 1
        else:
            seen.append(word)
            counts.append(1)
    return seen, counts


def count_counter(words):
    counts = Counter(words)
    return list(counts), list(counts.values())


for n in (1_000, 10_000):
    words = tokens(n)
    compare(
        "PYR109",
        f"ordered dedupe, {n:,} distinct of {2 * n:,}",
        partial(dedupe_list, words),
        partial(dedupe_set_beside, words),
    )
for n in (1_000, 10_000):
    words = tokens(n)
    compare(
        "PYR109",
        f"count with parallel lists, {n:,} distinct of {2 * n:,}",
        partial(count_parallel_lists, words),
        partial(count_counter, words),
    )
