"""``pyrometer bench``, ``bench compare``, ``history`` and ``gate``; the store's integrity; the
Python API (``pyrometer.timeit``, ``pyrometer.bench``, ``pyrometer.compare``).

Every run here is tiny (two worker processes, a few values of a few milliseconds): these tests
check behaviour, not speed.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import base_env, pyrometer_command, pythons

FAST = ["--processes", "2", "-r", "3", "--min-time", "0.002"]
CMD_FAST = ["-r", "3"]


def one_line_error(result, *, status: int = 2) -> str:
    """The error of a failed command: one `pyrometer: error:` line (and maybe a hint), no traceback."""
    assert result.returncode == status, str(result)
    lines = result.stderr.strip().splitlines()
    assert lines and lines[0].startswith("pyrometer: error: "), str(result)
    assert len(lines) == 1 or (len(lines) == 2 and lines[1].startswith("hint: ")), str(result)
    assert "Traceback" not in result.stderr and "panicked" not in result.stderr, str(result)
    return lines[0]


def bench_json(pyrometer, *args: str, fast: list[str] = FAST) -> dict:
    result = pyrometer("bench", *fast, "--format", "json", *args)
    assert result.returncode == 0, str(result)
    return json.loads(result.stdout)


def store_path(tmp_path: Path) -> Path:
    return tmp_path / ".pyrometer" / "store.sqlite"


# --- the command line --------------------------------------------------------------------


def test_statement_timeit_style(pyrometer, tmp_path):
    doc = bench_json(pyrometer, "-s", "x = list(range(100))", "-s", "y = 2", "sorted(x)")
    assert (doc["format"], doc["version"]) == ("pyrometer-bench", 1)
    [b] = doc["benchmarks"]
    assert b["name"] == "sorted(x)"
    assert b["definition"] == {"kind": "statement", "stmt": "sorted(x)", "setup": "x = list(range(100))\ny = 2"}
    # 2 processes x (1 warm-up + 3 values), every raw value kept.
    assert len(b["samples"]) == 8
    assert sum(s["warmup"] for s in b["samples"]) == 2
    assert {s["process"] for s in b["samples"]} == {0, 1}
    assert b["calibration"] and b["loops"] == b["calibration"][-1][0]
    s = b["summary"]
    assert s["n"] == 6 and s["processes"] == 2
    assert 0 < s["min"] <= s["median"] <= s["max"] < 1e-3
    assert s["ci_low"] <= s["median"] <= s["ci_high"]
    env = doc["environment"]
    assert env["python"]["version"] == ".".join(map(str, sys.version_info[:3]))
    assert env["cores"] >= 1 and env["machine"]
    m = doc["method"]
    assert m["kind"] == "statement" and m["outliers"] == "tukey" and m["timer"] == "perf_counter_ns"
    assert "Mann-Whitney" in m["test"] and "Wilcoxon" in m["test"]
    assert store_path(tmp_path).is_file()


def test_text_report_and_fixed_loops(pyrometer):
    result = pyrometer("bench", *FAST, "-n", "50", "-u", "usec", "-v", "pass")
    assert result.returncode == 0, str(result)
    out = result.stdout
    assert out.startswith("pass\n  median ")
    assert "µs" in out and "(MAD)" in out and "(std)" in out and "95% CI" in out
    assert "6 values: 2 processes \u00d7 3 (+1 warm-up each, discarded), 50 loops per value (-n)" in out
    assert "process 0:" in out and "process 1:" in out  # -v: the raw values
    assert "recorded run #1" in result.stderr


def test_candidates_are_interleaved_and_compared(pyrometer):
    doc = bench_json(
        pyrometer,
        "-s",
        "x = list(range(2000))",
        "--stmt",
        "sum(x)",
        "--stmt",
        "sorted(x, key=lambda v: -v)",
        "--name",
        "sum",
        "--name",
        "sort",
    )
    assert [b["name"] for b in doc["benchmarks"]] == ["sum", "sort"]
    [cmp] = doc["comparisons"]
    assert cmp["against"] == "sum"
    [row] = cmp["rows"]
    assert row["name"] == "sort" and row["test_unit"] == "paired rounds"
    assert row["ratio"] > 3 and row["ratio_ci_low"] <= row["ratio"] <= row["ratio_ci_high"]
    assert row["significant"] and row["verdict"] == "slower"
    text = pyrometer("bench", *FAST, "-s", "x = list(range(2000))", "--stmt", "sum(x)", "--stmt", "min(x)")
    assert "speedup" in text.stdout and "Wilcoxon signed-rank" in text.stdout, str(text)


def test_functions_of_a_file(pyrometer, tmp_path):
    (tmp_path / "helper_mod.py").write_text("VALUE = 3\n")
    (tmp_path / "bench_me.py").write_text(
        "import helper_mod\n\n"
        "def bench_add():\n    helper_mod.VALUE + 1\n\n"
        "def bench_join():\n    ','.join(['a'] * 20)\n\n"
        "def not_a_benchmark():\n    raise SystemExit\n"
    )
    doc = bench_json(pyrometer, "--file", "bench_me.py")
    assert [b["name"] for b in doc["benchmarks"]] == ["bench_add", "bench_join"]
    assert doc["benchmarks"][0]["definition"] == {"kind": "function", "function": "bench_add", "file": "bench_me.py"}
    doc = bench_json(pyrometer, "--file", "bench_me.py", "bench_join")
    assert [b["name"] for b in doc["benchmarks"]] == ["bench_join"]


def test_benchmarked_code_output_does_not_disturb_the_result(pyrometer):
    result = pyrometer("bench", *FAST, "-n", "2", "--format", "json", "print('noise')")
    assert result.returncode == 0, str(result)
    assert json.loads(result.stdout)["benchmarks"][0]["name"] == "print('noise')"
    assert "noise" in result.stderr


def test_commands(pyrometer, tmp_path):
    doc = bench_json(pyrometer, "--warmups", "0", "--", sys.executable, "-c", "pass", fast=CMD_FAST)
    [b] = doc["benchmarks"]
    assert doc["method"]["kind"] == "command" and doc["method"]["timer"] == "wall"
    assert b["definition"] == {"kind": "command", "argv": [sys.executable, "-c", "pass"], "shell": False}
    assert len(b["samples"]) == 3 and all(s["loops"] == 1 for s in b["samples"])
    assert doc["environment"]["python"] is None
    # --cmd lines are split into words without a shell; --shell uses one.
    marker = tmp_path / "ran"
    doc = bench_json(
        pyrometer,
        "--cmd",
        f'{sys.executable} -c \'import sys; open(sys.argv[1], "a").write("x")\' {marker}',
        "--cmd",
        "true",
        fast=CMD_FAST,
    )
    assert len(doc["benchmarks"]) == 2 and marker.read_text() == "x" * 4  # warm-up + 3 runs
    doc = bench_json(pyrometer, "--shell", "--cmd", "true && true", fast=CMD_FAST)
    assert doc["benchmarks"][0]["definition"]["shell"] is True
    # A failing command may be timed anyway when asked.
    doc = bench_json(pyrometer, "--ignore-failure", "--", "false", fast=CMD_FAST)
    assert len(doc["benchmarks"][0]["samples"]) == 4


def test_compare_two_results_and_markdown(pyrometer, tmp_path):
    for name, stmt in (("old.json", "sum(range(10))"), ("new.json", "sum(range(3000))")):
        result = pyrometer("bench", *FAST, "-q", "--name", "op", "-o", name, stmt)
        assert result.returncode == 0, str(result)
        assert json.loads((tmp_path / name).read_text())["benchmarks"][0]["name"] == "op"
    result = pyrometer("bench", "compare", "old.json", "new.json")
    assert result.returncode == 0, str(result)
    assert "op" in result.stdout and "slower" in result.stdout and "Mann-Whitney U" in result.stdout
    md = pyrometer("bench", "compare", "old.json", "new.json", "--format", "markdown")
    assert md.stdout.startswith("| benchmark | median |") and "|---|---:|" in md.stdout
    js = pyrometer("bench", "compare", "old.json", "new.json", "--format", "json")
    row = json.loads(js.stdout)["rows"][0]
    assert row["verdict"] == "slower" and row["test_unit"] == "values"
    report = pyrometer("bench", *FAST, "-q", "-o", "report.md", "pass")
    assert report.returncode == 0 and (tmp_path / "report.md").read_text().startswith("| benchmark |")


def test_history_save_baseline_and_gate(pyrometer, tmp_path):
    fast_op = ["--name", "op", "sum(range(10))"]
    slow_op = ["--name", "op", "sum(range(5000))"]
    assert pyrometer("bench", *FAST, "-q", "--save", "main", *fast_op).returncode == 0
    # The same code: the gate passes. The threshold is wide because a run of a few milliseconds on
    # a loaded machine can measure the same code twice as slow, significantly (a CI run saw 78%);
    # the slow case below is hundreds of times slower.
    result = pyrometer("bench", *FAST, "-q", "--baseline", "main", "--gate", "300", *fast_op)
    assert result.returncode == 0, str(result)
    result = pyrometer("gate", "--baseline", "main", "--threshold", "300")
    assert result.returncode == 0, str(result)
    assert "gate passed" in result.stdout
    # Much slower: the gate fails, from `bench --gate` and from `gate`.
    result = pyrometer("bench", *FAST, "--baseline", "main", "--gate", "5", "--save", "pr", *slow_op)
    assert result.returncode == 1, str(result)
    assert "slower than its baseline" in result.stderr and "baseline 'main'" in result.stdout
    result = pyrometer("gate", "--baseline", "main", "--threshold", "10")
    assert result.returncode == 1, str(result)
    assert "gate FAILED" in result.stdout and "FAIL" in result.stdout
    md = pyrometer("gate", "--baseline", "main", "pr", "--format", "markdown")
    assert md.returncode == 1 and md.stdout.splitlines()[0].endswith("| gate |")
    js = pyrometer("gate", "--baseline", "main", "#3", "--format", "json")
    gate = json.loads(js.stdout)
    assert js.returncode == 1 and gate["passed"] is False and gate["regressions"] == ["op"]
    # A huge threshold lets it pass.
    assert pyrometer("gate", "--baseline", "main", "--threshold", "1000000").returncode == 0

    history = pyrometer("history")
    assert history.returncode == 0, str(history)
    lines = history.stdout.splitlines()
    assert lines[0].split()[:3] == ["run", "when", "saved"]
    assert lines[1].split()[0] == "#3" and "pr" in lines[1] and "main" in lines[3]
    runs = json.loads(pyrometer("history", "--format", "json").stdout)
    assert [r["run"] for r in runs] == [3, 2, 1] and runs[2]["saved_as"] == ["main"]
    assert runs[0]["python"] == ".".join(map(str, sys.version_info[:3]))
    points = json.loads(pyrometer("history", "op", "--format", "json").stdout)
    assert len(points) == 3 and points[0]["median"] > points[2]["median"] * 10
    shown = pyrometer("history", "--show", "main")
    assert shown.returncode == 0 and shown.stdout.startswith("op\n  median")


def test_environment_records_git(pyrometer, tmp_path):
    env = {**base_env(tmp_path), "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t"}
    env["GIT_COMMITTER_EMAIL"] = "t@t"
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "x", "--allow-empty"]):
        subprocess.run(["git", *args], cwd=tmp_path, env=env, check=True, capture_output=True)
    doc = bench_json(pyrometer, "--no-store", "pass")
    git = doc["environment"]["git"]
    assert len(git["commit"]) == 40 and git["dirty"] is False
    (tmp_path / "tracked.txt").write_text("a")
    subprocess.run(["git", "add", "tracked.txt"], cwd=tmp_path, env=env, check=True)
    assert bench_json(pyrometer, "--no-store", "pass")["environment"]["git"]["dirty"] is True
    assert not store_path(tmp_path).exists()


def test_other_interpreter(pyrometer):
    other = next((p for p in pythons(range(11, 16)) if not os.path.samefile(p, sys.executable)), None)
    if other is None:
        pytest.skip("no second CPython on this machine")
    doc = bench_json(pyrometer, "--python", other, "pass")
    version = subprocess.run([other, "-c", "import sys; print(*sys.version_info[:3], sep='.')"], capture_output=True)
    assert doc["environment"]["python"]["version"] == version.stdout.decode().strip()


def test_progress_bar_on_a_terminal(tmp_path):
    import pty

    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(
            [*pyrometer_command(), "bench", *FAST, "pass"],
            cwd=tmp_path,
            env=base_env(tmp_path),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=slave,
        )
        os.close(slave)
        seen = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        assert proc.wait(timeout=60) == 0
    finally:
        os.close(master)
    assert b"\r\x1b[2K[" in seen and b"] " in seen, seen


def test_ctrl_c_stops_with_one_line(tmp_path):
    for args in (["pass"], ["--", "sleep", "30"]):
        proc = subprocess.Popen(
            [*pyrometer_command(), "bench", *args],
            cwd=tmp_path,
            env=base_env(tmp_path),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        time.sleep(1.0)
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C does: the whole process group
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err
        assert err.strip() == "pyrometer: error: interrupted" and out == ""
    assert not store_path(tmp_path).exists()


# --- bad input: one line, non-zero exit, no traceback ----------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["x ="], "syntax error in the statement (line 1)"),
        (["-s", "import no_such_module_x", "pass"], "the setup raised ModuleNotFoundError"),
        (["-s", "x = (", "pass"], "syntax error in the setup"),
        (["1/0"], "the statement raised ZeroDivisionError: division by zero"),
        (["return 1"], "syntax error in the statement"),
        (["--", "false"], "-n, -p and --processes apply to Python code"),
        (["--file", "missing.py"], "cannot read missing.py: no such file"),
        (["--python", "/no/python", "pass"], "cannot start the Python worker /no/python"),
        (["-n", "0", "pass"], "must be at least 1"),
        ([], "nothing to benchmark"),
        (["--name", "a", "--stmt", "1", "--stmt", "2", "--name", "a"], "two candidates are named 'a'"),
    ],
)
def test_bad_input_is_one_line(pyrometer, args, message):
    line = one_line_error(pyrometer("bench", *FAST, *args))
    assert message in line, line


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--", "false"], "the command 'false' failed with exit status 1"),
        (["--", "/no/such/program"], "cannot run '/no/such/program': no such program"),
        (["--cmd", "echo 'unterminated"], "unterminated single quote"),
        (["--cmd", "true", "pass"], "commands cannot be mixed with Python statements"),
        (["-r", "0", "--", "true"], "the number of runs (-r) must be at least 1"),
    ],
)
def test_bad_commands_are_one_line(pyrometer, args, message):
    line = one_line_error(pyrometer("bench", *args))
    assert message in line, line


def test_bad_files_are_one_line(pyrometer, tmp_path):
    (tmp_path / "broken.py").write_text("def bench_x(:\n")
    assert "syntax error in broken.py, line 1" in one_line_error(pyrometer("bench", *FAST, "--file", "broken.py"))
    (tmp_path / "empty.py").write_text("def helper(): pass\n")
    assert "defines no bench_* function" in one_line_error(pyrometer("bench", *FAST, "--file", "empty.py"))
    assert "has no function 'nope'" in one_line_error(pyrometer("bench", *FAST, "--file", "empty.py", "nope"))
    (tmp_path / "raises.py").write_text("def bench_x():\n    raise ValueError('bad value')\n")
    line = one_line_error(pyrometer("bench", *FAST, "--file", "raises.py"))
    assert "bench_x raised ValueError: bad value" in line
    (tmp_path / "later.py").write_text(
        "calls = 0\ndef bench_x():\n    global calls\n    calls += 1\n    if calls > 5:\n        raise KeyError('k')\n"
    )
    line = one_line_error(pyrometer("bench", *FAST, "--file", "later.py"))
    assert "the benchmarked code raised KeyError" in line
    (tmp_path / "not.json").write_text("{}")
    assert "not a pyrometer benchmark result" in one_line_error(pyrometer("bench", "compare", "not.json", "not.json"))
    assert "no such file" in one_line_error(pyrometer("bench", "compare", "a.json", "b.json"))
    assert "no benchmark history" in one_line_error(pyrometer("history"))
    assert "no benchmark history" in one_line_error(pyrometer("gate", "--baseline", "main"))
    assert "no benchmark history" in one_line_error(pyrometer("bench", *FAST, "--baseline", "main", "pass"))


def test_bad_stores_are_refused_in_one_line(pyrometer, tmp_path):
    path = store_path(tmp_path)
    path.parent.mkdir()
    path.write_bytes(b"garbage, not a database" * 100)
    for args in (["bench", *FAST, "pass"], ["history"], ["gate", "--baseline", "x"]):
        assert "is corrupt or not a database" in one_line_error(pyrometer(*args))
    assert path.read_bytes() == b"garbage, not a database" * 100  # left as it was

    path.unlink()
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE other (x)")
    assert "not pyrometer's store" in one_line_error(pyrometer("bench", *FAST, "pass"))

    path.unlink()
    assert pyrometer("bench", *FAST, "-q", "pass").returncode == 0
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 99")
    line = one_line_error(pyrometer("history"))
    assert "written by a newer pyrometer (store schema 99" in line


def test_store_survives_a_kill_during_writes(tmp_path):
    """A process saving runs in a loop is killed at a random moment: the store is consistent."""
    doc = json.loads(
        subprocess.run(
            [*pyrometer_command(), "bench", *FAST, "--no-store", "--format", "json", "--stmt", "1", "--stmt", "2"],
            cwd=tmp_path,
            env=base_env(tmp_path),
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    for b in doc["benchmarks"]:
        b["samples"] = b["samples"] * 500  # a bigger transaction, easier to interrupt
    (tmp_path / "doc.json").write_text(json.dumps(doc))
    writer = (
        "import sys\nfrom pyrometer import _native\ntext = open('doc.json').read()\n"
        "print('ready', flush=True)\n"
        "while True:\n    _native.bench_store_save(sys.argv[1], text, 'latest')\n"
    )
    store_dir = tmp_path / "killed"
    for delay in (0.3, 0.55, 0.8):
        proc = subprocess.Popen([sys.executable, "-c", writer, str(store_dir)], cwd=tmp_path, stdout=subprocess.PIPE)
        assert proc.stdout.readline() == b"ready\n"
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    with sqlite3.connect(store_dir / "store.sqlite") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        runs = db.execute("SELECT count(*) FROM runs").fetchone()[0]
        assert runs > 0
        assert db.execute("SELECT count(*) FROM environments").fetchone()[0] == runs
        assert db.execute("SELECT count(*) FROM results").fetchone()[0] == 2 * runs
        samples = sum(len(b["samples"]) for b in doc["benchmarks"])
        assert db.execute("SELECT count(*) FROM samples").fetchone()[0] == samples * runs
        latest = db.execute("SELECT run_id FROM saved WHERE name = 'latest'").fetchone()[0]
        assert latest == db.execute("SELECT max(id) FROM runs").fetchone()[0]
    result = subprocess.run(
        [*pyrometer_command(), "history"],
        cwd=tmp_path,
        env={**base_env(tmp_path), "PYROMETER_DIR": str(store_dir)},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0 and "latest" in result.stdout, result.stderr


# --- the Python API -----------------------------------------------------------------------


def test_import_stays_cheap():
    code = "import sys, pyrometer; print('pyrometer.bench' in sys.modules, '_bench_worker' in str(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_timeit_bench_and_compare():
    import pyrometer

    r = pyrometer.timeit("sorted(x)", "x = list(range(100))", repeat=5, min_time=0.002)
    assert r.name == "sorted(x)" and len(r.timings) == 5 and len(r.values) == 5
    assert float(r) == r.median and r.best == r.min <= r.median
    assert abs(r.timings[0] / r.loops - r.values[0]) < 1e-12
    assert "median" in str(r) and "BenchResult" in repr(r)
    fixed = pyrometer.timeit("pass", number=100, repeat=3)
    assert fixed.loops == 100 and fixed.document["method"]["fixed_loops"] is True
    g = pyrometer.timeit("y + 1", globals={"y": 41}, repeat=2, number=10)
    assert g.median > 0

    calls = []

    def work(a, b=0):
        calls.append((a, b))
        return a + b

    r = pyrometer.bench(work, 1, b=2, repeat=4, number=3)
    assert r.name == "work" and set(calls) == {(1, 2)} and len(calls) == 5 * 3  # 1 warm-up + 4 values
    assert pyrometer.bench is sys.modules["pyrometer.bench"]  # the module is callable
    r = pyrometer.bench(work, 5, name="named", repeat=2, min_time=0.001)
    assert r.name == "named" and r.document["benchmarks"][0]["definition"]["function"].endswith("work")

    data = list(range(3000))
    c = pyrometer.compare(
        {"sum": lambda: sum(data), "sorted": lambda: sorted(data, key=lambda v: -v)}, repeat=8, min_time=0.002
    )
    assert c.reference == "sum" and set(c.results) == {"sum", "sorted"}
    [row] = c.rows
    assert row["name"] == "sorted" and row["verdict"] == "slower" and row["test_unit"] == "paired rounds"
    assert c.speedup("sorted") < 0.9 and c.speedup("sum") == 1.0
    assert "speedup" in str(c) and c["sum"].median < c["sorted"].median
    c = pyrometer.compare({"a": "x * 2", "b": "x + x"}, setup="x = 3", reference="b", repeat=3, number=100)
    assert c.reference == "b"


def test_api_errors(tmp_path):
    import pyrometer

    with pytest.raises(SyntaxError):
        pyrometer.timeit("x =")
    with pytest.raises(ZeroDivisionError):
        pyrometer.timeit("1/0", repeat=2)

    def boom():
        raise ValueError("inside")

    with pytest.raises(ValueError, match="inside"):
        pyrometer.bench(boom)
    with pytest.raises(ValueError, match="at least two"):
        pyrometer.compare({"a": boom})
    with pytest.raises(pyrometer.PyrometerError, match="must be at least 1"):
        pyrometer.bench(len, [], repeat=0)
    with pytest.raises(TypeError):
        pyrometer.bench(42)


def test_api_results_round_trip_through_the_cli(pyrometer, tmp_path):
    import pyrometer as p

    p.bench(sum, range(10), name="op", repeat=6, min_time=0.002).save(tmp_path / "a.json")
    p.bench(sum, range(10), name="op", repeat=6, min_time=0.002).save(tmp_path / "b.json")
    result = pyrometer("bench", "compare", "a.json", "b.json", "--format", "json")
    assert result.returncode == 0, str(result)
    assert json.loads(result.stdout)["rows"][0]["name"] == "op"
