//! `pyrometer._native`: the extension module. It converts between Python and the Rust crates
//! and maps errors; the logic lives in those crates.

mod bench;
mod child;
mod lines;
mod memory;
mod sampling;

use std::ffi::OsString;
use std::path::PathBuf;

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use pyrometer_profile::{Profile, ProfileBuilder, pyro};
use pyrometer_render::text::{CallTreeReport, Relations};
use pyrometer_render::{Format, RenderOptions, Renderer, SortKey};
use pyrometer_tracer as tracer;

create_exception!(
    _native,
    PyrometerError,
    PyException,
    "Base class of pyrometer's errors."
);

pub(crate) fn error(message: impl std::fmt::Display) -> PyErr {
    PyrometerError::new_err(message.to_string())
}

/// The GIL token the tracer crate asks for.
pub(crate) fn gil(_py: Python<'_>) -> tracer::Gil {
    // SAFETY: holding a `Python` token means the GIL is held for its lifetime.
    unsafe { tracer::Gil::assume() }
}

/// Runs the command line (`pyrometer …`) and returns the exit status.
#[pyfunction]
fn main(py: Python<'_>, argv: Vec<OsString>) -> PyResult<i32> {
    let executable: PathBuf = py.import("sys")?.getattr("executable")?.extract()?;
    let host = pyrometer_cli::Host { python: executable };
    Ok(py.detach(|| pyrometer_cli::main(argv, &host)))
}

/// A collected profile.
#[pyclass(module = "pyrometer._native")]
pub struct ProfileData {
    pub(crate) inner: Profile,
}

fn parse_format(name: &str) -> PyResult<Format> {
    Format::from_name(name).ok_or_else(|| {
        let names: Vec<&str> = Format::ALL.iter().map(|f| f.name()).collect();
        error(format!(
            "unknown format '{name}' (expected one of: {})",
            names.join(", ")
        ))
    })
}

fn render_options(
    sort: Option<&str>,
    top: Option<usize>,
    color: bool,
    min_share: Option<f64>,
) -> PyResult<RenderOptions> {
    let sort = match sort {
        Some(s) => Some(SortKey::from_name(s).ok_or_else(|| {
            error(format!(
                "unknown sort key '{s}' (expected one of: self, total, calls, name, file)"
            ))
        })?),
        None => None,
    };
    let defaults = RenderOptions::default();
    Ok(RenderOptions {
        sort,
        top: top.unwrap_or(defaults.top),
        color,
        min_share: min_share.unwrap_or(defaults.min_share),
        base_dir: std::env::current_dir()
            .ok()
            .map(|d| d.to_string_lossy().into_owned()),
        ..defaults
    })
}

fn render_error(e: pyrometer_render::RenderError) -> PyErr {
    error(e)
}

#[pymethods]
impl ProfileData {
    /// Reads a `.pyro` file (or its JSON export).
    #[staticmethod]
    fn load(path: PathBuf) -> PyResult<ProfileData> {
        pyro::read(&path)
            .map(|inner| ProfileData { inner })
            .map_err(|e| error(format!("cannot read {}: {e}", path.display())))
    }

    /// The text report: top tables, or the call tree, or callers/callees of a function.
    #[pyo3(signature = (*, sort=None, top=None, tree=false, callers=None, callees=None, color=false, min_share=None, idle=false))]
    #[allow(clippy::too_many_arguments)]
    fn report(
        &self,
        sort: Option<&str>,
        top: Option<usize>,
        tree: bool,
        callers: Option<String>,
        callees: Option<String>,
        color: bool,
        min_share: Option<f64>,
        idle: bool,
    ) -> PyResult<String> {
        let mut options = render_options(sort, top, color, min_share)?;
        if idle
            && self
                .inner
                .samples
                .column(pyrometer_profile::Metric::WallSamples)
                .is_some()
        {
            options.metric = Some(pyrometer_profile::Metric::WallSamples);
        }
        let relations;
        let renderer: &dyn Renderer = if callers.is_some() || callees.is_some() {
            relations = Relations {
                query: callers
                    .clone()
                    .or_else(|| callees.clone())
                    .unwrap_or_default(),
                callers: callers.is_some(),
                callees: callees.is_some(),
            };
            &relations
        } else if tree {
            &CallTreeReport
        } else {
            Format::Text.renderer()
        };
        let mut out = Vec::new();
        renderer
            .render(&self.inner, &options, &mut out)
            .map_err(render_error)?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    /// The profile in one of the export formats, as bytes.
    #[pyo3(signature = (format, *, sort=None, top=None))]
    fn render<'py>(
        &self,
        py: Python<'py>,
        format: &str,
        sort: Option<&str>,
        top: Option<usize>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let format = parse_format(format)?;
        let options = render_options(sort, top, false, None)?;
        let bytes =
            pyrometer_render::render_to_vec(format, &self.inner, &options).map_err(render_error)?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// Saves the profile as a `.pyro` file.
    fn save(&self, path: PathBuf) -> PyResult<()> {
        pyro::write(&path, &self.inner)
            .map_err(|e| error(format!("cannot write {}: {e}", path.display())))
    }

    /// Writes an export; the format follows the file name unless given.
    #[pyo3(signature = (path, format=None))]
    fn export(&self, path: PathBuf, format: Option<&str>) -> PyResult<()> {
        let format = match format {
            Some(f) => parse_format(f)?,
            None => Format::from_path(&path).ok_or_else(|| {
                error(format!(
                    "cannot tell the format of '{}' from its name; use .prof, .pstats, .speedscope.json, .collapsed, .svg or .json, or pass format=",
                    path.display()
                ))
            })?,
        };
        let options = render_options(None, None, false, None)?;
        pyrometer_render::render_to_file(format, &self.inner, &options, &path).map_err(render_error)
    }

    /// Adds another profile's data to this one.
    fn merge(&mut self, other: &ProfileData) {
        let mut builder = ProfileBuilder::new(self.inner.meta.clone());
        builder.meta_mut().duration_ns = 0;
        builder.meta_mut().counters.clear();
        builder.absorb(&self.inner);
        builder.absorb(&other.inner);
        self.inner = builder.finish();
    }

    /// Records what was profiled (shown in report headers).
    fn set_command(&mut self, command: Vec<String>) {
        self.inner.meta.command = command;
    }

    #[getter]
    fn mode(&self) -> &'static str {
        self.inner.meta.mode.as_str()
    }

