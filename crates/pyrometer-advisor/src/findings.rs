//! Each lint finding joined with what the profile measured on its lines, ranked.

use std::path::PathBuf;

use pyrometer_lint::{CostKind, Diagnostic, Outline, Report};
use pyrometer_profile::FrameId;

use crate::gains::{Gain, gain};
use crate::measure::{Join, Measured, Sums};

/// A finding with what the profile measured on its lines.
#[derive(Debug, Clone, PartialEq)]
pub struct RankedFinding {
    /// The file, as the lint report names it.
    pub path: PathBuf,
    /// The finding.
    pub diagnostic: Diagnostic,
    /// Which lines or function the figures are for.
    pub evidence: Evidence,
    /// The figures (zero when nothing ran there).
    pub measured: Measured,
    /// What the rewrite would save, when the rule has a measured speed-up and there is time.
    pub saving: Option<Saving>,
    /// Below the cold threshold (or not in the profile at all).
    pub cold: bool,
    /// The source file changed after the run started.
    pub changed: bool,
    /// Its index in the lint report's order (path, then position).
    pub(crate) order: usize,
}

/// What a finding's figures measure.
#[derive(Debug, Clone, PartialEq)]
pub enum Evidence {
    /// Line-level data: what was measured while one of these lines was executing, callees
    /// included. Exact.
    Lines {
        /// First line (inclusive).
        first: u32,
        /// Last line (inclusive).
        last: u32,
    },
    /// Function-level data: the inclusive figures of the innermost function containing the
    /// lines. Exact when the finding is about the whole function (`whole`), otherwise an upper
    /// bound for its lines.
    Function {
        /// The function's `__qualname__` (`<module>` for module-level code).
        qualname: String,
        /// Its first line.
        line: u32,
        /// The finding's cost is this whole function.
        whole: bool,
        /// The function's own figures (without what it called).
        own: Measured,
    },
    /// The file is in the profile but nothing was measured on these lines (they did not run, or
    /// no sample fell on them).
    NotRun,
    /// The file is not in the profile (it did not run in that program).
    NotInProfile,
}

/// What a rewrite would save.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Saving {
    /// The speed-up the rule's benchmark measured.
    pub gain: Gain,
    /// `time × (1 − 1/speedup)`: the saving if all the measured time were spent in the pattern
    /// (an upper bound; the benchmark's input size may differ from the program's).
    pub up_to_ns: f64,
}

/// Joins every finding of `report` with the profile and ranks them. `file_index[i]` is the
/// profile file of `report.files[i]`.
pub(crate) fn rank(
    join: &Join<'_>,
    report: &Report,
    file_index: &[Option<usize>],
    outlines: &[Option<Outline>],
    cold_percent: f64,
) -> Vec<RankedFinding> {
    let mut ranked: Vec<(u64, RankedFinding)> = Vec::new();
    let mut order = 0;
    for (file, index) in report.files.iter().zip(file_index) {
        for diagnostic in &file.diagnostics {
            let (evidence, sums) = match index {
                None => (Evidence::NotInProfile, None),
                Some(index) => {
                    let outline = outlines.get(*index).and_then(Option::as_ref);
                    evidence_for(join, *index as u32, diagnostic, outline)
                }
            };
            let value = sums.map_or(0, |s| join.rank_value(s));
            let measured = sums.map(|s| join.measured(s)).unwrap_or_default();
            let cold = match &evidence {
                Evidence::NotRun | Evidence::NotInProfile => true,
                _ => join.rank.is_none() || measured.percent < cold_percent,
            };
            let saving = gain(diagnostic.rule).and_then(|gain| {
                let time = measured.time_ns.filter(|t| *t > 0.0)?;
                Some(Saving {
                    gain,
                    up_to_ns: gain.saving(time),
                })
            });
            let changed = index.is_some_and(|i| join.sources.files[i].changed);
            ranked.push((
                value,
                RankedFinding {
                    path: file.path.clone(),
                    diagnostic: diagnostic.clone(),
                    evidence,
                    measured,
                    saving,
                    cold,
                    changed,
                    order,
                },
            ));
            order += 1;
        }
    }
    // Hot first, by value; then cold ones, by value; ties in path and position order (the
    // report's order, kept by the stable sort).
    ranked.sort_by(|(a_value, a), (b_value, b)| {
        a.cold
            .cmp(&b.cold)
            .then(b_value.cmp(a_value))
            .then_with(|| {
                let a_absent = a.evidence == Evidence::NotInProfile;
                let b_absent = b.evidence == Evidence::NotInProfile;
                a_absent.cmp(&b_absent)
            })
    });
    ranked.into_iter().map(|(_, finding)| finding).collect()
}

/// The lines a finding costs: its cost lines, else its own.
pub(crate) fn cost_lines(diagnostic: &Diagnostic) -> (u32, u32) {
    match diagnostic.cost {
        Some(cost) => cost.lines,
        None => {
            let span = diagnostic.span;
            let last = if span.end.line > span.start.line && span.end.column == 1 {
                span.end.line - 1
            } else {
                span.end.line
            };
            (span.start.line, last.max(span.start.line))
        }
    }
}

fn evidence_for(
    join: &Join<'_>,
    file: u32,
    diagnostic: &Diagnostic,
    outline: Option<&Outline>,
) -> (Evidence, Option<Sums>) {
    let (first, last) = cost_lines(diagnostic);
    if join.has_lines(file, first, last) {
        let sums = join.lines(&[(file, first, last)]);
        return (Evidence::Lines { first, last }, Some(sums));
    }
    if !join.has_function_level(file) {
        return (Evidence::NotRun, Some(join.lines(&[])));
    }
    // Function-level data: the innermost function containing the lines, else the module.
    let function = outline.and_then(|outline| {
        outline
            .functions
            .iter()
            .filter(|f| f.first_line <= first && last <= f.last_line)
            .min_by_key(|f| f.last_line - f.first_line)
    });
    let (name, line) = match function {
        Some(f) => (f.name.as_str(), f.first_line),
        None => ("<module>", 0),
    };
    let profile = join.profile;
    let frames: Vec<FrameId> = join.sources.files[file as usize]
        .frames
        .iter()
        .copied()
        .filter(|&id| {
            let frame = &profile.frames[id as usize];
            profile.string(frame.name) == name && (line == 0 || frame.line == line)
        })
        .collect();
    if frames.is_empty() {
        return (Evidence::NotRun, Some(join.lines(&[])));
    }
    let (total, own) = join.function(&frames);
    if total.nothing() {
        return (Evidence::NotRun, Some(total));
    }
    let whole = diagnostic
        .cost
        .is_some_and(|cost| cost.kind == CostKind::Function)
        && function.is_some();
    let qualname = match function {
        Some(f) => f.qualname.clone(),
        None => "<module>".to_string(),
    };
    let line = if line == 0 {
        profile.frames[frames[0] as usize].line
    } else {
        line
    };
    let evidence = Evidence::Function {
        qualname,
        line,
        whole,
        own: join.measured(own),
    };
    (evidence, Some(total))
}
