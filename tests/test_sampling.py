"""Sampling (the default mode of `run`, and `record`, `dump`, `top`): shares within two
percentage points of the truth on programs whose split is known by construction, CPU against
wall time, threads, deep stacks, lines, subprocesses, attaching, and errors."""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import SCRIPTS, base_env, pyrometer_command, run, saved_profile

TOLERANCE = 2.0  # percentage points


def collapsed(pyrometer, profile: Path, *options: str) -> list[tuple[list[str], int]]:
    result = pyrometer("view", str(profile), "--format", "collapsed", *options)
    assert result.returncode == 0, str(result)
    rows = []
    for line in result.stdout.splitlines():
        path, value = line.rsplit(" ", 1)
        rows.append((path.split(";"), int(value)))
    return rows


def inclusive_shares(rows, names: list[str]) -> dict[str, float]:
    """Percent of the total spent with each function on the stack."""
    total = sum(v for _, v in rows)
    return {n: 100.0 * sum(v for path, v in rows if any(f.startswith(n + " (") for f in path)) / total for n in names}


def sampled_run(pyrometer, tmp_path, script: Path, *args: str, options: tuple[str, ...] = ()) -> Path:
    out = tmp_path / f"{script.stem}.pyro"
    result = pyrometer("run", "-q", "-o", str(out), *options, str(script), *args, timeout=120)
    assert result.returncode == 0, str(result)
    return out


def test_cpu_split_is_accurate(pyrometer, tmp_path):
    truth = {"heavy": 60.0, "medium": 30.0, "light": 10.0}
    for attempt in range(3):  # a heavily loaded machine can skew one run; the truth is fixed
        profile = sampled_run(pyrometer, tmp_path, SCRIPTS / "cpu_split.py", "2.0")
        shares = inclusive_shares(collapsed(pyrometer, profile), list(truth))
        within = [abs(shares[n] - truth[n]) <= TOLERANCE for n in truth]
        if all(within):
            return
        print(f"attempt {attempt + 1}: {shares}")
    pytest.fail(f"shares {shares} are not within {TOLERANCE} points of {truth}")


def test_cpu_and_wall_time(pyrometer, tmp_path):
    out = tmp_path / "cs.pyro"
    result = pyrometer("run", "-o", str(out), "--no-advice", "--top", "1", str(SCRIPTS / "compute_and_sleep.py"))
    assert result.returncode == 0, str(result)
    spent = json.loads(result.stdout.splitlines()[0])  # the time each part really took
    # CPU: shares of the CPU time the loop used (the program's start-up is outside it).
    cpu_truth = {n: 100 * spent["cpu"][n] / spent["cpu"]["total"] for n in ("compute", "rest")}
    rows = collapsed(pyrometer, out)
    in_loop = [(path, v) for path, v in rows if any(f.split(" (")[0] in ("compute", "rest") for f in path)]
    cpu = inclusive_shares(in_loop, ["compute", "rest"])
    assert all(abs(cpu[n] - cpu_truth[n]) <= TOLERANCE for n in cpu_truth), (cpu, cpu_truth)
    wall_truth = {n: 100 * t / sum(spent["wall"].values()) for n, t in spent["wall"].items()}
    wall = inclusive_shares(collapsed(pyrometer, out, "--idle"), ["compute", "rest"])
    assert all(abs(wall[n] - wall_truth[n]) <= TOLERANCE for n in wall_truth), (wall, wall_truth)
    profile = out
    report = pyrometer("view", str(profile), "--idle")
    assert "wall time" in report.stdout and "rest" in report.stdout
    assert "CPU time" in pyrometer("view", str(profile)).stdout


def test_cpu_goes_to_the_phase_that_used_it(pyrometer, tmp_path):
    """A thread that computes, then sleeps, then blocks in `select`: the CPU time the kernel
    adds when a thread stops running belongs to its computing, not to the sleep that follows
    it. Judged against the thread's own CPU clock, every phase within the tolerance."""
    out = tmp_path / "csb.pyro"
    result = pyrometer("run", "-o", str(out), "--no-advice", "--top", "1", str(SCRIPTS / "compute_sleep_block.py"))
    assert result.returncode == 0, str(result)
    spent = json.loads(result.stdout.splitlines()[0])["cpu"]
    phases = list(spent)
    truth = {n: 100 * spent[n] / sum(spent.values()) for n in phases}
    rows = [(path, v) for path, v in collapsed(pyrometer, out) if any(f.split(" (")[0] in phases for f in path)]
    cpu = inclusive_shares(rows, phases)
    assert all(abs(cpu[n] - truth[n]) <= TOLERANCE for n in phases), (cpu, truth)


