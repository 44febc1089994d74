//! The one data model every collector fills and every renderer reads.
//!
//! A profile is a set of tables that refer to each other by index:
//!
//! ```text
//! strings ◀── frames ◀── locations ◀── stacks (a trie: parent stack + location)
//!                                          ▲
//! processes ◀── threads ◀───────────── samples (rows: stack × thread, one column per metric)
//! ```
//!
//! Every metric is attributed to the *leaf* of a stack (the innermost frame), so a row says
//! "while this exact call path was running on this thread, this much happened". Inclusive
//! figures, per-function figures and caller/callee figures are derived by [`crate::analysis`].
//!
//! Invariants (checked by [`Profile::validate`] when a file is read):
//! - every index points inside its table;
//! - a stack's parent has a smaller index than the stack itself;
//! - a (stack, thread) pair appears in at most one row, and every column has one value per row.

use serde::{Deserialize, Serialize};

/// Index into [`Profile::strings`].
pub type StrId = u32;
/// Index into [`Profile::frames`].
pub type FrameId = u32;
/// Index into [`Profile::locations`].
pub type LocId = u32;
/// Index into [`Profile::stacks`].
pub type StackId = u32;
/// Index into [`Profile::threads`].
pub type ThreadIdx = u32;
/// Index into [`Profile::processes`].
pub type ProcessIdx = u32;

/// A recorded run: what ran, how it was measured, and what was measured.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub meta: Meta,
    pub strings: Vec<String>,
    pub frames: Vec<Frame>,
    pub locations: Vec<Location>,
    pub stacks: Vec<Stack>,
    pub processes: Vec<Process>,
    pub threads: Vec<Thread>,
    pub samples: Samples,
    pub timeline: Vec<Series>,
    /// Source text the renderers show (line-level profiles keep the lines of every function
    /// they measured, so a saved run annotates its source even after the files change).
    #[serde(default)]
    pub sources: Vec<Source>,
}

/// How the data was collected. New variants are only ever appended (the file format encodes
/// the variant's position).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Deterministic function tracing: exact calls and times.
    #[default]
    Trace,
    /// Statistical stack sampling.
    Sample,
    /// Deterministic line tracing.
    Lines,
    /// Allocation sampling.
    Memory,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Trace => "trace",
            Mode::Sample => "sample",
            Mode::Lines => "lines",
            Mode::Memory => "memory",
        }
    }
}

/// Facts about the run, shown in report headers and footers.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    /// The tool and version that wrote the profile, e.g. `pyrometer 0.1.0`.
    pub tool: String,
    pub mode: Mode,
    /// The profiled command as the user gave it (`script.py arg…`, `-m mod …`, `-c code …`).
    pub command: Vec<String>,
    pub cwd: String,
    pub python: Option<PythonInfo>,
    pub host: String,
    /// Wall-clock start, nanoseconds since the Unix epoch.
    pub start_unix_ns: u64,
    /// Wall-clock duration of the run, nanoseconds.
    pub duration_ns: u64,
    /// For sampling modes: the nominal interval between samples, nanoseconds.
    pub sample_interval_ns: Option<u64>,
    /// The clock the collector read (`tsc`, `monotonic`).
    pub clock: String,
    /// How the profiled program ended, when the run launched it.
    pub exit: Option<Exit>,
    /// Collector health: events dropped, read errors, late samples, … (shown in footers).
    pub counters: Vec<Counter>,
    /// Warnings for the person reading the report.
    pub notes: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PythonInfo {
    /// `3.12.1`
    pub version: String,
    /// `cpython`
    pub implementation: String,
    pub executable: String,
}

/// How a process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Exit {
    /// Exited with this status.
    Code(i32),
    /// Killed by this signal.
    Signal(i32),
}

