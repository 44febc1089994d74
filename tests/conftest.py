"""Shared helpers: running the installed ``pyrometer`` command and reading what it wrote."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
SCRIPTS = TESTS / "scripts"
PYPERF_SHIM = TESTS / "pyperf_shim"
EXACT_SITE = TESTS / "exact_site"

# The tests send signals and expect their default effects, as in a terminal. A suite started
# under nohup or as a background job of a non-interactive shell inherits SIGHUP, SIGINT and
# SIGQUIT ignored, and so would every program it starts (pyrometer keeps ignored signals
# ignored, as python does): give the programs the defaults back.
signal.signal(signal.SIGINT, signal.default_int_handler)
for _signal in (signal.SIGHUP, signal.SIGQUIT, signal.SIGTERM):
    signal.signal(_signal, signal.SIG_DFL)


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "may_skip: the test may skip under CI too (what it needs cannot exist on some supported "
        "Python, such as an older interpreter inside the sid root)",
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Under CI (`CI` set), a test that skips fails instead, unless marked `may_skip`: a
    missing interpreter or test tool must not pass for a tested feature."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") and report.skipped and not item.get_closest_marker("may_skip"):
        reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped under CI, which must run every test: {reason}"


def pythons(minors) -> list[Path]:
    """The CPython 3.X interpreters on this machine for the minor versions `minors`, in that
    order: `python3.X` on the PATH and pyenv's versions."""
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    out = []
    for minor in minors:
        found = shutil.which(f"python3.{minor}")
        candidates = [*sorted(pyenv.glob(f"3.{minor}.*/bin/python3.{minor}")), *([Path(found)] if found else [])]
        out.extend(p for p in candidates if p.exists() and p not in out)
    return out


def older_python() -> Path | None:
    """A CPython older than 3.11 on this machine, to check that it is refused."""
    return next(iter(pythons((10, 9, 8))), None)


def pyrometer_command() -> list[str]:
    """The console script installed next to this interpreter, else ``python -m pyrometer``."""
    script = Path(sys.executable).parent / "pyrometer"
    return [str(script)] if script.exists() else [sys.executable, "-m", "pyrometer"]


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str

    def __str__(self) -> str:
        return f"exit {self.returncode}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


def base_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYROMETER_DIR"] = str(tmp_path / ".pyrometer")
    env["PYTHONHASHSEED"] = "0"
    env.pop("NO_COLOR", None)
    return env


