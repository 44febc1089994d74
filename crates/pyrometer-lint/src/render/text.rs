//! ruff-like text output.

use std::fmt::Write as _;

use super::display_path;
use crate::diagnostic::Diagnostic;
use crate::report::Report;

pub(crate) fn render(report: &Report) -> String {
    let mut out = String::new();
    for (path, diagnostic) in report.diagnostics() {
        render_diagnostic(&mut out, &display_path(path), diagnostic);
    }
    out.push_str(&render_summary(report));
    out
}

/// The files that could not be checked, then the summary line and the counts per code.
pub(crate) fn render_summary(report: &Report) -> String {
    let mut out = String::new();
    let errors: Vec<_> = report.errors().collect();
    for (path, error) in &errors {
        let position = error
            .position
            .map(|p| format!("{}:{}:", p.line, p.column))
            .unwrap_or_default();
        let _ = writeln!(out, "{}:{position} {error}", display_path(path));
    }
    if !errors.is_empty() {
        out.push('\n');
    }
    let total = report.finding_count();
    let files_with = report
        .files
        .iter()
        .filter(|file| !file.diagnostics.is_empty())
        .count();
    if total == 0 {
        let verdict = if errors.is_empty() {
            "All checks passed"
        } else {
            "No findings"
        };
        let _ = write!(
            out,
            "{verdict} ({} {} checked",
            report.files_checked,
            plural(report.files_checked, "file", "files")
        );
    } else {
        let _ = write!(
            out,
            "Found {total} {} in {files_with} {} ({} checked",
            plural(total, "finding", "findings"),
            plural(files_with, "file", "files"),
            report.files_checked
        );
    }
    if !errors.is_empty() {
        let _ = write!(out, ", {} could not be checked", errors.len());
    }
    out.push_str(").\n");
    for (rule, count) in report.counts() {
        let _ = writeln!(out, "{count:>6}  {}  {}", rule.code(), rule.info().name);
    }
    out
}

fn plural(n: usize, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 { one } else { many }
}

pub(crate) fn render_diagnostic(out: &mut String, path: &str, diagnostic: &Diagnostic) {
    let start = diagnostic.span.start;
    let end = diagnostic.span.end;
    let _ = writeln!(
        out,
        "{path}:{}:{}: {} {}",
        start.line,
        start.column,
        diagnostic.rule.code(),
        diagnostic.message
    );
    let line = &diagnostic.source_line;
    let gutter = start.line.to_string().len();
    let pad = " ".repeat(gutter);
    let _ = writeln!(out, "{pad} |");
    let _ = writeln!(out, "{} | {line}", start.line);
    // Keep tabs so the marker lines up under the code.
    let prefix: String = line
        .chars()
        .take(start.column.saturating_sub(1) as usize)
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    let line_len = u32::try_from(line.chars().count()).unwrap_or(u32::MAX);
    let last_column = if end.line == start.line {
        end.column
    } else {
        line_len + 1
    };
    let width = last_column.saturating_sub(start.column).max(1) as usize;
    let _ = writeln!(
        out,
        "{pad} | {prefix}{} {}",
        "^".repeat(width),
        diagnostic.rule.code()
    );
    if let Some(fix) = &diagnostic.fix {
        let _ = writeln!(out, "{pad} = help: {fix}");
    }
    out.push('\n');
}
