"""Memory profiling overhead: pyperformance workloads run bare, under
`pyrometer run --mode memory` (sampled, the default interval), tracemalloc (`-X tracemalloc`,
one frame), memray (`memray run`, and with `--trace-python-allocators`, which records what
pyrometer records) and Scalene's memory mode (`scalene run --memory`: CPU and memory; Scalene
has no memory-only mode); interleaved runs, medians; slowdown = time / bare time, with the
geometric mean and the median over workloads. Capture size is the size of each tool's output
file per minute of run time. A tool that fails on a workload gets the reason in its cell.

The time is the workload's own (measured inside the program by the pyperf stand-in in
tests/pyperf_shim, summed over the benchmarks a script runs), so start-up and writing the
capture at exit are left out.

Every tool runs a copy of the workload's directory in a temporary directory: Scalene leaves
out every file under the interpreter's install paths (site-packages included, where
pyperformance keeps its workloads) unless given `--profile-all`, and with nothing of the
program's own to profile it writes an empty profile (`{}`).

    python benchmarks/memory.py [--runs 3] [--target 0.5] [--only richards,go] [--out FILE.md]

memray, Scalene and pyperformance are installed into this interpreter from PyPI when missing
(benchmark-only dependencies).
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from overhead import SHIM, WORKLOADS, benchmarks_dir, emit, pyrometer_command, work_times

TOOLS = ["bare", "pyrometer", "tracemalloc", "memray", "memray-pyalloc", "scalene"]


def ensure(module: str, package: str) -> bool:
    if subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True).returncode == 0:
        return True
    print(f"installing {package} (benchmark-only) …", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", package], capture_output=True)
    return subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True).returncode == 0


def scalene_has_run() -> bool:
    """Scalene 2 takes `scalene run [options] prog.py`; Scalene 1 took the options directly (and
    Scalene 2 answers those with its usage and exit status 1)."""
    probe = [sys.executable, "-m", "scalene", "run", "--help"]
    return subprocess.run(probe, capture_output=True).returncode == 0


SCALENE_RUN = True


def command(tool: str, script: Path, out: Path) -> list[str]:
    py = sys.executable
    if SCALENE_RUN:
        scalene = [py, "-m", "scalene", "run", "--memory", "-o", str(out), str(script)]
    else:
        scalene = [py, "-m", "scalene", "--cli", "--memory", "--json", "--outfile", str(out), str(script)]
    return {
        "bare": [py, str(script)],
        "pyrometer": [*pyrometer_command(), "run", "--mode", "memory", "-q", "-o", str(out), str(script)],
        "tracemalloc": [py, "-X", "tracemalloc=1", str(script)],
        "memray": [py, "-m", "memray", "run", "-q", "-f", "-o", str(out), str(script)],
        "memray-pyalloc": [
            py,
            *["-m", "memray", "run", "-q", "-f", "--trace-python-allocators", "-o", str(out), str(script)],
        ],
        "scalene": scalene,
    }[tool]


def run_once(tool: str, script: Path, loops: int, out_dir: Path) -> tuple[float, int]:
    """(seconds of the workload itself, bytes of the capture file)."""
    times = out_dir / "times.txt"
    times.unlink(missing_ok=True)
    out = out_dir / f"capture-{tool}{'.json' if tool == 'scalene' else ''}"  # Scalene adds .json to any name
    out.unlink(missing_ok=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(SHIM), env.get("PYTHONPATH", "")] if p)
    env["PYTHONHASHSEED"] = "0"
    env["PYROMETER_BENCH_LOOPS"] = str(loops)
    env["PYROMETER_BENCH_TIMES"] = str(times)
    env["PYROMETER_DIR"] = str(out_dir / ".pyrometer")
    try:
        proc = subprocess.run(
            command(tool, script, out), cwd=script.parent, env=env, capture_output=True, text=True, timeout=TIMEOUT
        )
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"timed out after {TIMEOUT} s") from None
    if proc.returncode != 0 or not times.exists():
        raise RuntimeError(f"exit status {proc.returncode}: {last_word(proc)}"[:160])
    return work_times(times)[0], out.stat().st_size if out.exists() else 0


TIMEOUT = 900


def last_word(proc: subprocess.CompletedProcess[str]) -> str:
    """The line that says why: stderr's last line that says "error", else its last line, else
    stdout's (a usage message on stdout would hide the error line after it)."""
    err = [line.strip() for line in proc.stderr.splitlines() if line.strip()]
    out = [line.strip() for line in proc.stdout.splitlines() if line.strip()]
    errors = [line for line in err if "error" in line.lower()]
    return (errors or err or out or ["no output"])[-1]