impl Exit {
    /// The status a shell would report (`128 + signal` for a signal).
    pub fn shell_status(self) -> i32 {
        match self {
            Exit::Code(c) => c,
            Exit::Signal(s) => 128 + s,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counter {
    pub name: String,
    pub value: u64,
}

/// A function (or a built-in, or a native symbol).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Frame {
    /// The short name: `co_name` for Python code; for built-ins the label cProfile uses
    /// (`<built-in method builtins.len>`, `<method 'append' of 'list' objects>`).
    pub name: StrId,
    /// The name people read: `co_qualname` (`Parser.parse`), or `list.append` for a built-in.
    pub qualname: StrId,
    /// Source file (`co_filename`); `~` for built-ins, as pstats has it.
    pub file: StrId,
    /// First line of the function (`co_firstlineno`); 0 when there is none.
    pub line: u32,
    pub kind: FrameKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FrameKind {
    /// Python code.
    Python,
    /// A built-in (C) function or method called from Python.
    Builtin,
    /// A native symbol (C, C++, Rust).
    Native,
    /// A synthetic frame (a process or thread root, `<idle>`, …).
    Synthetic,
}

/// A place in a function. `line == 0` means "the function as a whole" (function-level data).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Location {
    pub frame: FrameId,
    pub line: u32,
}

/// A node of the stack trie: the call path from a thread's outermost frame to `location`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Stack {
    pub parent: Option<StackId>,
    pub location: LocId,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Process {
    pub pid: u32,
    pub parent: Option<ProcessIdx>,
    pub command: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Thread {
    pub process: ProcessIdx,
    /// Python's thread identifier (`threading.get_ident()`), 0 if unknown.
    pub ident: u64,
    /// The OS thread id (`threading.get_native_id()`), 0 if unknown.
    pub native_id: u64,
    pub name: StrId,
    pub is_main: bool,
}

/// What a metric counts, and in which unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Samples taken while the thread existed (idle or not).
    WallSamples,
    /// Samples taken while the thread was on a CPU.
    CpuSamples,
    /// Samples taken while the thread held the GIL.
    GilSamples,
    /// Completed activations of the leaf frame on this path (tracing).
    Calls,
    /// Time spent in the leaf frame itself, nanoseconds (tracing).
    SelfTime,
    /// Bytes allocated by the leaf frame (memory).
    AllocBytes,
    /// Allocations made by the leaf frame (memory).
    AllocCount,
    /// Bytes allocated here and still alive at the end (memory).
    RetainedBytes,
    /// Times the leaf line ran (line tracing).
    LineHits,
    /// Bytes allocated here and alive when traced memory peaked (memory).
    PeakBytes,
}

/// The unit of a metric's values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Count,
    Nanoseconds,
    Bytes,
}

impl Metric {
    pub const ALL: [Metric; 10] = [
        Metric::WallSamples,
        Metric::CpuSamples,
        Metric::GilSamples,
        Metric::Calls,
        Metric::SelfTime,
        Metric::AllocBytes,
        Metric::AllocCount,
        Metric::RetainedBytes,
        Metric::LineHits,
        Metric::PeakBytes,
    ];

    pub fn unit(self) -> Unit {
        match self {
            Metric::SelfTime => Unit::Nanoseconds,
            Metric::AllocBytes | Metric::RetainedBytes | Metric::PeakBytes => Unit::Bytes,
            _ => Unit::Count,
        }
    }

    /// Whether values add up along a call path: the inclusive value of a frame is the sum over
    /// everything it called. True for time, samples and bytes; false for call and hit counts.
    pub fn is_additive(self) -> bool {
        !matches!(self, Metric::Calls | Metric::LineHits)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Metric::WallSamples => "wall_samples",
            Metric::CpuSamples => "cpu_samples",
            Metric::GilSamples => "gil_samples",
            Metric::Calls => "calls",
            Metric::SelfTime => "self_time",
            Metric::AllocBytes => "alloc_bytes",
            Metric::AllocCount => "alloc_count",
            Metric::RetainedBytes => "retained_bytes",
            Metric::LineHits => "line_hits",
            Metric::PeakBytes => "peak_bytes",
        }
    }
}

/// The measurements: one row per (stack, thread), one column per metric the mode fills.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Samples {
    pub stack: Vec<StackId>,
    pub thread: Vec<ThreadIdx>,
    pub columns: Vec<Column>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    pub metric: Metric,
    pub values: Vec<u64>,
}

impl Samples {
    pub fn len(&self) -> usize {
        self.stack.len()
    }

    pub fn is_empty(&self) -> bool {
        self.stack.is_empty()
    }

    pub fn column(&self, metric: Metric) -> Option<&[u64]> {
        self.columns
            .iter()
            .find(|c| c.metric == metric)
            .map(|c| c.values.as_slice())
    }

    pub fn metrics(&self) -> impl Iterator<Item = Metric> + '_ {
        self.columns.iter().map(|c| c.metric)
    }
}

/// Consecutive lines of a source file, as they were when the profile was taken.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    /// The file, as frames name it (`co_filename`).
    pub file: StrId,
    /// The number of the first line in `lines`.
    pub first_line: u32,
    /// The text of each line, without its line ending.
    pub lines: Vec<StrId>,
}

/// A time series (RSS, traced memory, CPU %) recorded during the run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Series {
    pub name: String,
    pub unit: String,
    /// (nanoseconds since the start of the run, value)
    pub points: Vec<(u64, f64)>,
}

impl Profile {
    pub fn string(&self, id: StrId) -> &str {
        self.strings.get(id as usize).map_or("?", String::as_str)
    }

    pub fn frame_of_stack(&self, stack: StackId) -> FrameId {
        self.locations[self.stacks[stack as usize].location as usize].frame
    }

    pub fn line_of_stack(&self, stack: StackId) -> u32 {
        self.locations[self.stacks[stack as usize].location as usize].line
    }

    /// The frames of a stack from the outermost to the leaf.
    pub fn stack_frames(&self, stack: StackId) -> Vec<LocId> {
        let mut path = Vec::new();
        let mut cur = Some(stack);
        while let Some(s) = cur {
            let node = self.stacks[s as usize];
            path.push(node.location);
            cur = node.parent;
        }
        path.reverse();
        path
    }

