//! The public API end to end: discovery, settings, noqa, parse errors, costs, exit codes and
//! the three output formats.

use std::path::{Path, PathBuf};

use pyrometer_lint::{
    CheckOptions, CostKind, FileErrorKind, Report, Rule, Settings, check_paths, check_source,
};

const SAMPLE: &str = "\
import re


def render(rows):
    out = \"\"
    for row in rows:
        out += str(row)
        m = re.match(r\"\\d+\", row)  # noqa: PYR402
        if m:
            print(m)
    return out


def keep(items, allowed_source):
    allowed = list(allowed_source)
    return [i for i in items if i in allowed]  # noqa
";

fn sample_report() -> Report {
    let good = check_source(Path::new("pkg/sample.py"), SAMPLE, &Settings::default());
    let bad = check_source(
        Path::new("pkg/broken.py"),
        "def f(:\n    pass\n",
        &Settings::default(),
    );
    Report::from_files(vec![good, bad])
}

#[test]
fn noqa_costs_and_errors() {
    let report = sample_report();
    let findings: Vec<_> = report.diagnostics().collect();
    // PYR402 is silenced by its code, PYR103 by a bare noqa.
    assert_eq!(findings.len(), 1, "{}", report.render_text());
    let (path, diagnostic) = findings[0];
    assert_eq!(path, Path::new("pkg/sample.py"));
    assert_eq!(diagnostic.rule, Rule::StringConcatInLoop);
    assert_eq!(
        (diagnostic.span.start.line, diagnostic.span.start.column),
        (7, 9)
    );
    let cost = diagnostic.cost.expect("a loop cost");
    assert_eq!(cost.kind, CostKind::Loop);
    assert_eq!(cost.lines, (6, 10));
    assert!(cost.covers_line(8));
    let errors: Vec<_> = report.errors().collect();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].1.kind, FileErrorKind::Parse);
    assert_eq!(report.exit_code(), 1);
}

#[test]
fn text_output() {
    insta::assert_snapshot!(sample_report().render_text());
}

#[test]
fn json_output() {
    insta::assert_snapshot!(sample_report().render_json());
}

#[test]
fn sarif_output_has_what_github_needs() {
    let text = sample_report().render_sarif();
    let sarif: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let run = &sarif["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), pyrometer_lint::rules().len());
    for rule in rules {
        assert!(rule["id"].as_str().unwrap().starts_with("PYR"));
        assert!(
            !rule["shortDescription"]["text"]
                .as_str()
                .unwrap()
                .is_empty()
        );
        assert!(rule.get("helpUri").is_none());
    }
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), 1);
    let result = &results[0];
    assert_eq!(result["ruleId"], "PYR101");
    let index = usize::try_from(result["ruleIndex"].as_u64().unwrap()).unwrap();
    assert_eq!(rules[index]["id"], "PYR101");
    assert_eq!(result["level"], "warning");
    let location = &result["locations"][0]["physicalLocation"];
    assert_eq!(location["artifactLocation"]["uri"], "pkg/sample.py");
    assert_eq!(location["region"]["startLine"], 7);
    assert_eq!(location["region"]["startColumn"], 9);
    let notifications = run["invocations"][0]["toolExecutionNotifications"]
        .as_array()
        .unwrap();
    assert_eq!(notifications.len(), 1);
    // Snapshot everything but the rule metadata (that is the rule docs, tested elsewhere).
    let mut trimmed = sarif.clone();
    trimmed["runs"][0]["tool"]["driver"]["rules"] = serde_json::json!("<elided>");
    insta::assert_snapshot!(serde_json::to_string_pretty(&trimmed).unwrap());
}

#[test]
fn clean_report_exits_zero() {
    let file = check_source(Path::new("ok.py"), "x = 1\n", &Settings::default());
    let report = Report::from_files(vec![file]);
    assert_eq!(report.exit_code(), 0);
    assert!(
        report
            .render_text()
            .starts_with("All checks passed (1 file checked).")
    );
}

#[test]
fn unparsable_files_do_not_set_the_exit_code() {
    let file = check_source(Path::new("bad.py"), "print 'py2'\n", &Settings::default());
    let report = Report::from_files(vec![file]);
    assert_eq!(report.errors().count(), 1);
    assert_eq!(report.exit_code(), 0);
}

fn write(root: &Path, relative: &str, text: &str) -> PathBuf {
    let path = root.join(relative);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn check_paths_walks_sorts_and_excludes() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let slow = "def f(rows):\n    s = ''\n    for r in rows:\n        s += r\n    return s\n";
    write(root, "b.py", slow);
    write(root, "a.py", slow);
    write(root, "pkg/c.py", slow);
    write(root, "pkg/__pycache__/d.py", slow);
    write(root, ".venv/lib/e.py", slow);
    write(root, "gen/f_pb2.py", slow);
    write(root, "latin1.py", "");
    std::fs::write(root.join("latin1.py"), b"s = '\xe9'\n").unwrap();
    let options = CheckOptions {
        exclude: Some(vec!["*_pb2.py".to_string()]),
        ..CheckOptions::default()
    };
    let settings = Settings::from_options(&options).unwrap();
    let report = check_paths(&[root.to_path_buf()], &settings);
    let paths: Vec<String> = report
        .files
        .iter()
        .map(|f| {
            f.path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/")
        })
        .collect();
    assert_eq!(paths, ["a.py", "b.py", "latin1.py", "pkg/c.py"]);
    assert_eq!(report.finding_count(), 3);
    assert_eq!(report.counts().get(&Rule::StringConcatInLoop), Some(&3));
    let (_, error) = report.errors().next().unwrap();
    assert_eq!(error.kind, FileErrorKind::Io);
    // A missing path is an error entry, not a failure.
    let report = check_paths(&[root.join("missing.py")], &settings);
    assert_eq!(report.errors().count(), 1);
}

#[test]
fn pyproject_settings_apply() {
    let dir = tempfile::tempdir().unwrap();
    let pyproject = write(
        dir.path(),
        "pyproject.toml",
        "[tool.pyrometer.check]\nselect = [\"PYR2\"]\nextend-select = [\"PYR503\"]\n",
    );
    assert_eq!(
        pyrometer_lint::find_pyproject(&dir.path().join("src/pkg")).as_deref(),
        Some(pyproject.as_path())
    );
    let settings = Settings::from_pyproject(&pyproject).unwrap();
    assert!(settings.rules().contains(Rule::ManualListComprehension));
    assert!(settings.rules().contains(Rule::LoopInvariantLen));
    assert!(!settings.rules().contains(Rule::StringConcatInLoop));
    assert!(!settings.rules().contains(Rule::ManualAnyAll));
}

#[test]
fn explain_texts_are_complete() {
    for info in pyrometer_lint::rules() {
        let text = info.explanation();
        assert!(text.starts_with("## What it does"), "{}", info.code);
        assert!(!text.contains("GAIN_"), "{} has a placeholder", info.code);
        assert!(info.expected_gain().unwrap().contains("benchmarks/rules/"));
    }
}
