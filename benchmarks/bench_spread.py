"""The benchmark of the benchmarker: how much the reported time of a statement moves from one
invocation to the next, for `pyrometer bench`, `pyperf timeit` and `python -m timeit`, on the
same statements with the same time budget.

Each tool is invoked `--runs` times (10 by default) per statement, the tools interleaved
round by round so that a change in the machine's load falls on all of them. The figure of
merit is the spread of the value each tool reports: (max - min) / median of the invocations'
results, and their coefficient of variation. The values compared are what each tool reports:
pyrometer's median, pyperf's mean (what `pyperf timeit` prints; its median is shown too) and
timeit's best of its repeats.

The same budget: pyrometer and pyperf run the same plan (`--processes` worker processes, each
with `--warmups` warm-ups and `--values` values of at least `--min-time` seconds); timeit gets
as many repeats, of as many loops (calibrated once beforehand to last `--min-time`), in its one
process. Each invocation's wall time is reported.

Needs pyperf (`pip install pyperf`) and pyrometer installed in the interpreter that runs it;
installs nothing:

    python benchmarks/bench_spread.py [--runs 10] [--processes 20] [--values 3] [--min-time 0.05]
                                      [--only NAME,...] [--out FILE.md]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
from pathlib import Path

STATEMENTS = {
    "sorted": ("import random; r = random.Random(1); x = [r.random() for _ in range(1000)]", "sorted(x)"),
    "dict_get": ("d = {str(i): i for i in range(1000)}", "d.get('500'); d.get('x')"),
    "str_join": ("parts = [str(i) for i in range(100)]", "'-'.join(parts)"),
    "sum_range": ("", "sum(range(1000))"),
}

UNITS = {"nsec": 1e-9, "usec": 1e-6, "msec": 1e-3, "sec": 1.0}


def pyrometer_command() -> list[str]:
    script = Path(sys.executable).parent / "pyrometer"
    return [str(script)] if script.exists() else [sys.executable, "-m", "pyrometer"]


def run_pyrometer(setup: str, stmt: str, args: argparse.Namespace, out: Path) -> dict[str, float]:
    command = [
        *pyrometer_command(),
        "bench",
        "--processes",
        str(args.processes),
        "-r",
        str(args.values),
        "--warmups",
        str(args.warmups),
        "--min-time",
        str(args.min_time),
        "--no-store",
        "-q",
        "-o",
        str(out),
    ]
    if setup:
        command += ["-s", setup]
    subprocess.run([*command, stmt], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    summary = json.loads(out.read_text())["benchmarks"][0]["summary"]
    return {"reported": summary["median"], "median": summary["median"], "mean": summary["mean"]}


def run_pyperf(setup: str, stmt: str, args: argparse.Namespace, out: Path) -> dict[str, float]:
    import pyperf

    out.unlink(missing_ok=True)
    command = [
        sys.executable,
        "-m",
        "pyperf",
        "timeit",
        "--processes",
        str(args.processes),
        "--values",
        str(args.values),
        "--warmups",
        str(args.warmups),
        "--min-time",
        str(args.min_time),
        "--quiet",
        "-o",
        str(out),
    ]
    if setup:
        command += ["-s", setup]
    subprocess.run([*command, stmt], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    bench = pyperf.Benchmark.load(str(out))
    return {"reported": bench.mean(), "median": bench.median(), "mean": bench.mean()}


def timeit_loops(setup: str, stmt: str, min_time: float) -> int:
    """Loops for one repeat to last `min_time`, as the other two calibrate."""
    timer = timeit.Timer(stmt, setup or "pass")
    loops = 1
    while True:
        t = timer.timeit(loops)
        if t >= min_time:
            return loops
        loops = max(loops * 2, int(loops * min_time / max(t, 1e-9) * 1.05))


def run_timeit(setup: str, stmt: str, args: argparse.Namespace, loops: int) -> dict[str, float]:
    repeat = args.processes * (args.values + args.warmups)
    command = [sys.executable, "-m", "timeit", "-n", str(loops), "-r", str(repeat)]
    if setup:
        command += ["-s", setup]
    out = subprocess.run([*command, stmt], check=True, capture_output=True, text=True).stdout
    match = re.search(r"best of \d+: ([0-9.]+) (nsec|usec|msec|sec) per loop", out)
    if not match:
        raise RuntimeError(f"cannot read timeit's output: {out!r}")
    best = float(match.group(1)) * UNITS[match.group(2)]
    return {"reported": best, "median": best, "mean": best}


def spread(values: list[float]) -> tuple[float, float]:
    """(max - min) / median and the coefficient of variation."""
    return (max(values) - min(values)) / statistics.median(values), statistics.stdev(values) / statistics.mean(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--processes", type=int, default=20)
    parser.add_argument("--values", type=int, default=3)
    parser.add_argument("--warmups", type=int, default=1)
    parser.add_argument("--min-time", type=float, default=0.05)
    parser.add_argument("--only", default="", help="comma-separated statement names")
    parser.add_argument("--out", type=Path, help="also write the Markdown report here")
    args = parser.parse_args()
    try:
        import pyperf  # noqa: F401
    except ImportError:
        sys.exit("bench_spread.py needs pyperf: pip install pyperf")
    names = [n for n in args.only.split(",") if n] or list(STATEMENTS)

    lines = [
        "# Run-to-run spread of the reported time: pyrometer vs pyperf vs timeit",
        "",
        f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs; "
        f"{args.runs} invocations per tool and statement; plan: {args.processes} processes x "
        f"({args.warmups} warm-up + {args.values} values) of >= {args.min_time} s "
        f"(timeit: the same number of repeats in one process).",
        "",
        "| statement | tool | reported | spread (max-min)/median | CV | mean wall s |",
        "|---|---|---:|---:|---:|---:|",
    ]
    ratios: list[tuple[str, float, float]] = []
    raw: dict[str, dict[str, list[dict[str, float]]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            setup, stmt = STATEMENTS[name]
            loops = timeit_loops(setup, stmt, args.min_time)
            results: dict[str, list[dict[str, float]]] = {"pyrometer": [], "pyperf": [], "timeit": []}
            walls: dict[str, list[float]] = {k: [] for k in results}
            for i in range(args.runs):
                order = list(results)
                order = order[i % 3 :] + order[: i % 3]
                for tool in order:
                    start = time.perf_counter()
                    if tool == "pyrometer":
                        r = run_pyrometer(setup, stmt, args, Path(tmp) / "pyrometer.json")
                    elif tool == "pyperf":
                        r = run_pyperf(setup, stmt, args, Path(tmp) / "pyperf.json")
                    else:
                        r = run_timeit(setup, stmt, args, loops)
                    walls[tool].append(time.perf_counter() - start)
                    results[tool].append(r)
                print(f"{name}: invocation {i + 1}/{args.runs} done", file=sys.stderr)
            raw[name] = results
            spreads = {}
            for tool, label, key in (
                ("pyrometer", "pyrometer (median)", "reported"),
                ("pyperf", "pyperf (mean)", "reported"),
                ("pyperf", "pyperf (median)", "median"),
                ("timeit", "timeit (best)", "reported"),
            ):
                values = [r[key] for r in results[tool]]
                rng, cv = spread(values)
                spreads[label] = rng
                lines.append(
                    f"| {name} | {label} | {statistics.median(values) * 1e9:.1f} ns | {rng * 100:.2f}% | "
                    f"{cv * 100:.2f}% | {statistics.mean(walls[tool]):.2f} |"
                )
            ratios.append(
                (
                    name,
                    spreads["pyrometer (median)"] / spreads["pyperf (mean)"],
                    spreads["pyrometer (median)"] / spreads["timeit (best)"],
                )
            )
    lines += [
        "",
        "Spread ratio (below 1: pyrometer's reported time moves less from one invocation to the next):",
        "",
        "| statement | pyrometer / pyperf | pyrometer / timeit |",
        "|---|---:|---:|",
    ]
    for name, vs_pyperf, vs_timeit in ratios:
        lines.append(f"| {name} | {vs_pyperf:.2f} | {vs_timeit:.2f} |")
    geo = statistics.geometric_mean([r[1] for r in ratios])
    geo_t = statistics.geometric_mean([r[2] for r in ratios])
    lines.append(f"| geometric mean | {geo:.2f} | {geo_t:.2f} |")
    report = "\n".join(lines) + "\n"
    print(report)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(report)
        args.out.with_suffix(".json").write_text(json.dumps(raw, indent=1))


if __name__ == "__main__":
    main()
