//! The profiled side of `pyrometer run`: called by `pyrometer._child` in the child interpreter.
//!
//! The profile is written by whichever comes first of: the atexit hook (normal end, an
//! exception, `sys.exit`), the `os._exit` wrapper, or a termination signal's handler. A
//! process made by `fork()` drops the inherited tracer and never writes.

use std::path::PathBuf;
use std::sync::Mutex;

use pyo3::exceptions::{PyKeyboardInterrupt, PySystemExit};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use pyrometer_profile::pyro;
use pyrometer_tracer as tracer;

use crate::{describe_meta, describe_run, error, gil};

struct ChildState {
    out_dir: PathBuf,
    /// The process that owns the profile (a forked child has another pid).
    pid: u32,
    finished: bool,
    /// The program ended with an uncaught KeyboardInterrupt: die by SIGINT, as Python does.
    interrupted: bool,
    /// Memory mode: the main thread's ident (for thread names).
    memory: bool,
}

static STATE: Mutex<Option<ChildState>> = Mutex::new(None);

fn with_state<T>(f: impl FnOnce(&mut Option<ChildState>) -> T) -> T {
    let mut guard = STATE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    f(&mut guard)
}

/// Runs the program's code object in `globals` with the tracer on (or the line collector, which
/// `child_lines_start` has started). Exceptions are reported as `python` reports them; the
/// collector stays on until [`child_finish`] (threads still running and atexit callbacks are
/// profiled too). With `checkpoint_seconds`, what was collected is saved that often.
#[pyfunction]
#[pyo3(signature = (code, globals, out_dir, builtins, checkpoint_seconds=0.0, trace=true, memory=None))]
#[allow(clippy::too_many_arguments)]
fn child_exec(
    py: Python<'_>,
    code: &Bound<'_, PyAny>,
    globals: &Bound<'_, PyDict>,
    out_dir: PathBuf,
    builtins: bool,
    checkpoint_seconds: f64,
    trace: bool,
    memory: Option<u64>,
) -> PyResult<()> {
    let profile_path = out_dir.join("profile.pyro");
    with_state(|s| {
        *s = Some(ChildState {
            out_dir,
            pid: std::process::id(),
            finished: false,
            interrupted: false,
            memory: memory.is_some(),
        })
    });
    if let Some(sample_interval) = memory {
        // SAFETY: holding a `Python` token means the GIL is held.
        let gil = unsafe { pyrometer_memory::Gil::assume() };
        pyrometer_memory::start(
            &gil,
            pyrometer_memory::Options {
                sample_interval,
                cut_caller_frames: true,
                ..Default::default()
            },
        )
        .map_err(error)?;
        if checkpoint_seconds > 0.0 {
            let mut meta = pyrometer_profile::Meta {
                mode: pyrometer_profile::Mode::Memory,
                ..Default::default()
            };
            describe_meta(py, &mut meta);
            pyrometer_memory::set_checkpoints(
                profile_path.clone(),
                std::time::Duration::from_secs_f64(checkpoint_seconds),
                meta,
            );
        }
    }
    if trace {
        tracer::start(&gil(py), tracer::Options { builtins }).map_err(error)?;
    }
    // Before the program runs, a line session can only be lines mode's.
    let collector = if trace {
        Some(tracer::Collector::Trace)
    } else if tracer::lines::is_active() {
        Some(tracer::Collector::Lines)
    } else {
        None
    };
    if let Some(collector) = collector
        && checkpoint_seconds > 0.0
    {
        let mut meta = pyrometer_profile::Meta::default();
        describe_meta(py, &mut meta);
        let interval = std::time::Duration::from_secs_f64(checkpoint_seconds);
        tracer::set_checkpoints(&gil(py), collector, profile_path, interval, meta)
            .map_err(error)?;
    }
    // SAFETY: GIL held; `code` is a code object and `globals` a dict, both alive for the call.
    let result = unsafe { ffi::PyEval_EvalCode(code.as_ptr(), globals.as_ptr(), globals.as_ptr()) };
    if !result.is_null() {
        // SAFETY: we own the new reference PyEval_EvalCode returned.
        unsafe { ffi::Py_DECREF(result) };
        return Ok(());
    }
    let err = PyErr::fetch(py);
    if err.is_instance_of::<PySystemExit>(py) {
        // `python` handles SystemExit itself, after atexit callbacks: let it.
        return Err(err);
    }
    if err.is_instance_of::<PyKeyboardInterrupt>(py) {
        with_state(|s| {
            if let Some(s) = s {
                s.interrupted = true;
            }
        });
    }
    // Print the traceback the way the interpreter does (through sys.excepthook); it starts at
    // the program's own frame since no Python frame of ours is in it.
    err.restore(py);
    // SAFETY: GIL held and an exception is set.
    unsafe { ffi::PyErr_Print() };
    Err(PySystemExit::new_err(1))
}

