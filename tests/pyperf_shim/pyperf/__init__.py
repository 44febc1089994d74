"""A stand-in for pyperf that runs a pyperformance benchmark once, in-process, for a fixed
number of loops (``PYROMETER_BENCH_LOOPS``, default 1): no worker processes, no calibration.
The exactness tests and the overhead benchmark put it first on ``PYTHONPATH`` so that the same
deterministic work runs bare, under cProfile and under pyrometer. With
``PYROMETER_BENCH_TIMES=FILE``, the seconds the benchmark's work took, the process's CPU
seconds so far, and the CPU seconds of the work itself are appended to FILE."""

import argparse
import asyncio
import os
import time

perf_counter = time.perf_counter

__all__ = ["Runner", "perf_counter"]


def _loops() -> int:
    return int(os.environ.get("PYROMETER_BENCH_LOOPS", "1"))


class _timed:
    def __enter__(self):
        self.start = time.perf_counter()
        self.start_cpu = time.process_time()

    def __exit__(self, *exc):
        path = os.environ.get("PYROMETER_BENCH_TIMES")
        if path and exc[0] is None:
            # The work's wall time, the program's CPU time so far, the work's CPU time.
            cpu = time.process_time()
            with open(path, "a") as f:
                f.write(f"{time.perf_counter() - self.start!r} {cpu!r} {cpu - self.start_cpu!r}\n")


class Runner:
    def __init__(self, *args, **kwargs):
        self.metadata = {}
        self.argparser = argparse.ArgumentParser()
        self.args = None

    def parse_args(self, args=None):
        self.args, _ = self.argparser.parse_known_args([] if args is None else args)
        return self.args

    def _args(self):
        if self.args is None:
            self.parse_args()
        return self.args

    def bench_func(self, name, func, *args, inner_loops=None, metadata=None):
        self._args()
        with _timed():
            for _ in range(_loops()):
                func(*args)

    def bench_time_func(self, name, time_func, *args, inner_loops=None, metadata=None):
        self._args()
        with _timed():
            return time_func(_loops(), *args)

    def bench_async_func(self, name, func, *args, inner_loops=None, metadata=None):
        self._args()
        with _timed():
            for _ in range(_loops()):
                asyncio.run(func(*args))

    def bench_command(self, name, command):
        raise SystemExit("bench_command benchmarks are not supported by the shim")
