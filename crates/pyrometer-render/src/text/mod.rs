//! Terminal reports: the top tables, the call tree, and callers/callees of a function.

pub mod lines;
mod memory;
mod relations;
mod table;
mod tree;

use std::fmt::Write as _;
use std::io::Write;

pub use lines::LineReport;
pub use memory::sparkline;
pub use relations::{Relations, find_functions};
pub use tree::CallTreeReport;

use pyrometer_profile::{Exit, Metric, Mode, Profile};

use crate::format::{self, ValueFormat};
use crate::{RenderError, RenderOptions, Renderer};

/// ANSI styling that disappears when colour is off.
#[derive(Clone, Copy)]
pub(crate) struct Style {
    on: bool,
}

impl Style {
    pub fn new(on: bool) -> Style {
        Style { on }
    }
    fn wrap(&self, code: &str, s: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    pub fn bold(&self, s: &str) -> String {
        self.wrap("1", s)
    }
    pub fn dim(&self, s: &str) -> String {
        self.wrap("2", s)
    }
    pub fn hot(&self, s: &str) -> String {
        self.wrap("31", s)
    }
}

/// The metric a report shows: the one asked for, else the profile's time metric, else the
/// first column it has.
pub(crate) fn report_metric(
    profile: &Profile,
    options: &RenderOptions,
) -> Result<Metric, RenderError> {
    options
        .metric
        .or_else(|| profile.time_metric())
        .or_else(|| profile.samples.metrics().find(|m| m.is_additive()))
        .ok_or(RenderError::Empty("measurements"))
}

/// Whether a profile of another mode also holds memory figures (`run --memory`: time
/// samples and allocations in one profile).
pub(crate) fn has_memory_too(profile: &Profile) -> bool {
    profile.meta.mode != Mode::Memory && profile.samples.column(Metric::AllocBytes).is_some()
}

/// The first lines of every report: what ran, how, for how long.
pub(crate) fn header(profile: &Profile, metric: Metric, style: Style) -> String {
    let meta = &profile.meta;
    let mut line = format!("pyrometer {}", meta.mode.as_str());
    if has_memory_too(profile) {
        line.push_str(" + memory");
    }
    if !meta.command.is_empty() {
        let _ = write!(line, " · {}", meta.command.join(" "));
    }
    if let Some(python) = &meta.python {
        let _ = write!(line, " · Python {}", python.version);
    }
    let mut facts = Vec::new();
    if meta.duration_ns > 0 {
        facts.push(format!(
            "{} elapsed",
            format::duration(meta.duration_ns as f64)
        ));
    }
    let total = profile.total(metric);
    let vf = ValueFormat::new(profile, metric);
    let what = match metric {
        Metric::SelfTime => "traced",
        m => format::metric_title(m),
    };
    facts.push(format!("{} {what}", vf.show(total)));
    if profile.samples.column(Metric::Calls).is_some() {
        facts.push(format!(
            "{} calls",
            format::count(profile.total(Metric::Calls))
        ));
    }
    let threads = profile.threads.len();
    if threads > 1 {
        facts.push(format!("{threads} threads"));
    }
    if meta.mode == Mode::Sample {
        let samples = profile
            .counter("samples")
            .unwrap_or_else(|| profile.total(Metric::WallSamples));
        facts.push(format!("{} samples", format::count(samples)));
    }
    format!("{}\n{}\n", style.bold(&line), style.dim(&facts.join(" · ")))
}

/// The last lines of every report: how the program ended, collector health, notes.
pub(crate) fn footer(profile: &Profile, metric: Metric, style: Style) -> String {
    let meta = &profile.meta;
    let mut out = String::new();
    // Only counters that tell something went wrong (dropped, late, read errors, …) are shown;
    // these describe the run instead.
    const DESCRIPTIVE: [&str; 19] = [
        "threads",
        "functions",
        "unmatched_returns",
        "samples",
        "checkpoint",
        "thread_samples",
        "empty_stacks",
        "achieved_rate_mhz",
        "syscalls",
        "stat_reads",
        "processes",
        // Memory profiles.
        "sample_interval_bytes",
        "allocated_bytes",
        "allocations",
        "peak_bytes",
        "peak_at_ns",
        "current_bytes",
        "peak_snapshot_bytes",
        "memory_samples",
    ];
    let mut facts: Vec<String> = meta
        .counters
        .iter()
        .filter(|c| c.value > 0 && !DESCRIPTIVE.contains(&c.name.as_str()))
        .map(|c| format!("{} {}", c.name.replace('_', " "), format::count(c.value)))
        .collect();
    if meta.mode == Mode::Sample
        && let Some(interval) = meta.sample_interval_ns.filter(|&ns| ns > 0)
    {
        let asked = 1e9 / interval as f64;
        let achieved = profile
            .counter("achieved_rate_mhz")
            .map(|mhz| mhz as f64 / 1000.0);
        let samples = profile.counter("samples").unwrap_or(0);
        let mut rate = format!("{} samples", format::count(samples));
        if let Some(hz) = achieved {
            rate.push_str(&format!(" at {hz:.0} Hz ({asked:.0} Hz asked)"));
        }
        facts.insert(0, rate);
    }
    match meta.exit {
        Some(Exit::Code(0)) | None => {}
        Some(Exit::Code(c)) => facts.insert(0, format!("the program exited with status {c}")),
        Some(Exit::Signal(s)) => facts.insert(0, format!("the program was killed by signal {s}")),
    }
    if !facts.is_empty() {
        let _ = writeln!(out, "{}", style.dim(&facts.join(" · ")));
    }
    let mut notes: Vec<String> = meta.notes.clone();
    match metric {
        Metric::CpuSamples => notes.push(
            "times are CPU time (threads running on a CPU); --idle shows wall time, waiting included".into(),
        ),
        Metric::WallSamples => {
            notes.push("times are wall time: every thread's time, running or waiting".into())
        }
        _ => {}
    }
    for note in &notes {
        let _ = writeln!(out, "{}", style.dim(&format!("note: {note}")));
    }
    out
}

/// The report of a profile that holds no measurements: what ran, and why nothing is there.
fn empty_report(profile: &Profile, style: Style) -> String {
    let meta = &profile.meta;
    let mut line = format!("pyrometer {}", meta.mode.as_str());
    if !meta.command.is_empty() {
        let _ = write!(line, " · {}", meta.command.join(" "));
    }
    let mut text = format!("{}\nNothing was measured.\n", style.bold(&line));
    let footer = footer(profile, Metric::Calls, style);
    if !footer.is_empty() {
        text.push('\n');
        text.push_str(&footer);
    }
    text
}

/// The default report: header, top functions by self and by inclusive value, top lines when
/// the profile has lines, a per-thread breakdown when there are several threads, the memory
/// sections when a sampled run profiled memory too, footer.
pub struct TopReport;

impl Renderer for TopReport {
    fn render(
        &self,
        profile: &Profile,
        options: &RenderOptions,
        out: &mut dyn Write,
    ) -> Result<(), RenderError> {
        if profile.meta.mode == Mode::Lines {
            return LineReport.render(profile, options, out);
        }
        let style = Style::new(options.color);
        if profile.meta.mode == Mode::Memory && options.metric.is_none() {
            out.write_all(memory::report(profile, options, style).as_bytes())?;
            return Ok(());
        }
        let metric = match report_metric(profile, options) {
            Ok(metric) => metric,
            Err(RenderError::Empty(_)) => {
                out.write_all(empty_report(profile, style).as_bytes())?;
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let mut text = header(profile, metric, style);
        text.push('\n');
        if profile.total(metric) == 0 {
            let _ = writeln!(text, "No {} was measured.", format::metric_title(metric));
        } else {
            text.push_str(&table::function_tables(profile, metric, options, style));
        }
        if profile.locations.iter().any(|l| l.line != 0) {
            text.push('\n');
            text.push_str(&table::line_table(profile, metric, options, style));
        }
        if profile.threads.len() > 1 {
            text.push('\n');
            text.push_str(&table::thread_table(profile, metric, options, style));
        }
        let memory_metric = matches!(
            metric,
            Metric::AllocBytes | Metric::AllocCount | Metric::RetainedBytes | Metric::PeakBytes
        );
        if has_memory_too(profile) && !memory_metric {
            text.push('\n');
            text.push_str(&memory::appended(profile, options, style));
        }
        let footer = footer(profile, metric, style);
        if !footer.is_empty() {
            text.push('\n');
            text.push_str(&footer);
        }
        out.write_all(text.as_bytes())?;
        Ok(())
    }
}
