"""pyrometer's pytest plugin: a ``benchmark`` fixture, the history store and a gate.

::

    def test_sort(benchmark):
        result = benchmark(sorted, data)      # times sorted(data); returns its result
        assert result == expected

Options: ``--pyrometer-save NAME`` records the session's benchmarks in the history store
(``.pyrometer/`` by default, as ``pyrometer bench --save NAME`` does); ``--pyrometer-baseline
NAME`` compares them with the run saved as NAME; ``--pyrometer-gate PERCENT`` (with a baseline)
makes the session fail when a benchmark is significantly slower than its baseline by more than
PERCENT; ``--pyrometer-min-time SECONDS`` and ``--pyrometer-values N`` set the method;
``--pyrometer-disable`` runs each benchmarked function once, untimed.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

_KEY = pytest.StashKey["_Session"]()


class _Session:
    def __init__(self) -> None:
        self.documents: list[dict[str, Any]] = []
        self.lines: list[str] = []
        self.failed: list[str] = []


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("pyrometer", "pyrometer benchmarks")
    group.addoption("--pyrometer-save", metavar="NAME", help="record the benchmarks in the history under NAME")
    group.addoption("--pyrometer-baseline", metavar="NAME", help="compare the benchmarks with the run saved as NAME")
    group.addoption(
        "--pyrometer-gate",
        metavar="PERCENT",
        type=float,
        help="fail when a benchmark is significantly slower than the baseline by more than PERCENT",
    )
    group.addoption("--pyrometer-min-time", metavar="SECONDS", type=float, default=0.01, help="least time per value")
    group.addoption("--pyrometer-values", metavar="N", type=int, default=10, help="measured values per benchmark")
    group.addoption("--pyrometer-disable", action="store_true", help="run benchmarked functions once, untimed")


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_KEY] = _Session()
    config.addinivalue_line("markers", "benchmark: a test that uses pyrometer's benchmark fixture")
    config.addinivalue_line(
        "markers",
        "max_memory(limit, sample_interval=16384): fail the test when the memory it allocates peaks above "
        "LIMIT ('24 MB', '512K' or bytes), as pytest-memray's limit_memory does",
    )
    if config.getoption("pyrometer_gate") is not None and not config.getoption("pyrometer_baseline"):
        raise pytest.UsageError("--pyrometer-gate needs --pyrometer-baseline NAME")


class BenchmarkFixture:
    """Call it with a function and its arguments: the function is timed (calibrated loops,
    warm-up, values) and its result returned. ``result`` is the :class:`pyrometer.bench.BenchResult`
    afterwards."""

    def __init__(self, name: str, config: pytest.Config):
        self.name = name
        self._config = config
        self.result: Any = None

    def __call__(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        if self.result is not None:
            raise RuntimeError("the benchmark fixture can time one function per test")
        if self._config.getoption("pyrometer_disable"):
            return fn(*args, **kwargs)
        from pyrometer import bench as _bench_module

        self.result = _bench_module.bench(
            fn,
            *args,
            name=self.name,
            repeat=self._config.getoption("pyrometer_values"),
            min_time=self._config.getoption("pyrometer_min_time"),
            **kwargs,
        )
        self._config.stash[_KEY].documents.append(json.loads(self.result.to_json()))
        return fn(*args, **kwargs)


@pytest.fixture
def benchmark(request: pytest.FixtureRequest) -> BenchmarkFixture:
    """Times a function: ``benchmark(fn, *args, **kwargs)`` returns ``fn(*args, **kwargs)``."""
    return BenchmarkFixture(request.node.nodeid, request.config)


def _merged(documents: list[dict[str, Any]]) -> dict[str, Any]:
    doc = dict(documents[0])
    doc["benchmarks"] = [b for d in documents for b in d["benchmarks"]]
    doc["comparisons"] = []
    doc["duration_ns"] = sum(d["duration_ns"] for d in documents)
    return doc


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    state = config.stash.get(_KEY, None)
    if state is None or not state.documents:
        return
    from pyrometer import _native
    from pyrometer.bench import store_dir

    doc = _merged(state.documents)
    directory = store_dir()
    baseline = config.getoption("pyrometer_baseline")
    gate = config.getoption("pyrometer_gate")
    try:
        text = json.dumps(doc)
        state.lines.append(_native.bench_render(text, "text").rstrip("\n"))
        if baseline:
            old = _native.bench_store_load(directory, baseline)
            comparison, _, only_new = _native.bench_between(old, text, f"baseline '{baseline}'")
            threshold = gate / 100.0 if gate is not None else None
            state.lines.append("")
            state.lines.append(_native.bench_render_comparison(comparison, "text", threshold=threshold).rstrip("\n"))
            for name in only_new:
                state.lines.append(f"note: {name} is not in the baseline '{baseline}'")
            if threshold is not None:
                state.failed = _native.bench_regressions(comparison, threshold)
        name = config.getoption("pyrometer_save")
        if name:
            run_id = _native.bench_store_save(directory, text, name)
            state.lines.append(f"pyrometer: recorded run #{run_id} as '{name}' in {directory}")
    except _native.PyrometerError as e:
        state.lines.append(f"pyrometer: error: {e}")
        session.exitstatus = pytest.ExitCode.USAGE_ERROR
        return
    if state.failed:
        state.lines.append(
            f"pyrometer: gate FAILED: {', '.join(state.failed)} significantly slower than "
            f"'{baseline}' by more than {gate:g}%"
        )
        if session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    state = config.stash.get(_KEY, None)
    if state is None or not state.lines:
        return
    terminalreporter.section("pyrometer benchmarks")
    for line in state.lines:
        terminalreporter.write_line(line)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    """``@pytest.mark.max_memory("24 MB")``: the test body runs inside ``pyrometer.limit_memory``."""
    marker = item.get_closest_marker("max_memory")
    if marker is None:
        return (yield)
    from pyrometer.memory import limit_memory

    if len(marker.args) != 1:
        raise pytest.UsageError(f"{item.nodeid}: max_memory takes one limit, like max_memory('24 MB')")
    with limit_memory(marker.args[0], **marker.kwargs):
        return (yield)
