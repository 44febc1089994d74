"""Line-level profiling in code: ``pyrometer.LineProfiler`` (a drop-in for line_profiler's
``LineProfiler``), the ``@pyrometer.lines`` decorator, and the ``profile`` builtin that
``pyrometer run --mode lines`` provides the way kernprof does.

The native collector is process-wide, so the ``LineProfiler`` objects share one session: it
measures the functions of every profiler enabled, and what it collects goes to the profilers
enabled while it was collected. When that set of profilers changes, the session hands what it
has to them and starts again; a profiler alone (the usual case, even as a decorator called
again and again) never pays for that.

This module is imported by ``pyrometer run``'s child before the program starts: it imports
nothing at module level beyond what the child already has.
"""

from __future__ import annotations

import os
import sys

from pyrometer import _native
from pyrometer._native import ProfileData, PyrometerError

# No `typing` at run time: the child of `pyrometer run --mode lines` imports this module before
# the program starts, and the program should find `sys.modules` as `python` leaves it.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["LineProfiler", "LineStats", "lines", "load_stats", "show_text"]

_NS = 1e-9

#: The profilers enabled now, in the order they were enabled.
_enabled: list[LineProfiler] = []
#: The profilers the running session's data belongs to (the ones enabled while it ran; it may
#: be paused now). Empty when no LineProfiler session runs.
_epoch: list[LineProfiler] = []


def _codes_of(obj: Any) -> list[Any]:
    """The code objects a function-like object runs (line_profiler accepts the same kinds)."""
    code = getattr(obj, "__code__", None)
    if code is not None:
        return [code]
    func = getattr(obj, "__func__", None)  # bound methods, classmethod, staticmethod
    if func is not None:
        return _codes_of(func)
    if isinstance(obj, property):
        return [c for f in (obj.fget, obj.fset, obj.fdel) if f is not None for c in _codes_of(f)]
    inner = getattr(obj, "func", None)  # functools.partial, partialmethod, cached_property
    if inner is not None and callable(inner):
        return _codes_of(inner)
    if isinstance(obj, type):
        return [c for value in vars(obj).values() if _is_function_like(value) for c in _codes_of(value)]
    return []


def _is_function_like(value: Any) -> bool:
    return hasattr(value, "__code__") or isinstance(value, (classmethod, staticmethod, property))


def _run_session_active() -> bool:
    """Whether ``pyrometer run --mode lines`` (not a LineProfiler) is measuring this process."""
    return not _epoch and _native.lines_active()


def profile(func: Any) -> Any:
    """The ``profile`` builtin under ``pyrometer run --mode lines``: measures the lines of
    ``func`` (a function, method, property or class) and returns it unchanged."""
    for code in _codes_of(func):
        if _native.lines_active():
            _native.lines_add(code)
    return func


def _follow_enabled() -> None:
    """Makes the native session serve the profilers enabled now: paused when none is; resumed
    when the same ones as before are; else what it collected goes to the profilers it was
    collected for, and it starts again on the functions of the enabled ones."""
    if not _enabled:
        if _epoch:
            _native.lines_set_recording(False)
        return
    if _epoch and {id(p) for p in _epoch} == {id(p) for p in _enabled}:
        _native.lines_set_recording(True)
        return
    if _epoch:
        data = _native.lines_stop()
        for owner in _epoch:
            owner._keep(data)
    codes: list[Any] = []
    for profiler in _enabled:
        codes.extend(c for c in profiler._codes if all(c is not k for k in codes))
    _epoch[:] = []
    _native.lines_start(codes)
    _epoch.extend(_enabled)


class LineStats:
    """What ``LineProfiler.get_stats()`` returns, shaped as line_profiler's: ``timings`` maps
    ``(filename, first line, qualified name)`` to ``[(line, hits, time), …]`` with times in
    ``unit`` seconds."""

    def __init__(self, timings: dict[tuple[str, int, str], list[tuple[int, int, int]]], unit: float) -> None:
        self.timings = timings
        self.unit = unit

    def __repr__(self) -> str:
        return f"<pyrometer LineStats: {len(self.timings)} functions, unit={self.unit}>"


