//! The 3.11 backend: a C trace function (`PyEval_SetTrace`) on every thread, on threads started
//! later through a wrapper of `_thread.start_new_thread` (and `threading.settrace` when
//! `threading` is already imported). Frames of code that is not measured get their line events
//! switched off as they start.

use std::ffi::{c_char, c_int};
use std::ptr::null_mut;

use pyo3_ffi::*;

use super::{CodeEntry, on_exit, on_line, on_start};
use crate::TracerError;
use crate::py::{self, Gil, Owned};

unsafe extern "C" {
    /// Sets the trace function of any thread state (exported, underscored, in 3.11).
    fn _PyEval_SetTrace(
        tstate: *mut PyThreadState,
        func: Option<Py_tracefunc>,
        arg: *mut PyObject,
    ) -> c_int;
}

#[derive(Default)]
pub(super) struct Backend {
    previous_thread_hook: Option<*mut PyObject>,
    wrapped_start: bool,
}

/// The code object a 3.11 frame object runs: `PyFrameObject.f_frame` (offset 24) points to the
/// `_PyInterpreterFrame`, whose `f_code` is at offset 32 (offsetof on v3.11.7's headers; fixed
/// within 3.11, as the function tracer reads them).
#[inline(always)]
unsafe fn frame_code(frame: *mut PyFrameObject) -> *mut PyObject {
    // SAFETY: `frame` is a live 3.11 frame object handed to the trace function.
    unsafe {
        let interpreter_frame = *(frame.cast::<u8>().add(24).cast::<*const u8>());
        *(interpreter_frame.add(32).cast::<*mut PyObject>())
    }
}

/// `PyFrameObject.f_trace_lines` (offset 44 on v3.11.7's headers): the interpreter sends a
/// frame's line events only while it is set.
#[inline(always)]
unsafe fn mute_lines(frame: *mut PyFrameObject) {
    // SAFETY: `frame` is a live 3.11 frame object; the field is a char.
    unsafe { *frame.cast::<u8>().add(44) = 0 };
}

const PY_TRACE_CALL: c_int = 0;
const PY_TRACE_LINE: c_int = 2;
const PY_TRACE_RETURN: c_int = 3;

/// The C trace function.
unsafe extern "C" fn trace(
    _obj: *mut PyObject,
    frame: *mut PyFrameObject,
    what: c_int,
    _arg: *mut PyObject,
) -> c_int {
    // SAFETY: the interpreter passes a live frame; GIL held.
    unsafe {
        match what {
            PY_TRACE_LINE => {
                let line = PyFrame_GetLineNumber(frame);
                if line > 0 && !on_line(frame_code(frame), line as u32) {
                    mute_lines(frame);
                }
            }
            PY_TRACE_CALL if on_start(frame_code(frame)) == Some(false) => mute_lines(frame),
            PY_TRACE_RETURN => on_exit(frame_code(frame)),
            _ => {}
        }
    }
    0
}

/// Calls `f` with every thread state of this interpreter.
fn each_thread(
    mut f: impl FnMut(*mut PyThreadState) -> Result<(), TracerError>,
) -> Result<(), TracerError> {
    // SAFETY: GIL held by the callers; the thread list cannot change while we hold it.
    unsafe {
        let mut ts = PyInterpreterState_ThreadHead(PyInterpreterState_Get());
        while !ts.is_null() {
            f(ts)?;
            ts = PyThreadState_Next(ts);
        }
    }
    Ok(())
}

fn set_all(func: Option<Py_tracefunc>) -> Result<(), TracerError> {
    each_thread(|ts| {
        // SAFETY: GIL held; `ts` is a live thread state of this interpreter.
        if unsafe { _PyEval_SetTrace(ts, func, null_mut()) } < 0 {
            return Err(TracerError::Python(py::take_error()));
        }
        Ok(())
    })
}

/// The real `_thread.start_new_thread`, kept for the life of the process.
static mut ORIGINAL_START: *mut PyObject = null_mut();

static mut START_DEF: PyMethodDef = PyMethodDef {
    ml_name: c"start_new_thread".as_ptr() as *const c_char,
    ml_meth: PyMethodDefPointer {
        PyCFunctionFast: start_new_thread,
    },
    ml_flags: METH_FASTCALL,
    ml_doc: std::ptr::null(),
};

static mut TRAMPOLINE_DEF: PyMethodDef = PyMethodDef {
    ml_name: c"pyrometer_lines_thread".as_ptr() as *const c_char,
    ml_meth: PyMethodDefPointer {
        PyCFunction: trampoline,
    },
    ml_flags: METH_NOARGS,
    ml_doc: std::ptr::null(),
};

static mut THREAD_HOOK_DEF: PyMethodDef = PyMethodDef {
    ml_name: c"pyrometer_lines_thread_start".as_ptr() as *const c_char,
    ml_meth: PyMethodDefPointer {
        PyCFunctionFast: thread_hook,
    },
    ml_flags: METH_FASTCALL,
    ml_doc: std::ptr::null(),
};

