"""Line-level profiling overhead: pyperformance workloads run bare, under kernprof
(line_profiler) and under `pyrometer run --mode lines`, every function of the workload's
script measured, interleaved, several runs; slowdown = median time / median bare time, with the
geometric mean over workloads.

Both tools measure the functions of the workload's own script: kernprof with
`-l -p SCRIPT` (line_profiler's auto-profiling adds `@profile` to every function and method in
it), pyrometer with `--include SCRIPT` (every code object of the file: also its module body,
nested functions, lambdas and comprehensions, so a superset). The time is the workload's own
(measured inside the program by the pyperf stand-in in tests/pyperf_shim), so start-up and
writing the results at exit are left out.

Run with the interpreter under test, with pyrometer, line_profiler and pyperformance installed:

    python benchmarks/lines.py [--runs 3] [--target 0.3] [--only richards,go] [--floor] [--out FILE.md]

With --floor (3.11 only): also pyrometer with a trace function that does nothing
(PYROMETER_TRACER_NOOP=1), the cost of CPython 3.11's tracing path itself in the measured frames
(3.11 has no other source of line events), which no line profiler on 3.11 can go below.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from overhead import SHIM, WORKLOADS, benchmarks_dir, emit, pyrometer_command, work_times

TOOLS = ["bare", "kernprof", "pyrometer"]
FLOOR = "trace floor"


def command(tool: str, script: Path, out_dir: Path) -> list[str]:
    if tool == "bare":
        return [sys.executable, str(script)]
    if tool == "kernprof":
        kernprof = Path(sys.executable).parent / "kernprof"
        return [str(kernprof), "-l", "-q", "-p", str(script), "-o", str(out_dir / "out.lprof"), str(script)]
    out = str(out_dir / "out.pyro")
    return [*pyrometer_command(), "run", "--mode", "lines", "--include", str(script), "-q", "-o", out, str(script)]


def tool_command(tool: str, script: Path, out_dir: Path) -> list[str]:
    return command("pyrometer" if tool == FLOOR else tool, script, out_dir)


def run_once(tool: str, script: Path, loops: int, out_dir: Path) -> float:
    """Seconds of the workload itself."""
    times = out_dir / "times.txt"
    times.unlink(missing_ok=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(SHIM), env.get("PYTHONPATH", "")] if p)
    env["PYTHONHASHSEED"] = "0"
    env["PYROMETER_BENCH_LOOPS"] = str(loops)
    env["PYROMETER_BENCH_TIMES"] = str(times)
    env["PYROMETER_DIR"] = str(out_dir / ".pyrometer")
    if tool == FLOOR:
        env["PYROMETER_TRACER_NOOP"] = "1"
    proc = subprocess.run(tool_command(tool, script, out_dir), cwd=out_dir, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{tool} {script.parent.name} failed:\n{proc.stderr[-2000:]}")
    return work_times(times)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="runs per workload and tool (interleaved)")
    parser.add_argument("--target", type=float, default=0.3, help="seconds a bare run should take")
    parser.add_argument("--only", help="comma-separated workloads")
    parser.add_argument("--out", type=Path, help="also write the table (Markdown) here")
    parser.add_argument("--floor", action="store_true", help="also measure a do-nothing trace function (3.11)")
    args = parser.parse_args()
    if args.floor and sys.version_info >= (3, 12):
        parser.error("--floor measures 3.11's trace function; 3.12+ uses sys.monitoring")
    tools = [*TOOLS, FLOOR] if args.floor else TOOLS

    benchmarks = benchmarks_dir()
    workloads = args.only.split(",") if args.only else WORKLOADS
    rows = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="pyrometer-lines-") as tmp:
        out_dir = Path(tmp)
        for name in workloads:
            script = benchmarks / f"bm_{name}" / "run_benchmark.py"
            one = run_once("bare", script, 1, out_dir)
            loops = max(1, math.ceil(args.target / max(one, 1e-6)))
            samples: dict[str, list[float]] = {t: [] for t in tools}
            for i in range(args.runs):
                k = i % len(tools)
                for tool in tools[k:] + tools[:k]:  # rotate who goes first
                    samples[tool].append(run_once(tool, script, loops, out_dir))
            inner = {t: statistics.median(samples[t]) for t in tools}
            row = {
                "workload": name,
                "bare_s": inner["bare"],
                "kernprof": inner["kernprof"] / inner["bare"],
                "pyrometer": inner["pyrometer"] / inner["bare"],
                "floor": inner[FLOOR] / inner["bare"] if args.floor else None,
            }
            rows.append(row)
            print(
                f"{name:16} bare {row['bare_s']:.3f}s  kernprof {row['kernprof']:.2f}x  "
                f"pyrometer {row['pyrometer']:.2f}x" + (f"  floor {row['floor']:.2f}x" if args.floor else ""),
                flush=True,
            )

    def gmean(key: str) -> float:
        return math.exp(sum(math.log(r[key]) for r in rows) / len(rows))

    g_k, g_p = gmean("kernprof"), gmean("pyrometer")
    lines = [
        f"Line profiling overhead on CPython {platform.python_version()} ({platform.machine()}, "
        f"{os.cpu_count()} CPUs), every function of each workload's script measured, {args.runs} interleaved "
        f"runs each, medians; slowdown = time / bare time ({time.perf_counter() - started:.0f} s in all).",
        "",
        "| workload | bare (s) | kernprof -l | pyrometer lines | pyrometer excess / kernprof excess |"
        + (" trace floor |" if args.floor else ""),
        "|---|---:|---:|---:|---:|" + ("---:|" if args.floor else ""),
    ]
    for r in rows:
        ratio = (r["pyrometer"] - 1) / (r["kernprof"] - 1) if r["kernprof"] > 1 else float("nan")
        cells = [r["workload"], f"{r['bare_s']:.3f}", f"{r['kernprof']:.2f}x", f"{r['pyrometer']:.2f}x", f"{ratio:.2f}"]
        if args.floor:
            cells.append(f"{r['floor']:.2f}x")
        lines.append("| " + " | ".join(cells) + " |")
    floor_mean = f" **{gmean('floor'):.2f}x** |" if args.floor else ""
    lines.append(
        f"| **geometric mean** | | **{g_k:.2f}x** | **{g_p:.2f}x** | **{(g_p - 1) / (g_k - 1):.2f}** |" + floor_mean
    )
    over = [r["workload"] for r in rows if r["pyrometer"] > 4]
    lines += [
        "",
        f"Excess overhead (slowdown - 1), geometric means: kernprof {g_k - 1:.2f}, pyrometer {g_p - 1:.2f} "
        f"(target: at most half of kernprof's, {(g_k - 1) / 2:.2f}).",
        f"Workloads above 4x under pyrometer: {', '.join(over) if over else 'none'}.",
    ]
    if args.floor:
        floor_over = [r["workload"] for r in rows if r["floor"] > 4]
        lines.append(
            "Workloads where a trace function that does nothing already costs more than 4x: "
            f"{', '.join(floor_over) if floor_over else 'none'}."
        )
    emit("\n".join(lines), args.out)


if __name__ == "__main__":
    main()
