//! Memory profiling from Python (`pyrometer.profile(mode="memory")`, `MemoryProfiler`): the
//! `pyrometer-memory` session of this process, with thread names from `threading`.

use pyo3::prelude::*;
use pyo3::types::PyDict;
use pyrometer_memory as memory;
use pyrometer_profile::Profile;

use crate::{ProfileData, describe_run, error};

/// Python threads' names by ident, and which is the main thread, from `threading` when the
/// program imported it (it is never imported here).
pub(crate) fn thread_names(py: Python<'_>) -> Vec<(u64, String, bool)> {
    let mut out = Vec::new();
    let Ok(modules) = py.import("sys").and_then(|s| s.getattr("modules")) else {
        return out;
    };
    let Ok(Some(threading)) = modules
        .get_item("threading")
        .map(Some)
        .or_else(|_| Ok::<_, PyErr>(None))
    else {
        return out;
    };
    let main_ident: Option<u64> = threading
        .call_method0("main_thread")
        .and_then(|t| t.getattr("ident"))
        .and_then(|i| i.extract())
        .ok();
    if let Ok(threads) = threading.call_method0("enumerate")
        && let Ok(iter) = threads.try_iter()
    {
        for t in iter.flatten() {
            let ident: Option<u64> = t.getattr("ident").and_then(|i| i.extract()).ok();
            let name: Option<String> = t.getattr("name").and_then(|n| n.extract()).ok();
            if let (Some(ident), Some(name)) = (ident, name) {
                out.push((ident, name, Some(ident) == main_ident));
            }
        }
    }
    out
}

/// `(name, is_main)` for a thread, from the names Python knows.
pub(crate) fn name_lookup(names: &[(u64, String, bool)], ident: u64) -> Option<(String, bool)> {
    names
        .iter()
        .find(|n| n.0 == ident)
        .map(|n| (n.1.clone(), n.2))
}

/// Stops the process's memory session and returns its profile, with threads named.
pub(crate) fn stop_session(py: Python<'_>) -> PyResult<Profile> {
    let names = thread_names(py);
    // SAFETY: holding a `Python` token means the GIL is held.
    let gil = unsafe { memory::Gil::assume() };
    let mut profile = memory::stop(&gil, &|ident| name_lookup(&names, ident)).map_err(error)?;
    describe_run(py, &mut profile);
    Ok(profile)
}

fn parse_interval(sample_interval: Option<&Bound<'_, PyAny>>) -> PyResult<u64> {
    let Some(v) = sample_interval else {
        return Ok(memory::DEFAULT_SAMPLE_INTERVAL);
    };
    if let Ok(n) = v.extract::<i64>() {
        return u64::try_from(n)
            .map_err(|_| error(format!("sample_interval={n} is not a number of bytes")));
    }
    let s: String = v.extract().map_err(|_| {
        error("sample_interval must be a number of bytes, a size like '512K', or 'exact'")
    })?;
    pyrometer_render::format::parse_size(&s).map_err(error)
}

/// A memory profiler of this process: `start()`, `stop()`, `stats()`; what was collected by
/// the last start/stop cycle.
#[pyclass(module = "pyrometer._native")]
pub struct MemoryProfiler {
    sample_interval: u64,
    running: bool,
    collected: Option<Profile>,
}

#[pymethods]
impl MemoryProfiler {
    #[new]
    #[pyo3(signature = (sample_interval=None))]
    fn new(sample_interval: Option<&Bound<'_, PyAny>>) -> PyResult<MemoryProfiler> {
        Ok(MemoryProfiler {
            sample_interval: parse_interval(sample_interval)?,
            running: false,
            collected: None,
        })
    }

    /// Starts recording allocations in every thread.
    fn start(&mut self, _py: Python<'_>) -> PyResult<()> {
        if self.running {
            return Ok(());
        }
        // SAFETY: holding a `Python` token means the GIL is held.
        let gil = unsafe { memory::Gil::assume() };
        memory::start(
            &gil,
            memory::Options {
                sample_interval: self.sample_interval,
                ..memory::Options::default()
            },
        )
        .map_err(error)?;
        self.running = true;
        self.collected = None;
        Ok(())
    }

    /// Stops recording; what was collected is kept.
    fn stop(&mut self, py: Python<'_>) -> PyResult<()> {
        if !self.running {
            return Ok(());
        }
        self.running = false;
        self.collected = Some(stop_session(py)?);
        Ok(())
    }

