//! pyrometer's advisor: performance anti-patterns found in the source, ranked by what a profile
//! measured on their lines, plus advice that comes from the profile alone.
//!
//! ```text
//!  Profile ──▶ the user's source files it names ──▶ pyrometer-lint (rules + outline)
//!     │                                                        │
//!     └──────────── join: time / bytes on each finding's lines ◀┘
//!                   rank, expected saving, cold demotion        ──▶ Advice ──▶ text · JSON · SARIF
//!     └──────────── profile-only advice (off/on CPU, GIL, many calls, memory) ──▶ Advice::items
//! ```
//!
//! # API
//!
//! * [`advise`]`(&profile, &AdviceOptions) -> Advice`: finds the user's files named in the
//!   profile (or lints [`AdviceOptions::paths`]), runs the lint rules, joins each finding with
//!   the profile ([`RankedFinding`]: [`Evidence`], [`Measured`], [`Saving`], `cold`), ranks them
//!   and adds the profile-only [`AdviceItem`]s.
//! * [`Advice::render_section`]: the "Advice" section of `pyrometer run`/`view` reports;
//!   [`Advice::render_text`], [`Advice::render_json`], [`Advice::render_sarif`]: the outputs of
//!   `pyrometer check --profile`.
//!
//! # The join
//!
//! A finding's *cost lines* are the loop, comprehension or function whose runtime it affects
//! (`pyrometer_lint::Cost::lines`; the finding's own lines when it has none). With line-level
//! data (the sampler, line tracing, memory runs) the figure is exact: what was measured while
//! one of those lines was executing, callees included, each stack counted once
//! ([`Evidence::Lines`]). With function-level data (the function tracer) the lines cannot be
//! told apart, so the figure is the inclusive time of the innermost function that contains them
//! — an upper bound for a loop, exact for a finding about a whole function
//! ([`Evidence::Function`]). Findings whose share of the run is below
//! [`AdviceOptions::cold_percent`] are *cold*: ranked after the others (and only counted in
//! report sections).

mod advice;
mod findings;
mod gains;
mod measure;
mod render;
mod sources;

use std::collections::BTreeMap;
use std::path::PathBuf;

use pyrometer_lint::{Outline, Report, Rule, RuleSet, Settings};
use pyrometer_profile::{Metric, Mode, Profile};

pub use advice::{AdviceItem, AdviceKind, Fact, FactValue, Subject};
pub use findings::{Evidence, RankedFinding, Saving};
pub use gains::{Gain, gain};
pub use measure::Measured;
pub use render::SectionOptions;
pub use sources::{SourceFile, Sources, is_stdlib, is_user_file};

/// What to check and how to rank.
#[derive(Debug, Clone)]
pub struct AdviceOptions {
    /// The rules that run (from `[tool.pyrometer.check]` and the command line). Their
    /// `exclude` patterns apply to the profile's files too (relative to the run's directory).
    pub settings: Settings,
    /// A finding whose lines took less than this share of the run (percent) is cold.
    pub cold_percent: f64,
    /// Check these files and directories instead of the profile's own source files
    /// (`pyrometer check --profile RUN.pyro PATHS…`).
    pub paths: Option<Vec<PathBuf>>,
    /// Add the advice that comes from the profile alone.
    pub profile_advice: bool,
}

impl Default for AdviceOptions {
    fn default() -> Self {
        AdviceOptions {
            settings: Settings::default(),
            cold_percent: 1.0,
            paths: None,
            profile_advice: true,
        }
    }
}

/// What the ranking is based on.
#[derive(Debug, Clone, PartialEq)]
pub struct Basis {
    /// How the profile was collected.
    pub mode: Mode,
    /// The metric findings are ranked by: `self_time` (tracer), `wall_samples` (sampler),
    /// `alloc_bytes` (memory), or none when the profile has none of them.
    pub metric: Option<Metric>,
    /// The profile's total of that metric, in its units.
    pub total: u64,
    /// The total as time, when the metric is time.
    pub total_ns: Option<f64>,
    /// Whether the profile has line-level locations in the user's files (else function level).
    pub line_level: bool,
    /// The cold threshold, percent.
    pub cold_percent: f64,
}

/// The advisor's result.
#[derive(Debug, Clone)]
pub struct Advice {
    /// What the ranking is based on.
    pub basis: Basis,
    /// Every finding: hot ones by measured cost (largest first), then cold ones.
    pub findings: Vec<RankedFinding>,
    /// Advice from the profile alone (with the source's help for names), largest share first.
    pub items: Vec<AdviceItem>,
    /// The lint report behind `findings` (files checked, files that could not be checked).
    pub report: Report,
    /// The user's source files the profile names.
    pub sources: Sources,
}

