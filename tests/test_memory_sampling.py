"""`run --memory`: the stack sampler and the memory collector in one run, merged into one
profile. A program with a known CPU hot spot (`spin`'s loop, ~1 s of CPU, nothing kept) and
a known allocation line (64 MiB of bytearrays, kept) shows both, on the right lines, in one
thread and one set of frames; the report has the CPU tables and the memory sections; `view`
renders it identically; exports use CPU time unless `--metric` picks a memory measure; the
timeline exports as an SVG chart. `--memory` with another mode is a one-line error."""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pyrometer
import pytest
from conftest import SCRIPTS, base_env, pyrometer_command, run

MiB = 1024 * 1024
SCRIPT = SCRIPTS / "mem_and_cpu.py"
SVG = "{http://www.w3.org/2000/svg}"


def marked_lines(script: Path) -> dict[str, int]:
    """Line numbers of the `# MARK` comments of a target script."""
    marks = {}
    for number, text in enumerate(script.read_text().splitlines(), 1):
        if "  # " in text:
            marks[text.rsplit("# ", 1)[1].strip()] = number
    return marks


@pytest.fixture(scope="module")
def combined(tmp_path_factory):
    """One `run --memory` of mem_and_cpu.py: its .pyro, report, JSON export and timeline."""
    tmp = tmp_path_factory.mktemp("combined")
    out = tmp / "both.pyro"
    svg = tmp / "mem.timeline.svg"
    result = run(
        [*pyrometer_command(), "run", "--memory", "--no-advice", "-o", str(out), "--export", str(svg), str(SCRIPT)],
        tmp,
        env=base_env(tmp),
    )
    if result.returncode != 0 and "permission" in result.stderr.lower():
        pytest.skip(f"cannot sample here: {result.stderr.strip()}")
    assert result.returncode == 0, str(result)
    exported = run([*pyrometer_command(), "view", str(out), "--format", "json"], tmp, env=base_env(tmp))
    assert exported.returncode == 0, str(exported)
    return {"pyro": out, "report": result, "profile": json.loads(exported.stdout)["profile"], "svg": svg}


def column(profile: dict, metric: str) -> list[int]:
    values = next((c["values"] for c in profile["samples"]["columns"] if c["metric"] == metric), None)
    assert values is not None, f"no {metric} column"
    return values


def per_line(profile: dict, metric: str, script: Path = SCRIPT) -> dict[int, int]:
    """Self values of `metric` per line of `script`."""
    strings, frames, locations, stacks = (profile[k] for k in ("strings", "frames", "locations", "stacks"))
    column_ = column(profile, metric)
    lines: dict[int, int] = {}
    for stack, value in zip(profile["samples"]["stack"], column_, strict=True):
        loc = locations[stacks[stack]["location"]]
        if strings[frames[loc["frame"]]["file"]] == str(script):
            lines[loc["line"]] = lines.get(loc["line"], 0) + value
    return lines


def test_cpu_and_allocations_on_their_lines(combined):
    profile = combined["profile"]
    marks = marked_lines(SCRIPT)
    cpu = per_line(profile, "cpu_samples")
    spin_lines = {marks["HOT"], marks["HOT_BODY"]}
    total_cpu = sum(column(profile, "cpu_samples"))
    # spin's loop is the CPU hot spot: most CPU samples, and the hottest line.
    assert sum(cpu.get(line, 0) for line in spin_lines) > 0.6 * total_cpu, cpu
    assert max(cpu, key=cpu.get) in spin_lines, cpu
    # The 64 MiB are allocated on the ALLOC line and still alive at the end; spin's numbers
    # are not.
    allocated = per_line(profile, "alloc_bytes")
    retained = per_line(profile, "retained_bytes")
    # Sampled figures: the calibration spreads the noise of spin's many small numbers over
    # every line it scales, so the 1 MiB blocks are judged within 2 %.
    assert abs(allocated[marks["ALLOC"]] - 64 * MiB) < 0.02 * 64 * MiB, allocated
    assert retained[marks["ALLOC"]] > 0.9 * 64 * MiB, retained
    assert max(allocated, key=allocated.get) == marks["ALLOC"], allocated
    assert sum(retained.get(line, 0) for line in spin_lines) < MiB, retained


def test_one_thread_and_one_set_of_frames(combined):
    """The sampler's and the memory collector's frames, stacks and threads unify."""
    profile = combined["profile"]
    strings, frames, locations, stacks = (profile[k] for k in ("strings", "frames", "locations", "stacks"))
    assert [strings[t["name"]] for t in profile["threads"]] == ["MainThread"]
    assert profile["meta"]["mode"] == "sample"
    mine = [f for f in frames if strings[f["file"]] == str(SCRIPT)]
    names = [strings[f["qualname"]] for f in mine]
    assert len(names) == len(set(names)), names
    assert {"<module>", "build", "spin"} <= set(names), names
    marks = marked_lines(SCRIPT)

    def frame_of(stack: int) -> int:
        return locations[stacks[stack]["location"]]["frame"]

    def caller_frame(line: int) -> set[int]:
        """The frames that call the code at `line` (the script's `<module>`)."""
        out = set()
        for s in stacks:
            loc = locations[s["location"]]
            if loc["line"] == line and strings[frames[loc["frame"]]["file"]] == str(SCRIPT):
                parent = s["parent"]
                while parent is not None and strings[frames[frame_of(parent)]["qualname"]] != "<module>":
                    parent = stacks[parent]["parent"]
                if parent is not None:
                    out.add(frame_of(parent))
        return out

    # The allocation (memory collector) and the hot loop (sampler) hang under one `<module>`.
    assert caller_frame(marks["ALLOC"]) == caller_frame(marks["HOT"]) != set()