    /// Wall-clock seconds covered by the profile.
    #[getter]
    fn duration(&self) -> f64 {
        self.inner.meta.duration_ns as f64 / 1e9
    }

    fn __repr__(&self) -> String {
        format!(
            "<pyrometer ProfileData mode={} functions={} duration={:.3}s>",
            self.inner.meta.mode.as_str(),
            self.inner.frames.len(),
            self.inner.meta.duration_ns as f64 / 1e9
        )
    }
}

/// Python version facts for a profile's metadata.
pub(crate) fn python_info(py: Python<'_>) -> Option<pyrometer_profile::PythonInfo> {
    let sys = py.import("sys").ok()?;
    let info = sys.getattr("version_info").ok()?;
    let part = |i: usize| -> Option<u32> { info.get_item(i).ok()?.extract().ok() };
    let (major, minor, micro) = (part(0)?, part(1)?, part(2)?);
    let implementation: String = sys
        .getattr("implementation")
        .ok()?
        .getattr("name")
        .ok()?
        .extract()
        .ok()?;
    let executable: String = sys.getattr("executable").ok()?.extract().ok()?;
    Some(pyrometer_profile::PythonInfo {
        version: format!("{major}.{minor}.{micro}"),
        implementation,
        executable,
    })
}

/// Fills what a profile made in this process should say about itself.
pub(crate) fn describe_meta(py: Python<'_>, meta: &mut pyrometer_profile::Meta) {
    meta.tool = format!("pyrometer {}", env!("CARGO_PKG_VERSION"));
    meta.python = python_info(py);
    if let Ok(cwd) = std::env::current_dir() {
        meta.cwd = cwd.to_string_lossy().into_owned();
    }
}

pub(crate) fn describe_run(py: Python<'_>, profile: &mut Profile) {
    describe_meta(py, &mut profile.meta);
}

/// The function tracer, for code that profiles itself. `pyrometer.Profile` (the drop-in for
/// `cProfile.Profile`) derives from it; data accumulates over enable/disable cycles.
#[pyclass(subclass, module = "pyrometer._native")]
pub struct Tracer {
    builtins: bool,
    enabled: bool,
    data: Option<Profile>,
}

#[pymethods]
impl Tracer {
    #[new]
    #[pyo3(signature = (*args, builtins=true, **kwargs))]
    fn new(
        args: &Bound<'_, pyo3::types::PyTuple>,
        builtins: bool,
        kwargs: Option<&Bound<'_, pyo3::types::PyDict>>,
    ) -> Tracer {
        // Subclasses take their own arguments; the tracer only needs `builtins`.
        let _ = (args, kwargs);
        Tracer {
            builtins,
            enabled: false,
            data: None,
        }
    }

    /// Starts collecting (in every thread).
    #[pyo3(signature = (subcalls=true, builtins=None))]
    fn enable(&mut self, py: Python<'_>, subcalls: bool, builtins: Option<bool>) -> PyResult<()> {
        let _ = subcalls;
        if self.enabled {
            return Ok(());
        }
        if let Some(b) = builtins {
            self.builtins = b;
        }
        tracer::start(
            &gil(py),
            tracer::Options {
                builtins: self.builtins,
            },
        )
        .map_err(error)?;
        self.enabled = true;
        Ok(())
    }

    /// Stops collecting; what was collected is kept.
    fn disable(&mut self, py: Python<'_>) -> PyResult<()> {
        if !self.enabled {
            return Ok(());
        }
        self.enabled = false;
        let mut profile = tracer::stop(&gil(py)).map_err(error)?;
        describe_run(py, &mut profile);
        self.data = Some(match self.data.take() {
            Some(old) => pyrometer_profile::builder::merge(&[&old, &profile]),
            None => profile,
        });
        Ok(())
    }

    /// Forgets what was collected.
    fn clear(&mut self) {
        self.data = None;
    }

    /// What was collected so far (while enabled, as if every open call returned now).
    fn snapshot(&self, py: Python<'_>) -> PyResult<ProfileData> {
        let live = if self.enabled {
            let mut p = tracer::snapshot(&gil(py)).map_err(error)?;
            describe_run(py, &mut p);
            Some(p)
        } else {
            None
        };
        let inner = match (&self.data, live) {
            (Some(d), Some(l)) => pyrometer_profile::builder::merge(&[d, &l]),
            (Some(d), None) => d.clone(),
            (None, Some(l)) => l,
            (None, None) => {
                let mut empty = Profile::default();
                describe_run(py, &mut empty);
                empty
            }
        };
        Ok(ProfileData { inner })
    }

    #[getter]
    fn enabled(&self) -> bool {
        self.enabled
    }
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("PyrometerError", m.py().get_type::<PyrometerError>())?;
    m.add_function(wrap_pyfunction!(main, m)?)?;
    m.add_class::<ProfileData>()?;
    m.add_class::<Tracer>()?;
    child::register(m)?;
    lines::register(m)?;
    bench::register(m)?;
    sampling::register(m)?;
    memory::register(m)?;
    Ok(())
}
