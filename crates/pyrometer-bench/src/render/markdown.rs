//! The Markdown report (GitHub's tables), for pull requests and CI summaries.

use std::fmt::Write;

use super::{Options, Table, comparison_table, method_line, summary_table, test_line};
use crate::result::{Comparison, Document};

fn escape(cell: &str) -> String {
    cell.replace('|', "\\|").replace('\n', " ")
}

pub fn table(t: &Table) -> String {
    let mut out = String::new();
    let cells: Vec<String> = t.header.iter().map(|h| escape(h)).collect();
    let _ = writeln!(out, "| {} |", cells.join(" | "));
    let rule: Vec<&str> = t
        .right
        .iter()
        .map(|&r| if r { "---:" } else { "---" })
        .collect();
    let _ = writeln!(out, "|{}|", rule.join("|"));
    for row in &t.rows {
        let cells: Vec<String> = row.iter().map(|c| escape(c)).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    out
}

pub fn report(doc: &Document, options: &Options) -> String {
    let mut out = table(&summary_table(doc, options));
    if let Some(b) = doc.benchmarks.first() {
        let _ = writeln!(out, "\n{}.", method_line(doc, b));
    }
    for cmp in &doc.comparisons {
        out.push('\n');
        out.push_str(&comparison(cmp, options, None));
    }
    let warnings: Vec<String> = doc
        .benchmarks
        .iter()
        .flat_map(|b| {
            b.warnings
                .iter()
                .map(move |w| format!("- **{}**: {w}", escape(&b.name)))
        })
        .collect();
    if !warnings.is_empty() {
        let _ = writeln!(out, "\nWarnings:\n\n{}", warnings.join("\n"));
    }
    out
}

pub fn comparison(cmp: &Comparison, options: &Options, threshold: Option<f64>) -> String {
    let mut out = table(&comparison_table(cmp, options, threshold));
    let _ = writeln!(out, "\n{}", test_line(cmp));
    out
}
