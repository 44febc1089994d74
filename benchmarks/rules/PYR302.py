"""PYR302 unbounded-cache: memory of an unbounded cache fed distinct strings vs a bounded one."""

import functools
import gc
import sys
import tracemalloc

from _bench import require_311

require_311()
N = 200_000
INPUTS = [f"user-{i}@example.com" for i in range(N)]


def normalise(name: str) -> str:
    return name.casefold()


def retained(maxsize):
    cached = functools.lru_cache(maxsize=maxsize)(normalise)
    gc.collect()
    tracemalloc.start()
    for s in INPUTS:
        cached(s)
    current, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return current


before = retained(None)
after = retained(4096)
print(
    f"PYR302\t{N:,} distinct 25-char strings\t{before / 1e6:.1f} MB retained (maxsize=None)\t"
    f"{after / 1e6:.2f} MB retained (maxsize=4096)\t{before / max(after, 1):.0f}x less memory"
)
sys.stdout.flush()
