"""In-process profiling: ``pyrometer.Profile`` (a drop-in for ``cProfile.Profile``) and
``pyrometer.profile()`` (a context manager and decorator)."""

from __future__ import annotations

import functools
import marshal
import os
from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar

from pyrometer import _native
from pyrometer._native import ProfileData, PyrometerError

__all__ = ["MemorySite", "Profile", "Session", "profile"]

F = TypeVar("F", bound=Callable[..., Any])


class Profile(_native.Tracer):
    """Exact function-level profiling with ``cProfile.Profile``'s interface.

    Every thread is profiled, including threads started while profiling is on. ``stats``,
    ``print_stats``, ``dump_stats`` and ``pstats.Stats(profile)`` behave as with cProfile.
    """

    stats: dict[tuple[str, int, str], tuple[Any, ...]]

    def __init__(
        self,
        timer: Callable[[], float] | None = None,
        timeunit: float = 0.0,
        subcalls: bool = True,
        builtins: bool = True,
    ) -> None:
        if timer is not None:
            raise PyrometerError("pyrometer.Profile measures with its own clock; custom timers are not supported")
        self.stats = {}

    def create_stats(self) -> None:
        self.disable()
        self.snapshot_stats()

    def snapshot_stats(self) -> None:
        self.stats = marshal.loads(self.snapshot().render("pstats"))

    def print_stats(self, sort: str | int | tuple[str, ...] = -1) -> None:
        import pstats

        if not isinstance(sort, tuple):
            sort = (sort,)
        pstats.Stats(self).strip_dirs().sort_stats(*sort).print_stats()

    def dump_stats(self, file: str | os.PathLike[str]) -> None:
        with open(file, "wb") as f:
            self.create_stats()
            marshal.dump(self.stats, f)

    def run(self, cmd: str) -> Profile:
        import __main__

        namespace = __main__.__dict__
        return self.runctx(cmd, namespace, namespace)

    def runctx(self, cmd: str, globals: dict[str, Any], locals: dict[str, Any] | None) -> Profile:
        self.enable()
        try:
            exec(cmd, globals, locals)
        finally:
            self.disable()
        return self

    def runcall(self, func: Callable[..., Any], /, *args: Any, **kw: Any) -> Any:
        self.enable()
        try:
            return func(*args, **kw)
        finally:
            self.disable()

    def __enter__(self) -> Profile:
        self.enable()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.disable()

    def profile_data(self) -> ProfileData:
        """What was collected, as pyrometer's own profile (for ``report``/``save``/``export``)."""
        return self.snapshot()


class MemorySite(NamedTuple):
    """A line that allocated, with ``size`` bytes by the measure asked for."""

    file: str
    line: int
    function: str
    size: int
    count: int


