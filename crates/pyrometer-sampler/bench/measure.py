"""Measures the sampler against a target with a deep stack, and py-spy on the same target.

    python3 bench/measure.py [--python PY] [--depth 50] [--duration 5] [--rates 1000,10000]
                             [--sampler PATH] [--py-spy PATH] [--json OUT]

For each rate it starts `bench/deep50.py` (one thread, N frames deep, busy at the leaf), runs
the sampler's example binary (`cargo build --release --example sample`) and, when found,
`py-spy record --nonblocking`, and reports for each tool:

- achieved rate: samples taken / wall time of the run;
- CPU per sample: user + system time of the tool's process (from wait4's rusage) / samples;
- syscalls per sample: every syscall the tool made (perf's raw_syscalls:sys_enter, when perf
  is usable) / samples, and process_vm_readv calls / samples.

Speed is measured here, never asserted in tests. Results depend on the machine's load: run it
on an idle machine and report the figures from one run, as ratios.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CRATE = os.path.dirname(HERE)
WORKSPACE = os.path.dirname(os.path.dirname(CRATE))


def run_measured(cmd, perf):
    """Runs cmd; returns (stdout, stderr, wall seconds, cpu seconds, perf counts)."""
    perf_out = None
    if perf:
        fd, perf_out = tempfile.mkstemp(suffix=".perf")
        os.close(fd)
        cmd = [perf, "stat", "-x", ",", "-o", perf_out, "-e",
               "raw_syscalls:sys_enter,syscalls:sys_enter_process_vm_readv"] + cmd
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate()
    wall = time.monotonic() - t0
    counts = {}
    if perf_out:
        with open(perf_out) as f:
            for line in f:
                parts = line.strip().split(",")
                if len(parts) > 2 and parts[0].isdigit():
                    counts[parts[2]] = int(parts[0])
        os.unlink(perf_out)
    return out, err, wall, counts


def child_cpu_seconds(before):
    now = os.times()
    return (now.children_user - before.children_user) + (now.children_system - before.children_system)


def perf_usable():
    perf = shutil.which("perf")
    if not perf:
        return None
    probe = subprocess.run([perf, "stat", "-x", ",", "-e", "raw_syscalls:sys_enter", "true"],
                           capture_output=True, text=True)
    return perf if probe.returncode == 0 else None


def start_target(python, depth):
    return subprocess.Popen([python, os.path.join(HERE, "deep50.py"), str(depth)])


def syscall_counts(cmd, perf):
    """A second, shorter run under perf (its tracepoints slow syscalls down, so CPU time is
    taken from the plain run): syscall counts and the samples the tool reported."""
    if not perf:
        return {}, ""
    out, err, _, counts = run_measured(cmd, perf)
    return counts, out + err


def per_sample(counts, text, key):
    m = re.search(r"^\s*samples (\d+)$", text, re.M) or re.search(r"Samples: (\d+)", text)
    n = int(m.group(1)) if m else 0
    return counts[key] / n if n and key in counts else None


def measure_ours(sampler, pid, rate, duration, perf):
    cmd = [sampler, "--pid", str(pid), "--rate", str(rate), "--self-cpu", "--duration"]
    before = os.times()
    out, err, wall, _ = run_measured(cmd + [str(duration)], None)
    cpu = child_cpu_seconds(before)
    counts, text = syscall_counts(cmd + ["2"], perf)
    counters = dict(re.findall(r"^\s*(\w+) (\d+)$", out, re.M))
    samples = int(counters.get("samples", 0))
    if not samples:
        raise SystemExit("sampler failed:\n" + out + err)
    return {
        "tool": "pyrometer",
        "rate": rate,
        "samples": samples,
        "achieved_hz": int(counters["achieved_rate_mhz"]) / 1000.0,
        "cpu_us_per_sample": cpu * 1e6 / samples,
        "loop_cpu_us_per_sample": float(re.search(r"\(([\d.]+) us/sample\)", out).group(1)),
        "syscalls_per_sample": per_sample(counts, text, "raw_syscalls:sys_enter"),
        "vm_readv_per_sample": int(counters["syscalls"]) / samples,
        "stat_reads_per_sample": int(counters["stat_reads"]) / samples,
        "missed": int(counters.get("missed", 0)),
        "dropped": int(counters.get("dropped", 0)),
        "wall_s": wall,
    }


def measure_pyspy(pyspy, pid, rate, duration, perf):
    fd, raw = tempfile.mkstemp(suffix=".txt")
    os.close(fd)
    cmd = [pyspy, "record", "--nonblocking", "--rate", str(rate), "--pid", str(pid),
           "--format", "raw", "-o", raw, "--duration"]
    before = os.times()
    # py-spy takes rate x duration samples however long that takes; cap the work at 10,000.
    seconds = int(max(1, min(duration, 10000 // rate)))
    out, err, wall, _ = run_measured(cmd + [str(seconds)], None)
    cpu = child_cpu_seconds(before)
    counts, text = syscall_counts(cmd + ["1"], perf)
    os.unlink(raw)
    m = re.search(r"Samples: (\d+)", out + err)
    samples = int(m.group(1)) if m else 0
    if not samples:
        return {"tool": "py-spy", "rate": rate, "error": (out + err)[-500:]}
    return {
        "tool": "py-spy",
        "rate": rate,
        "samples": samples,
        # py-spy never skips a sample: when it falls behind it takes longer than --duration.
        "achieved_hz": samples / wall,
        "cpu_us_per_sample": cpu * 1e6 / samples,
        "syscalls_per_sample": per_sample(counts, text, "raw_syscalls:sys_enter"),
        "vm_readv_per_sample": per_sample(counts, text, "syscalls:sys_enter_process_vm_readv"),
        "wall_s": wall,
    }


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--python", default=shutil.which("python3.12") or sys.executable)
    ap.add_argument("--depth", type=int, default=50)
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--rates", default="1000,10000")
    ap.add_argument("--sampler", default=os.path.join(
        os.environ.get("CARGO_TARGET_DIR", os.path.join(WORKSPACE, "target-sampler")),
        "release", "examples", "sample"))
    ap.add_argument("--py-spy", dest="pyspy", default=shutil.which("py-spy"))
    ap.add_argument("--no-perf", action="store_true")
    ap.add_argument("--tools", default="pyrometer,py-spy")
    ap.add_argument("--json")
    args = ap.parse_args()
    if not os.path.exists(args.sampler):
        raise SystemExit("build the sampler first: cargo build --release -p pyrometer-sampler "
                         "--example sample (looked for %s)" % args.sampler)
    perf = None if args.no_perf else perf_usable()
    results = []
    for rate in [int(r) for r in args.rates.split(",")]:
        for tool in args.tools.split(","):
            if tool == "py-spy" and not args.pyspy:
                print("SKIP py-spy: not found (pip install py-spy)", file=sys.stderr)
                continue
            target = start_target(args.python, args.depth)
            try:
                time.sleep(0.5)
                if tool == "pyrometer":
                    r = measure_ours(args.sampler, target.pid, rate, args.duration, perf)
                else:
                    r = measure_pyspy(args.pyspy, target.pid, rate, args.duration, perf)
            finally:
                target.kill()
                target.wait()
            r["python"] = args.python
            r["depth"] = args.depth
            results.append(r)
            print(json.dumps(r), file=sys.stderr)
    print("depth %d, %s" % (args.depth, args.python))
    print("| tool | rate asked | achieved Hz | CPU µs/sample (whole run) | CPU µs/sample "
          "(sampling loop) | syscalls/sample | process_vm_readv/sample |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        if "error" in r:
            print("| %s | %d | error | | | | |" % (r["tool"], r["rate"]))
            continue
        print("| %s | %d | %s | %s | %s | %s | %s |" % (
            r["tool"], r["rate"], fmt(r["achieved_hz"], ".0f"), fmt(r["cpu_us_per_sample"], ".1f"),
            fmt(r.get("loop_cpu_us_per_sample"), ".1f"),
            fmt(r.get("syscalls_per_sample"), ".2f"), fmt(r.get("vm_readv_per_sample"), ".2f")))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


main()
