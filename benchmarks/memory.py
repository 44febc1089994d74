"""Memory profiling overhead: pyperformance workloads run bare, under
`pyrometer run --mode memory` (sampled, the default interval), tracemalloc (`-X tracemalloc`,
one frame), memray (`memray run`, and with `--trace-python-allocators`, which records what
pyrometer records) and Scalene's memory mode when it installs; interleaved runs, medians;
slowdown = time / bare time, with the geometric mean and the median over workloads. Capture
size is the size of each tool's output file per minute of run time.

The time is the workload's own (measured inside the program by the pyperf stand-in in
tests/pyperf_shim), so start-up and writing the capture at exit are left out.

    python benchmarks/memory.py [--runs 3] [--target 0.5] [--only richards,go] [--out FILE.md]

memray, Scalene and pyperformance are installed into this interpreter from PyPI when missing
(benchmark-only dependencies).
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from overhead import SHIM, WORKLOADS, benchmarks_dir, emit, pyrometer_command

TOOLS = ["bare", "pyrometer", "tracemalloc", "memray", "memray-pyalloc", "scalene"]


def ensure(module: str, package: str) -> bool:
    if subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True).returncode == 0:
        return True
    print(f"installing {package} (benchmark-only) …", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", package], capture_output=True)
    return subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True).returncode == 0


def command(tool: str, script: Path, out: Path) -> list[str]:
    py = sys.executable
    return {
        "bare": [py, str(script)],
        "pyrometer": [*pyrometer_command(), "run", "--mode", "memory", "-q", "-o", str(out), str(script)],
        "tracemalloc": [py, "-X", "tracemalloc=1", str(script)],
        "memray": [py, "-m", "memray", "run", "-q", "-f", "-o", str(out), str(script)],
        "memray-pyalloc": [
            py,
            *["-m", "memray", "run", "-q", "-f", "--trace-python-allocators", "-o", str(out), str(script)],
        ],
        "scalene": [py, "-m", "scalene", "--cli", "--memory", "--json", "--outfile", str(out), str(script)],
    }[tool]


def run_once(tool: str, script: Path, loops: int, out_dir: Path) -> tuple[float, int]:
    """(seconds of the workload itself, bytes of the capture file)."""
    times = out_dir / "times.txt"
    times.unlink(missing_ok=True)
    out = out_dir / f"capture-{tool}"
    out.unlink(missing_ok=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(SHIM), env.get("PYTHONPATH", "")] if p)
    env["PYTHONHASHSEED"] = "0"
    env["PYROMETER_BENCH_LOOPS"] = str(loops)
    env["PYROMETER_BENCH_TIMES"] = str(times)
    env["PYROMETER_DIR"] = str(out_dir / ".pyrometer")
    proc = subprocess.run(command(tool, script, out), cwd=script.parent, env=env, capture_output=True, text=True)
    if proc.returncode != 0 or not times.exists():
        raise RuntimeError(f"{tool} {script.parent.name} failed:\n{proc.stderr[-2000:]}")
    return float(times.read_text().split()[0]), out.stat().st_size if out.exists() else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="runs per workload and tool (interleaved)")
    parser.add_argument("--target", type=float, default=0.5, help="seconds a bare run should take")
    parser.add_argument("--only", help="comma-separated workloads")
    parser.add_argument("--tools", help="comma-separated tools (default: all that install)")
    parser.add_argument("--out", type=Path, help="also write the table (Markdown) here")
    args = parser.parse_args()

    ensure("pyperformance", "pyperformance")
    tools = args.tools.split(",") if args.tools else list(TOOLS)
    if "memray" in "".join(tools) and not ensure("memray", "memray"):
        tools = [t for t in tools if not t.startswith("memray")]
        print("memray did not install; left out", file=sys.stderr)
    if "scalene" in tools and not ensure("scalene", "scalene"):
        tools.remove("scalene")
        print("Scalene did not install; left out", file=sys.stderr)
    benchmarks = benchmarks_dir()
    workloads = args.only.split(",") if args.only else WORKLOADS
    rows = []
    with tempfile.TemporaryDirectory(prefix="pyrometer-memory-") as tmp:
        out_dir = Path(tmp)
        for name in workloads:
            script = benchmarks / f"bm_{name}" / "run_benchmark.py"
            one, _ = run_once("bare", script, 1, out_dir)
            loops = max(1, math.ceil(args.target / max(one, 1e-6)))
            samples: dict[str, list[tuple[float, int]]] = {t: [] for t in tools}
            failed: set[str] = set()
            for i in range(args.runs):
                k = i % len(tools)
                for tool in tools[k:] + tools[:k]:  # rotate who goes first
                    if tool in failed:
                        continue
                    try:
                        samples[tool].append(run_once(tool, script, loops, out_dir))
                    except RuntimeError as e:
                        print(str(e).splitlines()[0], file=sys.stderr)
                        failed.add(tool)
            bare = statistics.median(s[0] for s in samples["bare"])
            row: dict[str, object] = {"workload": name, "bare_s": bare}
            for t in tools:
                if t != "bare" and samples[t] and t not in failed:
                    seconds = statistics.median(s[0] for s in samples[t])
                    size = statistics.median(s[1] for s in samples[t])
                    row[t] = seconds / bare
                    row[t + "_mb_min"] = size / 1e6 / (seconds / 60)
            rows.append(row)
            print(
                f"{name:16} bare {bare:.3f}s  "
                + "  ".join(f"{t} {row[t]:.2f}x" for t in tools if t in row and t != "bare"),
                flush=True,
            )

    shown = [t for t in tools if t != "bare" and any(t in r for r in rows)]

    def summary(t: str, f) -> str:
        values = [r[t] for r in rows if t in r]
        return f"**{f(values):.2f}x**" if values else "-"

    def gmean(values: list[float]) -> float:
        return math.exp(sum(math.log(v) for v in values) / len(values))

    lines = [
        f"Memory profiling overhead on CPython {platform.python_version()} ({platform.machine()}, "
        f"{os.cpu_count()} CPUs), {args.runs} interleaved runs each, medians; slowdown = time / bare time.",
        "",
        "| workload | bare (s) | " + " | ".join(shown) + " |",
        "|---|---:|" + "---:|" * len(shown),
    ]
    for r in rows:
        cells = [str(r["workload"]), f"{r['bare_s']:.3f}"] + [f"{r[t]:.2f}x" if t in r else "-" for t in shown]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("| **median** | | " + " | ".join(summary(t, statistics.median) for t in shown) + " |")
    lines.append("| **geometric mean** | | " + " | ".join(summary(t, gmean) for t in shown) + " |")
    sizes = []
    for t in shown:
        v = [r[t + "_mb_min"] for r in rows if t + "_mb_min" in r]
        if v and t != "tracemalloc":
            sizes.append(f"{t} {statistics.median(v):.2f} MB/min (max {max(v):.2f})")
    lines += ["", "Capture size per minute of run time, median over workloads: " + "; ".join(sizes) + "."]
    emit("\n".join(lines), args.out)


if __name__ == "__main__":
    start = time.time()
    main()
