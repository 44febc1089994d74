//! The benchmark functions of `pyrometer._native`, for `pyrometer.bench` and the pytest plugin:
//! in-process runs (the orchestration and statistics are pyrometer-bench's; Python only runs
//! the timed loops), reports, comparisons, the gate and the history store. Documents cross the
//! boundary as JSON text.

use std::path::PathBuf;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use pyo3::prelude::*;
use pyrometer_bench::analysis::analyze;
use pyrometer_bench::format::Unit;
use pyrometer_bench::render::{self, Options};
use pyrometer_bench::result::{Definition, Document, FORMAT, Kind, PythonInfo, VERSION};
use pyrometer_bench::run::{self, Plan, Spawner, Worker};
use pyrometer_bench::{BenchError, compare};
use pyrometer_store::Store;

use crate::error;

/// Times in this process: each candidate is a Python callable `timer(loops) -> ns`.
struct InProcess<'py> {
    timers: Vec<Bound<'py, PyAny>>,
    /// The exception a timer raised, raised again once the run has stopped.
    raised: Option<PyErr>,
}

struct Lend<'a, 'py>(&'a mut InProcess<'py>);

impl Worker for Lend<'_, '_> {
    fn time(&mut self, candidate: usize, loops: u64) -> Result<u64, BenchError> {
        let result = self.0.timers[candidate]
            .call1((loops,))
            .and_then(|ns| ns.extract::<u64>());
        result.map_err(|e| {
            let message = e.to_string();
            self.0.raised = Some(e);
            BenchError::Code(message)
        })
    }
}

impl<'py> Spawner for InProcess<'py> {
    fn spawn(&mut self, _process: u32) -> Result<Box<dyn Worker + '_>, BenchError> {
        Ok(Box::new(Lend(self)))
    }
}

fn parse_doc(text: &str, origin: &str) -> PyResult<Document> {
    pyrometer_bench::parse_document(text, origin).map_err(error)
}

fn to_json<T: serde::Serialize>(value: &T) -> PyResult<String> {
    serde_json::to_string(value).map_err(error)
}

fn unit(name: Option<&str>) -> PyResult<Option<Unit>> {
    name.map(|n| {
        Unit::from_name(n).ok_or_else(|| {
            error(format!(
                "unknown unit '{n}' (expected one of: nsec, usec, msec, sec)"
            ))
        })
    })
    .transpose()
}

/// Runs candidates in this process and returns the result document (JSON). `timers[i](loops)`
/// runs candidate i `loops` times and returns nanoseconds; `definitions[i]` says what it is
/// (a function's qualified name, or a statement).
#[pyfunction]
#[pyo3(signature = (names, timers, definitions, *, statements=false, warmups=1, values=15, min_time=0.02, loops=None, gc=false, reference=None))]
#[allow(clippy::too_many_arguments)]
fn bench_run(
    py: Python<'_>,
    names: Vec<String>,
    timers: Vec<Bound<'_, PyAny>>,
    definitions: Vec<String>,
    statements: bool,
    warmups: u32,
    values: u32,
    min_time: f64,
    loops: Option<u64>,
    gc: bool,
    reference: Option<usize>,
) -> PyResult<String> {
    if names.len() != timers.len() || names.len() != definitions.len() {
        return Err(error("names, timers and definitions differ in length"));
    }
    if !(min_time.is_finite() && min_time >= 0.0) {
        return Err(error(format!(
            "min_time={min_time} is not a number of seconds"
        )));
    }
    let plan = Plan {
        processes: 1,
        warmups,
        values,
        min_time_ns: (min_time * 1e9) as u64,
        loops,
        gc,
    };
    plan.check().map_err(error)?;
    let started = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let clock = Instant::now();
    let mut spawner = InProcess {
        timers,
        raised: None,
    };
    let measured = match run::run(&names, &plan, &mut spawner, &mut run::Quiet) {
        Ok(m) => m,
        Err(e) => {
            return Err(match spawner.raised.take() {
                Some(raised) => raised,
                None => error(e),
            });
        }
    };
    let kind = if statements {
        Kind::Statement
    } else {
        Kind::Function
    };
    let method = run::method(kind, &plan, "perf_counter_ns");
    let benchmarks = names
        .into_iter()
        .zip(definitions)
        .zip(measured)
        .map(|((name, def), m)| {
            let definition = if statements {
                Definition::Statement {
                    stmt: def,
                    setup: String::new(),
                }
            } else {
                Definition::Function {
                    function: def,
                    file: None,
                }
            };
            analyze(name, definition, m.loops, m.calibration, m.samples, &method)
        })
        .collect();
    let python = crate::python_info(py).map(|p| PythonInfo {
        executable: p.executable,
        version: p.version,
        implementation: p.implementation,
    });
    let argv: Vec<String> = py
        .import("sys")
        .and_then(|s| s.getattr("argv"))
        .and_then(|a| a.extract())
        .unwrap_or_default();
    let cwd = std::env::current_dir().unwrap_or_default();
    let mut doc = Document {
        format: FORMAT.into(),
        version: VERSION,
        tool: format!("pyrometer {}", env!("CARGO_PKG_VERSION")),
        started_unix_ns: started.as_nanos() as u64,
        duration_ns: clock.elapsed().as_nanos() as u64,
        environment: pyrometer_bench::env::capture(&cwd, python, argv),
        method,
        benchmarks,
        comparisons: Vec::new(),
    };
    if doc.benchmarks.len() > 1
        && let Some(c) = compare::within(&doc, reference.unwrap_or(0))
    {
        doc.comparisons.push(c);
    }
    to_json(&doc)
}