class LineProfiler:
    """Exact hits and time per line of chosen functions, with line_profiler's interface.

    ``LineProfiler(f, g)``, ``add_function``, ``add_module``, ``add_class``; decorate with the
    instance (``@lp``) to measure during each call; or ``enable()``/``disable()``, ``with lp:``,
    ``runcall``, ``runctx``, ``run``. Read the result with ``print_stats``, ``get_stats``,
    ``dump_stats`` (a pickle ``python -m line_profiler`` reads) or ``profile_data()``.
    Every thread is measured; time is charged per frame, so recursion and generators are right.
    """

    def __init__(self, *functions: Any) -> None:
        self.functions: list[Any] = []
        self._codes: list[Any] = []
        self._data: ProfileData | None = None
        self.enable_count = 0
        self.timer_unit = _NS
        for f in functions:
            self.add_function(f)

    # -- choosing what to measure ------------------------------------------------------------

    def add_function(self, func: Any) -> None:
        """Measures the lines of ``func`` (function, method, property, partial or class)."""
        codes = _codes_of(func)
        if not codes:
            raise TypeError(f"cannot measure the lines of {func!r}: it is not a Python function")
        self.functions.append(func)
        for code in codes:
            if all(code is not c for c in self._codes):
                self._codes.append(code)
                if self in _epoch:
                    _native.lines_add(code)

    add_callable = add_function

    def add_class(self, cls: type) -> int:
        """Measures every function defined in the class body; returns how many."""
        count = 0
        for value in vars(cls).values():
            if _is_function_like(value):
                self.add_function(value)
                count += 1
        return count

    def add_module(self, mod: Any) -> int:
        """Measures every function and class method defined in module ``mod``; returns how
        many were added."""
        count = 0
        for value in vars(mod).values():
            if isinstance(value, type) and value.__module__ == mod.__name__:
                count += self.add_class(value)
            elif hasattr(value, "__code__") and getattr(value, "__module__", None) == mod.__name__:
                self.add_function(value)
                count += 1
        return count

    def __call__(self, func: Any) -> Any:
        """Decorator: measures ``func``, and profiling is on while it runs."""
        self.add_function(func)
        if isinstance(func, type):
            return func
        import functools
        import inspect

        if inspect.isgeneratorfunction(func):

            @functools.wraps(func)
            def gen_wrapper(*args: Any, **kwds: Any) -> Any:
                gen = func(*args, **kwds)
                value = None
                while True:
                    self.enable_by_count()
                    try:
                        item = gen.send(value)
                    except StopIteration as stop:
                        return stop.value
                    finally:
                        self.disable_by_count()
                    value = yield item

            return gen_wrapper
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwds: Any) -> Any:
                self.enable_by_count()
                try:
                    return await func(*args, **kwds)
                finally:
                    self.disable_by_count()

            return async_wrapper

        @functools.wraps(func)
        def wrapper(*args: Any, **kwds: Any) -> Any:
            self.enable_by_count()
            try:
                return func(*args, **kwds)
            finally:
                self.disable_by_count()

        return wrapper

    wrap_function = __call__

    # -- switching on and off -----------------------------------------------------------------

    def enable(self) -> None:
        """Starts (or resumes) measuring, in every thread."""
        if self in _enabled:
            return
        if _run_session_active():
            raise PyrometerError(
                "pyrometer run --mode lines is already measuring lines in this process; "
                "decorate functions with @profile (or @pyrometer.lines) to add them to it"
            )
        _enabled.append(self)
        _follow_enabled()

    def disable(self) -> None:
        """Pauses measuring; what was collected is kept."""
        if self in _enabled:
            _enabled.remove(self)
            _follow_enabled()

    def enable_by_count(self) -> None:
        if self.enable_count == 0:
            self.enable()
        self.enable_count += 1

    def disable_by_count(self) -> None:
        if self.enable_count > 0:
            self.enable_count -= 1
            if self.enable_count == 0:
                self.disable()

    def __enter__(self) -> LineProfiler:
        self.enable_by_count()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.disable_by_count()

    def runcall(self, func: Any, /, *args: Any, **kw: Any) -> Any:
        self.enable_by_count()
        try:
            return func(*args, **kw)
        finally:
            self.disable_by_count()

    def runctx(self, cmd: str, globals: dict[str, Any], locals: dict[str, Any] | None) -> LineProfiler:
        self.enable_by_count()
        try:
            exec(cmd, globals, locals)
        finally:
            self.disable_by_count()
        return self

    def run(self, cmd: str) -> LineProfiler:
        import __main__

        namespace = __main__.__dict__
        return self.runctx(cmd, namespace, namespace)

    def _keep(self, data: ProfileData) -> None:
        if self._data is None:
            self._data = _native.lines_empty()
        self._data.merge(data)

    # -- results ------------------------------------------------------------------------------

    def profile_data(self) -> ProfileData:
        """What was collected, as pyrometer's own profile (``report``, ``save``, ``export``;
        ``pyrometer view`` renders a saved one)."""
        if self in _epoch:
            live = _native.lines_snapshot()
            if self._data is not None:
                live.merge(self._data)
            return live
        if self._data is not None:
            return self._data
        return _native.lines_empty()

    def get_stats(self) -> LineStats:
        """The figures as line_profiler's ``LineStats``: times in nanoseconds (``unit`` 1e-9)."""
        timings: dict[tuple[str, int, str], list[tuple[int, int, int]]] = {}
        for code in self._codes:
            timings[(code.co_filename, code.co_firstlineno, code.co_qualname)] = []
        for file, first, name, rows in _native.lines_timings(self.profile_data()):
            # Functions of other profilers, measured while both were enabled, are not ours.
            if (file, first, name) in timings:
                timings[(file, first, name)] = [(line, hits, ns) for line, hits, ns in rows]
        return LineStats(timings, _NS)

    def print_stats(
        self,
        stream: Any = None,
        output_unit: float | None = None,
        stripzeros: bool = False,
        details: bool = True,
        summarize: bool = False,
        sort: bool = False,
        rich: bool = False,
    ) -> None:
        """Prints each function's source annotated with hits, time, time per hit and share."""
        show_text(
            self.get_stats().timings,
            _NS,
            output_unit=output_unit,
            stream=stream,
            stripzeros=stripzeros,
            details=details,
            summarize=summarize,
            sort=sort,
            rich=rich,
        )

    def dump_stats(self, filename: str | os.PathLike[str]) -> None:
        """Saves the figures as a pickled ``LineStats`` (``python -m line_profiler FILE`` and
        ``load_stats`` read it)."""
        import pickle

        with open(filename, "wb") as f:
            pickle.dump(self.get_stats(), f, pickle.HIGHEST_PROTOCOL)

    def report(self, *, unit: float | None = None, top: int | None = None, color: bool = False) -> str:
        """pyrometer's line report: annotated functions by time, then the hottest lines."""
        return _native.lines_report(self.profile_data(), unit=unit, top=top, color=color)