/// Stops the tracer and writes the profile, once, in the process that owns it.
fn finish(py: Python<'_>) {
    let Some((out_dir, interrupted, memory)) = with_state(|s| match s {
        Some(s) if !s.finished && s.pid == std::process::id() => {
            s.finished = true;
            Some((s.out_dir.clone(), s.interrupted, s.memory))
        }
        _ => None,
    }) else {
        return;
    };
    if memory && pyrometer_memory::is_active() {
        match crate::memory::stop_session(py) {
            Ok(profile) => {
                if let Err(e) = pyro::write(&out_dir.join("profile.pyro"), &profile) {
                    eprintln!("pyrometer: could not save the profile: {e}");
                }
            }
            Err(e) => eprintln!("pyrometer: could not stop the memory profiler: {e}"),
        }
    }
    let stopped = if tracer::is_active() {
        Some(tracer::stop(&gil(py)))
    } else if tracer::lines::is_active() {
        Some(tracer::lines::stop(&gil(py)))
    } else {
        None
    };
    if let Some(stopped) = stopped {
        match stopped {
            Ok(mut profile) => {
                describe_run(py, &mut profile);
                if let Err(e) = pyro::write(&out_dir.join("profile.pyro"), &profile) {
                    eprintln!("pyrometer: could not save the profile: {e}");
                }
            }
            Err(e) => eprintln!("pyrometer: could not stop the tracer: {e}"),
        }
    }
    if interrupted {
        // Python exits an uncaught KeyboardInterrupt by SIGINT after flushing its streams.
        if let Ok(sys) = py.import("sys") {
            for stream in ["stdout", "stderr"] {
                if let Ok(s) = sys.getattr(stream) {
                    let _ = s.call_method0("flush");
                }
            }
        }
        // SAFETY: restoring the default action and signalling ourselves.
        unsafe {
            libc::signal(libc::SIGINT, libc::SIG_DFL);
            libc::kill(libc::getpid(), libc::SIGINT);
        }
    }
}

/// The atexit hook, registered before the program runs so it runs after the program's own.
#[pyfunction]
fn child_finish(py: Python<'_>) {
    finish(py);
}

/// `os.register_at_fork(after_in_child=…)`: the forked process runs untraced.
#[pyfunction]
fn child_forget(py: Python<'_>) {
    tracer::forget_after_fork(&gil(py));
    tracer::lines::forget_after_fork(&gil(py));
}

/// Stands in for `os._exit`: saves the profile, then exits at once as `os._exit` does.
#[pyfunction]
fn child_os_exit(py: Python<'_>, status: i32) {
    finish(py);
    // SAFETY: _exit ends the process without running anything else, as os._exit does.
    unsafe { libc::_exit(status) }
}

/// Handler for termination signals whose action was the default (death): saves the profile,
/// then dies of the same signal.
#[pyfunction]
fn child_signal(py: Python<'_>, signum: i32, frame: &Bound<'_, PyAny>) {
    let _ = frame;
    finish(py);
    // SAFETY: restoring the default action and signalling ourselves.
    unsafe {
        libc::signal(signum, libc::SIG_DFL);
        libc::kill(libc::getpid(), signum);
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(child_exec, m)?)?;
    m.add_function(wrap_pyfunction!(child_finish, m)?)?;
    m.add_function(wrap_pyfunction!(child_forget, m)?)?;
    m.add_function(wrap_pyfunction!(child_os_exit, m)?)?;
    m.add_function(wrap_pyfunction!(child_signal, m)?)?;
    Ok(())
}