/// A document's report: `text`, `markdown` or `json`.
#[pyfunction]
#[pyo3(signature = (document, format="text", *, unit=None, verbose=false))]
fn bench_render(
    document: &str,
    format: &str,
    unit: Option<&str>,
    verbose: bool,
) -> PyResult<String> {
    let doc = parse_doc(document, "the result")?;
    let options = Options {
        unit: self::unit(unit)?,
        verbose,
    };
    match format {
        "text" => Ok(render::text::report(&doc, &options)),
        "markdown" => Ok(render::markdown::report(&doc, &options)),
        "json" => Ok(pyrometer_bench::to_json(&doc)),
        other => Err(error(format!(
            "unknown format '{other}' (expected one of: text, markdown, json)"
        ))),
    }
}

/// Compares the benchmarks of `new` with those of the same name in `old`; returns the
/// comparison (JSON) with the names found on one side only.
#[pyfunction]
fn bench_between(
    old: &str,
    new: &str,
    against: String,
) -> PyResult<(String, Vec<String>, Vec<String>)> {
    let old = parse_doc(old, "the baseline")?;
    let new = parse_doc(new, "the result")?;
    let matched = compare::between(&old, &new, against);
    Ok((
        to_json(&matched.comparison)?,
        matched.only_old,
        matched.only_new,
    ))
}

/// A comparison's text or Markdown table; with `threshold` (0.05 = 5%), a gate column.
#[pyfunction]
#[pyo3(signature = (comparison, format="text", *, threshold=None, unit=None))]
fn bench_render_comparison(
    comparison: &str,
    format: &str,
    threshold: Option<f64>,
    unit: Option<&str>,
) -> PyResult<String> {
    let cmp: pyrometer_bench::Comparison = serde_json::from_str(comparison).map_err(error)?;
    let options = Options {
        unit: self::unit(unit)?,
        verbose: false,
    };
    match format {
        "text" => Ok(render::text::comparison(&cmp, &options, threshold)),
        "markdown" => Ok(render::markdown::comparison(&cmp, &options, threshold)),
        other => Err(error(format!(
            "unknown format '{other}' (expected one of: text, markdown)"
        ))),
    }
}

/// The names of the benchmarks significantly slower than their reference by more than
/// `threshold` (0.05 = 5%).
#[pyfunction]
fn bench_regressions(comparison: &str, threshold: f64) -> PyResult<Vec<String>> {
    let cmp: pyrometer_bench::Comparison = serde_json::from_str(comparison).map_err(error)?;
    Ok(compare::regressions(&cmp, threshold)
        .into_iter()
        .map(|r| r.name.clone())
        .collect())
}

/// Records a run in the store of `dir` (under `name` too); returns its id.
#[pyfunction]
#[pyo3(signature = (dir, document, name=None))]
fn bench_store_save(dir: PathBuf, document: &str, name: Option<&str>) -> PyResult<i64> {
    let doc = parse_doc(document, "the result")?;
    let mut store = Store::open(&dir).map_err(error)?;
    store.save(&doc, name).map_err(error)
}

/// The document of a stored run: a saved name, or `#ID`.
#[pyfunction]
fn bench_store_load(dir: PathBuf, reference: &str) -> PyResult<String> {
    let store = Store::open_existing(&dir)
        .map_err(error)?
        .ok_or_else(|| error(format!("no benchmark history in {}", dir.display())))?;
    let id = match reference.strip_prefix('#').and_then(|i| i.parse().ok()) {
        Some(id) => id,
        None => store.saved(reference).map_err(error)?,
    };
    to_json(&store.load(id).map_err(error)?)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(bench_run, m)?)?;
    m.add_function(wrap_pyfunction!(bench_render, m)?)?;
    m.add_function(wrap_pyfunction!(bench_between, m)?)?;
    m.add_function(wrap_pyfunction!(bench_render_comparison, m)?)?;
    m.add_function(wrap_pyfunction!(bench_regressions, m)?)?;
    m.add_function(wrap_pyfunction!(bench_store_save, m)?)?;
    m.add_function(wrap_pyfunction!(bench_store_load, m)?)?;
    Ok(())
}