class Session:
    """A profiling session: ``with`` it, or decorate functions with it, then read the result
    with ``report()``, ``save(path)`` or ``export(path)``.

    ``mode="sample"`` (the default) samples every thread's stack ``rate`` times a second from a
    native thread, at almost no cost to the program; ``mode="trace"`` records exact calls and
    times per function (``builtins=True`` also traces built-in functions, as cProfile does);
    ``mode="memory"`` records allocations (sampled every ``sample_interval`` bytes on average,
    ``"exact"`` for all): ``traced_memory()`` and ``top()`` then work as tracemalloc's
    ``get_traced_memory()`` and ``statistics("lineno")``.
    """

    def __init__(
        self,
        mode: str = "sample",
        builtins: bool = False,
        rate: float = 1000.0,
        sample_interval: int | str | None = None,
    ) -> None:
        if mode == "sample":
            self._collector: Any = _native.SelfSampler(rate)
        elif mode == "trace":
            self._collector = _native.Tracer(builtins=builtins)
        elif mode == "memory":
            self._collector = _native.MemoryProfiler(sample_interval)
        else:
            raise PyrometerError(f"unknown profiling mode '{mode}' (available: sample, trace, memory)")
        self.mode = mode
        self._depth = 0

    def start(self) -> Session:
        if self._depth == 0:
            if self.mode in ("sample", "memory"):
                self._collector.start()
            else:
                self._collector.enable()
        self._depth += 1
        return self

    def stop(self) -> Session:
        if self._depth > 0:
            self._depth -= 1
            if self._depth == 0:
                if self.mode in ("sample", "memory"):
                    self._collector.stop()
                else:
                    self._collector.disable()
        return self

    def __enter__(self) -> Session:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __call__(self, func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self:
                return func(*args, **kwargs)

        wrapper.session = self  # type: ignore[attr-defined]
        wrapper.report = self.report  # type: ignore[attr-defined]
        wrapper.save = self.save  # type: ignore[attr-defined]
        wrapper.export = self.export  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    @property
    def data(self) -> ProfileData:
        """What was collected so far."""
        return self._collector.snapshot()

    def _memory(self) -> Any:
        if self.mode != "memory":
            raise PyrometerError('this session does not measure memory; use pyrometer.profile(mode="memory")')
        return self._collector

    def traced_memory(self) -> tuple[int, int]:
        """``(current, peak)``: bytes allocated while profiling and alive now, and their
        highest total (like ``tracemalloc.get_traced_memory()``)."""
        stats = self._memory().stats()
        return stats["current"], stats["peak"]

    def memory_stats(self) -> dict[str, int]:
        """``current``, ``peak``, ``allocated`` (bytes, in total), ``allocations``, ``samples``."""
        return dict(self._memory().stats())

    def reset_peak(self) -> None:
        """Measures the peak afresh from now (like ``tracemalloc.reset_peak()``)."""
        self._memory().reset_peak()

    def top(self, limit: int = 10, *, by: str = "allocated") -> list[MemorySite]:
        """The lines that allocated the most: ``by="allocated"`` (bytes in total),
        ``"retained"`` (still alive) or ``"peak"`` (alive at the peak)."""
        self._memory()
        return [MemorySite(*row) for row in _native.memory_top(self.data, by, limit)]

    def report(
        self,
        *,
        sort: str | None = None,
        top: int | None = None,
        tree: bool = False,
        callers: str | None = None,
        callees: str | None = None,
        color: bool = False,
        idle: bool = False,
    ) -> str:
        """The text report (as ``pyrometer view`` prints it); ``idle=True`` reports wall time
        (waiting included) instead of CPU time for a sampled session."""
        return self.data.report(sort=sort, top=top, tree=tree, callers=callers, callees=callees, color=color, idle=idle)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Saves the profile as a ``.pyro`` file (``pyrometer view`` reads it)."""
        self.data.save(os.fspath(path))

    def export(self, path: str | os.PathLike[str], format: str | None = None) -> None:
        """Writes pstats, speedscope, collapsed, svg or json, by extension or ``format``; a memory
        session's timeline also as an SVG chart (``.timeline.svg``, ``format="timeline"``)."""
        self.data.export(os.fspath(path), format)


def profile(
    func: F | None = None,
    /,
    *,
    mode: str = "sample",
    builtins: bool = False,
    rate: float = 1000.0,
    sample_interval: int | str | None = None,
) -> Any:
    """Profile a block (``with pyrometer.profile() as p:``) or a function (``@pyrometer.profile``
    or ``@pyrometer.profile()``); the session (or the decorated function) has ``report()``,
    ``save(path)`` and ``export(path)``. Sampling by default (see `Session`); ``mode="trace"``
    for exact calls, with ``builtins=True`` to trace built-in functions as cProfile does;
    ``mode="memory"`` for allocations by line (``sample_interval`` bytes between samples on
    average, ``"exact"`` for every allocation)."""
    session = Session(mode=mode, builtins=builtins, rate=rate, sample_interval=sample_interval)
    if func is not None:
        return session(func)
    return session
