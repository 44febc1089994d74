"""Sampling accuracy: how far each sampler's CPU shares are from the truth, on two programs
whose split is known.

- `tests/scripts/cpu_split.py`: three functions taking 60, 30 and 10 % of the CPU by
  construction (interleaved chunks of random length);
- `tests/scripts/compute_sleep_block.py`: computes, sleeps and blocks in `select` in turn, and
  prints the CPU time each phase took on the thread's own clock (nearly all of it computing):
  a sampler that counts a sleeping or blocked thread as busy is wrong here.

Each tool samples CPU time (a thread's samples count only while it is on a CPU), at each rate,
runs interleaved; its collapsed stacks give each phase's inclusive share of the samples whose
stack holds one of the phases (start-up and imports left out), and the error of a run is the
largest gap, in percentage points, between a phase's share and its true share. Tools:
- `pyrometer`: `pyrometer run --rate R`, then `pyrometer view --format collapsed` (CPU time);
- `profiling.sampling`: the standard library's sampler (3.15+),
  `python -m profiling.sampling run -r R -a --mode cpu --collapsed`;
- `py-spy`: `py-spy record --nonblocking --rate R --format raw` (its default leaves out
  threads it judges idle).

Run with the interpreter under test, with pyrometer (and py-spy) installed in it:

    python benchmarks/sampling_accuracy.py [--runs 5] [--rates 1000,10000] [--tools …] [--out FILE.md]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from memory import last_word
from overhead import ROOT, emit
from sampling import py_spy_path, pyrometer_path, unavailable

SCRIPTS = ROOT / "tests" / "scripts"
TOOLS = ["pyrometer", "profiling.sampling", "py-spy"]
PROGRAMS = {
    # name: (script, arguments, phases)
    "cpu_split": ("cpu_split.py", ["2.0"], ["heavy", "medium", "light"]),
    "compute_sleep_block": ("compute_sleep_block.py", [], ["compute", "rest", "block"]),
}
CPU_SPLIT_TRUTH = {"heavy": 60.0, "medium": 30.0, "light": 10.0}


def function_name(tool: str, frame: str) -> str:
    """A collapsed-stack frame's function name: `name (file:line)` for pyrometer and py-spy,
    `file:name:line` for the standard library's sampler."""
    if tool == "profiling.sampling":
        parts = frame.rsplit(":", 2)
        return parts[1] if len(parts) == 3 else frame
    return frame.split(" (")[0]


def collapsed_rows(tool: str, text: str) -> list[tuple[list[str], int]]:
    rows = []
    for line in text.splitlines():
        if not line.strip():
            continue
        path, value = line.rsplit(" ", 1)
        rows.append(([function_name(tool, f) for f in path.split(";")], int(value)))
    return rows


def shares(rows: list[tuple[list[str], int]], phases: list[str]) -> dict[str, float] | None:
    """Each phase's inclusive percentage of the samples whose stack holds some phase."""
    inside = [(path, v) for path, v in rows if any(f in phases for f in path)]
    total = sum(v for _, v in inside)
    if not total:
        return None
    return {p: 100.0 * sum(v for path, v in inside if p in path) / total for p in phases}