def test_threads_are_reported_apart(pyrometer, tmp_path):
    profile = sampled_run(pyrometer, tmp_path, SCRIPTS / "two_threads.py")
    report = pyrometer("view", str(profile), "--idle")
    assert "Threads" in report.stdout and "cruncher" in report.stdout and "sleeper" in report.stdout
    doc = json.loads(pyrometer("view", str(profile), "--format", "json").stdout)["profile"]
    names = {i: doc["strings"][t["name"]] for i, t in enumerate(doc["threads"])}
    columns = {c["metric"]: c["values"] for c in doc["samples"]["columns"]}
    cpu = {n: 0 for n in names.values()}
    wall = {n: 0 for n in names.values()}
    for row, t in enumerate(doc["samples"]["thread"]):
        cpu[names[t]] += columns["cpu_samples"][row]
        wall[names[t]] += columns["wall_samples"][row]
    assert cpu["sleeper"] <= 0.02 * cpu["cruncher"], cpu
    assert abs(wall["sleeper"] - wall["cruncher"]) <= 0.1 * wall["cruncher"], wall
    gil = columns.get("gil_samples")
    assert gil is not None and sum(gil) > 0


def test_deep_stacks_are_read_whole(pyrometer, tmp_path):
    profile = sampled_run(pyrometer, tmp_path, SCRIPTS / "deep_stack.py")
    rows = collapsed(pyrometer, profile)
    deepest = max(len(path) for path, _ in rows)
    assert deepest >= 502, deepest  # <module>, 501 calls of down


def test_lines_are_reported(pyrometer, tmp_path):
    profile = sampled_run(pyrometer, tmp_path, SCRIPTS / "cpu_split.py", "0.5")
    report = pyrometer("view", str(profile))
    assert "Top lines by self CPU time" in report.stdout
    lines = report.stdout.split("Top lines by self CPU time")[1].splitlines()
    assert "cpu_split.py:11" in lines[2] or "cpu_split.py:10" in lines[2], lines[:4]
    speedscope = json.loads(pyrometer("view", str(profile), "--format", "speedscope").stdout)
    assert any(f.get("line") == 11 for f in speedscope["shared"]["frames"] if f["name"] == "burn")


def test_subprocesses_are_followed(pyrometer, tmp_path):
    profile = sampled_run(pyrometer, tmp_path, SCRIPTS / "spawns_python.py", options=("--subprocesses",))
    doc = json.loads(pyrometer("view", str(profile), "--format", "json").stdout)["profile"]
    assert len(doc["processes"]) == 2, doc["processes"]
    shares = inclusive_shares(collapsed(pyrometer, profile), ["in_child", "in_parent"])
    assert shares["in_child"] > 30 and shares["in_parent"] > 15, shares
    # Apart: the report names each process; --process keeps one.
    report = pyrometer("view", str(profile))
    assert report.returncode == 0, str(report)
    processes = report.stdout.split("\nProcesses (--process PID")[1].split("\nThreads\n")[0]
    parent, child = (p["pid"] for p in doc["processes"])
    assert f"pid {parent}" in processes and f"pid {child}  (child of {parent})" in processes, processes
    only_child = pyrometer("view", str(profile), "--process", str(child), "--format", "collapsed")
    assert only_child.returncode == 0, str(only_child)
    assert "in_child" in only_child.stdout and "in_parent" not in only_child.stdout
    only_parent = pyrometer("view", str(profile), "--process", str(parent), "--format", "collapsed").stdout
    assert "in_parent" in only_parent and "in_child" not in only_parent
    missing = pyrometer("view", str(profile), "--process", "1")
    assert missing.returncode == 2 and missing.stderr.startswith("pyrometer: error: the profile has no process 1")

    # Without --subprocesses the child is not sampled (this run overwrites the profile above).
    alone = sampled_run(pyrometer, tmp_path, SCRIPTS / "spawns_python.py")
    assert inclusive_shares(collapsed(pyrometer, alone), ["in_child"])["in_child"] == 0


