//! The result of a benchmark run, as saved in JSON (`--json`, `-o FILE.json`) and in the
//! store. The format is versioned: `format` is always `"pyrometer-bench"` and `version` grows
//! when a field changes meaning or disappears (adding a field does not bump it). Readers refuse
//! a newer version with a clear error. docs/bench.md lists every field.

use serde::{Deserialize, Serialize};

use crate::outliers::{OutlierMethod, Outliers};

pub const FORMAT: &str = "pyrometer-bench";
pub const VERSION: u32 = 1;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Document {
    pub format: String,
    pub version: u32,
    /// `pyrometer X.Y.Z`.
    pub tool: String,
    pub started_unix_ns: u64,
    pub duration_ns: u64,
    pub environment: Environment,
    pub method: Method,
    pub benchmarks: Vec<Benchmark>,
    /// Candidates against a reference candidate of the same run, or benchmarks against a saved
    /// baseline run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub comparisons: Vec<Comparison>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Environment {
    /// The interpreter that ran the benchmarks (none for commands).
    pub python: Option<PythonInfo>,
    /// The CPU model, from /proc/cpuinfo.
    pub cpu: String,
    /// Logical CPUs available to the process.
    pub cores: u32,
    /// The host name.
    pub machine: String,
    /// Kernel name and release.
    pub os: String,
    /// The git commit of the working directory, when it is in a repository.
    pub git: Option<GitInfo>,
    pub cwd: String,
    /// The command line that made the run.
    pub argv: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PythonInfo {
    pub executable: String,
    pub version: String,
    pub implementation: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GitInfo {
    pub commit: String,
    /// Tracked files differ from the commit.
    pub dirty: bool,
    pub branch: Option<String>,
}

/// What was measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Python statements (timeit's kind).
    Statement,
    /// Python functions (`--file`, the Python API, the pytest fixture).
    Function,
    /// Whole commands, each run its own process (hyperfine's kind).
    Command,
}

/// How it was measured.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Method {
    pub kind: Kind,
    /// Worker processes (for commands: 1, each run being its own process).
    pub processes: u32,
    /// Warm-up values per process, discarded from the statistics (kept in the samples).
    pub warmups: u32,
    /// Measured values per process (for commands: runs).
    pub values: u32,
    /// The calibration target: the least time one value should take.
    pub min_time_ns: u64,
    /// Loops given with `-n`, not calibrated.
    pub fixed_loops: bool,
    /// The clock: `perf_counter_ns`, `process_time_ns` or `wall` (commands).
    pub timer: String,
    /// Whether the garbage collector was enabled while timing.
    pub gc: bool,
    pub outliers: OutlierMethod,
    pub ci_level: f64,
    pub ci_method: String,
    /// The significance test of comparisons.
    pub test: String,
    pub alpha: f64,
}

/// What a benchmark runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Definition {
    Statement {
        stmt: String,
        setup: String,
    },
    Function {
        function: String,
        file: Option<String>,
    },
    Command {
        argv: Vec<String>,
        shell: bool,
    },
}

impl Definition {
    /// How the definition reads in a report.
    pub fn text(&self) -> String {
        match self {
            Definition::Statement { stmt, .. } => stmt.replace('\n', "; "),
            Definition::Function { function, file } => match file {
                Some(f) => format!("{f}::{function}"),
                None => function.clone(),
            },
            Definition::Command { argv, shell } => {
                if *shell {
                    argv.join(" ")
                } else {
                    crate::command::join_words(argv)
                }
            }
        }
    }
}

/// One raw timing: `ns` nanoseconds for `loops` executions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sample {
    pub process: u32,
    pub warmup: bool,
    pub loops: u64,
    pub ns: u64,
}

impl Sample {
    /// Seconds per loop.
    pub fn value(&self) -> f64 {
        self.ns as f64 / self.loops.max(1) as f64 / 1e9
    }
}

/// The summary of the measured values, in seconds per loop.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub n: usize,
    pub processes: usize,
    pub mean: f64,
    pub std: f64,
    pub median: f64,
    /// Median absolute deviation (unscaled).
    pub mad: f64,
    pub min: f64,
    pub max: f64,
    pub q1: f64,
    pub q3: f64,
    /// The confidence interval of the median.
    pub ci_low: f64,
    pub ci_high: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Benchmark {
    pub name: String,
    pub definition: Definition,
    /// Loops per value (calibrated, or `-n`).
    pub loops: u64,
    /// Calibration trials: `[loops, ns]`.
    #[serde(default)]
    pub calibration: Vec<[u64; 2]>,
    /// Every timing, warm-ups included, in the order taken.
    pub samples: Vec<Sample>,
    pub summary: Summary,
    pub outliers: Outliers,
    /// Why the result may be unstable, one sentence each.
    pub warnings: Vec<String>,
}

impl Benchmark {
    /// The measured values (seconds per loop), warm-ups left out, in order.
    pub fn values(&self) -> Vec<f64> {
        measured(&self.samples)
    }

    /// The measured values grouped by process.
    pub fn groups(&self) -> Vec<Vec<f64>> {
        groups(&self.samples)
    }
}

pub(crate) fn measured(samples: &[Sample]) -> Vec<f64> {
    samples
        .iter()
        .filter(|s| !s.warmup)
        .map(Sample::value)
        .collect()
}

pub(crate) fn groups(samples: &[Sample]) -> Vec<Vec<f64>> {
    let mut ids: Vec<u32> = samples
        .iter()
        .filter(|s| !s.warmup)
        .map(|s| s.process)
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids.iter()
        .map(|&p| {
            samples
                .iter()
                .filter(|s| !s.warmup && s.process == p)
                .map(Sample::value)
                .collect()
        })
        .collect()
}

/// How a benchmark differs from its reference.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Faster,
    Slower,
    /// The difference is not significant.
    Same,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ComparisonRow {
    pub name: String,
    /// The reference benchmark's name.
    pub reference: String,
    pub reference_median: f64,
    pub median: f64,
    /// median / reference median: above 1 is slower.
    pub ratio: f64,
    pub ratio_ci_low: f64,
    pub ratio_ci_high: f64,
    /// The Mann–Whitney U test's two-sided p-value.
    pub p_value: f64,
    /// Welch's t-test, for reference.
    pub welch_p_value: f64,
    /// What the test compared: `processes` (per-process medians) or `values`.
    pub test_unit: String,
    pub significant: bool,
    pub verdict: Verdict,
}

impl ComparisonRow {
    /// reference / median: above 1 is faster.
    pub fn speedup(&self) -> f64 {
        1.0 / self.ratio
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Comparison {
    /// What the rows are compared against: a candidate's name, or a saved run.
    pub against: String,
    pub rows: Vec<ComparisonRow>,
}
