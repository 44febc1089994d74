//! pyrometer's benchmarks: the statistics (mean and standard deviation, median and MAD,
//! bootstrap confidence intervals, outliers, instability warnings, significance tests), the
//! calibration of inner loops, the orchestration of Python worker processes and of command
//! runs, the versioned result JSON and its renderers (text, Markdown).
//!
//! Pure Rust: the Python side is a worker *process* speaking JSON lines ([`pyworker`]), or, for
//! the in-process API, any [`run::Worker`] the caller implements.

pub mod analysis;
pub mod bootstrap;
pub mod command;
pub mod compare;
pub mod dist;
pub mod env;
pub mod format;
pub mod outliers;
pub mod pyworker;
pub mod render;
pub mod result;
pub mod rng;
pub mod run;
pub mod significance;
pub mod stats;

pub use result::{Benchmark, Comparison, ComparisonRow, Document, Verdict};

/// Everything that can stop a benchmark. Each message is one line.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The benchmarked code is wrong: a syntax error, an exception (the worker's own words).
    #[error("{0}")]
    Code(String),
    #[error("cannot start the Python worker {python}: {reason}")]
    Spawn { python: String, reason: String },
    #[error("the Python worker ({python}) ended unexpectedly {how}")]
    WorkerDied { python: String, how: String },
    #[error("unexpected answer from the worker: {0}")]
    Protocol(String),
    #[error("cannot run '{program}': {reason}")]
    CommandSpawn { program: String, reason: String },
    #[error("the command '{command}' failed with {status}")]
    CommandFailed { command: String, status: String },
    #[error("{0}")]
    Usage(String),
    #[error("cannot read {path}: {reason}")]
    Read { path: String, reason: String },
}

/// Reads a result document from JSON text, refusing other files and newer versions.
pub fn parse_document(text: &str, origin: &str) -> Result<Document, BenchError> {
    let err = |reason: String| BenchError::Read {
        path: origin.to_string(),
        reason,
    };
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| err(format!("not JSON ({e})")))?;
    if value.get("format").and_then(|f| f.as_str()) != Some(result::FORMAT) {
        return Err(err("not a pyrometer benchmark result".into()));
    }
    let version = value.get("version").and_then(|v| v.as_u64()).unwrap_or(0);
    if version > result::VERSION as u64 {
        return Err(err(format!(
            "written by a newer pyrometer (result version {version}; this one reads up to {})",
            result::VERSION
        )));
    }
    serde_json::from_value(value).map_err(|e| err(format!("malformed result ({e})")))
}

/// The result as pretty JSON.
pub fn to_json(doc: &Document) -> String {
    let mut s = serde_json::to_string_pretty(doc).unwrap_or_default();
    s.push('\n');
    s
}