def calibrate(script: Path, target: float, out_dir: Path) -> int:
    """Loops for a bare run of about `target` seconds. Scaled up from one loop in steps: the
    first loop carries one-off costs (4 to 7 times a later loop's in the short workloads), and
    extrapolating from it alone left logging, unpack_sequence and comprehensions at an eighth of
    the target."""
    loops = 1
    for _ in range(4):
        seconds, _ = run_once("bare", script, loops, out_dir)
        if seconds >= target / 2:
            break
        loops = max(loops + 1, math.ceil(loops * target / max(seconds, 1e-6)))
    return loops


def copy_workload(benchmarks: Path, name: str, into: Path) -> Path:
    """The workload's directory copied out of site-packages (see the module's docstring)."""
    target = into / f"bm_{name}"
    if not target.exists():
        shutil.copytree(benchmarks / f"bm_{name}", target)
    return target / "run_benchmark.py"


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
    if "scalene" in tools:
        global SCALENE_RUN
        SCALENE_RUN = scalene_has_run()
    load_start = os.getloadavg()
    benchmarks = benchmarks_dir()
    workloads = args.only.split(",") if args.only else WORKLOADS
    rows = []
    failures: dict[tuple[str, str], str] = {}
    with tempfile.TemporaryDirectory(prefix="pyrometer-memory-") as tmp:
        out_dir = Path(tmp)
        for name in workloads:
            script = copy_workload(benchmarks, name, out_dir / "workloads")
            loops = calibrate(script, args.target, out_dir)
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
                        print(f"{tool} failed on {name}: {e}", file=sys.stderr)
                        failed.add(tool)
                        failures[(name, tool)] = str(e)
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
    load_end = os.getloadavg()

    shown = [t for t in tools if t != "bare" and (any(t in r for r in rows) or any(f[1] == t for f in failures))]
    notes = {reason: i + 1 for i, reason in enumerate(dict.fromkeys(failures.values()))}

    def cell(r: dict[str, object], t: str) -> str:
        if t in r:
            return f"{r[t]:.2f}x"
        reason = failures.get((str(r["workload"]), t))
        return f"failed ({notes[reason]})" if reason else "-"

    def summary(t: str, f) -> str:
        values = [r[t] for r in rows if t in r]
        return f"**{f(values):.2f}x**" if values else "-"

    def gmean(values: list[float]) -> float:
        return math.exp(sum(math.log(v) for v in values) / len(values))

    versions = [f"{t} {tool_version(t)}" for t in ("memray", "scalene") if any(s.startswith(t) for s in tools)]
    lines = [
        f"Memory profiling overhead on CPython {platform.python_version()} ({platform.machine()}, "
        f"{os.cpu_count()} CPUs), {args.runs} interleaved runs each, medians; slowdown = time / bare time.",
        f"Load average (1 min) {load_start[0]:.2f} at the start, {load_end[0]:.2f} at the end."
        + (f" Tool versions: {', '.join(versions)}." if versions else ""),
        "",
        "| workload | bare (s) | " + " | ".join(shown) + " | pyrometer MB/min |",
        "|---|---:|" + "---:|" * (len(shown) + 1),
    ]
    for r in rows:
        cells = [str(r["workload"]), f"{r['bare_s']:.3f}"] + [cell(r, t) for t in shown]
        cells.append(f"{r['pyrometer_mb_min']:.2f}" if "pyrometer_mb_min" in r else "-")
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("| **median** | | " + " | ".join(summary(t, statistics.median) for t in shown) + " | |")
    lines.append("| **geometric mean** | | " + " | ".join(summary(t, gmean) for t in shown) + " | |")
    sizes = []
    for t in shown:
        v = [r[t + "_mb_min"] for r in rows if t + "_mb_min" in r]
        if v and t != "tracemalloc":
            sizes.append(f"{t} {statistics.median(v):.2f} MB/min (max {max(v):.2f})")
    if sizes:
        lines += ["", "Capture size per minute of run time, median over workloads: " + "; ".join(sizes) + "."]
    if notes:
        lines += ["", "Failures (the line of the tool's output that says why):", ""]
        lines += [f"{i}. {reason.replace('|', '/')}" for reason, i in notes.items()]
    emit("\n".join(lines), args.out)


def tool_version(tool: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(tool)
    except PackageNotFoundError:
        return "?"


if __name__ == "__main__":
    start = time.time()
    main()
