"""`pyrometer run`: the program runs exactly as `python` runs it, the profile is never lost, and
bad input gets a one-line error with exit status 2."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import SCRIPTS, base_env, older_python, pyrometer_command, run, saved_profile
from pyrometer import ProfileData


def profiled_names(path: Path) -> set[str]:
    doc = json.loads(ProfileData.load(str(path)).render("json"))["profile"]
    return {doc["strings"][f["qualname"]] for f in doc["frames"]}


def test_program_sees_what_python_would_show(pyrometer, tmp_path):
    """argv, sys.path[0], __main__, __file__, loader, stdin and the environment."""
    script = tmp_path / "app" / "show_env.py"
    script.parent.mkdir()
    script.write_text((SCRIPTS / "show_env.py").read_text())
    link = tmp_path / "link.py"
    link.symlink_to(script)
    (tmp_path / "app" / "sub").mkdir()
    # Python makes a relative path absolute by putting the working directory before it, with
    # no normalizing: `__file__` and code file names keep `./` and `..`.
    targets = (script, link, "app/show_env.py", "./app/show_env.py", "app/sub/../show_env.py")
    for target, mode in itertools.product(targets, ("trace", "sample")):
        args = [str(target), "a b", "--flag", "-m", "x"]
        plain = run([sys.executable, *args], tmp_path, env=base_env(tmp_path), input="piped input")
        ours = pyrometer("run", "--mode", mode, "-q", *args, input="piped input")
        assert ours.returncode == plain.returncode == 0, str(ours)
        assert json.loads(ours.stdout) == json.loads(plain.stdout), f"{target}:\n{ours.stdout}\n{plain.stdout}"
        assert ours.stderr.startswith("to stderr\n"), ours.stderr


def test_module_and_code_targets_match_python(pyrometer, tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "tool.py").write_text((SCRIPTS / "show_env.py").read_text())
    plain = run([sys.executable, "-m", "pkg.tool", "x", "-y"], tmp_path, env=base_env(tmp_path))
    ours = pyrometer("run", "--mode", "trace", "-q", "-m", "pkg.tool", "x", "-y")
    assert ours.returncode == 0, str(ours)
    assert json.loads(ours.stdout) == json.loads(plain.stdout)

    code = "import sys, json; print(json.dumps([sys.argv, sys.path[0], __name__]))"
    plain = run([sys.executable, "-c", code, "1", "--two"], tmp_path, env=base_env(tmp_path))
    ours = pyrometer("run", "--mode", "trace", "-q", "-c", code, "1", "--two")
    assert ours.returncode == 0, str(ours)
    assert json.loads(ours.stdout) == json.loads(plain.stdout)


def test_directory_with_main_runs_like_python(pyrometer, tmp_path):
    app = tmp_path / "appdir"
    app.mkdir()
    (app / "__main__.py").write_text("import sys\nprint(sys.argv, sys.path[0], __name__, __file__)\n")
    plain = run([sys.executable, "appdir", "q"], tmp_path, env=base_env(tmp_path))
    ours = pyrometer("run", "--mode", "trace", "-q", "appdir", "q")
    assert ours.returncode == 0, str(ours)
    assert ours.stdout == plain.stdout


def test_report_and_saved_profile(pyrometer, tmp_path):
    result = pyrometer("run", "--mode", "trace", str(SCRIPTS / "recursion.py"))
    assert result.returncode == 0, str(result)
    assert "Top functions by self time" in result.stdout
    assert "Top functions by inclusive time" in result.stdout
    assert "fib" in result.stdout and "calls" in result.stdout
    path = saved_profile(result)
    full = path if path.is_absolute() else tmp_path / path
    assert full.is_file() and full.suffix == ".pyro"
    assert full.parent == tmp_path / ".pyrometer" / "runs"
    again = pyrometer("view", str(full))
    assert again.returncode == 0
    assert again.stdout == result.stdout, "view renders a saved run exactly as run did"


def test_sort_and_top(pyrometer):
    result = pyrometer(
        "run", "--mode", "trace", "--sort", "calls", "--top", "3", "-o", "x.pyro", str(SCRIPTS / "recursion.py")
    )
    assert result.returncode == 0, str(result)
    assert "Functions by calls" in result.stdout
    table = result.stdout.split("Functions by calls")[1].splitlines()[2:5]
    calls = [int(line.split()[0].split("/")[0].replace(",", "")) for line in table]
    assert calls == sorted(calls, reverse=True) and len(calls) == 3
    assert "more functions" in result.stdout


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """Runs in tmp_path, and so does the test: saved profile paths are relative to it."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_exit_status_is_the_programs(pyrometer, in_tmp):
    result = pyrometer("run", "--mode", "trace", "-q", str(SCRIPTS / "exit_code.py"), "5")
    assert result.returncode == 5, str(result)
    assert "work" in profiled_names(saved_profile(result))


