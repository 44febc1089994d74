"""The Python API: `pyrometer.Profile` as a drop-in for `cProfile.Profile`, and
`pyrometer.profile()` sessions."""

from __future__ import annotations

import cProfile
import io
import json
import marshal
import pstats
import threading
import time
from contextlib import redirect_stdout

import pyrometer
import pytest


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def work():
    out = []
    for i in range(50):
        out.append(fib(8) + len(str(i)))
    return sum(out)


def counts(stats: dict) -> dict:
    """(primitive, total) calls per function, without the profilers' own `enable`/`disable`."""
    return {
        k: v[:2]
        for k, v in stats.items()
        if k[2] not in ("<method 'disable' of '_lsprof.Profiler' objects>",)
        and "Tracer" not in k[2]
        and k[2] not in ("enable", "disable")
    }


def test_runcall_counts_equal_cprofile():
    ours, theirs = pyrometer.Profile(), cProfile.Profile()
    assert ours.runcall(work) == theirs.runcall(work)
    ours.create_stats()
    theirs.create_stats()
    assert counts(ours.stats) == counts(theirs.stats)
    fib_key = next(k for k in ours.stats if k[2] == "fib")
    cc, nc, tt, ct, callers = ours.stats[fib_key]
    assert (cc, nc) == (50, 50 * 67)
    assert ct >= tt > 0 and set(k[2] for k in callers) == {"work", "fib"}


def test_pstats_accepts_the_profile_and_its_dump(tmp_path):
    p = pyrometer.Profile()
    p.enable()
    work()
    p.disable()
    buffer = io.StringIO()
    pstats.Stats(p, stream=buffer).sort_stats("cumulative").print_stats(5)
    assert "fib" in buffer.getvalue()
    path = tmp_path / "out.prof"
    p.dump_stats(path)
    loaded = pstats.Stats(str(path))
    assert any(k[2] == "fib" for k in loaded.stats)
    assert marshal.loads(path.read_bytes()) == p.stats


def test_print_stats_and_context_manager_and_run():
    with pyrometer.Profile() as p:
        work()
    out = io.StringIO()
    with redirect_stdout(out):
        p.print_stats("tottime")
    assert "fib" in out.getvalue() and "Ordered by: internal time" in out.getvalue()

    r = pyrometer.Profile()
    namespace = {"work": work}
    r.runctx("work()", namespace, namespace)
    r.create_stats()
    assert any(k[2] == "fib" for k in r.stats)


def test_enable_disable_accumulate_and_clear():
    p = pyrometer.Profile()
    for _ in range(3):
        p.enable()
        fib(5)
        p.disable()
    p.create_stats()
    fib_key = next(k for k in p.stats if k[2] == "fib")
    assert p.stats[fib_key][:2] == (3, 3 * 15)
    p.clear()
    p.create_stats()
    assert p.stats == {}


def test_only_one_tracer_at_a_time():
    a, b = pyrometer.Profile(), pyrometer.Profile()
    a.enable()
    try:
        with pytest.raises(pyrometer.PyrometerError, match="already active"):
            b.enable()
    finally:
        a.disable()


def test_custom_timer_is_refused_clearly():
    with pytest.raises(pyrometer.PyrometerError, match="timers"):
        pyrometer.Profile(timer=lambda: 0.0)


def test_session_context_manager_report_save_export(tmp_path):
    with pyrometer.profile(mode="trace") as session:
        work()
    report = session.report()
    assert "Top functions by self time" in report and "fib" in report
    assert "fib" in session.report(tree=True)
    assert "called by" in session.report(callers="fib")
    session.save(tmp_path / "s.pyro")
    assert "fib" in pyrometer.load(str(tmp_path / "s.pyro")).report()
    session.export(tmp_path / "s.prof")
    assert any(k[2] == "fib" for k in pstats.Stats(str(tmp_path / "s.prof")).stats)
    with pytest.raises(pyrometer.PyrometerError, match="cannot tell the format"):
        session.export(tmp_path / "s.unknown")
    session.export(tmp_path / "s.data", format="collapsed")
    assert "fib" in (tmp_path / "s.data").read_text()


def test_session_decorator_accumulates_calls():
    @pyrometer.profile(mode="trace")
    def decorated(n):
        return fib(n)

    decorated(5)
    decorated(6)
    report = decorated.report(sort="calls")
    assert "decorated" in report
    stats = marshal.loads(decorated.session.data.render("pstats"))
    key = next(k for k in stats if k[2] == "decorated")
    assert stats[key][:2] == (2, 2)

    @pyrometer.profile(mode="trace")
    def other():
        return fib(3)

    other()
    assert "fib" in other.report()


def test_threads_started_while_profiling_are_profiled():
    def worker(n):
        for _ in range(n):
            fib(4)

    with pyrometer.profile(mode="trace") as session:
        threads = [threading.Thread(target=worker, args=(10 * (k + 1),)) for k in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    stats = marshal.loads(session.data.render("pstats"))
    key = next(k for k in stats if k[2] == "worker")
    assert stats[key][:2] == (3, 3)
    fib_key = next(k for k in stats if k[2] == "fib")
    assert stats[fib_key][:2] == (60, 60 * 9)
    assert "Threads" in session.report()


def burn(seconds):
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_sampling_session_is_the_default():
    with pyrometer.profile() as session:
        burn(0.4)
        time.sleep(0.2)
    assert session.mode == "sample"
    cpu = session.report()
    assert "burn" in cpu and "CPU time" in cpu
    wall = session.report(idle=True)
    assert "wall time" in wall and "sleep" not in cpu
    doc = json.loads(session.data.render("json"))["profile"]
    samples = {c["metric"]: sum(c["values"]) for c in doc["samples"]["columns"]}
    assert 250 <= samples["cpu_samples"] <= 600, samples  # about 400 ms of CPU at 1 kHz
    assert samples["wall_samples"] >= samples["cpu_samples"]


def test_sampling_decorator_and_threads():
    @pyrometer.profile(rate=500)
    def job():
        t = threading.Thread(target=burn, args=(0.3,), name="burner")
        t.start()
        burn(0.2)
        t.join()

    job()
    job()
    report = job.report()
    assert "burner" in report and "MainThread" in report
    assert job.session.data.mode == "sample"


def test_unknown_mode_is_refused():
    with pytest.raises(pyrometer.PyrometerError, match="unknown profiling mode"):
        pyrometer.profile(mode="magic")
