//! The JSON output. Its shape is part of the public contract (see the crate docs): fields are
//! only ever added, and `version` changes if anything is removed or renamed.

use std::collections::BTreeMap;

use serde::Serialize;

use super::display_path;
use crate::diagnostic::{Cost, Position, Span};
use crate::report::Report;

#[derive(Serialize)]
struct Document<'a> {
    version: u32,
    files_checked: usize,
    findings: Vec<JsonFinding<'a>>,
    errors: Vec<JsonError<'a>>,
    summary: BTreeMap<&'static str, usize>,
}

#[derive(Serialize)]
struct JsonPosition {
    line: u32,
    column: u32,
}

impl From<Position> for JsonPosition {
    fn from(position: Position) -> Self {
        Self {
            line: position.line,
            column: position.column,
        }
    }
}

#[derive(Serialize)]
struct JsonLines {
    first: u32,
    last: u32,
}

#[derive(Serialize)]
struct JsonCost {
    kind: &'static str,
    start: JsonPosition,
    end: JsonPosition,
    lines: JsonLines,
}

impl From<Cost> for JsonCost {
    fn from(cost: Cost) -> Self {
        let Span { start, end } = cost.span;
        Self {
            kind: cost.kind.as_str(),
            start: start.into(),
            end: end.into(),
            lines: JsonLines {
                first: cost.lines.0,
                last: cost.lines.1,
            },
        }
    }
}

#[derive(Serialize)]
struct JsonFinding<'a> {
    code: &'static str,
    name: &'static str,
    message: &'a str,
    fix: Option<&'a str>,
    path: String,
    start: JsonPosition,
    end: JsonPosition,
    cost: Option<JsonCost>,
}

#[derive(Serialize)]
struct JsonError<'a> {
    path: String,
    kind: &'static str,
    message: &'a str,
    position: Option<JsonPosition>,
}

pub(crate) fn render(report: &Report) -> String {
    let findings = report
        .diagnostics()
        .map(|(path, diagnostic)| JsonFinding {
            code: diagnostic.rule.code(),
            name: diagnostic.rule.info().name,
            message: &diagnostic.message,
            fix: diagnostic.fix.as_deref(),
            path: display_path(path),
            start: diagnostic.span.start.into(),
            end: diagnostic.span.end.into(),
            cost: diagnostic.cost.map(Into::into),
        })
        .collect();
    let errors = report
        .errors()
        .map(|(path, error)| JsonError {
            path: display_path(path),
            kind: error.kind.as_str(),
            message: &error.message,
            position: error.position.map(Into::into),
        })
        .collect();
    let summary = report
        .counts()
        .into_iter()
        .map(|(rule, count)| (rule.code(), count))
        .collect();
    let document = Document {
        version: 1,
        files_checked: report.files_checked,
        findings,
        errors,
        summary,
    };
    let mut text = serde_json::to_string_pretty(&document).unwrap_or_else(|_| "{}".to_string());
    text.push('\n');
    text
}
