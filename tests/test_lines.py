"""Line-level profiling: hit counts equal line_profiler's, time charged per frame, `pyrometer run
--mode lines` (file choice, @profile, errors, survival), `view`, and the Python API."""

from __future__ import annotations

import json
import pickle
import signal
import sys
import textwrap
from pathlib import Path

import pyrometer
import pytest
from conftest import SCRIPTS, base_env, run, saved_profile
from pyrometer import LineProfiler, ProfileData


def line_figures(path: Path | str) -> dict[tuple[str, int], tuple[int, int]]:
    """(qualname, line) → (hits, nanoseconds) of a saved line profile, threads summed."""
    doc = json.loads(ProfileData.load(str(path)).render("json"))["profile"]
    assert doc["meta"]["mode"] == "lines"
    strings, frames, locations, stacks = doc["strings"], doc["frames"], doc["locations"], doc["stacks"]
    columns = {c["metric"]: c["values"] for c in doc["samples"]["columns"]}
    out: dict[tuple[str, int], tuple[int, int]] = {}
    for row, stack in enumerate(doc["samples"]["stack"]):
        loc = locations[stacks[stack]["location"]]
        key = (strings[frames[loc["frame"]]["qualname"]], loc["line"])
        hits, ns = out.get(key, (0, 0))
        out[key] = (hits + columns["line_hits"][row], ns + columns["self_time"][row])
    return out


# Before 3.12 line_profiler measures only the thread that enabled it: leave threads out there.
THREADS_ENV = {"LINES_TARGET_THREADS": "1" if sys.version_info >= (3, 12) else "0"}


def compare_hits(tool: str) -> dict[str, int]:
    env = {**base_env(SCRIPTS), **THREADS_ENV}
    result = run([sys.executable, str(SCRIPTS / "lines_compare.py"), tool], SCRIPTS, env=env)
    assert result.returncode == 0, str(result)
    return json.loads(result.stdout)


def test_hit_counts_equal_line_profilers():
    pytest.importorskip("line_profiler")
    theirs = compare_hits("line_profiler")
    ours = compare_hits("pyrometer")
    assert len(theirs) > 60
    assert ours == theirs


def test_run_measures_the_programs_own_code_with_the_same_hits(pyrometer, tmp_path):
    pytest.importorskip("line_profiler")
    result = pyrometer("run", "--mode", "lines", "-o", "run.pyro", str(SCRIPTS / "lines_target.py"), env=THREADS_ENV)
    assert result.returncode == 0, str(result)
    figures = line_figures(tmp_path / "run.pyro")
    files = {n for n, _ in figures}
    # Only the script's own code: no threading, no stdlib.
    assert "Thread.start" not in files and "Lock.__enter__" not in files
    assert {"loop", "recurse", "gen", "Box.bump", "<module>", "main"} <= files
    hits = {f"{name}:{line}": h for (name, line), (h, _) in figures.items() if name != "<module>"}
    theirs = compare_hits("line_profiler")
    # The run also measures the nested worker, the lambda and comprehensions (3.11) that
    # line_profiler was not given; every line it was given has its exact count.
    assert {k: hits.get(k) for k in theirs} == theirs
    report = result.stdout
    assert "Function: recurse at line" in report and "Hottest lines" in report
    assert "    return n * recurse(n - 1)" in report


def sleeper_script(tmp_path: Path) -> Path:
    script = tmp_path / "sleepers.py"
    script.write_text(
        textwrap.dedent(
            """\
            import json, time

            def rec(n):
                time.sleep(0.02)
                if n:
                    rec(n - 1)

            def gen():
                for i in range(4):
                    yield i

            def consumer():
                for _ in gen():
                    time.sleep(0.02)

            def fails():
                time.sleep(0.02)
                raise KeyError("x")

            def caller():
                try:
                    fails()
                except KeyError:
                    pass

            t = time.perf_counter(); rec(4); spent = {"rec": time.perf_counter() - t}
            t = time.perf_counter(); consumer(); spent["consumer"] = time.perf_counter() - t
            t = time.perf_counter(); caller(); spent["caller"] = time.perf_counter() - t
            print(json.dumps({k: v * 1000 for k, v in spent.items()}))
            """
        )
    )
    return script