/// Stands in for `_thread.start_new_thread(function, args[, kwargs])`: while measuring, the
/// new thread starts in [`trampoline`], which installs the trace function first.
unsafe extern "C" fn start_new_thread(
    _slf: *mut PyObject,
    args: *mut *mut PyObject,
    nargs: Py_ssize_t,
) -> *mut PyObject {
    // SAFETY: GIL held; `args` holds `nargs` borrowed references; ORIGINAL_START was set at
    // install and is never released.
    unsafe {
        let original = ORIGINAL_START;
        if !super::is_recording() || !(2..=3).contains(&nargs) {
            return PyObject_Vectorcall(original, args, nargs as usize, null_mut());
        }
        let kwargs = if nargs == 3 { *args.add(2) } else { Py_None() };
        let packed = PyTuple_Pack(3, *args, *args.add(1), kwargs);
        if packed.is_null() {
            return null_mut();
        }
        let start = PyCFunction_NewEx(&raw mut TRAMPOLINE_DEF, packed, null_mut());
        Py_DECREF(packed);
        if start.is_null() {
            return null_mut();
        }
        let empty = PyTuple_New(0);
        let result = if empty.is_null() {
            null_mut()
        } else {
            let call_args = PyTuple_Pack(2, start, empty);
            Py_DECREF(empty);
            if call_args.is_null() {
                null_mut()
            } else {
                let r = PyObject_Call(original, call_args, null_mut());
                Py_DECREF(call_args);
                r
            }
        };
        Py_DECREF(start);
        result
    }
}

/// The first thing a thread started while measuring runs: `self` is `(function, args, kwargs)`.
unsafe extern "C" fn trampoline(packed: *mut PyObject, _unused: *mut PyObject) -> *mut PyObject {
    // SAFETY: GIL held in the new thread; `packed` is the 3-tuple built above.
    unsafe {
        if super::is_recording() {
            PyEval_SetTrace(Some(trace), null_mut());
        }
        let function = PyTuple_GetItem(packed, 0);
        let args = PyTuple_GetItem(packed, 1);
        let kwargs = PyTuple_GetItem(packed, 2);
        let kwargs = if kwargs == Py_None() {
            null_mut()
        } else {
            kwargs
        };
        PyObject_Call(function, args, kwargs)
    }
}

/// Installed with `threading.settrace`: a new thread calls it (through `sys.settrace`'s
/// trampoline) with its first event; it puts the C trace function in place for the thread.
unsafe extern "C" fn thread_hook(
    _slf: *mut PyObject,
    args: *mut *mut PyObject,
    nargs: Py_ssize_t,
) -> *mut PyObject {
    // SAFETY: the trampoline passes (frame, event, arg); GIL held.
    unsafe {
        if super::is_recording() {
            PyEval_SetTrace(Some(trace), null_mut());
            if nargs == 3 && py::str_of(*args.add(1)).as_deref() == Some("call") {
                trace(
                    null_mut(),
                    (*args).cast::<PyFrameObject>(),
                    PY_TRACE_CALL,
                    null_mut(),
                );
            }
        } else {
            PyEval_SetTrace(None, null_mut());
        }
        Py_NewRef(Py_None())
    }
}

pub(super) fn install(gil: &Gil, _auto: bool) -> Result<Backend, TracerError> {
    let mut backend = Backend::default();
    let result = (|| {
        if let Some(threading) = py::imported(gil, "threading") {
            let previous = py::call_method(gil, threading.as_ptr(), "gettrace", &[])?;
            // SAFETY: GIL held; the definition is static.
            let hook = Owned::new(gil, unsafe {
                PyCFunction_NewEx(&raw mut THREAD_HOOK_DEF, null_mut(), null_mut())
            })?;
            py::call_method(gil, threading.as_ptr(), "settrace", &[hook.as_ptr()])?;
            backend.previous_thread_hook = Some(previous.into_raw());
        }
        let thread = py::import(gil, "_thread")?;
        // SAFETY: GIL held; the original is kept forever once taken.
        unsafe {
            if ORIGINAL_START.is_null() {
                ORIGINAL_START = py::getattr(gil, thread.as_ptr(), "start_new_thread")?.into_raw();
            }
        }
        // SAFETY: GIL held; the definition is static.
        let wrapper = Owned::new(gil, unsafe {
            PyCFunction_NewEx(&raw mut START_DEF, null_mut(), null_mut())
        })?;
        let name = py::cstring("start_new_thread");
        // SAFETY: GIL held; both objects are alive.
        if unsafe { PyObject_SetAttrString(thread.as_ptr(), name.as_ptr(), wrapper.as_ptr()) } < 0 {
            return Err(TracerError::Python(py::take_error()));
        }
        backend.wrapped_start = true;
        Ok(())
    })();
    match result {
        Ok(()) => Ok(backend),
        Err(e) => {
            let _ = uninstall(gil, &backend, &[]);
            Err(e)
        }
    }
}

pub(super) fn watch(
    _gil: &Gil,
    _backend: &Backend,
    _code: *mut PyObject,
) -> Result<(), TracerError> {
    Ok(())
}

pub(super) fn resume(_gil: &Gil, _backend: &Backend) -> Result<(), TracerError> {
    set_all(Some(trace))
}

pub(super) fn pause(_gil: &Gil, _backend: &Backend) -> Result<(), TracerError> {
    set_all(None)
}

pub(super) fn uninstall(
    gil: &Gil,
    backend: &Backend,
    _codes: &[CodeEntry],
) -> Result<(), TracerError> {
    let cleared = set_all(None);
    if backend.wrapped_start {
        let thread = py::import(gil, "_thread")?;
        let name = py::cstring("start_new_thread");
        // SAFETY: GIL held; ORIGINAL_START is alive for the life of the process.
        if unsafe { PyObject_SetAttrString(thread.as_ptr(), name.as_ptr(), ORIGINAL_START) } < 0 {
            return Err(TracerError::Python(py::take_error()));
        }
    }
    if let Some(previous) = backend.previous_thread_hook {
        let restored = match py::imported(gil, "threading") {
            Some(threading) => {
                py::call_method(gil, threading.as_ptr(), "settrace", &[previous]).map(drop)
            }
            None => Ok(()),
        };
        // SAFETY: GIL held; we owned this reference since install.
        unsafe { Py_DECREF(previous) };
        restored?;
    }
    cleared
}
