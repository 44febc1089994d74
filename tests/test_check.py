"""`pyrometer check` through the real command line: the outputs (text, JSON, SARIF), exit
statuses, rule selection, `# noqa`, `[tool.pyrometer.check]`, files that do not parse; then
`check --profile` on real runs, and the Advice section of `pyrometer run` and `view`."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest
from conftest import SCRIPTS

HOT = SCRIPTS / "advice_hot.py"

CONCAT = """\
def render(rows):
    out = ""
    for row in rows:
        out += str(row)
    return out
"""

SUMS = """\
def total(xs):
    n = 0
    for x in xs:
        n += x
    return n
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A directory with a finding (PYR101), a clean file and a file that does not parse."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "concat.py").write_text(CONCAT)
    (pkg / "clean.py").write_text("def f(xs):\n    return sum(xs)\n")
    (pkg / "broken.py").write_text("def f(:\n    pass\n")
    return tmp_path


def one_line_error(result) -> None:
    assert result.returncode == 2, str(result)
    assert result.stderr.startswith("pyrometer: error: "), str(result)
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


# --- static checks -----------------------------------------------------------------------------


def test_text_output_is_ruff_like(pyrometer, project):
    result = pyrometer("check", "pkg")
    assert result.returncode == 1, str(result)
    out = result.stdout
    assert "pkg/concat.py:4:9: PYR101 String `out` is built by concatenation in a loop" in out
    assert "4 |         out += str(row)" in out
    assert "  |         ^^^^^^^^^^^^^^^ PYR101" in out
    assert "= help: " in out
    # The file that does not parse is reported, and the run goes on.
    assert "pkg/broken.py:1:7: parse error:" in out
    assert "Found 1 finding in 1 file (3 checked, 1 could not be checked)." in out
    assert "PYR101  string-concat-in-loop" in out


def test_json_output(pyrometer, project):
    result = pyrometer("check", "--format", "json", "pkg")
    assert result.returncode == 1, str(result)
    doc = json.loads(result.stdout)
    assert doc["version"] == 1
    assert doc["files_checked"] == 3
    (finding,) = doc["findings"]
    assert finding["code"] == "PYR101" and finding["name"] == "string-concat-in-loop"
    assert finding["path"] == "pkg/concat.py"
    assert finding["start"] == {"line": 4, "column": 9}
    assert finding["cost"]["kind"] == "loop" and finding["cost"]["lines"] == {"first": 3, "last": 4}
    (error,) = doc["errors"]
    assert error["path"] == "pkg/broken.py" and error["kind"] == "parse"
    assert doc["summary"] == {"PYR101": 1}