def test_report_has_both_and_view_agrees(combined, pyrometer):
    report = combined["report"].stdout
    marks = marked_lines(SCRIPT)
    assert report.startswith("pyrometer sample + memory"), report
    for heading in ("Top lines by allocated memory", "Leak candidates", "Memory over time"):
        assert heading in report, report
    assert report.index("spin") < report.index("Top lines by allocated memory"), report
    assert f"mem_and_cpu.py:{marks['ALLOC']}" in report
    assert "CPU time" in report
    again = pyrometer("view", str(combined["pyro"]), "--no-advice")
    assert again.returncode == 0, str(again)
    assert again.stdout == report


def test_exports_use_cpu_time_unless_asked(combined, pyrometer):
    marks = marked_lines(SCRIPT)
    cpu = pyrometer("view", str(combined["pyro"]), "--format", "collapsed")
    assert cpu.returncode == 0, str(cpu)
    rows = [line.rsplit(" ", 1) for line in cpu.stdout.splitlines()]
    total_cpu = sum(column(combined["profile"], "cpu_samples"))
    assert sum(int(v) for _, v in rows) == total_cpu
    alloc = pyrometer("view", str(combined["pyro"]), "--metric", "alloc", "--format", "collapsed")
    assert alloc.returncode == 0, str(alloc)
    rows = [line.rsplit(" ", 1) for line in alloc.stdout.splitlines()]
    at_line = sum(int(v) for path, v in rows if path.endswith(f"mem_and_cpu.py:{marks['ALLOC']})"))
    assert at_line == per_line(combined["profile"], "alloc_bytes")[marks["ALLOC"]] > 60 * MiB, alloc.stdout
    # pstats holds times: bytes are refused rather than written as seconds.
    pstats = pyrometer("view", str(combined["pyro"]), "--metric", "alloc", "--export", "alloc.prof")
    assert pstats.returncode == 2 and "pstats files hold times" in pstats.stderr, str(pstats)
    # A measure the profile does not hold is a one-line error.
    missing = pyrometer("view", str(combined["pyro"]), "--metric", "time")
    assert missing.returncode == 2 and "no time" in missing.stderr, str(missing)
    assert "Traceback" not in missing.stderr


def test_timeline_svg(combined, pyrometer):
    root = ET.parse(combined["svg"]).getroot()
    assert root.tag == f"{SVG}svg"
    series = {p.get("id"): p.get("points") for p in root.iter(f"{SVG}polyline")}
    assert {"series-traced", "series-rss"} <= set(series), series
    assert all(len(points.split()) > 1 for points in series.values())
    texts = [t.text or "" for t in root.iter(f"{SVG}text")]
    assert any(t.startswith("peak ") for t in texts), texts
    assert any(t.endswith(" MiB") for t in texts) and any(t.endswith(" s") or t.endswith(" ms") for t in texts)
    # `view` writes it again, to stdout with --format timeline.
    again = pyrometer("view", str(combined["pyro"]), "--format", "timeline")
    assert again.returncode == 0, str(again)
    assert again.stdout.encode() == combined["svg"].read_bytes()


def test_timeline_svg_from_the_api(tmp_path):
    with pyrometer.profile(mode="memory") as session:
        block = bytearray(16 * MiB)
        time.sleep(0.05)
        del block
    session.export(tmp_path / "api.timeline.svg")
    root = ET.parse(tmp_path / "api.timeline.svg").getroot()
    assert "series-traced" in {p.get("id") for p in root.iter(f"{SVG}polyline")}


def test_timeline_of_a_profile_without_one_is_one_line(pyrometer, tmp_path):
    out = tmp_path / "sampled.pyro"
    result = pyrometer("run", "-q", "-o", str(out), str(SCRIPT), "0.1")
    assert result.returncode == 0, str(result)
    result = pyrometer("view", str(out), "--export", str(tmp_path / "t.timeline.svg"))
    assert result.returncode == 2 and "timeline" in result.stderr, str(result)
    result = pyrometer("view", str(out), "--metric", "alloc")
    assert result.returncode == 2 and "run --memory" in result.stderr, str(result)


@pytest.mark.parametrize("mode", ["trace", "lines", "memory"])
def test_memory_flag_needs_the_sampling_mode(pyrometer, mode):
    result = pyrometer("run", "--memory", "--mode", mode, str(SCRIPT))
    assert result.returncode == 2, str(result)
    first = result.stderr.splitlines()[0]
    assert "--memory" in first and f"--mode {mode}" in first, result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) <= 2
