//! `docs/lint-rules.md` is generated from the rule table and the rules' doc comments.
//! Regenerate with `PYROMETER_UPDATE_DOCS=1 cargo test -p pyrometer-lint --test docs`.

use std::fmt::Write as _;
use std::path::Path;

use pyrometer_lint::rules;

const HEADER: &str = "\
# `pyrometer check`: static performance rules

<!-- Generated from crates/pyrometer-lint (the rule table in src/codes.rs and each rule's doc
comment). Do not edit by hand: run
`PYROMETER_UPDATE_DOCS=1 cargo test -p pyrometer-lint --test docs`. -->

`pyrometer check PATHS...` reads Python source (parsed with ruff's parser) and reports code
patterns that are slow, with a suggested fix and the loop or function whose time each finding
affects. Rules prefer precision to recall: when a fact is uncertain (a type, whether a
collection changes inside a loop), a rule stays quiet. Across all loop rules, statements in a
block that leaves the loop (`...; break`) and loops over a short constant (`for x in (a, b)`,
`for i in range(4)`) are not reported.

Expected gains are measured on this project's 2-core machine with CPython 3.11.7 by the
scripts in `benchmarks/rules/` (`python benchmarks/rules/run_all.py` prints them all), for the
input sizes stated. They are what the rewrite saves *in that benchmark*; what it saves in a
program depends on how much time the program spends there, which `pyrometer run` measures.

## Selecting rules

In `pyproject.toml`:

```toml
[tool.pyrometer.check]
select = [\"PYR1\", \"PYR2\"]   # codes, prefixes or \"ALL\"; empty or absent = the defaults
extend-select = [\"PYR503\"]  # added to the selection
ignore = [\"PYR211\"]         # removed; wins over select
exclude = [\"build/**\", \"*_pb2.py\"]  # globs, for paths met while walking directories
```

A prefix (`PYR5`, `PYR`) selects only the rules that are on by default; rules that are off by
default are enabled by their exact code or by `ALL`. A finding is silenced by `# noqa` (all
codes) or `# noqa: PYR101, PYR102` on the line where it starts. Directories are walked for
`*.py`, skipping VCS and cache directories, virtual environments and `site-packages`; files
named explicitly are always checked.

## Rules

";

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn generate() -> String {
    let mut out = String::from(HEADER);
    out.push_str("| Code | Name | Default | What it finds | Expected gain |\n");
    out.push_str("|---|---|---|---|---|\n");
    for info in rules() {
        let _ = writeln!(
            out,
            "| [{code}](#{anchor}) | `{name}` | {default} | {summary} | {gain} |",
            code = info.code,
            anchor = info.code.to_lowercase(),
            name = info.name,
            default = if info.default_enabled { "on" } else { "off" },
            summary = cell(info.summary),
            gain = cell(&info.expected_gain().unwrap_or_default()),
        );
    }
    out.push('\n');
    for info in rules() {
        let _ = writeln!(out, "### {}\n", info.code);
        let _ = writeln!(
            out,
            "`{}` — {} by default.\n",
            info.name,
            if info.default_enabled { "on" } else { "off" }
        );
        let body = info.explanation().replace("## ", "#### ");
        out.push_str(&body);
        out.push_str("\n\n");
    }
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

#[test]
fn lint_rules_doc_is_up_to_date() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/lint-rules.md");
    let generated = generate();
    if std::env::var_os("PYROMETER_UPDATE_DOCS").is_some() {
        std::fs::write(&path, &generated).expect("write docs/lint-rules.md");
        return;
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        current == generated,
        "docs/lint-rules.md is stale: run `PYROMETER_UPDATE_DOCS=1 cargo test -p pyrometer-lint --test docs`"
    );
}
