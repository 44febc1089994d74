"""PYR208 list-comp-in-any-all: any([...]) vs any(generator)."""

from _bench import compare, require_311

require_311()
N = 10_000
HIT_EARLY = ["ok"] * N
HIT_EARLY[10] = "ERROR here"
NO_HIT = ["ok"] * N


def list_early():
    return any(["ERROR" in line for line in HIT_EARLY])


def gen_early():
    return any("ERROR" in line for line in HIT_EARLY)


def list_none():
    return any(["ERROR" in line for line in NO_HIT])


def gen_none():
    return any("ERROR" in line for line in NO_HIT)


compare("PYR208", f"{N:,} lines, match at item 10", list_early, gen_early)
compare("PYR208", f"{N:,} lines, no match (worst case)", list_none, gen_none)
