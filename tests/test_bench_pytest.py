"""pyrometer's pytest plugin: the ``benchmark`` fixture, saving to the store, the gate.

Each test runs pytest in a subprocess on a small test file (the plugin is registered through
the ``pytest11`` entry point of the installed package)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import base_env, pyrometer_command

FAST = ["--pyrometer-values", "4", "--pyrometer-min-time", "0.002"]

FAST_TEST = """
def test_op(benchmark):
    assert benchmark(sum, range(10)) == 45
"""

SLOW_TEST = """
def test_op(benchmark):
    assert benchmark(sum, range(20000)) == 199990000
"""


def pytest_run(tmp_path: Path, body: str, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_target.py").write_text(body)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_target.py", *FAST, *args],
        cwd=tmp_path,
        env=base_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )


def history(tmp_path: Path) -> list[dict]:
    out = subprocess.run(
        [*pyrometer_command(), "history", "--format", "json"],
        cwd=tmp_path,
        env=base_env(tmp_path),
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_fixture_times_and_returns_the_result(tmp_path):
    body = FAST_TEST + "\n\ndef test_plain():\n    assert True\n"
    result = pytest_run(tmp_path, body)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "pyrometer benchmarks" in result.stdout
    assert "test_target.py::test_op" in result.stdout and "median" in result.stdout
    # Nothing is recorded unless asked.
    assert not (tmp_path / ".pyrometer").exists()


def test_save_baseline_and_gate(tmp_path):
    result = pytest_run(tmp_path, FAST_TEST, "--pyrometer-save", "main")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "recorded run #1 as 'main'" in result.stdout
    [run] = history(tmp_path)
    assert run["saved_as"] == ["main"] and run["benchmarks"] == ["test_target.py::test_op"]
    assert run["kind"] == "function"

    # The same code again: the gate passes. Its threshold is wide: four values of a 200 ns call
    # in one process move by 1.5x between runs on a busy machine, and SLOW_TEST is ~1000x slower.
    result = pytest_run(tmp_path, FAST_TEST, "--pyrometer-baseline", "main", "--pyrometer-gate", "300")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "baseline 'main'" in result.stdout and "ok" in result.stdout

    # Much slower code under the same test name: the session fails, though every test passed.
    result = pytest_run(tmp_path, SLOW_TEST, "--pyrometer-baseline", "main", "--pyrometer-gate", "300")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 passed" in result.stdout
    assert "gate FAILED: test_target.py::test_op significantly slower than 'main' by more than 300%" in result.stdout
    # Without the gate it is reported, not failed.
    result = pytest_run(tmp_path, SLOW_TEST, "--pyrometer-baseline", "main", "--pyrometer-save", "pr")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "slower" in result.stdout
    # The command-line gate reads what the plugin saved.
    gate = subprocess.run(
        [*pyrometer_command(), "gate", "--baseline", "main", "pr"],
        cwd=tmp_path,
        env=base_env(tmp_path),
        capture_output=True,
        text=True,
    )
    assert gate.returncode == 1, gate.stdout + gate.stderr


def test_plugin_errors_and_disable(tmp_path):
    result = pytest_run(tmp_path, FAST_TEST, "--pyrometer-gate", "5")
    assert result.returncode == 4 and "--pyrometer-gate needs --pyrometer-baseline" in result.stderr
    result = pytest_run(tmp_path, FAST_TEST, "--pyrometer-baseline", "nope")
    assert result.returncode == 4, result.stdout + result.stderr
    assert "pyrometer: error: no benchmark history" in result.stdout
    # Disabled: the function runs once, untimed.
    body = "calls = []\n\ndef test_op(benchmark):\n    benchmark(calls.append, 1)\n    assert calls == [1]\n"
    result = pytest_run(tmp_path, body, "--pyrometer-disable")
    assert result.returncode == 0, result.stdout
    assert "pyrometer benchmarks" not in result.stdout
