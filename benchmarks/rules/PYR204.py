"""PYR204 manual-counting: counting and grouping by hand vs Counter / defaultdict."""

from collections import Counter, defaultdict

from _bench import compare, require_311

require_311()
N = 100_000
WORDS = [f"w{i % 1000}" for i in range(N)]


def count_by_hand():
    counts = {}
    for word in WORDS:
        if word in counts:
            counts[word] += 1
        else:
            counts[word] = 1
    return counts


def count_counter():
    return dict(Counter(WORDS))


def group_setdefault():
    groups = {}
    for i, word in enumerate(WORDS):
        groups.setdefault(word, []).append(i)
    return groups


def group_defaultdict():
    groups = defaultdict(list)
    for i, word in enumerate(WORDS):
        groups[word].append(i)
    return dict(groups)


compare("PYR204", f"count {N:,} words (1,000 distinct)", count_by_hand, count_counter)
compare("PYR204", f"group {N:,} items by setdefault", group_setdefault, group_defaultdict)
