"""Call counts must equal cProfile's: per function (total and primitive) and per caller → callee
edge, on the scripts in tests/scripts/ and on pyperformance benchmarks run a fixed number of
loops, on the interpreter running the tests."""

from __future__ import annotations

import importlib.util
import marshal
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import (
    EXACT_SITE,
    PYPERF_SHIM,
    SCRIPTS,
    base_env,
    counts_from_json,
    diff_counts,
    pstats_counts,
    pyrometer_command,
    run,
)

EXACT_SCRIPTS = ["recursion.py", "generators.py", "exceptions.py", "builtins_mix.py", "classes.py"]

# pyperformance benchmarks that need nothing but the standard library and are deterministic.
PYPERFORMANCE = [
    "richards",
    "nqueens",
    "float",
    "deltablue",
    "go",
    "hexiom",
    "raytrace",
    "chaos",
    "json_dumps",
    "generators",
    "coroutines",
    "deepcopy",
    "unpack_sequence",
    "spectral_norm",
    "nbody",
    "pprint",
    "comprehensions",
    "logging",
    "pyflate",
]


# Runs a script under cProfile the way `python script.py` runs it (``python -m cProfile`` puts the
# script's directory on sys.path a second time, which changes every later import's work), and
# writes cProfile's measurements as pstats, summing functions whose (file, line, name) keys
# collide: cProfile's own `create_stats` keeps only the last of them (six `eval`ed namedtuple
# constructors, all `<string>:1(<module>)`, show as one call), which loses its own data.
CPROFILE_HARNESS = """
def run():
    import cProfile, os, sys
    out, script = sys.argv[1], sys.argv[2]
    sys.argv[:] = sys.argv[2:]
    sys.path[0] = os.path.dirname(os.path.realpath(script))
    with open(script, "rb") as f:
        code = compile(f.read(), script, "exec", dont_inherit=True)
    main = sys.modules["__main__"]
    keep = ("__name__", "__doc__", "__package__", "__loader__", "__spec__", "__annotations__", "__builtins__")
    for k in list(vars(main)):
        if k not in keep:
            delattr(main, k)
    main.__file__ = script
    namespace = vars(main)
    profiler = cProfile.Profile(builtins=os.environ.get("CPROFILE_BUILTINS", "1") == "1")
    profiler.enable()
    try:
        exec(code, namespace)
    finally:
        profiler.disable()
    def label(code):
        return ("~", 0, code) if isinstance(code, str) else (code.co_filename, code.co_firstlineno, code.co_name)
    stats = {}
    for e in profiler.getstats():
        cc, nc, tt, ct, callers = stats.get(label(e.code), (0, 0, 0.0, 0.0, {}))
        stats[label(e.code)] = (cc + e.callcount - e.reccallcount, nc + e.callcount,
                                tt + e.inlinetime, ct + e.totaltime, callers)
    for e in profiler.getstats():
        for sub in e.calls or ():
            callee = label(sub.code)
            if callee not in stats:
                continue
            callers = stats[callee][4]
            nc, cc, tt, ct = callers.get(label(e.code), (0, 0, 0.0, 0.0))
            callers[label(e.code)] = (nc + sub.callcount, cc + sub.callcount - sub.reccallcount,
                                      tt + sub.inlinetime, ct + sub.totaltime)
    import marshal
    with open(out, "wb") as f:
        marshal.dump(stats, f)
run()
"""


def cprofile_counts(script: Path, tmp_path: Path, env: dict[str, str], args: list[str], builtins: bool) -> dict:
    out = tmp_path / "cprofile.prof"
    env = {**env, "CPROFILE_BUILTINS": "1" if builtins else "0"}
    result = run([sys.executable, "-c", CPROFILE_HARNESS, str(out), str(script), *args], script.parent, env=env)
    assert result.returncode == 0, str(result)
    return pstats_counts(marshal.loads(out.read_bytes()))


