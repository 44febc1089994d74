"""pyrometer: find where a Python program spends its time, down to the function and line.

Command line: ``pyrometer run script.py``, ``pyrometer view run.pyro`` (see ``pyrometer --help``).

In code::

    import pyrometer

    with pyrometer.profile() as session:
        work()
    print(session.report())

    profiler = pyrometer.Profile()      # a drop-in for cProfile.Profile
    profiler.runcall(work)
    profiler.print_stats("cumulative")
"""

import sys

if (
    not (3, 11) <= sys.version_info < (3, 16) or sys.implementation.name != "cpython" or "t" in sys.abiflags
):  # pragma: no cover
    raise ImportError(
        "pyrometer supports CPython 3.11 to 3.15 (GIL builds); this is "
        f"{sys.implementation.name} {sys.version_info.major}.{sys.version_info.minor}{sys.abiflags}"
    )

from pyrometer._native import ProfileData, PyrometerError, __version__

# No `typing` import here: `pyrometer run`'s child imports this package before the program
# starts, and whatever it imports is already imported when the program runs.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from pyrometer import bench
    from pyrometer._lines import LineProfiler, LineStats, lines
    from pyrometer.bench import BenchResult, Comparison, compare, timeit
    from pyrometer.memory import MemoryLimitExceeded, limit_memory
    from pyrometer.profiler import MemorySite, Profile, Session, profile

__all__ = [
    "BenchResult",
    "Comparison",
    "LineProfiler",
    "LineStats",
    "MemoryLimitExceeded",
    "MemorySite",
    "Profile",
    "ProfileData",
    "PyrometerError",
    "Session",
    "__version__",
    "bench",
    "compare",
    "limit_memory",
    "lines",
    "load",
    "profile",
    "timeit",
]

# Imported on first use, so that `pyrometer run`'s child (which imports this package before
# the program starts) adds as few modules as possible to the program's `sys.modules`.
_LAZY = {"MemorySite", "Profile", "Session", "profile"}
_LAZY_MEMORY = {"MemoryLimitExceeded", "limit_memory"}
_LAZY_BENCH = {"BenchResult", "Comparison", "bench", "compare", "timeit"}
_LAZY_LINES = {"LineProfiler", "LineStats", "lines"}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        from pyrometer import profiler

        return getattr(profiler, name)
    if name in _LAZY_MEMORY:
        from pyrometer import memory

        return getattr(memory, name)
    if name in _LAZY_LINES:
        from pyrometer import _lines

        return getattr(_lines, name)
    if name in _LAZY_BENCH:
        import importlib

        # The module is callable: pyrometer.bench(fn, ...) is pyrometer.bench.bench(fn, ...).
        module = importlib.import_module("pyrometer.bench")
        return module if name == "bench" else getattr(module, name)
    raise AttributeError(f"module 'pyrometer' has no attribute {name!r}")


def load(path: str) -> ProfileData:
    """Reads a saved profile (``.pyro`` or its JSON export)."""
    return ProfileData.load(path)
