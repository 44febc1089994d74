"""Shared helpers for the rule benchmarks (CPython 3.11).

Each `PYR###.py` times the pattern its rule reports ("before") against the suggested rewrite
("after") on an input of a stated size, checks that both compute the same result, and prints
one tab-separated line per case:

    CODE <tab> case (input size) <tab> before <tab> after <tab> gain

Times are per call, in CPU time of this process (`time.process_time`, so that other jobs on
this shared 2-core machine do not count): the minimum over 9 rounds, each round timing
`before` then `after` with `timeit` and an auto-ranged number of loops (>= 0.2 s each).
Interleaving keeps a change of machine load from favouring either side, and the minimum is
the least disturbed figure. Memory cases report tracemalloc's peak. `run_all.py` runs
every file.
"""

import gc
import sys
import time
import timeit
import tracemalloc


def fmt_time(seconds):
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.2f} us"


def interleaved(before, after, rounds=9):
    """Best per-call times of `before` and `after`, measured in alternating rounds."""
    timers = [timeit.Timer(before, timer=time.process_time), timeit.Timer(after, timer=time.process_time)]
    numbers = [timer.autorange()[0] for timer in timers]
    best = [float("inf"), float("inf")]
    for _ in range(rounds):
        for side in (0, 1):
            elapsed = timers[side].timeit(numbers[side]) / numbers[side]
            best[side] = min(best[side], elapsed)
    return best


def compare(code, case, before, after, check=True):
    """Times `before` and `after`; prints and returns the speed-up (before / after)."""
    if check:
        expected, got = before(), after()
        if expected != got:
            raise AssertionError(f"{code} {case}: rewrite changes the result")
    t_before, t_after = interleaved(before, after)
    ratio = t_before / t_after
    print(f"{code}\t{case}\t{fmt_time(t_before)}\t{fmt_time(t_after)}\t{ratio:.2f}x faster")
    sys.stdout.flush()
    return ratio


def peak_memory(fn):
    gc.collect()
    tracemalloc.start()
    try:
        fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak


def compare_memory(code, case, before, after):
    """Prints and returns the ratio of tracemalloc peaks (before / after)."""
    p_before = peak_memory(before)
    p_after = peak_memory(after)
    ratio = p_before / max(p_after, 1)
    print(f"{code}\t{case}\t{p_before / 1e6:.2f} MB peak\t{p_after / 1e6:.2f} MB peak\t{ratio:.1f}x less memory")
    sys.stdout.flush()
    return ratio


def require_311():
    if sys.version_info[:2] != (3, 11):
        print(f"warning: figures are for CPython 3.11; running {sys.version.split()[0]}", file=sys.stderr)
