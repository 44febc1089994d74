"""How long an allocating thread can be held up by the memory collector's checkpoints.

A program holds about `--gib` GiB of live allocations spread over many sites (thousands of
distinct stacks), so every checkpoint has a large profile to build; then a worker thread
allocates and frees 16 KiB blocks for `--seconds`, timing each allocation, while the main
thread sleeps. At 16 KiB, the default sampling interval, most of the worker's allocations are
sampled and so take the lock a checkpoint takes. The program runs under
`pyrometer run --mode memory --checkpoint INTERVAL`, and once more with `--checkpoint 0` (the
control: no checkpoints); both report the longest allocation and
high percentiles, and how many checkpoints were written while the worker ran. Times are elapsed
time: on a shared machine they also count the worker's preemption by other processes, which
`--realtime` (SCHED_FIFO, through `chrt`) keeps out.

    python benchmarks/memory_stall.py [--gib 1] [--seconds 10] [--checkpoint 0.1] [--runs 3] [--realtime 10]

The interpreter that runs this script runs the program; it needs pyrometer installed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from overhead import pyrometer_command

PROGRAM = r"""
import gc, json, os, sys, threading, time
from array import array

GIB = float(os.environ["STALL_GIB"])
SECONDS = float(os.environ["STALL_SECONDS"])
BLOCK = 4096
FUNCTIONS = 2000
DEPTHS = 8

# Many sites: FUNCTIONS allocating functions, each reached through DEPTHS call paths.
source = []
for i in range(FUNCTIONS):
    source.append(f"def f{i}(n, out):\n    out.extend(bytes(BLOCK) for _ in range(n))\n")
source.append("def via0(f, n, out):\n    return f(n, out)\n")
for d in range(1, DEPTHS):
    source.append(f"def via{d}(f, n, out):\n    return via{d - 1}(f, n, out)\n")
namespace = {"BLOCK": BLOCK}
exec("".join(source), namespace)
functions = [namespace[f"f{i}"] for i in range(FUNCTIONS)]
paths = [namespace[f"via{d}"] for d in range(DEPTHS)]

held = []
per_call = max(1, int(GIB * 2**30 / BLOCK / (FUNCTIONS * DEPTHS)))
gc.disable()
for via in paths:
    for f in functions:
        via(f, per_call, held)

wall = array("q")
def worker():
    clock = time.perf_counter_ns
    end = clock() + int(SECONDS * 1e9)
    pause = clock() + 20_000_000
    while True:
        t0 = clock()
        b = bytearray(16384)
        t1 = clock()
        wall.append(t1 - t0)
        del b
        if t1 > pause:
            # Idle a tenth of the time, outside the timed calls: under SCHED_FIFO a thread
            # that never sleeps is throttled for 50 ms each second (sched_rt_runtime_us).
            time.sleep(0.002)
            pause = clock() + 20_000_000
        if t1 > end:
            break

t = threading.Thread(target=worker, name="timed")
started = time.time_ns()
t.start()
t.join()  # the main thread waits without the GIL, so the worker never hands it over
ended = time.time_ns()

def figures(times):
    times = sorted(times)
    n = len(times)
    pick = lambda q: times[min(n - 1, int(q * n))]
    return {"max_ns": times[-1], "p9999_ns": pick(0.9999), "p999_ns": pick(0.999),
            "over_1ms": sum(1 for x in times if x > 1_000_000)}

with open(os.environ["STALL_OUT"], "w") as f:
    json.dump({"held_bytes": len(held) * BLOCK, "allocations": len(wall),
               "started_ns": started, "ended_ns": ended,
               **figures(wall)}, f)
"""


def run(args: argparse.Namespace, checkpoint: float | None, tmp: Path) -> dict:
    program = tmp / "stall_program.py"
    program.write_text(PROGRAM)
    out = tmp / "stall.json"
    out.unlink(missing_ok=True)
    options = ["--checkpoint", str(checkpoint or 0)]
    realtime = ["chrt", "--fifo", str(args.realtime)] if args.realtime else []
    cmd = [
        *realtime,
        *pyrometer_command(),
        "run",
        "-q",
        "--mode",
        "memory",
        *options,
        "-o",
        str(tmp / "out.pyro"),
        str(program),
    ]
    work = tmp / "work"
    work.mkdir(exist_ok=True)
    env = dict(
        os.environ, TMPDIR=str(work), STALL_GIB=str(args.gib), STALL_SECONDS=str(args.seconds), STALL_OUT=str(out)
    )
    # The checkpoints written while the worker ran: the checkpoint file's modification times
    # (the launcher's work directory is under TMPDIR), watched from here so that the program
    # is not disturbed.
    written: set[int] = set()
    proc = subprocess.Popen(cmd, cwd=tmp, env=env)
    while proc.poll() is None:
        for path in work.glob("pyrometer-*/profile.pyro"):
            try:
                written.add(path.stat().st_mtime_ns)
            except OSError:
                pass
        time.sleep(0.005)
    if proc.returncode != 0:
        raise SystemExit(f"the program failed: {cmd}")
    result = json.loads(out.read_text())
    result["checkpoints"] = sum(1 for t in written if result["started_ns"] <= t <= result["ended_ns"])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gib", type=float, default=1.0, help="live memory the program holds, GiB")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long the worker allocates")
    parser.add_argument("--checkpoint", type=float, default=0.1, help="checkpoint interval, seconds")
    parser.add_argument(
        "--realtime",
        type=int,
        default=0,
        help="run the program at this SCHED_FIFO priority (chrt; needs the right to), so that other "
        "processes do not preempt it and the wall clock shows the waits the program itself causes",
    )
    parser.add_argument("--runs", type=int, default=3, help="runs of each setting (interleaved)")
    args = parser.parse_args()
    results: dict[str, list[dict]] = {"checkpoints": [], "control": []}
    with tempfile.TemporaryDirectory(prefix="pyrometer-stall-") as tmp:
        for _ in range(args.runs):
            results["checkpoints"].append(run(args, args.checkpoint, Path(tmp)))
            results["control"].append(run(args, None, Path(tmp)))
    held = statistics.median(r["held_bytes"] for rows in results.values() for r in rows) / 2**30
    print(f"{sys.version.split()[0]}, {held:.2f} GiB held, worker {args.seconds:g} s, --checkpoint {args.checkpoint:g}")
    print("| setting | checkpoints | allocations | longest | p99.99 | p99.9 | over 1 ms |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, rows in results.items():
        for r in rows:
            print(
                f"| {name} | {r['checkpoints']} | {r['allocations']:,} | {r['max_ns'] / 1e6:.2f} ms"
                f" | {r['p9999_ns'] / 1e3:.0f} µs | {r['p999_ns'] / 1e3:.0f} µs | {r['over_1ms']} |"
            )
        longest = statistics.median(r["max_ns"] for r in rows) / 1e6
        print(f"| {name}, median of the longest | | | {longest:.2f} ms | | | |")


if __name__ == "__main__":
    main()