def our_counts(
    script: Path,
    tmp_path: Path,
    env: dict[str, str],
    args: list[str],
    builtins: bool = True,
    splice_builtins: bool = False,
) -> tuple[dict, dict]:
    """Counts from the program's own call tree (JSON export; built-ins spliced out when
    asked), and from the pstats export."""
    suffix = "-spliced" if splice_builtins else ""
    as_json, as_pstats = tmp_path / f"ours{suffix}.json", tmp_path / f"ours{suffix}.prof"
    options = ["--builtins"] if builtins else []
    exports = ["--export", str(as_json), "--export", str(as_pstats)]
    result = run(
        [*pyrometer_command(), "run", "--mode", "trace", "-q", *options, *exports, str(script), *args],
        script.parent,
        env=env,
    )
    assert result.returncode == 0, str(result)
    counts = counts_from_json(as_json, root_file=str(script), splice_builtins=splice_builtins)
    return counts, pstats_counts(marshal.loads(as_pstats.read_bytes()))


def assert_same_counts(
    script: Path, tmp_path: Path, env: dict[str, str], args: list[str] = (), builtins: bool = True
) -> None:
    env = dict(env)
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(EXACT_SITE), env.get("PYTHONPATH", "")] if p)
    if builtins or sys.version_info < (3, 14):
        theirs = cprofile_counts(script, tmp_path, env, list(args), builtins)
    else:
        # From 3.14 cProfile.Profile(builtins=False) traces built-ins anyway. The reference is
        # then the run with built-ins traced (which the test with built-ins holds to
        # cProfile's counts), its built-ins spliced out of the call tree.
        theirs = our_counts(script, tmp_path, env, list(args), True, splice_builtins=True)[0]
    ours, _ = our_counts(script, tmp_path, env, list(args), builtins)
    assert ours, "pyrometer recorded no calls"
    problems = diff_counts(ours, theirs)
    assert not problems, f"call counts differ from cProfile's on {script.name}:\n{problems}"


@pytest.mark.parametrize("name", EXACT_SCRIPTS)
def test_script_counts_equal_cprofile(name, tmp_path):
    """`run --builtins` against cProfile's defaults."""
    assert_same_counts(SCRIPTS / name, tmp_path, base_env(tmp_path))


@pytest.mark.parametrize("name", EXACT_SCRIPTS)
def test_script_counts_without_builtins_equal_cprofile(name, tmp_path):
    """`run` (built-ins not traced) against `cProfile.Profile(builtins=False)`."""
    assert_same_counts(SCRIPTS / name, tmp_path, base_env(tmp_path), builtins=False)


def test_pstats_export_matches_the_call_tree(tmp_path):
    """With nothing running at exit, the pstats export holds exactly the tree's counts."""
    script = SCRIPTS / "recursion.py"
    from_tree, from_pstats = our_counts(script, tmp_path, base_env(tmp_path), [])
    assert not diff_counts(from_pstats, from_tree), diff_counts(from_pstats, from_tree)


def pyperformance_dir() -> Path | None:
    spec = importlib.util.find_spec("pyperformance")
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent / "data-files" / "benchmarks"


# Without built-ins traced, a subset (the mechanism differs on 3.11: PEP 523, not a profile hook).
PYPERFORMANCE_NO_BUILTINS = ["richards", "go", "raytrace", "generators", "coroutines", "deepcopy", "logging"]


@pytest.mark.parametrize(
    ("bench", "builtins"),
    [(b, True) for b in PYPERFORMANCE] + [(b, False) for b in PYPERFORMANCE_NO_BUILTINS],
)
def test_pyperformance_counts_equal_cprofile(bench, builtins, tmp_path):
    benchmarks = pyperformance_dir()
    if benchmarks is None:
        pytest.skip("pyperformance is not installed (pip install pyperformance)")
    script = benchmarks / f"bm_{bench}" / "run_benchmark.py"
    if not script.exists():
        pytest.skip(f"this pyperformance has no {bench} benchmark")
    env = base_env(tmp_path)
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(PYPERF_SHIM), env.get("PYTHONPATH", "")] if p)
    env["PYROMETER_BENCH_LOOPS"] = "1"
    # The benchmark must do the same work twice in a row, or the comparison means nothing.
    probe = subprocess.run(
        [sys.executable, "-c", "import pyperf; print(pyperf.__file__)"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert str(PYPERF_SHIM) in probe.stdout
    assert_same_counts(script, tmp_path, env, builtins=builtins)