    /// The metric that measures time in this profile, if any, in order of preference.
    pub fn time_metric(&self) -> Option<Metric> {
        [Metric::SelfTime, Metric::CpuSamples, Metric::WallSamples]
            .into_iter()
            .find(|m| self.samples.column(*m).is_some())
    }

    pub fn total(&self, metric: Metric) -> u64 {
        self.samples
            .column(metric)
            .map_or(0, |values| values.iter().sum())
    }

    /// The same profile with only the measurements of process `pid`'s threads (for a run that
    /// followed subprocesses); `None` when no process of the profile has that pid. Tables
    /// (frames, stacks, threads, processes) are kept as they are.
    pub fn only_process(&self, pid: u32) -> Option<Profile> {
        let index = self.processes.iter().position(|p| p.pid == pid)? as ProcessIdx;
        let keep: Vec<bool> = self
            .samples
            .thread
            .iter()
            .map(|&t| {
                self.threads
                    .get(t as usize)
                    .is_some_and(|t| t.process == index)
            })
            .collect();
        let pick = |values: &[u64]| -> Vec<u64> {
            values
                .iter()
                .zip(&keep)
                .filter_map(|(&v, &k)| k.then_some(v))
                .collect()
        };
        let mut profile = self.clone();
        profile.samples = Samples {
            stack: pick_ids(&self.samples.stack, &keep),
            thread: pick_ids(&self.samples.thread, &keep),
            columns: self
                .samples
                .columns
                .iter()
                .map(|c| Column {
                    metric: c.metric,
                    values: pick(&c.values),
                })
                .collect(),
        };
        Some(profile)
    }

    /// The saved text of line `line` of `file`, if the profile kept it.
    pub fn source_line(&self, file: StrId, line: u32) -> Option<&str> {
        self.sources.iter().find_map(|s| {
            let i = line.checked_sub(s.first_line)? as usize;
            (s.file == file && i < s.lines.len()).then(|| self.string(s.lines[i]))
        })
    }

    pub fn counter(&self, name: &str) -> Option<u64> {
        self.meta
            .counters
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.value)
    }

    /// Checks the invariants listed in the module documentation, so that code reading a
    /// profile never indexes out of bounds.
    pub fn validate(&self) -> Result<(), String> {
        let n_str = self.strings.len();
        for (i, f) in self.frames.iter().enumerate() {
            for s in [f.name, f.qualname, f.file] {
                if s as usize >= n_str {
                    return Err(format!("frame {i} names string {s} of {n_str}"));
                }
            }
        }
        for (i, l) in self.locations.iter().enumerate() {
            if l.frame as usize >= self.frames.len() {
                return Err(format!("location {i} names frame {}", l.frame));
            }
        }
        for (i, s) in self.stacks.iter().enumerate() {
            if s.location as usize >= self.locations.len() {
                return Err(format!("stack {i} names location {}", s.location));
            }
            if let Some(p) = s.parent
                && p as usize >= i
            {
                return Err(format!(
                    "stack {i} has parent {p}, which does not come before it"
                ));
            }
        }
        for (i, p) in self.processes.iter().enumerate() {
            if let Some(parent) = p.parent
                && parent as usize >= self.processes.len()
            {
                return Err(format!("process {i} names parent {parent}"));
            }
        }
        for (i, t) in self.threads.iter().enumerate() {
            if t.process as usize >= self.processes.len() {
                return Err(format!("thread {i} names process {}", t.process));
            }
            if t.name as usize >= n_str {
                return Err(format!("thread {i} names string {}", t.name));
            }
        }
        for (i, s) in self.sources.iter().enumerate() {
            if let Some(bad) = std::iter::once(&s.file)
                .chain(&s.lines)
                .find(|&&id| id as usize >= n_str)
            {
                return Err(format!("source {i} names string {bad} of {n_str}"));
            }
        }
        let rows = self.samples.stack.len();
        if self.samples.thread.len() != rows {
            return Err("the thread column does not match the stack column".into());
        }
        for c in &self.samples.columns {
            if c.values.len() != rows {
                return Err(format!(
                    "column {} has {} values for {rows} rows",
                    c.metric.as_str(),
                    c.values.len()
                ));
            }
        }
        let mut seen = rustc_hash::FxHashSet::default();
        for (s, t) in self.samples.stack.iter().zip(&self.samples.thread) {
            if *s as usize >= self.stacks.len() {
                return Err(format!("a row names stack {s}"));
            }
            if *t as usize >= self.threads.len() {
                return Err(format!("a row names thread {t}"));
            }
            if !seen.insert((*s, *t)) {
                return Err(format!("stack {s} on thread {t} appears in two rows"));
            }
        }
        Ok(())
    }
}

/// The entries of `ids` whose `keep` flag is set.
fn pick_ids(ids: &[u32], keep: &[bool]) -> Vec<u32> {
    ids.iter()
        .zip(keep)
        .filter_map(|(&id, &k)| k.then_some(id))
        .collect()
}