def run(
    args: list[str], cwd: Path, *, env: dict[str, str] | None = None, input: str | None = None, timeout: float = 300
) -> Result:
    proc = subprocess.run(
        args,
        cwd=cwd,
        env=env,
        input=input if input is not None else "",
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def pyrometer(tmp_path: Path):
    """Runs ``pyrometer ARGS…`` in ``tmp_path`` (runs are saved under it)."""

    def call(
        *args: str,
        input: str | None = None,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        timeout: float = 300,
    ) -> Result:
        full_env = base_env(tmp_path)
        full_env.update(env or {})
        return run([*pyrometer_command(), *args], cwd or tmp_path, env=full_env, input=input, timeout=timeout)

    return call


def saved_profile(result: Result | str) -> Path:
    """The .pyro path a ``run`` says it saved (relative to where it ran), from its result or
    its stderr."""
    stderr = result if isinstance(result, str) else result.stderr
    for line in stderr.splitlines():
        if line.startswith("pyrometer: profile saved to "):
            return Path(line.removeprefix("pyrometer: profile saved to ").split(" (")[0])
    raise AssertionError(f"no saved profile in:\n{stderr}")


# --- cProfile semantics, recomputed independently from pyrometer's JSON export --------------

Key = tuple[str, int, str]

HARNESS = {
    ("~", 0, "<built-in method builtins.exec>"),
    ("~", 0, "<method 'disable' of '_lsprof.Profiler' objects>"),
}


_ADDRESS = re.compile(r" at 0x[0-9a-f]+")


def _clean(key: Key) -> Key:
    """Some built-ins are named with an object's address (`… of type object at 0x…`), which
    differs from run to run."""
    return (key[0], key[1], _ADDRESS.sub(" at 0x…", key[2]))


def pstats_counts(stats: dict) -> dict[Key, tuple[int, int, dict[Key, tuple[int, int]]]]:
    """Call counts of a pstats dictionary (cProfile's, or ours), without cProfile's own harness
    entries: ``{func: (primitive, total, {caller: (total, primitive)})}``."""
    out = {}
    for func, (cc, nc, _tt, _ct, callers) in stats.items():
        if func in HARNESS:
            continue
        out[_clean(func)] = (cc, nc, {_clean(c): (v[0], v[1]) for c, v in callers.items() if c not in HARNESS})
    return out


def counts_from_json(path: Path, root_file: str | None = None, main_thread_only: bool = True, splice_builtins=False):
    """cProfile-style call counts computed from a pyrometer JSON export's call tree, over the
    subtrees whose root is the ``<module>`` of ``root_file`` (the program itself, leaving out
    what ran at interpreter exit), in the main thread. Recursion is judged per frame, as
    cProfile judges it per function, and frames whose pstats keys collide (functions made by
    ``exec`` from one template) are then summed, as cProfile's harness above sums them. With
    ``splice_builtins``, built-in frames are left out and what they called is charged to
    their caller: the counts a run that does not trace built-ins must give."""
    doc = json.loads(Path(path).read_text())["profile"]
    strings = doc["strings"]
    frames = doc["frames"]
    locations = doc["locations"]
    stacks = doc["stacks"]
    samples = doc["samples"]
    calls_column = next(c["values"] for c in samples["columns"] if c["metric"] == "calls")
    threads = doc["threads"]

    def key(frame_id: int) -> Key:
        f = frames[frame_id]
        if f["kind"] in ("builtin", "synthetic"):
            return _clean(("~", 0, strings[f["name"]]))
        return (strings[f["file"]], f["line"], strings[f["name"]])

    stack_frame = [locations[s["location"]]["frame"] for s in stacks]
    stack_key = [key(f) for f in stack_frame]
    spliced = [splice_builtins and frames[f]["kind"] == "builtin" for f in stack_frame]
    calls = defaultdict(int)
    for stack, thread, value in zip(samples["stack"], samples["thread"], calls_column, strict=True):
        if main_thread_only and not threads[thread]["is_main"]:
            continue
        calls[stack] += value
    children = defaultdict(list)
    roots = []
    for i, s in enumerate(stacks):
        if s["parent"] is None:
            roots.append(i)
        else:
            children[s["parent"]].append(i)
    if root_file is not None:
        roots = [r for r in roots if stack_key[r][0] == root_file and stack_key[r][2] == "<module>"]

    total = defaultdict(int)
    primitive = defaultdict(int)
    edges: dict[Key, dict[Key, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    open_frames: dict[int, int] = defaultdict(int)
    open_edges: dict[tuple[int, int], int] = defaultdict(int)
    # (step, stack, the nearest ancestor stack that is not spliced out)
    work: list[tuple[str, int, int | None]] = [("enter", r, None) for r in reversed(roots)]
    while work:
        step, s, parent = work.pop()
        if spliced[s]:
            if step == "enter":
                work.extend(("enter", c, parent) for c in reversed(children[s]))
            continue
        k, f = stack_key[s], stack_frame[s]
        pk = stack_key[parent] if parent is not None else None
        pf = stack_frame[parent] if parent is not None else None
        if step == "enter":
            n = calls.get(s, 0)
            total[k] += n
            if open_frames[f] == 0:
                primitive[k] += n
            open_frames[f] += 1
            if pk is not None:
                edge = edges[k][pk]
                edge[0] += n
                if open_edges[(pf, f)] == 0:
                    edge[1] += n
                open_edges[(pf, f)] += 1
            work.append(("leave", s, parent))
            work.extend(("enter", c, s) for c in reversed(children[s]))
        else:
            open_frames[f] -= 1
            if pk is not None:
                open_edges[(pf, f)] -= 1
    # cProfile's own `exec` is left out of its counts (see HARNESS); leave every `exec` out here.
    return {
        k: (primitive[k], total[k], {c: tuple(v) for c, v in edges[k].items() if v[0] and c not in HARNESS})
        for k in total
        if total[k] and k not in HARNESS
    }


def diff_counts(ours: dict, theirs: dict, limit: int = 15) -> str:
    """A readable account of how two count dictionaries differ (empty when equal)."""
    lines = []
    for k in sorted(set(ours) | set(theirs), key=str):
        a, b = ours.get(k), theirs.get(k)
        if a == b:
            continue
        if a is None or b is None:
            lines.append(f"{k}: ours={a and a[:2]} cProfile={b and b[:2]}")
            continue
        if a[:2] != b[:2]:
            lines.append(f"{k}: ours (cc, nc)={a[:2]} cProfile={b[:2]}")
        for c in sorted(set(a[2]) | set(b[2]), key=str):
            if a[2].get(c) != b[2].get(c):
                lines.append(f"  {c} -> {k}: ours={a[2].get(c)} cProfile={b[2].get(c)}")
    return "\n".join(lines[:limit]) + (f"\n… {len(lines) - limit} more" if len(lines) > limit else "")
