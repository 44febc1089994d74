"""PYR405 threads-for-cpu-bound: pure-Python work in 2 threads vs 2 processes (2-core machine)."""

import math
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

from _bench import fmt_time, require_311

LIMIT = 60_000
TASKS = 4


def count_primes(limit):
    count = 0
    for n in range(2, limit):
        if all(n % d for d in range(2, int(math.sqrt(n)) + 1)):
            count += 1
    return count


def run(executor_cls):
    if executor_cls is None:
        return [count_primes(LIMIT) for _ in range(TASKS)]
    with executor_cls(max_workers=2) as pool:
        return list(pool.map(count_primes, [LIMIT] * TASKS))


def best(executor_cls, repeat=3):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = run(executor_cls)
        times.append(time.perf_counter() - start)
    return min(times), result


if __name__ == "__main__":
    require_311()
    # Wall time: parallelism is the point. Other jobs on the machine show in the load average.
    t_serial, r_serial = best(None)
    t_threads, r_threads = best(ThreadPoolExecutor)
    t_procs, r_procs = best(ProcessPoolExecutor)
    assert r_serial == r_threads == r_procs
    load = os.getloadavg()[0]
    print(
        f"PYR405\t{TASKS} tasks, 2 workers, {os.cpu_count()} cores, load {load:.1f} "
        f"(serial {fmt_time(t_serial)}; pool start-up included)\t"
        f"{fmt_time(t_threads)} threads\t{fmt_time(t_procs)} processes\t"
        f"{t_threads / t_procs:.2f}x faster"
    )
    sys.stdout.flush()