def test_uncaught_exception_prints_traceback_and_keeps_profile(pyrometer, in_tmp):
    result = pyrometer("run", "--mode", "trace", "-q", str(SCRIPTS / "raises.py"))
    assert result.returncode == 1, str(result)
    plain = run([sys.executable, str(SCRIPTS / "raises.py")], in_tmp, env=base_env(in_tmp))
    assert result.stderr.startswith(plain.stderr), f"the traceback must be python's own:\n{result.stderr}"
    names = profiled_names(saved_profile(result))
    assert {"outer", "inner"} <= names


def test_sys_exit_and_os_exit_keep_profile(pyrometer, in_tmp):
    result = pyrometer("run", "--mode", "trace", "-q", str(SCRIPTS / "exit_code.py"), "4")
    assert result.returncode == 4
    assert "work" in profiled_names(saved_profile(result))
    result = pyrometer("run", "--mode", "trace", "-q", str(SCRIPTS / "os_exit.py"))
    assert result.returncode == 7, str(result)
    assert "work" in profiled_names(saved_profile(result))


def test_killed_by_its_own_signal_keeps_profile(pyrometer, in_tmp):
    for name in ("SIGTERM", "SIGHUP"):
        result = pyrometer("run", "--mode", "trace", "-q", str(SCRIPTS / "signal_self.py"), name)
        assert result.returncode == -getattr(signal, name), str(result)
        assert "work" in profiled_names(saved_profile(result))


def test_keyboard_interrupt_behaves_like_python(pyrometer, in_tmp):
    plain = run([sys.executable, str(SCRIPTS / "keyboard.py")], in_tmp, env=base_env(in_tmp))
    result = pyrometer("run", "--mode", "trace", "-q", str(SCRIPTS / "keyboard.py"))
    assert result.returncode == plain.returncode == -signal.SIGINT, str(result)
    assert "KeyboardInterrupt" in result.stderr
    assert {"interrupt", "work"} <= profiled_names(saved_profile(result))