impl Advice {
    /// The findings that are not cold.
    pub fn hot(&self) -> impl Iterator<Item = &RankedFinding> {
        self.findings.iter().filter(|f| !f.cold)
    }

    /// The process exit status `pyrometer check` uses: 1 with any finding, else 0.
    pub fn exit_code(&self) -> i32 {
        self.report.exit_code()
    }
}

/// Rules whose findings the memory advice joins with allocation data, whether or not they are
/// selected (a finding of an unselected rule is used only for that advice).
const MEMORY_RULES: [Rule; 2] = [Rule::ListCompInReduction, Rule::ListCompIteratedOnce];

/// Checks the user's sources of `profile` (or `options.paths`) and ranks the findings by what
/// the profile measured on their lines; adds the advice that comes from the profile alone.
pub fn advise(profile: &Profile, options: &AdviceOptions) -> Advice {
    let sources = Sources::of_profile(profile);
    let join = measure::Join::new(profile, &sources);
    let memory = profile.samples.column(Metric::AllocBytes).is_some();
    let selected = options.settings.rules();
    let mut rules = selected;
    if memory && options.profile_advice {
        for rule in MEMORY_RULES {
            rules = rules.with(rule);
        }
    }
    let settings = options.settings.with_rules(rules);
    let run_dir = PathBuf::from(&profile.meta.cwd);
    let here = std::env::current_dir().ok();
    // The profile's files to check (unless paths are given), named relative to the current
    // directory when inside it, as a linter names them.
    let mut given: BTreeMap<PathBuf, usize> = BTreeMap::new();
    if options.paths.is_none() {
        for (index, file) in sources.files.iter().enumerate() {
            let relative = file.path.strip_prefix(&run_dir).unwrap_or(&file.path);
            if options.settings.excludes(relative) {
                continue;
            }
            let shown = here
                .as_ref()
                .and_then(|dir| file.path.strip_prefix(dir).ok())
                .map_or_else(|| file.path.clone(), PathBuf::from);
            given.insert(shown, index);
        }
    }
    let paths: Vec<PathBuf> = match &options.paths {
        Some(paths) => paths.clone(),
        None => given.keys().cloned().collect(),
    };
    let (mut report, outlines_by_path) = if paths.is_empty() {
        (Report::default(), BTreeMap::new())
    } else {
        pyrometer_lint::check_paths_outlined(&paths, &settings)
    };
    // Which profile file each checked file is, and its outline by profile file.
    let mut outlines: Vec<Option<Outline>> = vec![None; sources.files.len()];
    let mut file_index: Vec<Option<usize>> = Vec::with_capacity(report.files.len());
    for file in &report.files {
        let index = match &options.paths {
            None => given.get(&file.path).copied(),
            Some(_) => sources.find(&file.path),
        };
        if let (Some(index), Some(outline)) = (index, outlines_by_path.get(&file.path)) {
            outlines[index] = Some(outline.clone());
        }
        file_index.push(index);
    }
    // Findings of rules that run only for the memory advice.
    let extra: RuleSet = rules
        .iter()
        .filter(|rule| !selected.contains(*rule))
        .fold(RuleSet::empty(), RuleSet::with);
    let mut memory_findings = Vec::new();
    if !extra.is_empty() {
        for (file, index) in report.files.iter_mut().zip(&file_index) {
            let (kept, moved): (Vec<_>, Vec<_>) = std::mem::take(&mut file.diagnostics)
                .into_iter()
                .partition(|d| !extra.contains(d.rule));
            file.diagnostics = kept;
            if let Some(index) = index {
                memory_findings.extend(moved.into_iter().map(|d| (*index, d)));
            }
        }
    }
    for (file, index) in report.files.iter().zip(&file_index) {
        if let Some(index) = index {
            memory_findings.extend(
                file.diagnostics
                    .iter()
                    .filter(|d| MEMORY_RULES.contains(&d.rule))
                    .map(|d| (*index, d.clone())),
            );
        }
    }
    let findings = findings::rank(&join, &report, &file_index, &outlines, options.cold_percent);
    let items = if options.profile_advice {
        advice::profile_advice(&join, &outlines, &memory_findings)
    } else {
        Vec::new()
    };
    let basis = Basis {
        mode: profile.meta.mode,
        metric: join.rank.map(|r| r.metric),
        total: join.rank.map_or(0, |r| r.total),
        total_ns: join
            .rank
            .and_then(|r| Some(r.total as f64 * r.ns_per_unit?)),
        line_level: join.is_line_level(),
        cold_percent: options.cold_percent,
    };
    drop(join);
    Advice {
        basis,
        findings,
        items,
        report,
        sources,
    }
}
