//! Comparisons between benchmarks: the candidates of one run against a reference candidate
//! (paired: they ran interleaved in the same processes), and the benchmarks of a run against those of the same name in another (a saved baseline, an
//! older JSON file).

use crate::analysis;
use crate::result::{Comparison, Document};

/// Every candidate of `doc` against candidate `reference`.
pub fn within(doc: &Document, reference: usize) -> Option<Comparison> {
    let base = doc.benchmarks.get(reference)?;
    let rows = doc
        .benchmarks
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != reference)
        .map(|(_, b)| analysis::compare_paired(base, b))
        .collect();
    Some(Comparison {
        against: base.name.clone(),
        rows,
    })
}

/// What two runs have in common, compared; and the names found in only one of them.
pub struct Matched {
    pub comparison: Comparison,
    pub only_old: Vec<String>,
    pub only_new: Vec<String>,
}

/// The benchmarks of `new` against those of the same name in `old`.
pub fn between(old: &Document, new: &Document, against: String) -> Matched {
    let mut rows = Vec::new();
    let mut only_new = Vec::new();
    for b in &new.benchmarks {
        match old.benchmarks.iter().find(|o| o.name == b.name) {
            Some(o) => rows.push(analysis::compare(o, b)),
            None => only_new.push(b.name.clone()),
        }
    }
    let only_old = old
        .benchmarks
        .iter()
        .filter(|o| !new.benchmarks.iter().any(|b| b.name == o.name))
        .map(|o| o.name.clone())
        .collect();
    Matched {
        comparison: Comparison { against, rows },
        only_old,
        only_new,
    }
}

/// The rows that fail the gate: significantly slower by more than `threshold` (0.05 = 5%).
pub fn regressions(cmp: &Comparison, threshold: f64) -> Vec<&crate::ComparisonRow> {
    cmp.rows
        .iter()
        .filter(|r| analysis::is_regression(r, threshold))
        .collect()
}