@pytest.mark.parametrize("mode", ["sample", "trace"])
def test_program_behaves_as_under_python(pyrometer, tmp_path, monkeypatch, mode):
    monkeypatch.chdir(tmp_path)
    for script, args, status in [("exit_code.py", ["6"], 6), ("raises.py", [], 1), ("os_exit.py", [], 7)]:
        plain = run([sys.executable, str(SCRIPTS / script), *args], tmp_path, env=base_env(tmp_path))
        ours = pyrometer("run", "--mode", mode, "-q", str(SCRIPTS / script), *args)
        assert ours.returncode == plain.returncode == status, str(ours)
        assert ours.stdout == plain.stdout
        assert ours.stderr.startswith(plain.stderr), str(ours)
        assert saved_profile(ours).exists()
    shown = pyrometer("run", "--mode", mode, "-q", str(SCRIPTS / "show_env.py"), "a", input="x")
    plain = run([sys.executable, str(SCRIPTS / "show_env.py"), "a"], tmp_path, env=base_env(tmp_path), input="x")
    assert json.loads(shown.stdout) == json.loads(plain.stdout)


def test_killed_program_keeps_its_samples(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    proc = subprocess.Popen(
        [*pyrometer_command(), "run", "-q", str(SCRIPTS / "wait_forever.py")],
        cwd=tmp_path,
        env=base_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(0.5)
    child = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
    os.kill(int(child[0]), signal.SIGKILL)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, err
    view = run([*pyrometer_command(), "view", "--idle", str(saved_profile(err))], tmp_path, env=base_env(tmp_path))
    assert "idle" in view.stdout and "killed by signal 9" in view.stdout


@pytest.fixture
def waiting_program(tmp_path):
    proc = subprocess.Popen([sys.executable, str(SCRIPTS / "wait_forever.py")], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    yield proc
    proc.kill()
    proc.wait()


def test_record_dump_and_top_attach(pyrometer, tmp_path, waiting_program):
    pid = str(waiting_program.pid)
    recorded = pyrometer("record", "--pid", pid, "--duration", "1", "-o", "rec.pyro", "--idle")
    assert recorded.returncode == 0, str(recorded)
    assert "idle" in recorded.stdout and "wall time" in recorded.stdout
    assert (tmp_path / "rec.pyro").exists()

    dumped = pyrometer("dump", "--pid", pid)
    assert dumped.returncode == 0, str(dumped)
    assert '"MainThread"' in dumped.stdout and "idle (" in dumped.stdout and "wait_forever.py:" in dumped.stdout
    as_json = json.loads(pyrometer("dump", "--pid", pid, "--json").stdout)
    main = next(t for t in as_json["threads"] if t["is_main"])
    assert main["frames"][-1]["qualname"] == "idle" and main["frames"][-1]["line"] in (12, 13)

    proc = subprocess.Popen(
        [*pyrometer_command(), "top", "--pid", pid, "--interval", "0.3", "--idle"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    time.sleep(1.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert out.count("pyrometer top · pid") >= 2 and "idle" in out


def test_record_in_process_puts_the_signal_handlers_back(tmp_path, waiting_program, monkeypatch):
    """The CLI can run inside a Python process (`_native.main`): `record` catches Ctrl-C and
    SIGTERM while it samples, then leaves the host's own handlers as they were."""
    from pyrometer import _native

    caught = []

    def mine(signum, frame):
        caught.append(signum)

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYROMETER_DIR", str(tmp_path / ".pyrometer"))
    signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    before = {s: signal.signal(s, mine) for s in signals}
    try:
        args = ["pyrometer", "record", "--pid", str(waiting_program.pid), "--duration", "0.2", "-o", "r.pyro"]
        for _ in range(2):
            assert _native.main(args) == 0
        # The handlers in force are Python's again (signal.getsignal only shows Python's own
        # table, so the signals are sent for real).
        for s in signals:
            os.kill(os.getpid(), s)
            time.sleep(0.05)
        assert caught == list(signals)
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)
    assert (tmp_path / "r.pyro").exists()


def test_top_runs_a_program(pyrometer, tmp_path):
    result = pyrometer("top", "--interval", "0.3", "--", str(SCRIPTS / "exit_code.py"), "3")
    assert result.returncode == 3, str(result)
    assert "pyrometer top" in result.stdout


def test_sampling_needs_nothing_in_the_programs_interpreter(pyrometer, tmp_path):
    """Sampling reads the program from outside: `--python` may name an interpreter without
    pyrometer (a project's own virtual environment); the modes that collect inside the process
    say plainly that they need it."""
    venv = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    assert subprocess.run([python, "-c", "import pyrometer"], capture_output=True).returncode != 0
    truth = {"heavy": 60.0, "medium": 30.0, "light": 10.0}
    for _attempt in range(3):
        out = tmp_path / "bare.pyro"
        result = pyrometer("run", "--python", python, "-o", str(out), str(SCRIPTS / "cpu_split.py"), "1.5")
        assert result.returncode == 0, str(result)
        shares = inclusive_shares(collapsed(pyrometer, out), list(truth))
        if all(abs(shares[n] - truth[n]) <= TOLERANCE for n in truth):
            break
    else:
        pytest.fail(f"shares {shares} are not within {TOLERANCE} points of {truth}")
    plain = run([python, str(SCRIPTS / "raises.py")], tmp_path, env=base_env(tmp_path))
    ours = pyrometer("run", "--python", python, "-q", str(SCRIPTS / "raises.py"))
    assert ours.returncode == plain.returncode == 1 and ours.stderr.startswith(plain.stderr), str(ours)
    watched = pyrometer("top", "--python", python, "--interval", "0.3", "--", str(SCRIPTS / "exit_code.py"), "3")
    assert watched.returncode == 3, str(watched)
    for args in (["--mode", "trace"], ["--mode", "lines"], ["--memory"]):
        result = pyrometer("run", "--python", python, *args, str(SCRIPTS / "exit_code.py"))
        assert result.returncode == 2, str(result)
        assert result.stderr.startswith("pyrometer: error: ") and "cannot import pyrometer" in result.stderr


def test_attach_errors_are_one_line(pyrometer, tmp_path):
    for args, needle in [
        (["dump", "--pid", "999999"], "no process"),
        (["record", "--pid", "1", "--duration", "1"], ""),
        (["run", "--rate", "0", str(SCRIPTS / "exit_code.py")], "--rate"),
    ]:
        result = pyrometer(*args)
        assert result.returncode == 2, str(result)
        first = result.stderr.splitlines()[0]
        assert first.startswith("pyrometer: error: ") and needle in first, str(result)
        assert "Traceback" not in result.stderr and "panicked" not in result.stderr


def as_nobody():
    os.setgid(65534)
    os.setuid(65534)


def without_ptrace_rights():
    """Root, but without CAP_SYS_PTRACE from the next exec on (dropped from the bounding
    set): another user's process cannot be read, as for an ordinary user."""
    libc = ctypes.CDLL(None, use_errno=True)
    pr_capbset_drop, cap_sys_ptrace = 24, 19
    if libc.prctl(pr_capbset_drop, cap_sys_ptrace, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def test_permission_denied_says_how_to_allow(tmp_path):
    """A process of another user is refused as ptrace would refuse it, in one line with a
    hint: the target runs as nobody, pyrometer as root without CAP_SYS_PTRACE."""
    if os.geteuid() != 0:
        pytest.skip("needs root to start a process as another user")

    def runs_as_nobody(python: str) -> bool:
        try:
            return subprocess.run([python, "-c", "pass"], preexec_fn=as_nobody, cwd="/").returncode == 0
        except OSError:
            return False

    # An interpreter the user nobody can run (a venv's may live under a private home).
    python = next(p for p in (os.path.realpath(sys.executable), "/usr/bin/python3") if runs_as_nobody(p))
    target = subprocess.Popen(
        [python, str(SCRIPTS / "wait_forever.py")], stdout=subprocess.PIPE, text=True, preexec_fn=as_nobody, cwd="/"
    )
    try:
        assert target.stdout.readline().strip() == "ready"
        result = subprocess.run(
            [*pyrometer_command(), "dump", "--pid", str(target.pid)],
            capture_output=True,
            text=True,
            preexec_fn=without_ptrace_rights,
            env=base_env(tmp_path),
        )
    finally:
        target.kill()
        target.wait()
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("pyrometer: error: ") and "hint:" in result.stderr, result.stderr