def test_time_is_charged_per_frame(pyrometer, tmp_path):
    script = sleeper_script(tmp_path)
    result = pyrometer("run", "--mode", "lines", "-q", "-o", "run.pyro", str(script))
    assert result.returncode == 0, str(result)
    f = line_figures(tmp_path / "run.pyro")
    ms = {k: v[1] / 1e6 for k, v in f.items()}
    # What each top-level call took, by the program's own clock: no line inside can have
    # taken longer (the sleeps themselves take at least what they ask, however loaded the
    # machine).
    spent = json.loads(result.stdout)
    # Recursion: each of the 5 activations sleeps 20 ms on line 4; activation i's line 6
    # holds the deeper activations' time, so line 6 sums 4 + 3 + 2 + 1 sleeps, no more than
    # four times line 4's.
    assert f[("rec", 4)][0] == 5 and 100 <= ms[("rec", 4)] <= spent["rec"], (ms, spent)
    assert 200 <= ms[("rec", 6)] <= 4 * ms[("rec", 4)], (ms, spent)
    # A generator is not charged while it is suspended: the consumer's sleeps are the consumer's.
    assert 80 <= ms[("consumer", 14)] <= spent["consumer"], (ms, spent)
    assert ms[("gen", 9)] + ms[("gen", 10)] < ms[("consumer", 14)] / 4, (ms, spent)
    # A frame left by an exception is charged up to the raise; so is its caller's line.
    assert 20 <= ms[("fails", 17)] <= spent["caller"], (ms, spent)
    assert 20 <= ms[("caller", 22)] <= spent["caller"], (ms, spent)
    assert f[("fails", 18)][0] == 1


def test_view_renders_the_saved_run_identically(pyrometer, tmp_path):
    script = sleeper_script(tmp_path)
    result = pyrometer("run", "--mode", "lines", "--color", "never", "--no-advice", str(script))
    assert result.returncode == 0, str(result)
    path = saved_profile(result)
    script.write_text("# the file changed since the run\n")
    again = pyrometer("view", str(path), "--color", "never", "--no-advice")
    assert again.returncode == 0, str(again)
    # The run's stdout starts with the program's own line (its timings).
    assert again.stdout == result.stdout.split("\n", 1)[1]
    assert "time.sleep(0.02)" in again.stdout
    unit = pyrometer("view", str(path), "--unit", "ms", "--no-advice")
    assert "Timer unit: 0.001 s" in unit.stdout
    exported = pyrometer("view", str(path), "--export", "lines.json")
    assert exported.returncode == 0 and line_figures(tmp_path / "lines.json")[("rec", 4)][0] == 5


def test_decorated_profile_builtin_like_kernprof(pyrometer, tmp_path):
    script = tmp_path / "deco.py"
    script.write_text(
        textwrap.dedent(
            """\
            import json

            @profile
            def chosen(n):
                return sum(range(n))

            def other(n):
                return chosen(n) + 1

            print(other(10), json.dumps(profile(len) is len))
            """
        )
    )
    result = pyrometer("run", "--mode", "lines", "--decorated", "-q", "-o", "run.pyro", str(script))
    assert result.returncode == 0, str(result)
    assert result.stdout == "46 true\n"
    assert {name for name, _ in line_figures(tmp_path / "run.pyro")} == {"chosen"}
    # Without --decorated, @profile still works and the rest of the program is measured too.
    result = pyrometer("run", "--mode", "lines", "-q", "-o", "all.pyro", str(script))
    assert result.returncode == 0, str(result)
    assert {"chosen", "other", "<module>"} <= {name for name, _ in line_figures(tmp_path / "all.pyro")}


