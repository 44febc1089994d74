"""Benchmarks from Python: ``pyrometer.timeit``, ``pyrometer.bench`` and ``pyrometer.compare``.

They time in this process (no worker processes: use ``pyrometer bench`` on the command line for
that), with the same method as the command line: calibrated inner loops, warm-ups discarded,
raw values kept; the statistics (median and MAD, mean and standard deviation, a bootstrap
confidence interval, outliers by Tukey's fences, instability warnings, the Mann-Whitney U test
of comparisons) are computed in Rust.

::

    import pyrometer

    r = pyrometer.timeit("sorted(x)", "x = list(range(1000))")
    print(r)                      # median ± MAD, mean ± std, CI, warnings
    r.median, r.timings           # seconds per loop; totals per value, as timeit.repeat gives

    r = pyrometer.bench(sorted, list(range(1000)))
    c = pyrometer.compare({"sorted": lambda: sorted(x), "sort": lambda: x.copy().sort()})
    print(c)                      # a table with the speedup, its interval and the verdict
"""

from __future__ import annotations

import gc as _gc
import itertools
import json
import os
import sys
import time
import types
from collections.abc import Callable, Mapping
from typing import Any

from pyrometer import _native
from pyrometer._bench_worker import _make_loop

__all__ = ["BenchResult", "Comparison", "bench", "compare", "store_dir", "timeit"]


def _function_timer(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], gc: bool):
    timer = time.perf_counter_ns
    if args or kwargs:

        def call() -> Any:
            return fn(*args, **kwargs)

    else:
        call = fn

    def time_loops(loops: int) -> int:
        enabled = _gc.isenabled()
        if not gc:
            _gc.disable()
        try:
            it = itertools.repeat(None, loops)
            t0 = timer()
            for _ in it:
                call()
            return timer() - t0
        finally:
            if enabled:
                _gc.enable()

    return time_loops


def _statement_timer(stmt: str, setup: str, globals: dict[str, Any] | None, gc: bool):
    inner = _make_loop(stmt, setup, time.perf_counter_ns, globals if globals is not None else {"__name__": "__main__"})

    def time_loops(loops: int) -> int:
        enabled = _gc.isenabled()
        if not gc:
            _gc.disable()
        try:
            return inner(loops)
        finally:
            if enabled:
                _gc.enable()

    return time_loops


def _qualname(fn: Callable[..., Any]) -> str:
    module = getattr(fn, "__module__", None)
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)
    return f"{module}.{name}" if module and module != "builtins" else name


