//! Advice from the profile alone (the source only names things and supplies facts such as
//! "looks pure" or "has no `__slots__`"). Each kind lives in its own module and states the
//! figures it rests on.
//!
//! | kind | needs | module |
//! |---|---|---|
//! | [`AdviceKind::OffCpu`], [`AdviceKind::OnCpu`] | wall and CPU samples (sampler) | `cpu` |
//! | [`AdviceKind::GilContention`] | GIL samples per thread (sampler) | `gil` |
//! | [`AdviceKind::ManyCallsPure`] | calls and time per function (tracer) | `calls` |
//! | [`AdviceKind::ClassWithoutSlots`], [`AdviceKind::ListIteratedOnce`] | allocated / retained bytes per line (memory) | `memory` |

mod calls;
mod cpu;
mod gil;
mod memory;

use pyrometer_lint::{Diagnostic, Outline};
use pyrometer_profile::{FrameId, Profile};

use crate::measure::Join;

/// What kind of advice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AdviceKind {
    /// A hot function whose wall time is mostly spent off the CPU (I/O, sleeping, blocking
    /// calls): threads or asyncio can overlap the waits.
    OffCpu,
    /// A hot function whose wall time is mostly on the CPU: processes, vectorisation or a
    /// compiled extension help (threads do not, for Python code).
    OnCpu,
    /// Threads that run Python code wait for the GIL.
    GilContention,
    /// A function that looks pure, called very many times cheaply: if its arguments repeat, a
    /// cache helps. (A weak signal: arguments are not recorded.)
    ManyCallsPure,
    /// A class without `__slots__` whose instances hold much of the memory.
    ClassWithoutSlots,
    /// A large list built only to be iterated once (a generator keeps the peak down).
    ListIteratedOnce,
}

impl AdviceKind {
    /// `off_cpu`, `on_cpu`, `gil_contention`, `many_calls_pure`, `class_without_slots`,
    /// `list_iterated_once`.
    pub fn as_str(self) -> &'static str {
        match self {
            AdviceKind::OffCpu => "off_cpu",
            AdviceKind::OnCpu => "on_cpu",
            AdviceKind::GilContention => "gil_contention",
            AdviceKind::ManyCallsPure => "many_calls_pure",
            AdviceKind::ClassWithoutSlots => "class_without_slots",
            AdviceKind::ListIteratedOnce => "list_iterated_once",
        }
    }
}

/// What an advice item is about: a function, a class or a line of the user's code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// The source file, as the profile names it.
    pub file: String,
    /// The line (a function's or class's first line, or the line of the code).
    pub line: u32,
    /// The function's or class's qualified name (empty for a line).
    pub name: String,
}

/// A measured figure an advice item rests on.
#[derive(Debug, Clone, PartialEq)]
pub struct Fact {
    /// `wall_ns`, `cpu_ns`, `calls`, …
    pub name: &'static str,
    /// The value.
    pub value: FactValue,
}

/// The value of a [`Fact`].
#[derive(Debug, Clone, PartialEq)]
pub enum FactValue {
    /// A duration.
    Nanoseconds(f64),
    /// A size.
    Bytes(u64),
    /// A count.
    Count(u64),
    /// A share, in percent.
    Percent(f64),
    /// Anything else (a place, a name).
    Text(String),
}

/// One piece of advice.
#[derive(Debug, Clone, PartialEq)]
pub struct AdviceItem {
    /// What kind.
    pub kind: AdviceKind,
    /// What it is about.
    pub subject: Option<Subject>,
    /// The share of the run it concerns (time, or memory for memory advice), percent: orders
    /// the items.
    pub percent: f64,
    /// One line: what the profile shows.
    pub summary: String,
    /// The evidence, in words, with the figures.
    pub evidence: String,
    /// The figures, for machine-readable output.
    pub facts: Vec<Fact>,
    /// What helps.
    pub suggestion: String,
}

/// Every profile-only advice item, largest share first.
pub(crate) fn profile_advice(
    join: &Join<'_>,
    outlines: &[Option<Outline>],
    memory_findings: &[(usize, Diagnostic)],
) -> Vec<AdviceItem> {
    let gil = gil::analyse(join);
    let mut items = Vec::new();
    items.extend(gil.item.clone());
    items.extend(cpu::advice(join, &gil.wait_by_row));
    items.extend(calls::advice(join, outlines));
    items.extend(memory::advice(join, outlines, memory_findings));
    items.sort_by(|a, b| b.percent.total_cmp(&a.percent));
    items
}

/// For each stack, the innermost frame (toward the leaf) in a user file.
pub(crate) fn user_frames(join: &Join<'_>) -> Vec<Option<FrameId>> {
    let profile = join.profile;
    let mut out: Vec<Option<FrameId>> = Vec::with_capacity(profile.stacks.len());
    for node in &profile.stacks {
        let frame = profile.locations[node.location as usize].frame;
        let own = join
            .sources
            .file_of_frame
            .get(frame as usize)
            .copied()
            .flatten()
            .map(|_| frame);
        out.push(own.or_else(|| node.parent.and_then(|p| out[p as usize])));
    }
    out
}

/// A frame as a [`Subject`].
pub(crate) fn subject_of(profile: &Profile, frame: FrameId) -> Subject {
    let f = &profile.frames[frame as usize];
    Subject {
        file: profile.string(f.file).to_string(),
        line: f.line,
        name: profile.string(f.qualname).to_string(),
    }
}

/// `` `name` (file:line) `` with the file relative to the run's directory.
pub(crate) fn label(join: &Join<'_>, subject: &Subject) -> String {
    let file = place(join, &subject.file);
    if subject.name.is_empty() {
        format!("{file}:{}", subject.line)
    } else {
        format!("`{}` ({file}:{})", subject.name, subject.line)
    }
}

/// A file name for reading: relative to the run's directory, or below `site-packages/` or
/// `lib/pythonX.Y/`.
pub(crate) fn place<'a>(join: &Join<'_>, file: &'a str) -> &'a str {
    let cwd = &join.profile.meta.cwd;
    pyrometer_render::format::short_path(file, (!cwd.is_empty()).then_some(cwd.as_str()))
}

/// A location (`file:line` and its function) for reading.
pub(crate) fn location_label(join: &Join<'_>, location: pyrometer_profile::LocId) -> String {
    let profile = join.profile;
    let loc = profile.locations[location as usize];
    let frame = &profile.frames[loc.frame as usize];
    let name = profile.string(frame.qualname);
    let file = place(join, profile.string(frame.file));
    let line = if loc.line != 0 { loc.line } else { frame.line };
    if frame.kind == pyrometer_profile::FrameKind::Python {
        format!("{file}:{line} in `{name}`")
    } else {
        format!("`{name}`")
    }
}

/// Samples as time when the interval is known (`1.20 s`), else as a count (`1,200 samples`).
pub(crate) fn show_samples(join: &Join<'_>, samples: u64) -> String {
    match join.sample_ns() {
        Some(ns) => pyrometer_render::format::duration(samples as f64 * ns),
        None => format!("{} samples", pyrometer_render::format::count(samples)),
    }
}

/// Samples as a [`FactValue`]: nanoseconds when the interval is known, else a count.
pub(crate) fn samples_fact(join: &Join<'_>, samples: u64) -> FactValue {
    match join.sample_ns() {
        Some(ns) => FactValue::Nanoseconds(samples as f64 * ns),
        None => FactValue::Count(samples),
    }
}

/// `part` as a percentage of `whole` (0 when `whole` is 0).
pub(crate) fn pct(part: u64, whole: u64) -> f64 {
    pyrometer_profile::analysis::percent(part, whole)
}