def test_include_and_exclude_globs(pyrometer, tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def fa():\n    return 1\n")
    (pkg / "b_gen.py").write_text("def fb():\n    return 2\n")
    main = tmp_path / "main.py"
    main.write_text(
        "import json\nfrom pkg.a import fa\nfrom pkg.b_gen import fb\nprint(fa() + fb(), json.dumps([1]))\n"
    )

    def names(*flags: str) -> set[str]:
        result = pyrometer("run", "--mode", "lines", "-q", "-o", "r.pyro", *flags, str(main))
        assert result.returncode == 0, str(result)
        return {n for n, _ in line_figures(tmp_path / "r.pyro")}

    assert {"fa", "fb", "<module>"} <= names()
    assert "fb" not in names("--exclude", "*_gen.py")
    assert names("--include", "pkg") == {"fa", "fb", "<module>"}  # pkg's module bodies
    assert "dumps" not in names() and "dumps" in names("--include", "json")
    result = pyrometer("run", "--mode", "lines", "-o", "r.pyro", "--include", "nomatch", str(main))
    assert result.returncode == 0, str(result)
    assert "note: --include 'nomatch' matched no file the program ran" in result.stdout


def test_code_and_module_targets(pyrometer, tmp_path):
    result = pyrometer("run", "--mode", "lines", "-o", "c.pyro", "-c", "def f(n):\n    return n * 2\nprint(f(21))")
    assert result.returncode == 0, str(result)
    assert result.stdout.startswith("42\n")
    assert line_figures(tmp_path / "c.pyro")[("f", 2)][0] == 1
    assert "    return n * 2" in result.stdout
    (tmp_path / "modtool.py").write_text("def g():\n    return 5\nprint(g())\n")
    result = pyrometer("run", "--mode", "lines", "-q", "-o", "m.pyro", "-m", "modtool")
    assert result.returncode == 0 and result.stdout == "5\n", str(result)
    assert line_figures(tmp_path / "m.pyro")[("g", 2)][0] == 1


def test_code_target_measures_only_the_code_compiled_from_its_text(pyrometer, tmp_path):
    """Dataclass and namedtuple methods and exec'd code are `<string>` code too, but not the
    -c text's: only the code objects compiled from that text are measured."""
    code = textwrap.dedent(
        """\
        from collections import namedtuple
        from dataclasses import dataclass

        @dataclass
        class Point:
            x: int
            y: int

            def norm(self):
                return abs(self.x) + abs(self.y)

        Pair = namedtuple("Pair", "a b")
        p = Point(3, -4)
        print(p, p.norm(), p == Point(3, -4), Pair(1, 2), [n * 2 for n in range(3)])
        exec("def made():\\n    return 5\\nmade()")
        """
    )
    result = pyrometer("run", "--mode", "lines", "-o", "c.pyro", "-c", code)
    assert result.returncode == 0, str(result)
    assert result.stdout.startswith("Point(x=3, y=-4) 7 True Pair(a=1, b=2) [0, 2, 4]\n")
    figures = line_figures(tmp_path / "c.pyro")
    names = {name for name, _ in figures}
    expected = {"<module>", "Point", "Point.norm"}
    if sys.version_info >= (3, 14):
        # Annotations are evaluated lazily from 3.14 (PEP 649): the class body's are a
        # function compiled from the text, which the dataclass decorator calls.
        expected.add("Point.__annotate__")
    # Comprehensions are code objects of their own before 3.12 (nested ones are found too).
    assert names - {"<listcomp>"} == expected, names
    assert figures[("Point.norm", 10)][0] == 1
    assert max(line for _, line in figures) <= len(code.splitlines())
    assert "        return abs(self.x) + abs(self.y)" in result.stdout
    assert "__init__" not in result.stdout


def test_sigkill_keeps_the_line_profile_of_the_last_checkpoint(pyrometer, tmp_path):
    """A program killed outright cannot save anything at exit: the periodic checkpoint holds
    the lines measured up to it, and the report says it is a checkpoint."""
    script = tmp_path / "killed.py"
    script.write_text(
        textwrap.dedent(
            """\
            import os, signal, time

            def work(n):
                rows = []
                for i in range(n):
                    rows.append([i])
                return rows

            for _ in range(8000):
                work(1000)
            for _ in range(60):
                time.sleep(0.05)
            os.kill(os.getpid(), signal.SIGKILL)
            """
        )
    )
    result = pyrometer("run", "--mode", "lines", "--checkpoint", "0.2", "-o", "k.pyro", str(script))
    assert result.returncode == -signal.SIGKILL, str(result)
    figures = line_figures(tmp_path / "k.pyro")
    # The work (a second or two) ended 3 s before the kill, after which checkpoints come every
    # 0.2 s (or 50 times their cost): the last one holds all of it, exactly.
    assert figures[("<module>", 10)][0] == 8000
    assert figures[("work", 6)][0] == 8_000_000
    assert figures[("work", 5)][0] == 8_008_000
    assert figures[("work", 6)][1] > 0
    assert "killed by signal 9 before it could save its profile; this is checkpoint" in result.stdout
    assert "rows.append([i])" in result.stdout


@pytest.mark.parametrize(
    ("ending", "status"),
    [("raise SystemExit(3)", 3), ("raise RuntimeError('boom')", 1), ("import os; os._exit(4)", 4)],
)
def test_profile_survives_how_the_program_ends(pyrometer, tmp_path, ending, status):
    script = tmp_path / "ends.py"
    # Flushed: os._exit loses what the program left in its buffers, under python as under us.
    script.write_text(f"def work():\n    return sum(range(100))\nprint(work(), flush=True)\n{ending}\n")
    plain = run([sys.executable, str(script)], tmp_path, env=base_env(tmp_path))
    result = pyrometer("run", "--mode", "lines", "-q", "-o", "e.pyro", str(script))
    assert result.returncode == plain.returncode == status, str(result)
    assert result.stdout == plain.stdout == "4950\n"
    assert line_figures(tmp_path / "e.pyro")[("work", 2)][0] == 1


def test_ctrl_c_keeps_the_profile(pyrometer, tmp_path):
    script = tmp_path / "interrupted.py"
    script.write_text("def spin():\n    for i in range(3):\n        pass\n    raise KeyboardInterrupt\nspin()\n")
    result = pyrometer("run", "--mode", "lines", "-q", "-o", "i.pyro", str(script))
    assert result.returncode in (130, -2), str(result)
    assert line_figures(tmp_path / "i.pyro")[("spin", 3)][0] == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--mode", "trace", "--include", "src", "x.py"], "apply to --mode lines"),
        (["--mode", "lines", "--include", "src/[ab", "x.py"], "unbalanced"),
        (["--mode", "lines", "--export", "out.svg", "x.py"], "cannot be written as svg"),
        (["--mode", "lines", "missing.py"], "no such file"),
        (["--mode", "lines", "--unit", "fortnight", "x.py"], "unknown unit"),
    ],
)
def test_bad_input_is_a_one_line_error(pyrometer, tmp_path, args, message):
    (tmp_path / "x.py").write_text("print('ran')\n")
    result = pyrometer("run", *args)
    assert result.returncode == 2, str(result)
    assert message in result.stderr and "Traceback" not in result.stderr, str(result)
    assert "ran" not in result.stdout


