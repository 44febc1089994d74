//! The 3.12+ backend: `sys.monitoring` with C function callbacks, events local to the measured
//! code objects.

use std::ptr::null_mut;

use pyo3_ffi::*;

use super::{CodeEntry, on_exit, on_line, on_start};
use crate::TracerError;
use crate::py::Gil;
use crate::py::monitoring::{Callback, Scope, Tool, callback_def, none, singleton};

/// The tool we hold: its id, callbacks and local event mask.
pub(super) type Backend = Tool;

/// `sys.monitoring.DISABLE`, returned to switch an event off at one code location.
static mut DISABLE: *mut PyObject = null_mut();

callback_def!(LINE_DEF, "pyrometer_lines_", line);
callback_def!(START_DEF, "pyrometer_lines_", start);
callback_def!(GLOBAL_START_DEF, "pyrometer_lines_", global_start);
callback_def!(EXIT_DEF, "pyrometer_lines_", exit);

/// LINE: `(code, line)`.
unsafe extern "C" fn line(
    _slf: *mut PyObject,
    args: *mut *mut PyObject,
    _nargs: Py_ssize_t,
) -> *mut PyObject {
    // SAFETY: the interpreter passes the code object and the line number; GIL held.
    unsafe {
        let n = PyLong_AsLong(*args.add(1));
        if n > 0 {
            on_line(*args, n as u32);
        } else if n == -1 && !PyErr_Occurred().is_null() {
            PyErr_Clear();
        }
        none()
    }
}

/// PY_START, PY_RESUME, PY_THROW on measured code: `(code, offset)`.
unsafe extern "C" fn start(
    _slf: *mut PyObject,
    args: *mut *mut PyObject,
    _nargs: Py_ssize_t,
) -> *mut PyObject {
    // SAFETY: the interpreter passes at least the code object; GIL held.
    unsafe {
        on_start(*args);
        none()
    }
}

/// PY_START everywhere (files chosen by a filter): a code object not measured never calls us
/// again (`DISABLE`).
unsafe extern "C" fn global_start(
    _slf: *mut PyObject,
    args: *mut *mut PyObject,
    _nargs: Py_ssize_t,
) -> *mut PyObject {
    // SAFETY: the interpreter passes at least the code object; GIL held; DISABLE was set at
    // install and is kept for the life of the process.
    unsafe {
        match on_start(*args) {
            Some(false) if !DISABLE.is_null() => Py_NewRef(DISABLE),
            _ => none(),
        }
    }
}

/// PY_RETURN, PY_YIELD, PY_UNWIND: `(code, offset, value)`.
unsafe extern "C" fn exit(
    _slf: *mut PyObject,
    args: *mut *mut PyObject,
    _nargs: Py_ssize_t,
) -> *mut PyObject {
    // SAFETY: the interpreter passes the code object first; GIL held.
    unsafe {
        on_exit(*args);
        none()
    }
}

pub(super) fn install(gil: &Gil, auto: bool) -> Result<Backend, TracerError> {
    // SAFETY: GIL held; DISABLE is a singleton we keep a reference to for the life of the
    // process.
    unsafe {
        if DISABLE.is_null() {
            DISABLE = singleton(gil, "DISABLE")?;
        }
    }
    // With files chosen by a filter, PY_START is also global, to see every code object once.
    let (start_def, start_scope) = if auto {
        (&raw mut GLOBAL_START_DEF, Scope::GlobalAndLocal)
    } else {
        (&raw mut START_DEF, Scope::Local)
    };
    let callback = |event, def, scope| Callback { event, def, scope };
    Tool::install(
        gil,
        "pyrometer-lines",
        &[
            callback("LINE", &raw mut LINE_DEF, Scope::Local),
            callback("PY_START", start_def, start_scope),
            callback("PY_RESUME", &raw mut START_DEF, Scope::Local),
            // Global-only events, which fire only when an exception is thrown into or leaves a
            // frame.
            callback("PY_THROW", &raw mut START_DEF, Scope::Global),
            callback("PY_RETURN", &raw mut EXIT_DEF, Scope::Local),
            callback("PY_YIELD", &raw mut EXIT_DEF, Scope::Local),
            callback("PY_UNWIND", &raw mut EXIT_DEF, Scope::Global),
        ],
    )
}

/// Turns the local events on for a code object.
pub(super) fn watch(gil: &Gil, backend: &Backend, code: *mut PyObject) -> Result<(), TracerError> {
    backend.watch(gil, code)
}

/// Events stay on while paused; the hooks return at once (`RECORDING` is false).
pub(super) fn pause(_gil: &Gil, _backend: &Backend) -> Result<(), TracerError> {
    Ok(())
}

pub(super) fn resume(_gil: &Gil, _backend: &Backend) -> Result<(), TracerError> {
    Ok(())
}

pub(super) fn uninstall(
    gil: &Gil,
    backend: &Backend,
    codes: &[CodeEntry],
) -> Result<(), TracerError> {
    backend.release(gil, codes.iter().map(|entry| entry.code))
}
