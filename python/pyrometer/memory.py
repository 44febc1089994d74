"""In-process memory measurement: ``limit_memory`` (fail when a block's peak exceeds a limit,
as pytest-memray's ``limit_memory`` marker does) and size parsing.

``pyrometer.profile(mode="memory")`` is the general session (see ``pyrometer.Session``); these
helpers build on it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any, TypeVar

from pyrometer._native import PyrometerError

__all__ = ["MemoryLimitExceeded", "limit_memory", "parse_size"]

F = TypeVar("F", bound=Callable[..., Any])

_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "kib": 1024, "m": 1024**2, "mb": 1024**2, "mib": 1024**2}
_UNITS.update({"g": 1024**3, "gb": 1024**3, "gib": 1024**3})


def parse_size(size: int | float | str) -> int:
    """Bytes from ``1048576``, ``"24 MB"``, ``"1.5GiB"`` or ``"512K"`` (units are powers of
    1024, as pytest-memray reads them)."""
    if isinstance(size, bool):
        raise PyrometerError(f"{size!r} is not a size")
    if isinstance(size, (int, float)):
        if size < 0:
            raise PyrometerError(f"{size!r} is not a size")
        return int(size)
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]*)?)\s*([a-zA-Z]*)\s*", size)
    if not match or match.group(2).lower() not in _UNITS:
        raise PyrometerError(f"'{size}' is not a size (try '24 MB', '512K' or a number of bytes)")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def _bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1024
    return f"{n:.2f} GiB"


class MemoryLimitExceeded(AssertionError):
    """The peak of memory allocated inside a ``limit_memory`` block exceeded its limit."""


class limit_memory:
    """Fails (``MemoryLimitExceeded``) when the memory allocated inside the block and alive at
    the same time peaks above ``limit``: ``with pyrometer.limit_memory("24 MB"): ...`` or
    ``@pyrometer.limit_memory("24 MB")``. The message names the lines that held the most at
    the peak. ``sample_interval`` (bytes, or ``"exact"``) trades precision for speed; the
    default samples every 16 KiB on average, so a limit in megabytes is judged to well
    under 1 %."""

    def __init__(self, limit: int | float | str, *, sample_interval: int | str | None = 16 * 1024) -> None:
        self.limit = parse_size(limit)
        self.sample_interval = sample_interval
        self.peak: int | None = None
        self._session: Any = None

    def __enter__(self) -> limit_memory:
        from pyrometer.profiler import Session

        self._session = Session(mode="memory", sample_interval=self.sample_interval).start()
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        session = self._session
        session.stop()
        self.peak = session.traced_memory()[1]
        if exc_type is not None or self.peak <= self.limit:
            return
        lines = [
            f"  {_bytes(site.size)} at {site.file}:{site.line} ({site.function})" for site in session.top(5, by="peak")
        ]
        held = "\nheld at the peak by:\n" + "\n".join(lines) if lines else ""
        raise MemoryLimitExceeded(
            f"the block allocated {_bytes(self.peak)} at its peak, over the limit of {_bytes(self.limit)}{held}"
        )

    def __call__(self, func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with limit_memory(self.limit, sample_interval=self.sample_interval):
                return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]
