"""PYR402 regex-in-loop: re.search(constant, s) in a loop vs a precompiled pattern."""

import re

from _bench import compare, require_311

require_311()
N = 10_000
LINES = [f"order {i} shipped" for i in range(N)]
NUMBER = re.compile(r"\d+")


def in_loop():
    return [re.search(r"\d+", line).group() for line in LINES]


def precompiled():
    return [NUMBER.search(line).group() for line in LINES]


compare("PYR402", f"{N:,} short lines, re.search", in_loop, precompiled)
