"""PYR506 try-except-in-loop: try inside the loop vs around it (no exception raised)."""

from _bench import compare, require_311

require_311()
N = 100_000
ITEMS = [str(i) for i in range(N)]


def inside():
    out = []
    for item in ITEMS:
        try:
            out.append(int(item))
        except ValueError:
            raise
    return out


def outside():
    out = []
    try:
        for item in ITEMS:
            out.append(int(item))
    except ValueError:
        raise
    return out


compare("PYR506", f"{N:,} iterations", inside, outside)
