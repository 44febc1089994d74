"""Sampling cost: pyperformance workloads run bare and under each sampler, at 100 Hz, 1 kHz
and 10 kHz, interleaved. The samplers (`--tools`, default: every one that can run here):
- `pyrometer`: `pyrometer run` (sampling, the default mode: every thread, CPU state read);
- `py-spy`: `py-spy record --nonblocking`, raw (collapsed) output;
- `profiling.sampling`: the standard library's sampler (3.15+),
  `python -m profiling.sampling run -a --mode cpu --collapsed`: every thread and the CPU state,
  as pyrometer's default does;
- `profiling.sampling-wall`: the same with its defaults (main thread only, wall mode: no
  per-thread state read), `--collapsed`.

Three figures per tool and rate:
- the program's slowdown: the workload's own time (measured inside it by the pyperf stand-in in
  tests/pyperf_shim) against the bare run's, medians over the runs;
- the same for the workload's CPU time: what sampling costs the program's own execution
  (caches and TLBs refilled after a sampler's wake-up preempts it on a shared core, page-table
  locks) without the wait for a CPU that a sampler competing for a core adds. On a busy machine
  the wall figure is mostly the machine's noise and this one is the signal;
- the sampler's CPU per sample: the CPU time of the whole process tree (from the kernel's
  accounting of finished children) minus the program's own CPU time (measured inside it), less
  what the tool costs around a program that only sleeps (start-up, shut-down), divided by the
  difference in the samples the tool says it took.

The table also gives each tool's error rate: the share of thread stacks it failed to read
(pyrometer's `dropped`, py-spy's `Errors:`, the standard library's `Error rate:`). A tool that
cannot run on this interpreter (py-spy on a version it does not know) is left out, with the
line of its output that says why.

Run with the interpreter under test, with pyrometer, pyperformance and py-spy installed in it:

    python benchmarks/sampling.py [--runs 3] [--target 1.0] [--rates 100,1000,10000] [--tools …] [--out FILE.md]

Attribution error on programs with a known split is `sampling_accuracy.py`.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from memory import last_word
from overhead import SHIM, benchmarks_dir, emit, work_times

WORKLOADS = ["richards", "go", "raytrace", "deltablue", "chaos", "nbody", "json_dumps", "pyflate"]


def py_spy_path() -> str | None:
    # The interpreter's own py-spy first: a pyenv shim on PATH may point at another version's.
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


def pyrometer_path() -> Path:
    return Path(sys.executable).parent / "pyrometer"


# The standard library's sampler (3.15+) as each variant runs it: the same job as pyrometer's
# default (every thread, the CPU state of each), and its own defaults.
STDLIB_ARGS = {"profiling.sampling": ["-a", "--mode", "cpu"], "profiling.sampling-wall": []}
TOOLS = ["pyrometer", "py-spy", *STDLIB_ARGS]


def unavailable(tool: str) -> str | None:
    """Why `tool` cannot run with this interpreter, or None."""
    if tool == "pyrometer":
        return None if pyrometer_path().exists() else "pyrometer is not installed in this interpreter"
    if tool == "py-spy":
        return None if py_spy_path() else "py-spy is not installed (pip install py-spy)"
    if tool in STDLIB_ARGS:
        found = importlib.util.find_spec("profiling") and importlib.util.find_spec("profiling.sampling")
        return None if found else f"no profiling.sampling in Python {platform.python_version()} (3.15+)"
    return f"unknown tool {tool!r} (known: {', '.join(TOOLS)})"


def tool_command(tool: str, rate: int, script: Path, out_dir: Path) -> list[str]:
    if tool == "bare":
        return [sys.executable, str(script)]
    if tool == "pyrometer":
        return [
            *[str(pyrometer_path()), "run", "-q", "--no-advice", "--rate", str(rate)],
            *["-o", str(out_dir / "out.pyro"), str(script)],
        ]
    if tool in STDLIB_ARGS:
        return [
            *[sys.executable, "-m", "profiling.sampling", "run", "-r", str(rate), *STDLIB_ARGS[tool]],
            *["--collapsed", "-o", str(out_dir / "out.collapsed"), str(script)],
        ]
    return [
        *[py_spy_path() or "py-spy", "record", "--nonblocking", "--rate", str(rate)],
        *["--format", "raw", "-o", str(out_dir / "out.txt"), "--", sys.executable, str(script)],
    ]


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def samples_taken(tool: str, out_dir: Path, said: str) -> tuple[int | None, float | None]:
    """(samples the tool says it took, the percentage of thread stacks it failed to read)."""
    if tool == "pyrometer":
        view = subprocess.run(
            [str(pyrometer_path()), "view", str(out_dir / "out.pyro"), "--format", "json"],
            capture_output=True,
            text=True,
            check=True,
        )
        counters = {c["name"]: c["value"] for c in json.loads(view.stdout)["profile"]["meta"]["counters"]}
        read = counters.get("thread_samples", 0) + counters.get("dropped", 0)
        return counters.get("samples"), (100.0 * counters.get("dropped", 0) / read if read else None)
    if tool == "py-spy":
        found = re.search(r"Samples: (\d+)(?:\s+Errors: (\d+))?", said)
        if not found:
            return None, None
        samples = int(found.group(1))
        errors = int(found.group(2)) if found.group(2) else None
        return samples, (100.0 * errors / samples if errors is not None and samples else None)
    if tool in STDLIB_ARGS:
        # "Captured N samples in T seconds" counts every attempt, failed ones included, like
        # pyrometer's ticks; "Error rate: X" is the percentage of those that failed.
        found = re.search(r"Captured ([\d,.]+) samples?", said)
        rate = re.search(r"Error rate: ([\d.]+)", said)
        samples = int(re.sub(r"\D", "", found.group(1))) if found else None
        return samples, (float(rate.group(1)) if rate else None)
    return None, None


def run_once(tool: str, rate: int, script: Path, loops: int, out_dir: Path) -> dict:
    times = out_dir / "times.txt"
    times.unlink(missing_ok=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(SHIM), env.get("PYTHONPATH", "")] if p)
    env["PYTHONHASHSEED"] = "0"
    env["PYROMETER_BENCH_LOOPS"] = str(loops)
    env["PYROMETER_BENCH_TIMES"] = str(times)
    env["PYROMETER_DIR"] = str(out_dir / ".pyrometer")
    before = children_cpu()
    start = time.perf_counter()
    proc = subprocess.run(
        tool_command(tool, rate, script, out_dir), cwd=script.parent, env=env, capture_output=True, text=True
    )
    wall = time.perf_counter() - start
    tree_cpu = children_cpu() - before
    if proc.returncode != 0 or not times.exists():
        raise RuntimeError(f"{tool} on {script.parent.name}: exit status {proc.returncode}: {last_word(proc)}")
    work, program_cpu, work_cpu = work_times(times)
    samples, errors = samples_taken(tool, out_dir, proc.stdout + proc.stderr)
    return {
        "work": work,
        "work_cpu": work_cpu,
        "wall": wall,
        "tree_cpu": tree_cpu,
        "program_cpu": program_cpu,
        "samples": samples,
        "errors": errors,
    }


def launcher_run(tool: str, rate: int, out_dir: Path) -> tuple[float, int]:
    """The tool around a program that only sleeps 0.1 s: (CPU beyond the program's, samples)."""
    idle = out_dir / "idle.py"
    idle.write_text(
        "import os, time\n"
        "time.sleep(0.1)\n"
        "with open(os.environ['PYROMETER_BENCH_TIMES'], 'a') as f:\n"
        "    f.write(f'0 {time.process_time()!r} 0\\n')\n"
    )
    runs = [run_once(tool, rate, idle, 1, out_dir) for _ in range(3)]
    return (
        statistics.median(r["tree_cpu"] - r["program_cpu"] for r in runs),
        int(statistics.median(r["samples"] or 0 for r in runs)),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--target", type=float, default=1.0, help="seconds a bare run should take")
    parser.add_argument("--rates", default="100,1000,10000")
    parser.add_argument("--only", help="comma-separated workloads")
    parser.add_argument("--tools", help=f"comma-separated samplers (default: those of {', '.join(TOOLS)} found)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    rates = [int(r) for r in args.rates.split(",")]
    workloads = args.only.split(",") if args.only else WORKLOADS
    asked = args.tools.split(",") if args.tools else TOOLS
    left_out: dict[str, str] = {}
    for tool in asked:
        why = unavailable(tool)
        if why and (args.tools or tool == "pyrometer"):
            sys.exit(why)
        if why:
            left_out[tool] = why
    tools = [t for t in asked if t not in left_out]
    benchmarks = benchmarks_dir()
    load_start = os.getloadavg()
    results: dict[tuple[str, int], dict[str, list]] = {}
    with tempfile.TemporaryDirectory(prefix="pyrometer-sampling-") as tmp:
        out_dir = Path(tmp)
        base = {}
        for tool in list(tools):
            try:
                for r in rates:
                    base[(tool, r)] = launcher_run(tool, r, out_dir)
            except RuntimeError as e:  # e.g. py-spy on a Python it does not know
                print(f"{tool} left out: {e}", file=sys.stderr)
                left_out[tool] = str(e)
                tools.remove(tool)
        if not tools:
            sys.exit("no sampler could run")
        for name in workloads:
            script = benchmarks / f"bm_{name}" / "run_benchmark.py"
            one = run_once("bare", 0, script, 1, out_dir)["work"]
            loops = max(1, math.ceil(args.target / max(one, 1e-6)))
            for i in range(args.runs):
                order = [("bare", 0)] + [(t, r) for r in rates for t in tools]
                k = i % len(order)
                for tool, rate in order[k:] + order[:k]:
                    r = run_once(tool, rate, script, loops, out_dir)
                    results.setdefault((tool, rate), {}).setdefault(name, []).append(r)
            bare = statistics.median(x["work"] for x in results[("bare", 0)][name])
            bare_cpu = statistics.median(x["work_cpu"] for x in results[("bare", 0)][name])
            line = [f"{name:12} bare {bare:.3f}s"]
            for rate in rates:
                for tool in tools:
                    work = statistics.median(x["work"] for x in results[(tool, rate)][name])
                    cpu = statistics.median(x["work_cpu"] for x in results[(tool, rate)][name])
                    line.append(f"{tool}@{rate} {work / bare:.3f}x/{cpu / bare_cpu:.3f}x")
            print("  ".join(line), flush=True)
    load_end = os.getloadavg()

    def slowdown(tool: str, rate: int, key: str = "work") -> tuple[float, float]:
        ratios = []
        for name in workloads:
            bare = statistics.median(x[key] for x in results[("bare", 0)][name])
            ratios.append(statistics.median(x[key] for x in results[(tool, rate)][name]) / bare)
        return statistics.median(ratios), max(ratios)

    def per_sample_us(tool: str, rate: int) -> tuple[float | None, float]:
        # Around a program, the tool costs F (start-up, shut-down) + c per sample; with the
        # sleeping program's (cpu, samples) that gives c without a bias from F.
        base_cpu, base_samples = base[(tool, rate)]
        costs, achieved = [], []
        for runs in results[(tool, rate)].values():
            for x in runs:
                if x["samples"] and x["samples"] > base_samples:
                    spent = x["tree_cpu"] - x["program_cpu"] - base_cpu
                    costs.append(1e6 * spent / (x["samples"] - base_samples))
                    achieved.append(x["samples"] / x["wall"])
        return (statistics.median(costs) if costs else None), (statistics.median(achieved) if achieved else 0.0)

    def error_rate(tool: str, rate: int) -> str:
        rates_seen = [x["errors"] for runs in results[(tool, rate)].values() for x in runs if x["errors"] is not None]
        return f"{statistics.median(rates_seen):.2f}%" if rates_seen else "n/a"

    lines = [
        f"Sampling cost on CPython {platform.python_version()} ({platform.machine()}, {os.cpu_count()} CPUs), "
        f"{args.runs} interleaved runs of {', '.join(workloads)}"
        + ("; py-spy with --nonblocking" if "py-spy" in tools else "")
        + f"; load average (1 min) {load_start[0]:.1f} at the start, {load_end[0]:.1f} at the end.",
        "",
        "| tool | rate asked | slowdown, wall (median / worst) | slowdown, CPU (median / worst) "
        "| samples/s achieved | sampler CPU per sample | stacks failed |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for rate in rates:
        for tool in tools:
            med, worst = slowdown(tool, rate)
            cpu_med, cpu_worst = slowdown(tool, rate, "work_cpu")
            cost, achieved = per_sample_us(tool, rate)
            cost_text = f"{cost:.0f} µs" if cost is not None else "n/a"
            lines.append(
                f"| {tool} | {rate} Hz | {med:.3f}x / {worst:.3f}x | {cpu_med:.3f}x / {cpu_worst:.3f}x "
                f"| {achieved:.0f} | {cost_text} | {error_rate(tool, rate)} |"
            )
    if left_out:
        lines += ["", "Left out:", ""] + [f"- {t}: {why}".replace("|", "/") for t, why in left_out.items()]
    emit("\n".join(lines), args.out)


if __name__ == "__main__":
    main()
