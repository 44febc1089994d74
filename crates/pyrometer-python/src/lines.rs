//! The line collector's Python surface: `pyrometer.LineProfiler` and `pyrometer.lines` (in
//! `pyrometer/_lines.py`) drive these functions, and `pyrometer run --mode lines`'s child starts
//! the collector with a file filter through [`child_lines_start`].

use pyo3::prelude::*;
use pyo3::types::PyList;
use pyrometer_profile::Metric;
use pyrometer_render::text::LineReport;
use pyrometer_render::{RenderOptions, Renderer};
use pyrometer_tracer::lines;

use crate::{ProfileData, describe_run, error, gil};

/// Starts measuring the lines of these code objects.
#[pyfunction]
fn lines_start(py: Python<'_>, codes: Vec<Bound<'_, PyAny>>) -> PyResult<()> {
    let options = lines::LineOptions {
        codes: codes.iter().map(|c| c.as_ptr()).collect(),
        ..Default::default()
    };
    lines::start(&gil(py), options).map_err(error)
}

/// Adds a code object to the running session.
#[pyfunction]
fn lines_add(py: Python<'_>, code: &Bound<'_, PyAny>) -> PyResult<()> {
    // SAFETY: `code` is a live object borrowed for the call; the GIL is held.
    unsafe { lines::add_code(&gil(py), code.as_ptr()) }.map_err(error)
}

/// Pauses or resumes recording.
#[pyfunction]
fn lines_set_recording(py: Python<'_>, on: bool) -> PyResult<()> {
    lines::set_recording(&gil(py), on).map_err(error)
}

/// Stops the session and returns what it collected.
#[pyfunction]
fn lines_stop(py: Python<'_>) -> PyResult<ProfileData> {
    let mut inner = lines::stop(&gil(py)).map_err(error)?;
    describe_run(py, &mut inner);
    Ok(ProfileData { inner })
}

/// What the running session collected so far.
#[pyfunction]
fn lines_snapshot(py: Python<'_>) -> PyResult<ProfileData> {
    let mut inner = lines::snapshot(&gil(py)).map_err(error)?;
    describe_run(py, &mut inner);
    Ok(ProfileData { inner })
}

#[pyfunction]
fn lines_active() -> bool {
    lines::is_active()
}

/// A line profile's figures as line_profiler shapes them: `[(file, first line, qualname,
/// [(line, hits, nanoseconds)…])…]`, lines in order, threads summed.
#[pyfunction]
fn lines_timings<'py>(py: Python<'py>, data: &ProfileData) -> PyResult<Bound<'py, PyList>> {
    let p = &data.inner;
    let (Some(hits), Some(times)) = (
        p.samples.column(Metric::LineHits),
        p.samples.column(Metric::SelfTime),
    ) else {
        return Ok(PyList::empty(py));
    };
    let mut per_frame: std::collections::BTreeMap<
        u32,
        std::collections::BTreeMap<u32, (u64, u64)>,
    > = Default::default();
    for (row, &stack) in p.samples.stack.iter().enumerate() {
        let frame = p.frame_of_stack(stack);
        let line = p.line_of_stack(stack);
        let cell = per_frame.entry(frame).or_default().entry(line).or_default();
        cell.0 += hits[row];
        cell.1 += times[row];
    }
    let out = PyList::empty(py);
    for (frame, lines) in per_frame {
        let f = &p.frames[frame as usize];
        let rows: Vec<(u32, u64, u64)> = lines.into_iter().map(|(l, (h, t))| (l, h, t)).collect();
        out.append((p.string(f.file), f.line, p.string(f.qualname), rows))?;
    }
    Ok(out)
}

/// An empty line profile (a LineProfiler that never ran).
#[pyfunction]
fn lines_empty(py: Python<'_>) -> ProfileData {
    let mut inner = pyrometer_profile::Profile::default();
    inner.meta.mode = pyrometer_profile::Mode::Lines;
    describe_run(py, &mut inner);
    ProfileData { inner }
}

/// The line report (annotated functions, hottest lines) of a line profile.
#[pyfunction]
#[pyo3(signature = (data, *, unit=None, top=None, color=false))]
fn lines_report(
    data: &ProfileData,
    unit: Option<f64>,
    top: Option<usize>,
    color: bool,
) -> PyResult<String> {
    if let Some(u) = unit
        && !(u.is_finite() && u > 0.0)
    {
        return Err(error(format!(
            "unit {u} is not a positive number of seconds"
        )));
    }
    let defaults = RenderOptions::default();
    let options = RenderOptions {
        unit,
        top: top.unwrap_or(defaults.top),
        color,
        base_dir: std::env::current_dir()
            .ok()
            .map(|d| d.to_string_lossy().into_owned()),
        ..defaults
    };
    let mut out = Vec::new();
    LineReport
        .render(&data.inner, &options, &mut out)
        .map_err(error)?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// `pyrometer run --mode lines`: measures `codes` (the `-c` code and the code nested in it) and
/// every code object whose file the filter selects (unless `decorated`, which measures only what
/// `@profile` names).
#[pyfunction]
#[pyo3(signature = (roots, codes, include, exclude, excluded, sources, decorated))]
#[allow(clippy::too_many_arguments)]
fn child_lines_start(
    py: Python<'_>,
    roots: Vec<String>,
    codes: Vec<Bound<'_, PyAny>>,
    include: Vec<String>,
    exclude: Vec<String>,
    excluded: Vec<String>,
    sources: Vec<(String, String)>,
    decorated: bool,
) -> PyResult<()> {
    let cwd = std::env::current_dir()
        .map(|d| d.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "/".into());
    let filter = if decorated {
        None
    } else {
        Some(lines::FileFilter::new(&roots, &include, &exclude, &excluded, &cwd).map_err(error)?)
    };
    let options = lines::LineOptions {
        codes: codes.iter().map(|c| c.as_ptr()).collect(),
        filter,
        sources,
    };
    lines::start(&gil(py), options).map_err(error)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(lines_start, m)?)?;
    m.add_function(wrap_pyfunction!(lines_add, m)?)?;
    m.add_function(wrap_pyfunction!(lines_set_recording, m)?)?;
    m.add_function(wrap_pyfunction!(lines_stop, m)?)?;
    m.add_function(wrap_pyfunction!(lines_snapshot, m)?)?;
    m.add_function(wrap_pyfunction!(lines_active, m)?)?;
    m.add_function(wrap_pyfunction!(lines_timings, m)?)?;
    m.add_function(wrap_pyfunction!(lines_empty, m)?)?;
    m.add_function(wrap_pyfunction!(lines_report, m)?)?;
    m.add_function(wrap_pyfunction!(child_lines_start, m)?)?;
    Ok(())
}