    /// What was collected so far.
    fn snapshot(&self, py: Python<'_>) -> PyResult<ProfileData> {
        let mut inner = if self.running {
            let names = thread_names(py);
            // SAFETY: holding a `Python` token means the GIL is held.
            let gil = unsafe { memory::Gil::assume() };
            memory::snapshot(&gil, &|ident| name_lookup(&names, ident)).map_err(error)?
        } else {
            match &self.collected {
                Some(p) => p.clone(),
                None => {
                    let mut empty = Profile::default();
                    empty.meta.mode = pyrometer_profile::Mode::Memory;
                    empty
                }
            }
        };
        describe_run(py, &mut inner);
        Ok(ProfileData { inner })
    }

    /// Traced memory now and at its peak (bytes, like `tracemalloc.get_traced_memory()`), and
    /// the totals: a dict with `current`, `peak`, `allocated`, `allocations`, `samples`.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        let s = if self.running {
            memory::stats().map_err(error)?
        } else {
            let p = self
                .collected
                .as_ref()
                .ok_or_else(|| error("the memory profiler has not run"))?;
            let c = |n: &str| p.counter(n).unwrap_or(0);
            memory::Stats {
                current: c("current_bytes") as f64,
                peak: c("peak_bytes") as f64,
                peak_ns: c("peak_at_ns"),
                allocated_bytes: c("allocated_bytes"),
                allocations: c("allocations"),
                samples: c("samples"),
            }
        };
        d.set_item("current", s.current.round() as u64)?;
        d.set_item("peak", s.peak.round() as u64)?;
        d.set_item("allocated", s.allocated_bytes)?;
        d.set_item("allocations", s.allocations)?;
        d.set_item("samples", s.samples)?;
        Ok(d)
    }

    /// Measures the peak afresh from traced memory now.
    fn reset_peak(&self) -> PyResult<()> {
        if !self.running {
            return Err(error("the memory profiler is not running"));
        }
        memory::reset_peak().map_err(error)
    }

    #[getter]
    fn running(&self) -> bool {
        self.running
    }

    #[getter]
    fn sample_interval(&self) -> u64 {
        self.sample_interval
    }
}

impl Drop for MemoryProfiler {
    fn drop(&mut self) {
        if self.running {
            // Dropped while on (the object was collected): switch the hooks off without a
            // report. Drop runs with the GIL held (Python frees the object).
            // SAFETY: as just said.
            let gil = unsafe { memory::Gil::assume() };
            let _ = memory::stop(&gil, &|_| None);
        }
    }
}

/// One allocation site of [`memory_top`]: (file, line, function, value, allocations).
type SiteRow = (String, u32, String, u64, u64);

/// The top allocation sites of a memory profile, by line: a list of `(file, line, function,
/// value, allocations)` sorted by `value`, the metric `by` names (`allocated`, `retained`,
/// `peak`), largest first; like `tracemalloc.Snapshot.statistics("lineno")`.
#[pyfunction]
#[pyo3(signature = (data, by="allocated", limit=10))]
fn memory_top(data: &ProfileData, by: &str, limit: usize) -> PyResult<Vec<SiteRow>> {
    use pyrometer_profile::Metric;
    use pyrometer_profile::analysis::{Granularity, Shape, Table, ThreadFilter};
    let metric = match by {
        "allocated" => Metric::AllocBytes,
        "retained" => Metric::RetainedBytes,
        "peak" => Metric::PeakBytes,
        other => {
            return Err(error(format!(
                "unknown key '{other}' (expected one of: allocated, retained, peak)"
            )));
        }
    };
    let p = &data.inner;
    if p.samples.column(metric).is_none() {
        return Err(error("this profile has no memory figures"));
    }
    let shape = Shape::new(p, Granularity::Line);
    let table = Table::new(p, &shape, metric, &ThreadFilter::All);
    let counts: std::collections::HashMap<u32, u64> =
        Table::new(p, &shape, Metric::AllocCount, &ThreadFilter::All)
            .rows
            .into_iter()
            .map(|r| (r.key, r.self_value))
            .collect();
    let mut rows: Vec<_> = table
        .rows
        .into_iter()
        .filter(|r| r.self_value > 0)
        .collect();
    rows.sort_by(|a, b| b.self_value.cmp(&a.self_value).then(a.key.cmp(&b.key)));
    Ok(rows
        .into_iter()
        .take(limit)
        .map(|r| {
            let loc = p.locations[r.key as usize];
            let f = &p.frames[loc.frame as usize];
            (
                p.string(f.file).to_string(),
                loc.line,
                p.string(f.qualname).to_string(),
                r.self_value,
                counts.get(&r.key).copied().unwrap_or(0),
            )
        })
        .collect())
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<MemoryProfiler>()?;
    m.add_function(wrap_pyfunction!(memory_top, m)?)
}
