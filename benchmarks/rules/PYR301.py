"""PYR301 cache-on-method: memory kept alive by a cache on a method vs a per-instance cache.

10,000 short-lived objects, each holding a 10 kB payload, call a cached method once and are
then dropped. With the cache on the method, every instance stays reachable from the cache.
"""

import functools
import gc
import sys
import tracemalloc
import weakref

from _bench import require_311

require_311()
N = 10_000


class CachedOnMethod:
    def __init__(self, i):
        self.payload = bytes(10_000)
        self.i = i

    @functools.lru_cache(maxsize=None)
    def score(self, x):
        return self.i * x


class CachedPerInstance:
    def __init__(self, i):
        self.payload = bytes(10_000)
        self.i = i
        self.score = functools.lru_cache(maxsize=None)(self._score)

    def _score(self, x):
        return self.i * x


def retained(cls):
    gc.collect()
    tracemalloc.start()
    refs = []
    for i in range(N):
        obj = cls(i)
        obj.score(3)
        refs.append(weakref.ref(obj))
        del obj
    gc.collect()
    current, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    alive = sum(ref() is not None for ref in refs)
    return current, alive


before, alive_before = retained(CachedOnMethod)
after, alive_after = retained(CachedPerInstance)
print(
    f"PYR301\t{N:,} instances of 10 kB, dropped after one call\t"
    f"{before / 1e6:.1f} MB retained ({alive_before:,} alive)\t"
    f"{after / 1e6:.2f} MB retained ({alive_after:,} alive)\t"
    f"{before / max(after, 1):.0f}x less memory retained"
)
sys.stdout.flush()
