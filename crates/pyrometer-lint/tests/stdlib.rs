//! Robustness over a large real corpus: every rule over CPython's standard library, which
//! includes deliberately broken files (bad syntax, other encodings, Python 2 sources). Nothing
//! may panic (a caught panic shows as an `internal` error) and every output format must render.
//!
//! Uses `PYROMETER_STDLIB` or the CPython 3.11 of this machine's pyenv; skips (saying so) when
//! neither exists.

use std::path::PathBuf;

use pyrometer_lint::{FileErrorKind, RuleSet, Settings, check_paths};

fn stdlib() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("PYROMETER_STDLIB").map(PathBuf::from),
        Some(PathBuf::from("/root/.pyenv/versions/3.11.7/lib/python3.11")),
    ];
    candidates.into_iter().flatten().find(|path| path.is_dir())
}

#[test]
fn all_rules_over_the_stdlib_never_panic() {
    let Some(root) = stdlib() else {
        eprintln!("skipped: no CPython stdlib found (set PYROMETER_STDLIB)");
        return;
    };
    let report = check_paths(&[root], &Settings::only(RuleSet::all()));
    assert!(
        report.files_checked > 1000,
        "only {} files",
        report.files_checked
    );
    let internal: Vec<_> = report
        .errors()
        .filter(|(_, error)| error.kind == FileErrorKind::Internal)
        .collect();
    assert!(internal.is_empty(), "panics: {internal:?}");
    assert!(report.finding_count() > 0);
    let json: serde_json::Value = serde_json::from_str(&report.render_json()).unwrap();
    assert_eq!(
        json["findings"].as_array().unwrap().len(),
        report.finding_count()
    );
    let sarif: serde_json::Value = serde_json::from_str(&report.render_sarif()).unwrap();
    assert_eq!(
        sarif["runs"][0]["results"].as_array().unwrap().len(),
        report.finding_count()
    );
    assert!(report.render_text().contains("Found "));
}