def load_stats(filename: str | os.PathLike[str]) -> LineStats:
    """Reads what ``dump_stats`` wrote."""
    import pickle

    with open(filename, "rb") as f:
        return pickle.load(f)


def show_text(
    stats: dict[tuple[str, int, str], list[tuple[int, int, int]]],
    unit: float,
    output_unit: float | None = None,
    stream: Any = None,
    stripzeros: bool = False,
    details: bool = True,
    summarize: bool = False,
    sort: bool = False,
    rich: bool = False,
) -> None:
    """Prints timings as line_profiler's ``show_text`` does (same layout and options)."""
    import linecache

    stream = sys.stdout if stream is None else stream
    output_unit = unit if output_unit is None else output_unit
    scale = unit / output_unit
    stream.write(f"Timer unit: {output_unit:g} s\n\n")
    items = list(stats.items())
    if sort:
        items.sort(key=lambda kv: sum(t for _, _, t in kv[1]))
    else:
        items.sort(key=lambda kv: kv[0])
    if details:
        for (filename, first, name), rows in items:
            total = sum(t for _, _, t in rows)
            if stripzeros and total == 0:
                continue
            stream.write(f"Total time: {total * unit:g} s\n")
            stream.write(f"File: {filename}\nFunction: {name} at line {first}\n\n")
            header = f"{'Line #':>6} {'Hits':>9} {'Time':>12} {'Per Hit':>8} {'% Time':>8}  Line Contents"
            stream.write(header + "\n" + "=" * len(header) + "\n")
            by_line = {line: (hits, t) for line, hits, t in rows}
            source = linecache.getlines(filename)
            last = max([first, *by_line])
            if source:
                import inspect

                block = inspect.getblock(source[first - 1 :]) if first - 1 < len(source) else []
                last = max(last, first + len(block) - 1)
            for line in range(first, last + 1):
                text = source[line - 1].rstrip("\n") if 0 < line <= len(source) else ""
                if line in by_line:
                    hits, t = by_line[line]
                    share = 100.0 * t / total if total else 0.0
                    stream.write(
                        f"{line:>6} {hits:>9} {t * scale:>12.1f} {t * scale / hits if hits else 0:>8.1f} "
                        f"{share:>8.1f}  {text}\n"
                    )
                else:
                    stream.write(f"{line:>6} {'':>40}  {text}\n")
            stream.write("\n")
    if summarize:
        for (filename, first, name), rows in items:
            total = sum(t for _, _, t in rows)
            if stripzeros and total == 0:
                continue
            stream.write(f"{total * unit:10.6f} seconds - {os.path.basename(filename)}:{first} - {name}\n")


def lines(func: Any = None, /, *, unit: float | None = None) -> Any:
    """Decorator: measures the lines of ``func`` while it runs (``@pyrometer.lines`` or
    ``@pyrometer.lines(unit=1e-3)``). The decorated function has ``print_stats()``,
    ``get_stats()``, ``report()`` and ``profiler`` (its `LineProfiler`). Under ``pyrometer run
    --mode lines`` it adds ``func`` to the run's measurements instead and returns it unchanged."""

    def decorate(f: Any) -> Any:
        if _run_session_active():
            return profile(f)
        profiler = LineProfiler()
        wrapped = profiler(f)
        if wrapped is f:  # a class: its methods are measured whenever the profiler is on
            return f
        wrapped.profiler = profiler
        wrapped.get_stats = profiler.get_stats
        wrapped.print_stats = lambda stream=None, output_unit=unit, **kw: profiler.print_stats(
            stream, output_unit, **kw
        )
        wrapped.report = lambda **kw: profiler.report(**{"unit": unit, **kw})
        return wrapped

    if func is not None:
        return decorate(func)
    return decorate
