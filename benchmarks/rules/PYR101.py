"""PYR101 string-concat-in-loop: `s += piece` vs `"".join(parts)`."""

from _bench import compare, require_311

require_311()
N = 100_000
PARTS = ["abcdefgh"] * N


def concat_local():
    out = ""
    for p in PARTS:
        out += p
    return out


def join_local():
    parts = []
    for p in PARTS:
        parts.append(p)
    return "".join(parts)


class Box:
    pass


M = 20_000
SMALL = PARTS[:M]


def concat_attribute():
    box = Box()
    box.text = ""
    for p in SMALL:
        box.text += p
    return box.text


def join_attribute():
    box = Box()
    box.text = "".join(SMALL)
    return box.text


compare("PYR101", f"local str, {N:,} pieces of 8 chars", concat_local, join_local)
compare("PYR101", f"attribute str, {M:,} pieces", concat_attribute, join_attribute)
