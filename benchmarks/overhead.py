"""Tracing overhead: pyperformance workloads run bare, under cProfile and under
`pyrometer run --mode trace`, interleaved, several runs; slowdown = median time / median bare
time, with the geometric mean over workloads.

The time is the workload's own (measured inside the program by the pyperf stand-in in
tests/pyperf_shim), so interpreter start-up and writing the profile at exit are left out; the
whole-process wall time is reported beside it.

Run with the interpreter under test, with pyrometer and pyperformance installed in it:

    python benchmarks/overhead.py [--runs 5] [--target 0.5] [--only richards,go] [--out FILE.md]

`benchmarks/run_overhead.sh` does the set-up for 3.11, 3.12 and 3.13 and runs this.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHIM = ROOT / "tests" / "pyperf_shim"

WORKLOADS = [
    "richards",
    "nqueens",
    "float",
    "deltablue",
    "go",
    "hexiom",
    "raytrace",
    "chaos",
    "json_dumps",
    "generators",
    "coroutines",
    "deepcopy",
    "spectral_norm",
    "nbody",
    "pyflate",
    "logging",
    "unpack_sequence",
    "comprehensions",
]

TOOLS = ["bare", "cProfile", "pyrometer"]
# With --floor: pyrometer with hooks that do nothing (PYROMETER_TRACER_NOOP=1), the interpreter's
# own cost of calling a C hook per event, which no tracer can go below.
FLOOR = "hook floor"


def emit(table: str, out: Path | None) -> None:
    """Prints a result table, and writes it to `out` when given."""
    print()
    print(table)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(table + "\n")


def benchmarks_dir() -> Path:
    spec = importlib.util.find_spec("pyperformance")
    if spec is None or spec.origin is None:
        sys.exit("pyperformance is not installed in this interpreter (pip install pyperformance)")
    return Path(spec.origin).parent / "data-files" / "benchmarks"


def pyrometer_command() -> list[str]:
    script = Path(sys.executable).parent / "pyrometer"
    return [str(script)] if script.exists() else [sys.executable, "-m", "pyrometer"]


PYROMETER_ARGS: list[str] = []


def command(tool: str, script: Path, out_dir: Path) -> list[str]:
    if tool == "bare":
        return [sys.executable, str(script)]
    if tool == FLOOR:
        tool = "pyrometer"
    if tool == "cProfile":
        return [sys.executable, "-m", "cProfile", "-o", str(out_dir / "out.prof"), str(script)]
    out = str(out_dir / "out.pyro")
    return [*pyrometer_command(), "run", "--mode", "trace", *PYROMETER_ARGS, "-q", "-o", out, str(script)]


def tool_env(tool: str) -> dict[str, str]:
    return {"PYROMETER_TRACER_NOOP": "1"} if tool == FLOOR else {}


def work_times(times: Path) -> tuple[float, float, float]:
    """What the pyperf stand-in wrote for a run: the seconds of the work, summed over the
    script's benchmarks (deepcopy and logging run three each); the program's CPU seconds at the
    end of the last; the CPU seconds of the work, summed."""
    rows = [[float(x) for x in line.split()] for line in times.read_text().splitlines() if line.strip()]
    if not rows:
        raise RuntimeError(f"the workload wrote no times to {times}")
    return sum(r[0] for r in rows), rows[-1][1], sum(r[2] for r in rows)


def run_once(tool: str, script: Path, loops: int, out_dir: Path) -> tuple[float, float]:
    """(seconds of the workload itself, seconds of the whole process)."""
    times = out_dir / "times.txt"
    times.unlink(missing_ok=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(SHIM), env.get("PYTHONPATH", "")] if p)
    env["PYTHONHASHSEED"] = "0"
    env["PYROMETER_BENCH_LOOPS"] = str(loops)
    env["PYROMETER_BENCH_TIMES"] = str(times)
    env["PYROMETER_DIR"] = str(out_dir / ".pyrometer")
    env.update(tool_env(tool))
    start = time.perf_counter()
    proc = subprocess.run(command(tool, script, out_dir), cwd=script.parent, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{tool} {script.parent.name} failed:\n{proc.stderr[-2000:]}")
    return work_times(times)[0], wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="runs per workload and tool (interleaved)")
    parser.add_argument("--target", type=float, default=0.5, help="seconds a bare run should take")
    parser.add_argument("--only", help="comma-separated workloads")
    parser.add_argument("--out", type=Path, help="also write the table (Markdown) here")
    parser.add_argument("--floor", action="store_true", help="also measure do-nothing hooks (the floor)")
    parser.add_argument("--pyrometer-args", default="", help="extra `pyrometer run` options, e.g. --no-builtins")
    args = parser.parse_args()

    PYROMETER_ARGS.extend(args.pyrometer_args.split())
    benchmarks = benchmarks_dir()
    workloads = args.only.split(",") if args.only else WORKLOADS
    tools = [*TOOLS, FLOOR] if args.floor else TOOLS
    rows = []
    with tempfile.TemporaryDirectory(prefix="pyrometer-overhead-") as tmp:
        out_dir = Path(tmp)
        for name in workloads:
            script = benchmarks / f"bm_{name}" / "run_benchmark.py"
            one, _ = run_once("bare", script, 1, out_dir)
            loops = max(1, math.ceil(args.target / max(one, 1e-6)))
            samples: dict[str, list[tuple[float, float]]] = {t: [] for t in tools}
            for i in range(args.runs):
                k = i % len(tools)
                for tool in tools[k:] + tools[:k]:  # rotate who goes first
                    samples[tool].append(run_once(tool, script, loops, out_dir))
            inner = {t: statistics.median(s[0] for s in samples[t]) for t in tools}
            whole = {t: statistics.median(s[1] for s in samples[t]) for t in tools}
            row = {
                "workload": name,
                "loops": loops,
                "bare_s": inner["bare"],
                "cprofile": inner["cProfile"] / inner["bare"],
                "pyrometer": inner["pyrometer"] / inner["bare"],
                "cprofile_wall": whole["cProfile"] / whole["bare"],
                "pyrometer_wall": whole["pyrometer"] / whole["bare"],
                "floor": inner[FLOOR] / inner["bare"] if args.floor else None,
            }
            rows.append(row)
            print(
                f"{name:16} bare {row['bare_s']:.3f}s  cProfile {row['cprofile']:.2f}x  "
                f"pyrometer {row['pyrometer']:.2f}x  (whole process: {row['cprofile_wall']:.2f}x, "
                f"{row['pyrometer_wall']:.2f}x)" + (f"  floor {row['floor']:.2f}x" if args.floor else ""),
                flush=True,
            )

    def gmean(key: str) -> float:
        return math.exp(sum(math.log(r[key]) for r in rows) / len(rows))

    g_c, g_p = gmean("cprofile"), gmean("pyrometer")
    lines = [
        f"Tracing overhead on CPython {platform.python_version()} ({platform.machine()}, {os.cpu_count()} CPUs), "
        f"{args.runs} interleaved runs each, medians; slowdown = time / bare time"
        + (f"; pyrometer run {args.pyrometer_args}" if args.pyrometer_args else "")
        + ".",
        "",
        "| workload | bare (s) | cProfile | pyrometer | pyrometer excess / cProfile excess |"
        + (" hook floor |" if args.floor else ""),
        "|---|---:|---:|---:|---:|" + ("---:|" if args.floor else ""),
    ]
    for r in rows:
        ratio = (r["pyrometer"] - 1) / (r["cprofile"] - 1) if r["cprofile"] > 1 else float("nan")
        floor = f" {r['floor']:.2f}x |" if args.floor else ""
        cells = [r["workload"], f"{r['bare_s']:.3f}", f"{r['cprofile']:.2f}x", f"{r['pyrometer']:.2f}x", f"{ratio:.2f}"]
        lines.append("| " + " | ".join(cells) + " |" + floor)
    floor = f" **{gmean('floor'):.2f}x** |" if args.floor else ""
    lines.append(f"| **geometric mean** | | **{g_c:.2f}x** | **{g_p:.2f}x** | **{(g_p - 1) / (g_c - 1):.2f}** |{floor}")
    worse = [r["workload"] for r in rows if r["pyrometer"] >= r["cprofile"]]
    lines += [
        "",
        f"Excess overhead (slowdown - 1), geometric means: cProfile {g_c - 1:.2f}, pyrometer {g_p - 1:.2f} "
        f"(target: at most half of cProfile's, {(g_c - 1) / 2:.2f}).",
        f"Workloads where pyrometer is not faster than cProfile: {', '.join(worse) if worse else 'none'}.",
    ]
    emit("\n".join(lines), args.out)


if __name__ == "__main__":
    main()