def run_once(tool: str, rate: int, program: str, out_dir: Path) -> tuple[dict[str, float], dict[str, float]]:
    """(shares the tool measured, true shares)."""
    script, args, phases = PROGRAMS[program]
    target = [str(SCRIPTS / script), *args]
    if tool == "pyrometer":
        out = out_dir / "out.pyro"
        command = [str(pyrometer_path()), "run", "-q", "--no-advice", "--rate", str(rate), "-o", str(out), *target]
    elif tool == "profiling.sampling":
        out = out_dir / "out.collapsed"
        command = [sys.executable, "-m", "profiling.sampling", "run", "-r", str(rate), "-a", "--mode", "cpu"]
        command += ["--collapsed", "-o", str(out), *target]
    else:
        out = out_dir / "out.txt"
        command = [py_spy_path() or "py-spy", "record", "--nonblocking", "--rate", str(rate), "--format", "raw"]
        command += ["-o", str(out), "--", sys.executable, *target]
    out.unlink(missing_ok=True)
    env = dict(os.environ, PYROMETER_DIR=str(out_dir / ".pyrometer"))
    proc = subprocess.run(command, cwd=out_dir, env=env, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0 or not out.exists():
        raise RuntimeError(f"{tool} on {program}: exit status {proc.returncode}: {last_word(proc)}")
    if tool == "pyrometer":
        view = [str(pyrometer_path()), "view", str(out), "--format", "collapsed"]
        text = subprocess.run(view, capture_output=True, text=True, check=True).stdout
    else:
        text = out.read_text()
    measured = shares(collapsed_rows(tool, text), phases)
    if measured is None:
        raise RuntimeError(f"{tool} on {program}: no sample inside {', '.join(phases)}")
    if program == "cpu_split":
        return measured, CPU_SPLIT_TRUTH
    # The program's own line (the tools print to the same streams).
    said = next(line for line in proc.stdout.splitlines() if line.startswith('{"cpu"'))
    cpu = json.loads(said)["cpu"]
    return measured, {p: 100.0 * cpu[p] / sum(cpu.values()) for p in phases}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="runs per program, tool and rate (interleaved)")
    parser.add_argument("--rates", default="1000,10000")
    parser.add_argument("--tools", help=f"comma-separated samplers (default: those of {', '.join(TOOLS)} found)")
    parser.add_argument("--out", type=Path, help="also write the table (Markdown) here")
    args = parser.parse_args()
    rates = [int(r) for r in args.rates.split(",")]
    asked = args.tools.split(",") if args.tools else TOOLS
    left_out: dict[str, str] = {}
    for tool in asked:
        why = unavailable(tool) if tool in TOOLS else f"unknown tool {tool!r} (known: {', '.join(TOOLS)})"
        if why and (args.tools or tool == "pyrometer"):
            sys.exit(why)
        if why:
            left_out[tool] = why
    tools = [t for t in asked if t not in left_out]
    load_start = os.getloadavg()
    results: dict[tuple[str, str, int], list[tuple[dict[str, float], dict[str, float]]]] = {}
    with tempfile.TemporaryDirectory(prefix="pyrometer-accuracy-") as tmp:
        out_dir = Path(tmp)
        for program in PROGRAMS:
            order = [(t, r) for r in rates for t in tools]
            for i in range(args.runs):
                k = i % len(order)
                for tool, rate in order[k:] + order[:k]:
                    if tool in left_out:
                        continue
                    try:
                        results.setdefault((program, tool, rate), []).append(run_once(tool, rate, program, out_dir))
                    except RuntimeError as e:  # e.g. py-spy on a Python it does not know
                        print(f"{tool} left out: {e}", file=sys.stderr)
                        left_out[tool] = str(e)
            print(f"{program} done", file=sys.stderr, flush=True)
    load_end = os.getloadavg()

    lines = [
        f"Sampling accuracy on CPython {platform.python_version()} ({platform.machine()}, {os.cpu_count()} CPUs), "
        f"{args.runs} interleaved runs per program, tool and rate; CPU time; load average (1 min) "
        f"{load_start[0]:.1f} at the start, {load_end[0]:.1f} at the end.",
        "",
        "Error of a run = the largest gap between a phase's share and its true share, in percentage points.",
        "",
        "| program | tool | rate | shares measured (median) | true shares (median) | error (median / worst) |",
        "|---|---|---:|---|---|---:|",
    ]
    for program, (_, _, phases) in PROGRAMS.items():
        for rate in rates:
            for tool in tools:
                runs = results.get((program, tool, rate))
                if tool in left_out or not runs:
                    continue
                errors = [max(abs(m[p] - t[p]) for p in phases) for m, t in runs]
                measured = " / ".join(f"{statistics.median(m[p] for m, _ in runs):.1f}" for p in phases)
                truth = " / ".join(f"{statistics.median(t[p] for _, t in runs):.1f}" for p in phases)
                lines.append(
                    f"| {program} ({'/'.join(phases)}) | {tool} | {rate} Hz | {measured} | {truth} "
                    f"| {statistics.median(errors):.2f} / {max(errors):.2f} |"
                )
    if left_out:
        lines += ["", "Left out:", ""] + [f"- {t}: {why}".replace("|", "/") for t, why in left_out.items()]
    emit("\n".join(lines), args.out)


if __name__ == "__main__":
    main()