def start_waiting(in_tmp, *extra: str) -> subprocess.Popen:
    proc = subprocess.Popen(
        [*pyrometer_command(), "run", "--mode", "trace", "-q", *extra, str(SCRIPTS / "wait_forever.py")],
        cwd=in_tmp,
        env=base_env(in_tmp),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(0.2)
    return proc


def test_terminating_pyrometer_keeps_profile(in_tmp):
    """`kill <pyrometer>` (SIGTERM to the parent) is passed on; the profile is saved."""
    proc = start_waiting(in_tmp)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGTERM, err
    names = profiled_names(saved_profile(err))
    assert {"work", "idle"} <= names


def test_ctrl_c_keeps_profile(in_tmp):
    """Ctrl-C in a terminal signals the whole process group."""
    proc = start_waiting(in_tmp)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGINT, err
    assert "KeyboardInterrupt" in err
    names = profiled_names(saved_profile(err))
    assert {"work", "idle"} <= names


def test_sigkill_keeps_what_was_checkpointed(in_tmp):
    """A program killed outright cannot save anything at exit: the periodic checkpoint is what
    remains, and the report says so."""
    proc = start_waiting(in_tmp, "--checkpoint", "0.2")
    time.sleep(1.0)
    children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
    assert children, "the program runs in a child process"
    os.kill(int(children[0]), signal.SIGKILL)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, err
    path = saved_profile(err)
    assert "work" in profiled_names(path)
    view = run([*pyrometer_command(), "view", str(path)], in_tmp, env=base_env(in_tmp))
    assert "killed by signal 9" in view.stdout
    assert "checkpoint" in view.stdout


SPIN = """\
import os, signal, time

def spin():
    x = 0
    end = time.monotonic() + 2.5
    while True:
        for _ in range(100_000):
            x += 1
        if time.monotonic() > end:
            os.kill(os.getpid(), signal.SIGKILL)

spin()
"""


# The main thread waits in `join()` (a lock, no bytecode) while a worker spins.
JOINED_SPIN = """\
import threading
from spin import spin

worker = threading.Thread(target=spin)
worker.start()
worker.join()
"""


@pytest.mark.parametrize("mode", ["trace", "lines"])
@pytest.mark.parametrize("script", ["spin.py", "joined.py"])
def test_checkpoints_reach_a_busy_or_blocked_main_thread(pyrometer, in_tmp, mode, script):
    """Pure arithmetic neither drops the GIL on its own nor allocates tracked objects; a main
    thread blocked in `join()` runs no bytecode at all: both get checkpoints."""
    (in_tmp / "spin.py").write_text(SPIN.replace("\nspin()\n", '\nif __name__ == "__main__":\n    spin()\n'))
    (in_tmp / "joined.py").write_text(JOINED_SPIN)
    result = pyrometer("run", "--mode", mode, "--checkpoint", "0.5", "-o", "spin.pyro", script)
    assert result.returncode == -signal.SIGKILL, str(result)
    assert "this is checkpoint" in result.stdout, str(result)
    assert "spin" in result.stdout


def test_forked_child_does_not_write_the_profile(pyrometer, in_tmp):
    result = pyrometer("run", "--mode", "trace", "-q", str(SCRIPTS / "fork_child.py"))
    assert result.returncode == 0, str(result)
    assert "child status 0" in result.stdout
    names = profiled_names(saved_profile(result))
    assert "parent_work" in names and "child_work" not in names


def one_line_error(result, *needles: str) -> None:
    assert result.returncode == 2, str(result)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines and lines[0].startswith("pyrometer: error: "), str(result)
    assert len([line for line in lines if not line.startswith("hint: ")]) == 1, str(result)
    assert "Traceback" not in result.stderr and "panicked" not in result.stderr
    for needle in needles:
        assert needle in lines[0], str(result)


def test_bad_input_is_a_one_line_error(pyrometer, tmp_path):
    one_line_error(pyrometer("run", "--mode", "trace", "missing.py"), "missing.py", "no such file")
    one_line_error(pyrometer("run", "--mode", "trace", str(SCRIPTS / "syntax_error.py")), "syntax_error.py, line 1")
    one_line_error(pyrometer("run", "--mode", "trace", "-m", "no_such_module_here"), "no_such_module_here")
    one_line_error(pyrometer("run", "--mode", "trace", "-c", "def ("), "-c")
    one_line_error(
        pyrometer("run", "--mode", "trace", "--export", "out.weird", str(SCRIPTS / "exit_code.py")), "out.weird"
    )
    one_line_error(pyrometer("run"), "nothing to run")
    bad_format = pyrometer("run", "--mode", "trace", "--format", "gif", "--export", "x", str(SCRIPTS / "exit_code.py"))
    assert bad_format.returncode == 2 and "unknown format 'gif'" in bad_format.stderr
    not_a_profile = tmp_path / "notes.pyro"
    not_a_profile.write_text("hello")
    one_line_error(pyrometer("view", str(not_a_profile)), "not a pyrometer profile")
    truncated = tmp_path / "cut.pyro"
    good = pyrometer("run", "--mode", "trace", "-q", "-o", "good.pyro", str(SCRIPTS / "exit_code.py"), "0")
    assert good.returncode == 0
    truncated.write_bytes((tmp_path / "good.pyro").read_bytes()[:60])
    one_line_error(pyrometer("view", str(truncated)), "truncated")
    one_line_error(pyrometer("view", "nowhere.pyro"), "no such file")
    one_line_error(pyrometer("run", "--mode", "trace", "--python", "/no/such/python", str(SCRIPTS / "exit_code.py")))


@pytest.mark.may_skip
def test_unsupported_interpreter_is_refused(pyrometer):
    old = older_python()
    if old is None:
        pytest.skip("no CPython older than 3.11 on this machine to try")
    minor = old.name.removeprefix("python")
    for mode in ("trace", "sample"):
        one_line_error(
            pyrometer("run", "--mode", mode, "--python", str(old), str(SCRIPTS / "exit_code.py")), minor, "3.11"
        )


def test_builtins_are_traced_when_asked(pyrometer, in_tmp):
    default = pyrometer("run", "--mode", "trace", str(SCRIPTS / "builtins_mix.py"))
    assert default.returncode == 0, str(default)
    names = profiled_names(saved_profile(default))
    assert "main" in names and not any(n.startswith(("list.", "builtins.")) for n in names)
    assert "--builtins traces them" in default.stdout
    traced = pyrometer("run", "--mode", "trace", "-q", "--builtins", str(SCRIPTS / "builtins_mix.py"))
    assert {"list.append", "builtins.sorted", "str.join", "math.hypot"} <= profiled_names(saved_profile(traced))


def test_deep_recursion_is_not_harmed(pyrometer, in_tmp):
    """Tracing must not overflow the C stack where plain python would not (3.11's frame
    evaluator recurses on it)."""
    script = in_tmp / "deep.py"
    script.write_text(
        "import sys\nsys.setrecursionlimit(400000)\n"
        "def down(n):\n    return 0 if n == 0 else 1 + down(n - 1)\n"
        "print(down(int(sys.argv[1])))\n"
    )
    plain = run([sys.executable, str(script), "150000"], in_tmp, env=base_env(in_tmp))
    if plain.returncode != 0:
        pytest.skip(f"plain python cannot recurse that deep here: {plain.stderr[-200:]}")
    for extra in ([], ["--builtins"]):
        result = pyrometer("run", "--mode", "trace", *extra, str(script), "150000")
        assert result.returncode == 0, str(result)
        assert result.stdout.startswith("150000\n")


def test_a_program_using_cprofile_keeps_working(pyrometer, in_tmp):
    """cProfile (and line_profiler, coverage) inside the program still work while pyrometer
    traces: pyrometer does not take their sys.monitoring tool ids (3.12+)."""
    for mode in ("trace", "sample"):
        result = pyrometer("run", "--mode", mode, "-q", str(SCRIPTS / "uses_cprofile.py"))
        assert result.returncode == 0, str(result)
        assert "cProfile saw inner 50 times" in result.stdout
    if sys.version_info >= (3, 12):
        traced = pyrometer("run", "--mode", "trace", "-q", str(SCRIPTS / "uses_cprofile.py"))
        assert {"outer", "inner"} <= profiled_names(saved_profile(traced))


def test_ignored_signals_stay_ignored(tmp_path):
    """Started with SIGINT and SIGHUP ignored (a background job, nohup), the program sees them
    ignored, as under plain python; asyncio then leaves SIGINT alone, for example."""
    script = tmp_path / "show.py"
    script.write_text("import signal\nprint(signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGHUP))\n")

    def ignoring():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)

    def shown(command):
        proc = subprocess.run(
            command, cwd=tmp_path, env=base_env(tmp_path), capture_output=True, text=True, preexec_fn=ignoring
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.splitlines()[0]

    plain = shown([sys.executable, str(script)])
    assert plain == f"{signal.SIG_IGN} {signal.SIG_IGN}"
    for mode in ("sample", "trace"):
        assert shown([*pyrometer_command(), "run", "--mode", mode, "-q", str(script)]) == plain
