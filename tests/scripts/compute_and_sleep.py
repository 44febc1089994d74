"""Computes and sleeps alternately in small pieces; prints the wall and CPU time each took (the
truth a sampled profile must match)."""

import json
import time


def compute(seconds):
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def rest(seconds):
    time.sleep(seconds)


wall = {"compute": 0.0, "rest": 0.0}
cpu = {"compute": 0.0, "rest": 0.0}
cpu_start = time.process_time()
for _ in range(20):
    for name, f in (("compute", compute), ("rest", rest)):
        start, start_cpu = time.monotonic(), time.process_time()
        f(0.05)
        wall[name] += time.monotonic() - start
        cpu[name] += time.process_time() - start_cpu
cpu["total"] = time.process_time() - cpu_start
print(json.dumps({"wall": wall, "cpu": cpu}))
