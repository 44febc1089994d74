//! SARIF 2.1.0 output, as GitHub code scanning reads it.
//!
//! One run; `tool.driver.rules` lists every rule (id, name, short and full description,
//! default level: `warning` for default-on rules, `note` for opt-in ones); each result has its
//! `ruleId`, `ruleIndex`, `level`, `message` and one physical location with a 1-based region
//! (`endColumn` exclusive, columns counted in Unicode code points as `columnKind` says). Files
//! that could not be read or parsed become `toolExecutionNotifications` of the invocation.

use serde_json::{Value, json};

use super::display_path;
use crate::codes::RULES;
use crate::diagnostic::Span;
use crate::report::Report;

/// A relative path as a URI reference (percent-encoding what a URI cannot hold), or an
/// absolute path as a `file://` URI.
fn uri(path: &str) -> String {
    let mut encoded = String::with_capacity(path.len());
    for byte in path.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                encoded.push(char::from(byte));
            }
            _ => encoded.push_str(&format!("%{byte:02X}")),
        }
    }
    if path.starts_with('/') {
        format!("file://{encoded}")
    } else {
        encoded
    }
}

fn region(span: Span) -> Value {
    json!({
        "startLine": span.start.line,
        "startColumn": span.start.column,
        "endLine": span.end.line,
        "endColumn": span.end.column,
    })
}

fn level(default_enabled: bool) -> &'static str {
    if default_enabled { "warning" } else { "note" }
}

pub(crate) fn render(report: &Report) -> String {
    let rules: Vec<Value> = RULES
        .iter()
        .map(|info| {
            let mut full = info.explanation();
            if let Some(rest) = full.strip_prefix("## What it does") {
                full = rest.trim_start().to_string();
            }
            let full = full.split("\n\n").next().unwrap_or("").replace('\n', " ");
            json!({
                "id": info.code,
                "name": info.name,
                "shortDescription": { "text": info.summary },
                "fullDescription": { "text": full },
                "defaultConfiguration": { "level": level(info.default_enabled) },
                "properties": {
                    "expectedGain": info.expected_gain(),
                },
            })
        })
        .collect();
    let results: Vec<Value> = report
        .diagnostics()
        .map(|(path, diagnostic)| {
            let info = diagnostic.rule.info();
            let mut text = diagnostic.message.clone();
            if let Some(fix) = &diagnostic.fix {
                text.push_str(". ");
                text.push_str(fix);
            }
            let mut result = json!({
                "ruleId": info.code,
                "ruleIndex": diagnostic.rule as usize,
                "level": level(info.default_enabled),
                "message": { "text": text },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": { "uri": uri(&display_path(path)) },
                        "region": region(diagnostic.span),
                    }
                }],
            });
            if let Some(cost) = diagnostic.cost {
                result["properties"] = json!({
                    "costKind": cost.kind.as_str(),
                    "costLines": [cost.lines.0, cost.lines.1],
                });
            }
            result
        })
        .collect();
    let notifications: Vec<Value> = report
        .errors()
        .map(|(path, error)| {
            let mut location = json!({
                "physicalLocation": {
                    "artifactLocation": { "uri": uri(&display_path(path)) },
                }
            });
            if let Some(position) = error.position {
                location["physicalLocation"]["region"] = json!({
                    "startLine": position.line,
                    "startColumn": position.column,
                });
            }
            json!({
                "level": "error",
                "message": { "text": error.to_string() },
                "locations": [location],
            })
        })
        .collect();
    let log = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "pyrometer",
                    "semanticVersion": env!("CARGO_PKG_VERSION"),
                    "rules": rules,
                }
            },
            "columnKind": "unicodeCodePoints",
            "invocations": [{
                "executionSuccessful": true,
                "toolExecutionNotifications": notifications,
            }],
            "results": results,
        }],
    });
    let mut text = serde_json::to_string_pretty(&log).unwrap_or_else(|_| "{}".to_string());
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::uri;

    #[test]
    fn encodes_uris() {
        assert_eq!(uri("pkg/a b.py"), "pkg/a%20b.py");
        assert_eq!(uri("/abs/x.py"), "file:///abs/x.py");
    }
}
