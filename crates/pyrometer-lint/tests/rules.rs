//! One fixture per rule (`fixtures/PYR###.py`): the lines that must be reported carry a
//! `# expect: PYR###` comment, every other line must stay quiet, and the rendered text is
//! snapshotted.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use pyrometer_lint::{Report, RuleSet, Settings, check_source, rules};

fn fixture_path(code: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(format!("{code}.py"))
}

/// Runs exactly one rule over its fixture.
fn check_fixture(code: &str) -> (String, Report) {
    let source = std::fs::read_to_string(fixture_path(code)).expect("fixture exists");
    let rule = pyrometer_lint::Rule::from_code(code).expect("known code");
    let settings = Settings::only(RuleSet::empty().with(rule));
    let file = check_source(
        Path::new(&format!("fixtures/{code}.py")),
        &source,
        &settings,
    );
    assert!(file.error.is_none(), "{code}: {:?}", file.error);
    (source, Report::from_files(vec![file]))
}

/// Lines marked `# expect: CODE`.
fn expected_lines(source: &str, code: &str) -> BTreeSet<u32> {
    let marker = format!("# expect: {code}");
    source
        .lines()
        .enumerate()
        .filter(|(_, line)| line.contains(&marker))
        .map(|(index, _)| u32::try_from(index + 1).unwrap())
        .collect()
}

fn assert_fixture(code: &str) {
    let (source, report) = check_fixture(code);
    let expected = expected_lines(&source, code);
    assert!(
        !expected.is_empty(),
        "{code}: the fixture has no positive case"
    );
    let found: BTreeSet<u32> = report
        .diagnostics()
        .map(|(_, diagnostic)| diagnostic.span.start.line)
        .collect();
    assert_eq!(
        found,
        expected,
        "{code}: reported lines differ from `# expect` lines\n{}",
        report.render_text()
    );
    insta::assert_snapshot!(code, report.render_text());
}

macro_rules! fixture_tests {
    ($($name:ident => $code:literal,)*) => {
        $( #[test] fn $name() { assert_fixture($code); } )*

        #[test]
        fn every_rule_has_a_fixture_test_and_a_benchmark() {
            let tested: BTreeSet<&str> = [$($code),*].into_iter().collect();
            let bench_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../benchmarks/rules");
            for info in rules() {
                assert!(tested.contains(info.code), "{} has no fixture test", info.code);
                assert!(fixture_path(info.code).is_file(), "{} has no fixture", info.code);
                let bench = bench_dir.join(format!("{}.py", info.code));
                assert!(bench.is_file(), "{} has no benchmark at {}", info.code, bench.display());
            }
        }
    };
}

fixture_tests! {
    pyr101 => "PYR101",
    pyr102 => "PYR102",
    pyr103 => "PYR103",
    pyr104 => "PYR104",
    pyr105 => "PYR105",
    pyr106 => "PYR106",
    pyr107 => "PYR107",
    pyr108 => "PYR108",
    pyr109 => "PYR109",
    pyr201 => "PYR201",
    pyr202 => "PYR202",
    pyr203 => "PYR203",
    pyr204 => "PYR204",
    pyr205 => "PYR205",
    pyr206 => "PYR206",
    pyr207 => "PYR207",
    pyr208 => "PYR208",
    pyr209 => "PYR209",
    pyr210 => "PYR210",
    pyr211 => "PYR211",
    pyr212 => "PYR212",
    pyr213 => "PYR213",
    pyr301 => "PYR301",
    pyr302 => "PYR302",
    pyr401 => "PYR401",
    pyr402 => "PYR402",
    pyr403 => "PYR403",
    pyr404 => "PYR404",
    pyr405 => "PYR405",
    pyr501 => "PYR501",
    pyr502 => "PYR502",
    pyr503 => "PYR503",
    pyr504 => "PYR504",
    pyr505 => "PYR505",
    pyr506 => "PYR506",
}

/// Each fixture's positive lines must not be reported by any *other* default rule in a way
/// that hides problems: run all rules over every fixture and check nothing panics or errors.
#[test]
fn all_rules_over_all_fixtures() {
    let settings = Settings::only(RuleSet::all());
    for info in rules() {
        let source = std::fs::read_to_string(fixture_path(info.code)).unwrap();
        let file = check_source(Path::new("f.py"), &source, &settings);
        assert!(file.error.is_none(), "{}: {:?}", info.code, file.error);
    }
}

/// PYR103 (a list the loop leaves unchanged) and PYR109 (a list the loop grows) split one
/// pattern between them: on either fixture, with both enabled, no expression gets both.
#[test]
fn list_membership_and_list_as_set_never_overlap() {
    let both = RuleSet::empty()
        .with(pyrometer_lint::Rule::from_code("PYR103").unwrap())
        .with(pyrometer_lint::Rule::from_code("PYR109").unwrap());
    for code in ["PYR103", "PYR109"] {
        let source = std::fs::read_to_string(fixture_path(code)).unwrap();
        let file = check_source(Path::new("f.py"), &source, &Settings::only(both));
        let mut spans = BTreeSet::new();
        for diagnostic in &file.diagnostics {
            let span = &diagnostic.span;
            assert!(
                spans.insert((span.start.line, span.start.column)),
                "{code}: two findings at {}:{}",
                span.start.line,
                span.start.column
            );
        }
        let lines = |rule: &str| -> BTreeSet<u32> {
            file.diagnostics
                .iter()
                .filter(|diagnostic| diagnostic.rule.code() == rule)
                .map(|diagnostic| diagnostic.span.start.line)
                .collect()
        };
        assert_eq!(lines(code), expected_lines(&source, code), "{code}");
        let other = if code == "PYR103" { "PYR109" } else { "PYR103" };
        assert!(
            lines(other).is_disjoint(&lines(code)),
            "{other} and {code} on one line of {code}'s fixture"
        );
    }
}