def test_sarif_output(pyrometer, project):
    result = pyrometer("check", "--format", "sarif", "pkg")
    assert result.returncode == 1, str(result)
    log = json.loads(result.stdout)
    assert log["version"] == "2.1.0"
    run = log["runs"][0]
    assert run["tool"]["driver"]["name"] == "pyrometer"
    rule_ids = [rule["id"] for rule in run["tool"]["driver"]["rules"]]
    assert "PYR101" in rule_ids and len(rule_ids) == len(set(rule_ids))
    (sarif_result,) = run["results"]
    assert sarif_result["ruleId"] == "PYR101"
    assert rule_ids[sarif_result["ruleIndex"]] == "PYR101"
    location = sarif_result["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "pkg/concat.py"
    assert location["region"]["startLine"] == 4 and location["region"]["startColumn"] == 9
    (notification,) = run["invocations"][0]["toolExecutionNotifications"]
    assert notification["level"] == "error" and "parse error" in notification["message"]["text"]


def test_exit_status_zero_without_findings(pyrometer, project):
    result = pyrometer("check", "pkg/clean.py")
    assert result.returncode == 0, str(result)
    assert "All checks passed (1 file checked)." in result.stdout
    # A file that does not parse is reported but is not a finding.
    result = pyrometer("check", "pkg/broken.py")
    assert result.returncode == 0, str(result)
    assert "parse error" in result.stdout and "No findings" in result.stdout


def test_errors_are_one_line_with_status_2(pyrometer, project):
    one_line_error(pyrometer("check", "--select", "E501", "pkg"))
    missing = pyrometer("check", "no/such/dir")
    one_line_error(missing)
    assert "no such file or directory" in missing.stderr
    one_line_error(pyrometer("check", "--profile", "nothing.pyro", "pkg"))
    (project / "not-a-profile.pyro").write_text("hello")
    bad = pyrometer("check", "--profile", "not-a-profile.pyro")
    one_line_error(bad)
    assert "not a pyrometer profile" in bad.stderr
    one_line_error(pyrometer("check", "--explain", "PYR999"))
    one_line_error(pyrometer("check", "--cold-share", "150", "--profile", "x.pyro"))
    usage = pyrometer("check", "--format", "xml", "pkg")
    assert usage.returncode == 2 and "Traceback" not in usage.stderr


def test_select_and_ignore(pyrometer, project):
    (project / "pkg" / "sums.py").write_text(SUMS)
    both = pyrometer("check", "--format", "json", "pkg")
    assert {f["code"] for f in json.loads(both.stdout)["findings"]} == {"PYR101", "PYR205"}
    only = pyrometer("check", "--format", "json", "--select", "PYR205", "pkg")
    assert [f["code"] for f in json.loads(only.stdout)["findings"]] == ["PYR205"]
    listed = pyrometer("check", "--format", "json", "--select", "PYR101,PYR205", "--ignore", "PYR2", "pkg")
    assert [f["code"] for f in json.loads(listed.stdout)["findings"]] == ["PYR101"]
    ignored = pyrometer("check", "--ignore", "PYR101", "--ignore", "PYR205", "pkg")
    assert ignored.returncode == 0, str(ignored)
    # A rule that is off by default runs when selected by its code.
    (project / "pkg" / "comp.py").write_text("def f(rows):\n    return sum([len(r) for r in rows])\n")
    off = pyrometer("check", "--format", "json", "pkg/comp.py")
    assert json.loads(off.stdout)["findings"] == []
    on = pyrometer("check", "--format", "json", "--extend-select", "PYR209", "pkg/comp.py")
    assert [f["code"] for f in json.loads(on.stdout)["findings"]] == ["PYR209"]


def test_noqa_suppresses(pyrometer, tmp_path):
    source = CONCAT.replace("out += str(row)", "out += str(row)  # noqa: PYR101")
    (tmp_path / "quiet.py").write_text(source)
    result = pyrometer("check", "quiet.py")
    assert result.returncode == 0, str(result)
    other = CONCAT.replace("out += str(row)", "out += str(row)  # noqa: PYR103")
    (tmp_path / "loud.py").write_text(other)
    assert pyrometer("check", "loud.py").returncode == 1


def test_pyproject_settings_and_cli_override(pyrometer, project):
    (project / "pkg" / "sums.py").write_text(SUMS)
    pyproject = project / "pyproject.toml"
    pyproject.write_text(
        '[project]\nname = "x"\n\n[tool.pyrometer.check]\nignore = ["PYR101"]\nexclude = ["broken.py"]\n'
    )
    result = pyrometer("check", "--format", "json", "pkg")
    doc = json.loads(result.stdout)
    assert [f["code"] for f in doc["findings"]] == ["PYR205"]
    assert doc["errors"] == [] and doc["files_checked"] == 3
    # Settings are found from a subdirectory too.
    nested = pyrometer("check", "--format", "json", ".", cwd=project / "pkg")
    assert [f["code"] for f in json.loads(nested.stdout)["findings"]] == ["PYR205"]
    # The command line wins: its --ignore replaces the file's.
    cli = pyrometer("check", "--format", "json", "--ignore", "PYR205", "pkg")
    assert [f["code"] for f in json.loads(cli.stdout)["findings"]] == ["PYR101"]
    pyproject.write_text('[tool.pyrometer.check]\nselct = ["PYR1"]\n')
    bad = pyrometer("check", "pkg")
    one_line_error(bad)
    assert "selct" in bad.stderr


def test_output_file(pyrometer, project):
    result = pyrometer("check", "--format", "sarif", "--output", "out.sarif", "pkg")
    assert result.returncode == 1, str(result)
    assert result.stdout == ""
    assert "wrote out.sarif" in result.stderr
    assert json.loads((project / "out.sarif").read_text())["version"] == "2.1.0"
    one_line_error(pyrometer("check", "--output", "no/such/dir/out.txt", "pkg"))


def test_explain_and_list_rules(pyrometer, tmp_path):
    explain = pyrometer("check", "--explain", "pyr101")
    assert explain.returncode == 0, str(explain)
    for part in ("# PYR101 (string-concat-in-loop)", "## What it does", "## Why is this bad?", "## Expected gain"):
        assert part in explain.stdout
    listing = pyrometer("check", "--list-rules")
    assert listing.returncode == 0
    lines = listing.stdout.splitlines()
    assert len(lines) == 35
    assert lines[0].startswith("PYR101  on   string-concat-in-loop")
    assert any(line.startswith("PYR206  off") for line in lines)
    rules = json.loads(pyrometer("check", "--list-rules", "--format", "json").stdout)
    assert rules[0]["code"] == "PYR101" and rules[0]["default"] is True and rules[0]["expected_gain"]


# --- the profile-guided join -------------------------------------------------------------------


def sampler_unavailable(result) -> str | None:
    """Why a sampled run could not happen here, if that is what failed."""
    text = result.stderr.lower()
    if result.returncode == 0:
        return None
    if "invalid value 'sample'" in text:
        return "this build of pyrometer has no sampling mode"
    if "permission" in text or "ptrace" in text or "not permitted" in text:
        return result.stderr.strip().splitlines()[-1]
    return None


@pytest.fixture
def traced_run(pyrometer, tmp_path) -> Path:
    result = pyrometer("run", "--mode", "trace", "-q", "-o", "hot.pyro", str(HOT))
    assert result.returncode == 0, str(result)
    return tmp_path / "hot.pyro"


@pytest.fixture
def sampled_run(pyrometer, tmp_path) -> Path:
    result = pyrometer("run", "--mode", "sample", "-q", "-o", "hot.pyro", str(HOT), "12000")
    reason = sampler_unavailable(result)
    if reason:
        pytest.skip(f"the sampler cannot run here: {reason}")
    assert result.returncode == 0, str(result)
    return tmp_path / "hot.pyro"


def test_check_profile_ranks_the_hot_finding_first(pyrometer, traced_run):
    result = pyrometer("check", "--profile", str(traced_run))
    assert result.returncode == 1, str(result)
    out = result.stdout
    hot = out.index("PYR103 Membership test on list `allowed`")
    cold_header = out.index("── cold:")
    cold = out.index("PYR205 Loop computes `sum`")
    assert hot < cold_header < cold, out
    # Trace data is per function: the figure is the time of count_allowed, said to be a bound.
    measured = next(line for line in out[hot:].splitlines() if "= measured:" in line)
    assert "at most " in measured and "of the run): all of `count_allowed`" in measured, measured
    assert "per-function data" in measured
    saving = next(line for line in out[hot:].splitlines() if "= saving:" in line)
    assert "177x in benchmarks/rules/PYR103.py" in saving

    doc = json.loads(pyrometer("check", "--profile", str(traced_run), "--format", "json").stdout)
    first, second = doc["findings"]
    assert first["code"] == "PYR103" and first["profile"]["rank"] == 1
    assert first["profile"]["cold"] is False
    assert first["profile"]["evidence"]["kind"] == "function"
    assert first["profile"]["evidence"]["function"] == "count_allowed"
    assert first["profile"]["time_ns"] > 0 and first["profile"]["percent"] > 50, first
    assert second["code"] == "PYR205" and second["profile"]["cold"] is True
    assert second["profile"]["percent"] < 1
    assert doc["profile"]["mode"] == "trace" and doc["profile"]["metric"] == "self_time"

    sarif = json.loads(pyrometer("check", "--profile", str(traced_run), "--format", "sarif").stdout)
    results = sarif["runs"][0]["results"]
    assert [r["ruleId"] for r in results] == ["PYR103", "PYR205"]
    assert results[0]["rank"] > 50 and results[1]["rank"] < 1


def test_check_profile_with_line_data(pyrometer, sampled_run):
    result = pyrometer("check", "--profile", str(sampled_run), "--format", "json")
    assert result.returncode == 1, str(result)
    doc = json.loads(result.stdout)
    assert doc["profile"]["mode"] == "sample" and doc["profile"]["line_level"] is True
    first = doc["findings"][0]
    assert first["code"] == "PYR103", doc["findings"]
    assert first["profile"]["evidence"] == {"kind": "lines", "lines": {"first": 11, "last": 13}}
    assert first["profile"]["time_ns"] > 0 and first["profile"]["samples"] > 0
    assert first["profile"]["percent"] > 50, first
    assert "while lines 11-13 (the loop) ran, callees included" in first["profile"]["text"]
    assert doc["findings"][-1]["code"] == "PYR205" and doc["findings"][-1]["profile"]["cold"] is True


def test_check_profile_with_paths_marks_files_that_did_not_run(pyrometer, traced_run, project):
    result = pyrometer("check", "--profile", str(traced_run), "--format", "json", str(HOT), "pkg")
    doc = json.loads(result.stdout)
    codes = [(f["code"], f["profile"]["evidence"]["kind"]) for f in doc["findings"]]
    assert codes[0] == ("PYR103", "function")
    assert ("PYR101", "not_in_profile") in codes
    assert codes[-1] == ("PYR101", "not_in_profile")


# --- the Advice section ------------------------------------------------------------------------


def advice_section(stdout: str) -> str:
    assert "\nAdvice " in stdout, stdout
    return stdout[stdout.index("\nAdvice ") :]


def test_run_report_ends_with_advice(pyrometer):
    result = pyrometer("run", "--mode", "trace", "-o", "run.pyro", str(HOT))
    assert result.returncode == 0, str(result)
    section = advice_section(result.stdout)
    lines = section.strip().splitlines()
    assert "pyrometer check rules on 1 source file of the program" in lines[0]
    finding = next(line for line in lines if "PYR103" in line)
    assert "advice_hot.py:12:12" in finding
    share = re.search(r" (\d+\.\d)%  ", finding)
    assert share and float(share.group(1)) > 50, finding
    assert re.match(r"\s+\d+(\.\d+)? (s|ms) ", finding), finding
    # The cold finding is demoted: counted, not listed.
    assert "PYR205" not in section
    assert "not shown: 1 finding in code under 1% of the run" in section, section

    # The same section in `view`, and not with --tree, --no-advice or the settings.
    view = pyrometer("view", "run.pyro")
    assert advice_section(view.stdout) == section
    assert "\nAdvice " not in pyrometer("view", "run.pyro", "--tree").stdout
    assert "\nAdvice " not in pyrometer("view", "run.pyro", "--no-advice").stdout
    assert "\nAdvice " not in pyrometer("view", "run.pyro", env={"PYROMETER_ADVICE": "0"}).stdout


def test_advice_off_in_pyproject(pyrometer, tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.pyrometer]\nadvice = false\n")
    result = pyrometer("run", "--mode", "trace", "-o", "run.pyro", str(HOT))
    assert result.returncode == 0, str(result)
    assert "\nAdvice " not in result.stdout
    assert "Top functions" in result.stdout


def test_advice_uses_check_settings(pyrometer, tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.pyrometer.check]\nignore = ["PYR103"]\n')
    result = pyrometer("run", "--mode", "trace", "-o", "run.pyro", str(HOT))
    section = advice_section(result.stdout)
    assert "PYR103" not in section
    assert "not shown: 1 finding in code under" in section


def test_view_says_when_a_source_changed(pyrometer, tmp_path):
    script = tmp_path / "hot.py"
    script.write_text(HOT.read_text())
    result = pyrometer("run", "--mode", "trace", "-q", "-o", "run.pyro", str(script))
    assert result.returncode == 0, str(result)
    assert "changed since the run" not in advice_section(pyrometer("view", "run.pyro").stdout)
    later = time.time() + 5
    os.utime(script, (later, later))
    section = advice_section(pyrometer("view", "run.pyro").stdout)
    assert "note: changed since the run: hot.py" in section, section


def test_sampled_run_shows_line_level_advice(pyrometer, tmp_path):
    result = pyrometer("run", "--mode", "sample", "-o", "run.pyro", str(HOT), "12000")
    reason = sampler_unavailable(result)
    if reason:
        pytest.skip(f"the sampler cannot run here: {reason}")
    assert result.returncode == 0, str(result)
    section = advice_section(result.stdout)
    assert "ranked by the time measured on their lines" in section
    finding = next(line for line in section.splitlines() if "PYR103" in line)
    assert "advice_hot.py:12:12" in finding
    detail = section.splitlines()[section.splitlines().index(finding) + 1]
    assert "while lines 11-13 (the loop) ran" in detail, section
    # CPU-bound in Python: the profile-only advice says so, with its evidence.
    assert "`count_allowed` (" in section and "is CPU-bound" in section, section
