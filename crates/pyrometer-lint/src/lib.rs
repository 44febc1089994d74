//! Static performance rules for Python source: the engine behind `pyrometer check`.
//!
//! Python is parsed with ruff's parser (`ruff_python_parser` 0.0.10, pinned, behind one private
//! facade module, `parse.rs`). One walk over each module's AST runs every enabled rule; each rule
//! lives in its own file under `src/rules/`, and every rule is listed once in the table of
//! [`rules()`]. Rules favour precision over recall: when a fact (a type, whether a collection
//! changes in a loop) is not certain, they stay quiet.
//!
//! # API
//!
//! ```
//! use std::path::Path;
//! use pyrometer_lint::{check_source, Report, Settings};
//!
//! let source = "def f(rows):\n    out = ''\n    for r in rows:\n        out += str(r)\n    return out\n";
//! let file = check_source(Path::new("example.py"), source, &Settings::default());
//! assert_eq!(file.diagnostics[0].rule.code(), "PYR101");
//! let report = Report::from_files(vec![file]);
//! assert_eq!(report.exit_code(), 1);
//! print!("{}", report.render_text());
//! ```
//!
//! * [`Settings`]: which rules run and which paths are skipped. Build it from
//!   [`CheckOptions`] (`select`, `extend-select`, `ignore`, `exclude`), read from a
//!   `[tool.pyrometer.check]` table with [`CheckOptions::from_pyproject`] (see
//!   [`find_pyproject`]) and merged with CLI options by [`CheckOptions::merge`]. The selection
//!   rules are documented in the `settings` module: exact codes and `ALL` enable any rule,
//!   prefixes enable only default-on rules, `ignore` wins.
//! * [`check_source`]`(path, source, &settings) -> FileReport`: one in-memory file.
//! * [`check_file`]`(path, &settings) -> FileReport`: reads then checks one file.
//! * [`check_source_outlined`] / [`check_file_outlined`]: the same, plus the module's
//!   [`Outline`] (functions with CPython's qualified names and `co_firstlineno`, whether each
//!   looks pure, classes and their `__slots__`, constructor calls) from the same parse, for
//!   the profile-guided advisor. [`outline_source`] gives the outline alone.
//! * [`check_paths`]`(&[PathBuf], &settings) -> Report`: walks directories for `*.py` (skipping
//!   VCS/cache directories, virtual environments, `site-packages` and `exclude` matches; files
//!   given explicitly are always checked) and checks files in parallel; output order is by path.
//! * [`Report`]: [`render_text`](Report::render_text), [`render_json`](Report::render_json),
//!   [`render_sarif`](Report::render_sarif), [`counts`](Report::counts),
//!   [`exit_code`](Report::exit_code) (1 with findings, else 0; unreadable or unparsable files
//!   are reported but do not change it).
//! * [`rules()`]: every rule's [`RuleInfo`] (code, name, default, summary,
//!   [`explanation`](RuleInfo::explanation) for `--explain`, and
//!   [`expected_gain`](RuleInfo::expected_gain)).
//!
//! A finding is suppressed by `# noqa` (all codes) or `# noqa: PYR101, PYR102` on the line
//! where it starts. Files that cannot be read or parsed never abort a run: they appear as a
//! [`FileError`] in their [`FileReport`]. A panic inside a rule (a bug) is caught per file and
//! reported as an `internal` error.
//!
//! # Costs
//!
//! Each [`Diagnostic`] may carry a [`Cost`]: the loop, comprehension or function whose runtime
//! the finding affects, with the inclusive line range (`Cost::lines`) that a profile-guided
//! join should charge to it (a loop's header and body, a function's body).
//!
//! # JSON output (version 1)
//!
//! ```json
//! {
//!   "version": 1,
//!   "files_checked": 2,
//!   "findings": [
//!     {
//!       "code": "PYR101",
//!       "name": "string-concat-in-loop",
//!       "message": "String `out` is built by concatenation in a loop",
//!       "fix": "Append the pieces to a list and ...",
//!       "path": "example.py",
//!       "start": {"line": 4, "column": 9},
//!       "end": {"line": 4, "column": 22},
//!       "cost": {
//!         "kind": "loop",
//!         "start": {"line": 3, "column": 5},
//!         "end": {"line": 4, "column": 22},
//!         "lines": {"first": 3, "last": 4}
//!       }
//!     }
//!   ],
//!   "errors": [
//!     {"path": "bad.py", "kind": "parse", "message": "...", "position": {"line": 1, "column": 7}}
//!   ],
//!   "summary": {"PYR101": 1}
//! }
//! ```
//!
//! Lines and columns are 1-based; columns count Unicode characters; `end` is exclusive.
//! `fix` and `cost` may be `null`; `kind` of an error is `io`, `parse` or `internal`; findings
//! are ordered by path, then position, then code. Fields may be added in later versions;
//! removing or renaming one bumps `version`.

mod analysis;
mod checker;
mod codes;
mod diagnostic;
mod discover;
mod encoding;
mod noqa;
mod outline;
mod parse;
mod render;
mod report;
mod rules;
mod settings;
mod source;
mod violation;

pub use codes::{Rule, RuleInfo, RuleSet, rules};
pub use diagnostic::{
    Cost, CostKind, Diagnostic, FileError, FileErrorKind, FileReport, Position, Span,
};
pub use outline::{
    ClassOutline, ConstructorCall, FunctionOutline, Outline, Purity, Slots, outline_source,
};
pub use report::{
    Report, check_file, check_file_outlined, check_paths, check_paths_outlined, check_source,
    check_source_outlined,
};
pub use settings::{CheckOptions, Settings, SettingsError, find_pyproject};
