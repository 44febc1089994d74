//! The terminal report.

use std::fmt::Write;

use super::{Options, Table, comparison_table, method_line, summary_table, test_line};
use crate::format::{duration_in, thousands};
use crate::result::{Comparison, Document};

/// Lays a table out in aligned columns, two spaces apart.
pub fn table(t: &Table) -> String {
    let width = |s: &str| s.chars().count();
    let mut widths: Vec<usize> = t.header.iter().map(|h| width(h)).collect();
    for row in &t.rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(width(cell));
        }
    }
    let line = |cells: &[String]| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let pad = widths[i] - width(cell);
            if i > 0 {
                out.push_str("  ");
            }
            if t.right[i] {
                out.push_str(&" ".repeat(pad));
                out.push_str(cell);
            } else {
                out.push_str(cell);
                if i + 1 < cells.len() {
                    out.push_str(&" ".repeat(pad));
                }
            }
        }
        out.trim_end().to_string()
    };
    let mut out = line(&t.header);
    out.push('\n');
    for row in &t.rows {
        out.push_str(&line(row));
        out.push('\n');
    }
    out
}

/// The report of a run: the summary (one block for a single benchmark, a table for several),
/// comparisons, outliers and warnings.
pub fn report(doc: &Document, options: &Options) -> String {
    let mut out = String::new();
    let t = |s: f64| duration_in(s, options.unit);
    if let [b] = doc.benchmarks.as_slice() {
        let s = &b.summary;
        let _ = writeln!(out, "{}", b.name);
        let _ = writeln!(
            out,
            "  median {} ± {} (MAD)   95% CI {} … {}",
            t(s.median),
            t(s.mad),
            t(s.ci_low),
            t(s.ci_high)
        );
        let _ = writeln!(
            out,
            "  mean   {} ± {} (std)   min {}   max {}",
            t(s.mean),
            t(s.std),
            t(s.min),
            t(s.max)
        );
        let _ = writeln!(out, "  {}", method_line(doc, b));
    } else {
        out.push_str(&table(&summary_table(doc, options)));
        if let Some(b) = doc.benchmarks.first() {
            let _ = writeln!(out, "{}", method_line(doc, b));
        }
    }
    for cmp in &doc.comparisons {
        out.push('\n');
        out.push_str(&comparison(cmp, options, None));
    }
    out.push_str(&notes(doc, options));
    out
}

/// A comparison: the table and how it was decided.
pub fn comparison(cmp: &Comparison, options: &Options, threshold: Option<f64>) -> String {
    let mut out = table(&comparison_table(cmp, options, threshold));
    out.push_str(&test_line(cmp));
    out.push('\n');
    out
}

/// Outliers, warnings, and with `verbose` the calibration and every raw value.
pub fn notes(doc: &Document, options: &Options) -> String {
    let mut out = String::new();
    let several = doc.benchmarks.len() > 1;
    for b in &doc.benchmarks {
        let who = if several {
            format!("{}: ", b.name)
        } else {
            String::new()
        };
        let o = &b.outliers;
        if !o.indices.is_empty() {
            let _ = writeln!(
                out,
                "{who}{} of {} values are outliers ({} low, {} high; {}), flagged, not removed",
                o.indices.len(),
                b.summary.n,
                o.low,
                o.high,
                o.method.describe()
            );
        }
        for w in &b.warnings {
            let _ = writeln!(out, "warning: {who}{w}");
        }
        if options.verbose {
            if !b.calibration.is_empty() {
                let trials: Vec<String> = b
                    .calibration
                    .iter()
                    .map(|[loops, ns]| {
                        format!(
                            "{} loop{}: {}",
                            thousands(*loops),
                            if *loops == 1 { "" } else { "s" },
                            duration_in(*ns as f64 / 1e9, None)
                        )
                    })
                    .collect();
                let _ = writeln!(out, "{who}calibration: {}", trials.join(", "));
            }
            let mut process = None;
            let mut line = String::new();
            for s in &b.samples {
                if process != Some(s.process) {
                    if !line.is_empty() {
                        let _ = writeln!(out, "{line}");
                    }
                    line = format!("{who}process {}:", s.process);
                    process = Some(s.process);
                }
                let v = duration_in(s.value(), options.unit);
                if s.warmup {
                    let _ = write!(line, " ({v})");
                } else {
                    let _ = write!(line, " {v}");
                }
            }
            if !line.is_empty() {
                let _ = writeln!(out, "{line}");
            }
        }
    }
    if options.verbose && doc.benchmarks.iter().any(|b| !b.samples.is_empty()) {
        out.push_str("(values in parentheses are warm-ups, left out of the statistics)\n");
    }
    out
}
