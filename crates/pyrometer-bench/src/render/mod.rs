//! Reports of a run: text for the terminal, Markdown for pull requests, JSON for machines
//! ([`crate::to_json`]). The text and Markdown reports share their tables.

pub mod markdown;
pub mod text;

use crate::analysis;
use crate::format::{Unit, duration_in, p_value, sig4, thousands};
use crate::result::{Benchmark, Comparison, ComparisonRow, Document, Kind, Verdict};

#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Show every time in this unit (`-u`).
    pub unit: Option<Unit>,
    /// Raw values and calibration (`-v`).
    pub verbose: bool,
}

/// A table: a header and rows of cells; numeric columns are right-aligned.
pub struct Table {
    pub header: Vec<String>,
    pub right: Vec<bool>,
    pub rows: Vec<Vec<String>>,
}

fn time(seconds: f64, options: &Options) -> String {
    duration_in(seconds, options.unit)
}

/// One row per benchmark: median, MAD, mean ± std, min, the CI of the median, values, outliers.
pub fn summary_table(doc: &Document, options: &Options) -> Table {
    let header = [
        "benchmark",
        "median",
        "± MAD",
        "mean ± std",
        "min",
        "95% CI of the median",
        "values",
        "outliers",
    ];
    let rows = doc
        .benchmarks
        .iter()
        .map(|b| {
            let s = &b.summary;
            vec![
                b.name.clone(),
                time(s.median, options),
                time(s.mad, options),
                format!("{} ± {}", time(s.mean, options), time(s.std, options)),
                time(s.min, options),
                format!("{} … {}", time(s.ci_low, options), time(s.ci_high, options)),
                s.n.to_string(),
                b.outliers.indices.len().to_string(),
            ]
        })
        .collect();
    Table {
        header: header.iter().map(|h| h.to_string()).collect(),
        right: vec![false, true, true, true, true, true, true, true],
        rows,
    }
}

fn verdict_text(row: &ComparisonRow) -> String {
    match row.verdict {
        Verdict::Faster => format!("{}× faster", sig4(row.speedup())),
        Verdict::Slower => format!("{}× slower", sig4(row.ratio)),
        Verdict::Same => "not significant".into(),
    }
}

/// One row per compared benchmark: its median, the reference's, the speedup with its
/// interval, the p-value and the verdict. With `threshold`, a gate column.
pub fn comparison_table(cmp: &Comparison, options: &Options, threshold: Option<f64>) -> Table {
    let mut header: Vec<String> = [
        "benchmark",
        "median",
        "reference",
        "speedup",
        "95% CI of the speedup",
        "p",
        "verdict",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut right = vec![false, true, true, true, true, true, false];
    if threshold.is_some() {
        header.push("gate".into());
        right.push(false);
    }
    let rows = cmp
        .rows
        .iter()
        .map(|r| {
            let mut row = vec![
                if r.name == r.reference {
                    r.name.clone()
                } else {
                    format!("{} vs {}", r.name, r.reference)
                },
                time(r.median, options),
                time(r.reference_median, options),
                format!("{}×", sig4(r.speedup())),
                format!(
                    "{}× … {}×",
                    sig4(1.0 / r.ratio_ci_high),
                    sig4(1.0 / r.ratio_ci_low)
                ),
                p_value(r.p_value),
                verdict_text(r),
            ];
            if let Some(t) = threshold {
                row.push(
                    if analysis::is_regression(r, t) {
                        "FAIL"
                    } else {
                        "ok"
                    }
                    .into(),
                );
            }
            row
        })
        .collect();
    Table {
        header,
        right,
        rows,
    }
}

/// "60 values: 20 processes × 3 (+1 warm-up each), 200,000 loops per value".
pub fn method_line(doc: &Document, b: &Benchmark) -> String {
    let m = &doc.method;
    let warm = |n: u32, what: &str| match n {
        0 => String::new(),
        1 => format!(" (+1 warm-up {what})"),
        n => format!(" (+{n} warm-ups {what})"),
    };
    match m.kind {
        Kind::Command => format!("{} runs{}", b.summary.n, warm(m.warmups, "run, discarded")),
        _ => format!(
            "{} values: {} process{} × {}{}, {} loop{} per value{}",
            b.summary.n,
            b.summary.processes,
            if b.summary.processes == 1 { "" } else { "es" },
            m.values,
            warm(m.warmups, "each, discarded"),
            thousands(b.loops),
            if b.loops == 1 { "" } else { "s" },
            if m.fixed_loops { " (-n)" } else { "" },
        ),
    }
}

/// How the comparison was decided, one line.
pub fn test_line(cmp: &Comparison) -> String {
    let unit = cmp.rows.first().map_or("values", |r| r.test_unit.as_str());
    let test = match unit {
        "paired processes" => {
            "the Wilcoxon signed-rank test (two-sided, on the ratios of paired per-process medians)"
        }
        "paired rounds" => {
            "the Wilcoxon signed-rank test (two-sided, on the ratios of paired rounds)"
        }
        "processes" => "the Mann-Whitney U test (two-sided, on per-process medians)",
        _ => "the Mann-Whitney U test (two-sided, on the values)",
    };
    format!(
        "Compared with {}: speedup = reference median / median, with its 95% bootstrap interval; significant when {test} gives p < 0.05.",
        cmp.against
    )
}