class BenchResult:
    """One benchmark: the summary (seconds per loop), the raw values and what may be wrong.

    ``float(result)`` is the median time of one execution. (``timeit.timeit`` returns the total
    of ``number`` executions: that is ``result.median * result.loops``; ``result.timings`` is
    the list ``timeit.repeat`` would return.)
    """

    def __init__(self, benchmark: dict[str, Any], document: dict[str, Any]):
        self._benchmark = benchmark
        self.document = document
        summary = benchmark["summary"]
        self.name: str = benchmark["name"]
        self.loops: int = benchmark["loops"]
        self.median: float = summary["median"]
        self.mad: float = summary["mad"]
        self.mean: float = summary["mean"]
        self.std: float = summary["std"]
        self.min: float = summary["min"]
        self.max: float = summary["max"]
        self.ci: tuple[float, float] = (summary["ci_low"], summary["ci_high"])
        self.warnings: list[str] = list(benchmark["warnings"])
        self.outliers: int = len(benchmark["outliers"]["indices"])

    @property
    def best(self) -> float:
        """The fastest time of one execution (what ``python -m timeit`` reports)."""
        return self.min

    @property
    def values(self) -> list[float]:
        """Seconds per loop of every measured value, warm-ups left out."""
        return [s["ns"] / s["loops"] / 1e9 for s in self._benchmark["samples"] if not s["warmup"]]

    @property
    def timings(self) -> list[float]:
        """Seconds for ``loops`` executions, per measured value: ``timeit.repeat``'s list."""
        return [s["ns"] / 1e9 for s in self._benchmark["samples"] if not s["warmup"]]

    @property
    def samples(self) -> list[dict[str, Any]]:
        """Every raw timing (``process``, ``warmup``, ``loops``, ``ns``), warm-ups included."""
        return list(self._benchmark["samples"])

    def __float__(self) -> float:
        return self.median

    def to_dict(self) -> dict[str, Any]:
        """The benchmark as it appears in the result JSON."""
        return dict(self._benchmark)

    def to_json(self) -> str:
        """A result document holding only this benchmark."""
        doc = dict(self.document, benchmarks=[self._benchmark], comparisons=[])
        return json.dumps(doc)

    def report(self, *, unit: str | None = None, verbose: bool = False, format: str = "text") -> str:
        return _native.bench_render(self.to_json(), format, unit=unit, verbose=verbose)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Writes the result JSON (readable by ``pyrometer bench compare``)."""
        with open(path, "w", encoding="utf-8") as f:
            f.write(_native.bench_render(self.to_json(), "json"))

    def __str__(self) -> str:
        return self.report()

    def __repr__(self) -> str:
        return (
            f"<BenchResult {self.name!r} median={self.median:.4g}s mad={self.mad:.3g}s "
            f"n={len(self.values)} loops={self.loops}>"
        )


class Comparison:
    """Several candidates timed in one interleaved run, compared with a reference."""

    def __init__(self, document: dict[str, Any]):
        self.document = document
        self.results: dict[str, BenchResult] = {b["name"]: BenchResult(b, document) for b in document["benchmarks"]}
        comparisons = document.get("comparisons") or []
        self.reference: str | None = comparisons[0]["against"] if comparisons else None
        #: One dict per candidate other than the reference: ``ratio`` (time / reference time),
        #: its interval ``ratio_ci_low``/``ratio_ci_high``, ``p_value`` (Mann-Whitney U),
        #: ``significant`` and ``verdict`` (``faster``, ``slower``, ``same``).
        self.rows: list[dict[str, Any]] = list(comparisons[0]["rows"]) if comparisons else []

    def speedup(self, name: str) -> float:
        """How many times faster ``name`` is than the reference (below 1: slower)."""
        if name == self.reference:
            return 1.0
        for row in self.rows:
            if row["name"] == name:
                return 1.0 / row["ratio"]
        raise KeyError(name)

    def report(self, *, unit: str | None = None, format: str = "text") -> str:
        return _native.bench_render(json.dumps(self.document), format, unit=unit)

    def save(self, path: str | os.PathLike[str]) -> None:
        with open(path, "w", encoding="utf-8") as f:
            f.write(_native.bench_render(json.dumps(self.document), "json"))

    def __getitem__(self, name: str) -> BenchResult:
        return self.results[name]

    def __str__(self) -> str:
        return self.report()

    def __repr__(self) -> str:
        return f"<Comparison {list(self.results)} reference={self.reference!r}>"


def _run(
    names: list[str],
    timers: list[Callable[[int], int]],
    definitions: list[str],
    *,
    statements: bool,
    repeat: int | None,
    number: int | None,
    warmups: int,
    min_time: float,
    gc: bool,
    reference: int | None = None,
) -> dict[str, Any]:
    text = _native.bench_run(
        names,
        timers,
        definitions,
        statements=statements,
        warmups=warmups,
        values=15 if repeat is None else repeat,
        min_time=min_time,
        loops=number,
        gc=gc,
        reference=reference,
    )
    return json.loads(text)


def timeit(
    stmt: str | Callable[[], Any] = "pass",
    setup: str = "pass",
    timer: None = None,
    number: int | None = None,
    globals: dict[str, Any] | None = None,
    *,
    repeat: int | None = None,
    warmups: int = 1,
    min_time: float = 0.02,
    gc: bool = False,
) -> BenchResult:
    """Times ``stmt`` (after ``setup``) like ``timeit.timeit``/``timeit.repeat``, with statistics.

    ``number`` is the loops per value (calibrated when not given, so that a value lasts
    ``min_time`` seconds); ``repeat`` the number of values (15 by default); ``globals`` the
    namespace, as for ``timeit``. A statement with a syntax error raises ``SyntaxError``; an
    exception of the statement propagates.
    """
    if timer is not None:
        raise TypeError("pyrometer.timeit always uses time.perf_counter_ns; timer= is not supported")
    if callable(stmt):
        if setup != "pass":
            raise TypeError("setup= applies to statements, not to callables")
        return bench(stmt, repeat=repeat, number=number, warmups=warmups, min_time=min_time, gc=gc)
    time_loops = _statement_timer(stmt, setup, globals, gc)
    doc = _run(
        [stmt.replace("\n", "; ")],
        [time_loops],
        [stmt],
        statements=True,
        repeat=repeat,
        number=number,
        warmups=warmups,
        min_time=min_time,
        gc=gc,
    )
    return BenchResult(doc["benchmarks"][0], doc)


def bench(
    fn: Callable[..., Any],
    /,
    *args: Any,
    name: str | None = None,
    repeat: int | None = None,
    number: int | None = None,
    warmups: int = 1,
    min_time: float = 0.02,
    gc: bool = False,
    **kwargs: Any,
) -> BenchResult:
    """Times ``fn(*args, **kwargs)``. Keyword arguments other than pyrometer's own (``name``,
    ``repeat``, ``number``, ``warmups``, ``min_time``, ``gc``) go to ``fn``."""
    if not callable(fn):
        raise TypeError(f"pyrometer.bench needs a callable, not {type(fn).__name__}")
    label = name or getattr(fn, "__name__", None) or repr(fn)
    doc = _run(
        [label],
        [_function_timer(fn, args, kwargs, gc)],
        [_qualname(fn)],
        statements=False,
        repeat=repeat,
        number=number,
        warmups=warmups,
        min_time=min_time,
        gc=gc,
    )
    return BenchResult(doc["benchmarks"][0], doc)


def compare(
    candidates: Mapping[str, Callable[[], Any] | str],
    /,
    *,
    setup: str = "pass",
    globals: dict[str, Any] | None = None,
    reference: str | None = None,
    repeat: int | None = None,
    number: int | None = None,
    warmups: int = 1,
    min_time: float = 0.02,
    gc: bool = False,
) -> Comparison:
    """Times several candidates, interleaved, and compares each with ``reference`` (the first by
    default). A candidate is a callable taking no argument, or a statement run after ``setup``.
    """
    if len(candidates) < 2:
        raise ValueError("pyrometer.compare needs at least two candidates")
    names = list(candidates)
    if reference is not None and reference not in candidates:
        raise ValueError(f"reference {reference!r} is not one of the candidates")
    timers = []
    definitions = []
    statements = all(isinstance(c, str) for c in candidates.values())
    for candidate in candidates.values():
        if isinstance(candidate, str):
            timers.append(_statement_timer(candidate, setup, globals, gc))
            definitions.append(candidate)
        elif callable(candidate):
            timers.append(_function_timer(candidate, (), {}, gc))
            definitions.append(_qualname(candidate))
        else:
            raise TypeError(f"a candidate must be a callable or a statement, not {type(candidate).__name__}")
    doc = _run(
        names,
        timers,
        definitions,
        statements=statements,
        repeat=repeat,
        number=number,
        warmups=warmups,
        min_time=min_time,
        gc=gc,
        reference=names.index(reference) if reference is not None else None,
    )
    return Comparison(doc)


def store_dir(cwd: str | os.PathLike[str] | None = None) -> str:
    """Where the history store lives, resolved as the command line does: ``PYROMETER_DIR``, else
    ``dir`` in ``[tool.pyrometer]`` of the nearest pyproject.toml, else ``.pyrometer/``."""
    cwd = os.path.abspath(cwd or os.getcwd())
    env = os.environ.get("PYROMETER_DIR")
    if env:
        return os.path.join(cwd, env)
    directory = cwd
    while True:
        candidate = os.path.join(directory, "pyproject.toml")
        if os.path.isfile(candidate):
            import tomllib

            try:
                with open(candidate, "rb") as f:
                    table = tomllib.load(f).get("tool", {}).get("pyrometer")
            except (OSError, tomllib.TOMLDecodeError):
                table = None
            if isinstance(table, dict) and isinstance(table.get("dir"), str):
                return os.path.join(directory, table["dir"])
            break
        parent = os.path.dirname(directory)
        if parent == directory:
            break
        directory = parent
    return os.path.join(cwd, ".pyrometer")


class _CallableModule(types.ModuleType):
    """``pyrometer.bench`` is both this module and the function: ``pyrometer.bench(fn)``."""

    def __call__(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> BenchResult:
        return bench(fn, *args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