def test_tree_of_a_line_profile_is_refused(pyrometer, tmp_path):
    (tmp_path / "x.py").write_text("print('ran')\n")
    result = pyrometer("run", "--mode", "lines", "-q", "-o", "x.pyro", "x.py")
    assert result.returncode == 0
    view = pyrometer("view", "x.pyro", "--tree")
    assert view.returncode == 2 and "call paths" in view.stderr


# --- The Python API ---------------------------------------------------------------------------


def work(n):
    total = 0
    for i in range(n):
        total += i
    return total


def twice(n):
    return work(n) + work(n)


def test_line_profiler_api_shapes_like_line_profiler(tmp_path):
    lp = LineProfiler(work)
    lp.add_function(twice)
    assert lp.runcall(twice, 10) == 90
    stats = lp.get_stats()
    assert stats.unit == 1e-9
    first = work.__code__.co_firstlineno
    rows = stats.timings[(__file__, first, "work")]
    assert [(line, hits) for line, hits, _ in rows] == [
        (first + 1, 2),
        (first + 2, 22),
        (first + 3, 20),
        (first + 4, 2),
    ]
    assert all(isinstance(t, int) and t >= 0 for _, _, t in rows)
    # Paused: nothing more is counted; resumed: it is.
    work(5)
    with lp:
        work(1)
    rows = lp.get_stats().timings[(__file__, first, "work")]
    assert dict((line, hits) for line, hits, _ in rows)[first + 4] == 3
    dump = tmp_path / "out.lprof"
    lp.dump_stats(dump)
    loaded = pickle.loads(dump.read_bytes())
    again = lp.get_stats().timings
    # Each reading converts clock ticks with the calibration measured up to then: the same
    # hits, and times within a rounding.
    assert loaded.timings.keys() == again.keys()
    for key, rows in again.items():
        assert [r[:2] for r in loaded.timings[key]] == [r[:2] for r in rows]
        assert all(abs(a[2] - b[2]) <= 1 + b[2] // 1000 for a, b in zip(loaded.timings[key], rows, strict=True))
    out = __import__("io").StringIO()
    lp.print_stats(out, output_unit=1e-3)
    text = out.getvalue()
    assert text.startswith("Timer unit: 0.001 s") and "Function: work at line" in text
    assert "total += i" in text
    report = lp.report()
    assert "Hottest lines" in report and "Function: twice" in report


def test_line_profiler_reads_our_dump(tmp_path):
    line_profiler = pytest.importorskip("line_profiler")
    lp = LineProfiler(work)
    lp.runcall(work, 3)
    dump = tmp_path / "out.lprof"
    lp.dump_stats(dump)
    stats = line_profiler.load_stats(str(dump))
    out = __import__("io").StringIO()
    line_profiler.show_text(stats.timings, stats.unit, stream=out)
    assert "total += i" in out.getvalue()


def test_decorator_and_generators_and_threads():
    import threading

    @pyrometer.lines
    def summed(n):
        return sum(x for x in range(n))

    assert summed(4) == 6
    assert summed(5) == 10
    (rows,) = [r for (_, _, name), r in summed.get_stats().timings.items() if name.endswith("summed")]
    assert [hits for _, hits, _ in rows] == [2]
    assert "summed" in summed.report()

    lp = LineProfiler()

    @lp
    def produce(n):
        for i in range(n):  # noqa: UP028 - a loop with a yield: lines to count
            yield i

    def in_thread():
        assert list(produce(3)) == [0, 1, 2]

    t = threading.Thread(target=in_thread)
    t.start()
    t.join()
    first = produce.__wrapped__.__code__.co_firstlineno
    hits = {line: h for (_, f, _), rows in lp.get_stats().timings.items() if f == first for line, h, _ in rows}
    assert hits == {first + 2: 4, first + 3: 3}  # co_firstlineno is the decorator line


def test_two_profilers_take_turns():
    a, b = LineProfiler(work), LineProfiler(twice)
    a.runcall(work, 2)
    b.runcall(twice, 2)
    a.runcall(work, 2)
    first = work.__code__.co_firstlineno
    a_hits = dict((line, h) for line, h, _ in a.get_stats().timings[(__file__, first, "work")])
    assert a_hits[first + 4] == 2
    assert (__file__, first, "work") not in {k for k, v in b.get_stats().timings.items() if v}


def test_profilers_enabled_together_each_get_what_ran_while_they_were_on():
    """As line_profiler's: each counts its own functions while it is enabled, nested or not."""

    def hits(lp: LineProfiler, func) -> dict[int, int]:
        code = func.__code__
        rows = lp.get_stats().timings.get((code.co_filename, code.co_firstlineno, code.co_qualname), [])
        return {line - code.co_firstlineno: h for line, h, _ in rows}

    a, b, c = LineProfiler(work), LineProfiler(twice), LineProfiler(work)
    with a:
        work(3)
        with b:
            twice(2)
            with c:
                work(1)
        work(1)
    twice(5)  # nobody enabled
    with c:
        work(2)
    assert hits(a, work) == {1: 5, 2: 4 + 3 + 3 + 2 + 2, 3: 3 + 2 + 2 + 1 + 1, 4: 5}
    assert hits(a, twice) == {}
    assert hits(b, twice) == {1: 1}
    assert hits(b, work) == {}
    assert hits(c, work) == {1: 2, 2: 2 + 3, 3: 1 + 2, 4: 2}


def test_line_profiler_and_function_profile_run_together():
    """The line collector and the function tracer are separate tools (on 3.12+ each claims a
    sys.monitoring tool id of its own): both can be on at once, each measuring what it would
    alone."""
    lp, prof = LineProfiler(work), pyrometer.Profile()
    with lp:
        prof.enable()
        if sys.version_info >= (3, 12):
            tools = [sys.monitoring.get_tool(i) for i in range(6)]
            assert tools[4] == "pyrometer-lines" and tools[3] == "pyrometer", tools
        twice(3)
        prof.disable()
        if sys.version_info >= (3, 12):
            assert sys.monitoring.get_tool(3) is None  # the tracer gave its id back
    prof.create_stats()
    calls = {k[2]: v[:2] for k, v in prof.stats.items()}
    assert calls["work"] == (2, 2) and calls["twice"] == (1, 1)
    first = work.__code__.co_firstlineno
    hits = {line - first: h for line, h, _ in lp.get_stats().timings[(__file__, first, "work")]}
    assert hits == {1: 2, 2: 8, 3: 6, 4: 2}


def test_the_program_sees_the_modules_python_would_show(pyrometer, tmp_path):
    code = (
        "import sys; print(sorted(m for m in ('typing', 'inspect', 'functools', 'pickle', 're') if m in sys.modules))"
    )
    plain = run([sys.executable, "-c", code], tmp_path, env=base_env(tmp_path))
    ours = pyrometer("run", "--mode", "lines", "-q", "-c", code)
    assert ours.returncode == plain.returncode == 0, str(ours)
    assert ours.stdout == plain.stdout


def test_import_stays_cheap():
    code = (
        "import sys, pyrometer; pyrometer.LineProfiler; "
        "print(sorted(m for m in sys.modules if m in ('inspect', 'functools', 'pickle', 'linecache')))"
    )
    result = run([sys.executable, "-c", code], Path.cwd())
    assert result.returncode == 0, str(result)
    # Only modules the interpreter itself may preload at start.
    assert "inspect" not in result.stdout and "pickle" not in result.stdout
