"""`pyrometer view` and the export formats: every format from a saved run, readable by the tools
that consume it."""

from __future__ import annotations

import io
import json
import pstats
import tarfile
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import SCRIPTS, TESTS

SPEEDSCOPE_VERSION = "1.25.0"


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """One traced run of recursion.py, saved."""
    from conftest import base_env, pyrometer_command, run

    tmp = tmp_path_factory.mktemp("view")
    result = run(
        [*pyrometer_command(), "run", "--mode", "trace", "-q", "-o", "run.pyro", str(SCRIPTS / "recursion.py")],
        tmp,
        env=base_env(tmp),
    )
    assert result.returncode == 0, str(result)
    return tmp / "run.pyro"


@pytest.fixture(scope="module")
def speedscope_schema() -> dict:
    """speedscope's own JSON schema, from its package on the npm registry (fetched once, then
    cached; without npm, which the sid root does not have)."""
    cache = TESTS / ".cache" / f"speedscope-{SPEEDSCOPE_VERSION}-schema.json"
    if not cache.exists():
        url = f"https://registry.npmjs.org/speedscope/-/speedscope-{SPEEDSCOPE_VERSION}.tgz"
        try:
            with urllib.request.urlopen(url, timeout=120) as response:
                package = response.read()
        except OSError as e:
            pytest.skip(f"cannot fetch speedscope's package from the npm registry: {e}")
        with tarfile.open(fileobj=io.BytesIO(package)) as tar:
            member = tar.extractfile("package/dist/release/file-format-schema.json")
            cache.parent.mkdir(exist_ok=True)
            cache.write_bytes(member.read())
    return json.loads(cache.read_text())


def test_view_reports(pyrometer, saved):
    top = pyrometer("view", str(saved))
    assert top.returncode == 0, str(top)
    assert "Top functions by self time" in top.stdout and "fib" in top.stdout

    tree = pyrometer("view", str(saved), "--tree", "--min-share", "0")
    assert tree.returncode == 0, str(tree)
    lines = tree.stdout.splitlines()
    module = next(line for line in lines if "<module>" in line)
    assert module.lstrip().startswith("100.0%")
    assert any("└─ main" in line or "├─ main" in line for line in lines)
    assert any("fib" in line and "│" in "".join(lines) for line in lines)

    callers = pyrometer("view", str(saved), "--callers", "fib")
    assert callers.returncode == 0, str(callers)
    assert "called by" in callers.stdout and "main" in callers.stdout
    callees = pyrometer("view", str(saved), "--callees", "main")
    assert "calls" in callees.stdout and "fib" in callees.stdout and "is_even" in callees.stdout

    missing = pyrometer("view", str(saved), "--callers", "no_such_function")
    assert missing.returncode == 2 and "no function in the profile matches" in missing.stderr


def test_pstats_export_loads(pyrometer, saved, tmp_path):
    for name in ("out.prof", "out.pstats"):
        result = pyrometer("view", str(saved), "--export", str(tmp_path / name))
        assert result.returncode == 0, str(result)
        stats = pstats.Stats(str(tmp_path / name))
        fib = next(k for k in stats.stats if k[2] == "fib")
        cc, nc, tt, ct, callers = stats.stats[fib]
        assert nc > cc == 1 and ct >= tt > 0
        assert any(k[2] == "main" for k in callers)
        stats.sort_stats("cumulative").print_stats(5)


def test_speedscope_export_validates(pyrometer, saved, tmp_path, speedscope_schema):
    import jsonschema

    out = tmp_path / "out.speedscope.json"
    assert pyrometer("view", str(saved), "--export", str(out)).returncode == 0
    doc = json.loads(out.read_text())
    jsonschema.validate(doc, speedscope_schema)
    names = {f["name"] for f in doc["shared"]["frames"]}
    assert {"fib", "main", "<module>"} <= names
    profile = doc["profiles"][0]
    assert profile["unit"] == "nanoseconds" and profile["endValue"] == sum(profile["weights"])


def test_flame_graph_is_xml_naming_hot_functions(pyrometer, saved, tmp_path):
    out = tmp_path / "flame.svg"
    assert pyrometer("view", str(saved), "--export", str(out)).returncode == 0
    root = ET.parse(out).getroot()
    assert root.tag.endswith("svg")
    titles = " ".join(el.text or "" for el in root.iter() if el.tag.endswith("title"))
    assert "fib (" in titles and "main (" in titles


def test_collapsed_and_json_and_text(pyrometer, saved, tmp_path):
    result = pyrometer("view", str(saved), "--format", "collapsed")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert all(line.rsplit(" ", 1)[1].isdigit() for line in lines)
    assert any(line.startswith("<module> (") and ";main (" in line and ";fib (" in line for line in lines)

    out = tmp_path / "out.json"
    assert pyrometer("view", str(saved), "--export", str(out)).returncode == 0
    doc = json.loads(out.read_text())
    assert doc["format"] == "pyrometer-profile" and doc["profile"]["meta"]["mode"] == "trace"
    again = pyrometer("view", str(out))
    assert again.returncode == 0 and "fib" in again.stdout, "view reads the JSON export too"

    custom = tmp_path / "report.data"
    assert pyrometer("view", str(saved), "--export", str(custom), "--format", "text").returncode == 0
    assert "Top functions" in custom.read_text()


def test_every_format_from_run(pyrometer, tmp_path):
    exports = ["a.prof", "a.speedscope.json", "a.collapsed", "a.svg", "a.json"]
    result = pyrometer(
        "run", "--mode", "trace", "-q", *[x for e in exports for x in ("--export", e)], str(SCRIPTS / "classes.py")
    )
    assert result.returncode == 0, str(result)
    for e in exports:
        assert (tmp_path / e).stat().st_size > 0
        assert f"wrote {e}" in result.stderr


def test_colour_follows_no_color(pyrometer, saved):
    forced = pyrometer("view", str(saved), "--color", "always")
    assert "\x1b[" in forced.stdout
    plain = pyrometer("view", str(saved))
    assert "\x1b[" not in plain.stdout, "not a terminal: no colour"


def test_settings_from_pyproject_and_environment(pyrometer, saved, tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.pyrometer]\ntop = 2\n")
    result = pyrometer("view", str(saved))
    assert result.stdout.count("more functions") == 2
    env_wins = pyrometer("view", str(saved), env={"PYROMETER_TOP": "1000"})
    assert "more functions" not in env_wins.stdout
    cli_wins = pyrometer("view", str(saved), "--top", "1", env={"PYROMETER_TOP": "1000"})
    table = cli_wins.stdout.split("Top functions by self time")[1].split("\n\n")[0]
    assert len(table.strip().splitlines()) == 3  # header, one row, "… more"
    (tmp_path / "pyproject.toml").write_text("[tool.pyrometer]\nsort = 'fastest'\n")
    bad = pyrometer("view", str(saved))
    assert bad.returncode == 2 and "unknown sort key 'fastest'" in bad.stderr


def test_view_of_a_profile_from_the_future(pyrometer, saved, tmp_path):
    data = bytearray(Path(saved).read_bytes())
    data[8] = 42
    future = tmp_path / "future.pyro"
    future.write_bytes(bytes(data))
    result = pyrometer("view", str(future))
    assert result.returncode == 2 and "newer pyrometer" in result.stderr
