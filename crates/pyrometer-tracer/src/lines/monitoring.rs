//! The 3.12+ backend: `sys.monitoring` with C function callbacks, events local to the measured
//! code objects.

use std::ffi::c_char;
use std::ptr::null_mut;

use pyo3_ffi::*;

use super::{CodeEntry, on_exit, on_line, on_start};
use crate::TracerError;
use crate::py::{self, Gil, Owned};

/// Tool ids to try, in order (as the function tracer's: the ones no standard tool claims
/// first, so that line_profiler, cProfile or coverage keep working inside the program).
const TOOL_IDS: [i64; 4] = [4, 3, 5, 2];

/// The tool id we hold, the events registered, the local event mask.
pub(super) struct Backend {
    tool_id: i64,
    events: Vec<i64>,
    local: i64,
}

/// `sys.monitoring.DISABLE`, returned to switch an event off at one code location.
static mut DISABLE: *mut PyObject = null_mut();

macro_rules! callback_def {
    ($name:ident, $func:ident) => {
        static mut $name: PyMethodDef = PyMethodDef {
            ml_name: concat!("pyrometer_lines_", stringify!($func), "\0").as_ptr() as *const c_char,
            ml_meth: PyMethodDefPointer {
                PyCFunctionFast: $func,
            },
            ml_flags: METH_FASTCALL,
            ml_doc: std::ptr::null(),
        };
    };
}

callback_def!(LINE_DEF, line);
callback_def!(START_DEF, start);
callback_def!(GLOBAL_START_DEF, global_start);
callback_def!(EXIT_DEF, exit);

#[inline(always)]
unsafe fn none() -> *mut PyObject {
    // SAFETY: GIL held by the calling hook; None is immortal on 3.12+.
    unsafe { Py_NewRef(Py_None()) }
}

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

fn event(gil: &Gil, events: &Owned, name: &str) -> Result<i64, TracerError> {
    let value = py::getattr(gil, events.as_ptr(), name)?;
    py::as_i64(value.as_ptr())
        .ok_or_else(|| TracerError::Python(format!("sys.monitoring.events.{name} is not an int")))
}

fn monitoring(gil: &Gil) -> Result<Owned, TracerError> {
    let sys = py::import(gil, "sys")?;
    Ok(py::getattr(gil, sys.as_ptr(), "monitoring")?)
}

pub(super) fn install(gil: &Gil, auto: bool) -> Result<Backend, TracerError> {
    let monitoring = monitoring(gil)?;
    let mon = monitoring.as_ptr();
    // SAFETY: GIL held; DISABLE is a module-level singleton we keep a reference to forever.
    unsafe {
        if DISABLE.is_null() {
            DISABLE = py::getattr(gil, mon, "DISABLE")?.into_raw();
        }
    }
    let mut taken = Vec::new();
    let mut tool_id = None;
    for id in TOOL_IDS {
        let id_obj = py::int(gil, id)?;
        let holder = py::call_method(gil, mon, "get_tool", &[id_obj.as_ptr()])?;
        // SAFETY: GIL held; comparing against the None singleton.
        if unsafe { holder.as_ptr() == Py_None() } {
            let name = py::string(gil, "pyrometer-lines")?;
            py::call_method(gil, mon, "use_tool_id", &[id_obj.as_ptr(), name.as_ptr()])?;
            tool_id = Some(id);
            break;
        }
        taken.push(format!(
            "{id}: {}",
            py::str_of(holder.as_ptr()).unwrap_or_default()
        ));
    }
    let Some(id) = tool_id else {
        return Err(TracerError::NoToolId(taken.join(", ")));
    };
    let mut backend = Backend {
        tool_id: id,
        events: Vec::new(),
        local: 0,
    };
    let result = (|| {
        let events = py::getattr(gil, mon, "events")?;
        let start_def = if auto {
            &raw mut GLOBAL_START_DEF
        } else {
            &raw mut START_DEF
        };
        let table: [(&str, *mut PyMethodDef, bool); 7] = [
            ("LINE", &raw mut LINE_DEF, true),
            ("PY_START", start_def, true),
            ("PY_RESUME", &raw mut START_DEF, true),
            ("PY_THROW", &raw mut START_DEF, false),
            ("PY_RETURN", &raw mut EXIT_DEF, true),
            ("PY_YIELD", &raw mut EXIT_DEF, true),
            ("PY_UNWIND", &raw mut EXIT_DEF, false),
        ];
        let id_obj = py::int(gil, id)?;
        let mut global = 0;
        for (name, def, local) in table {
            let ev = event(gil, &events, name)?;
            // SAFETY: GIL held; `def` is a static method definition that outlives the object.
            let callback = Owned::new(gil, unsafe {
                PyCFunction_NewEx(def, null_mut(), null_mut())
            })?;
            let ev_obj = py::int(gil, ev)?;
            py::call_method(
                gil,
                mon,
                "register_callback",
                &[id_obj.as_ptr(), ev_obj.as_ptr(), callback.as_ptr()],
            )?;
            backend.events.push(ev);
            if local {
                backend.local |= ev;
            } else {
                global |= ev;
            }
            if auto && name == "PY_START" {
                global |= ev;
            }
        }
        let mask = py::int(gil, global)?;
        py::call_method(gil, mon, "set_events", &[id_obj.as_ptr(), mask.as_ptr()])?;
        Ok::<(), TracerError>(())
    })();
    match result {
        Ok(()) => Ok(backend),
        Err(e) => {
            let _ = uninstall(gil, &backend, &[]);
            Err(e)
        }
    }
}

/// Turns the local events on for a code object.
pub(super) fn watch(gil: &Gil, backend: &Backend, code: *mut PyObject) -> Result<(), TracerError> {
    set_local(gil, backend, code, backend.local)
}

fn set_local(
    gil: &Gil,
    backend: &Backend,
    code: *mut PyObject,
    mask: i64,
) -> Result<(), TracerError> {
    let monitoring = monitoring(gil)?;
    let id_obj = py::int(gil, backend.tool_id)?;
    let mask = py::int(gil, mask)?;
    py::call_method(
        gil,
        monitoring.as_ptr(),
        "set_local_events",
        &[id_obj.as_ptr(), code, mask.as_ptr()],
    )?;
    Ok(())
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
    let monitoring = monitoring(gil)?;
    let mon = monitoring.as_ptr();
    let id_obj = py::int(gil, backend.tool_id)?;
    let zero = py::int(gil, 0)?;
    let first =
        py::call_method(gil, mon, "set_events", &[id_obj.as_ptr(), zero.as_ptr()]).map(drop);
    for entry in codes {
        let _ = set_local(gil, backend, entry.code, 0);
    }
    for &ev in &backend.events {
        let ev_obj = py::int(gil, ev)?;
        // SAFETY: GIL held; None is a valid argument.
        let _ = py::call_method(
            gil,
            mon,
            "register_callback",
            &[id_obj.as_ptr(), ev_obj.as_ptr(), unsafe { Py_None() }],
        );
    }
    let freed = py::call_method(gil, mon, "free_tool_id", &[id_obj.as_ptr()]).map(drop);
    first.and(freed).map_err(TracerError::Python)
}
