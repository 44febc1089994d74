"""A program that profiles part of itself with cProfile (as test suites and tools do)."""

import cProfile
import pstats


def inner(n):
    return sum(i * i for i in range(n))


def outer():
    return [inner(100) for _ in range(50)]


profiler = cProfile.Profile()
profiler.enable()
outer()
profiler.disable()
stats = pstats.Stats(profiler)
key = next(k for k in stats.stats if k[2] == "inner")
print("cProfile saw inner", stats.stats[key][1], "times")
