//! The 3.11 backend: a C trace function (`PyEval_SetTrace`) on every thread, on threads started
//! later through the shared wrapper of `_thread.start_new_thread` (and `threading.settrace` when
//! `threading` is already imported), and a PEP 523 frame evaluator that turns tracing on only
//! for the frames of measured code.
//!
//! On 3.11 a trace function slows down every instruction of every traced frame, not only its
//! line events: the interpreter dispatches each one through its tracing path, and runs the
//! generic form of specialized instructions (a trace function that does nothing costs 4–7× on
//! richards, deltablue, go, hexiom, coroutines and unpack_sequence on this machine). Whether
//! a frame is traced is decided by `use_tracing` in the `_PyCFrame` the frame's evaluation
//! copies from its caller's at entry; the evaluator sets it in the caller's for the duration
//! of each call (on for measured code, off for the rest) and puts it back after. Frames of
//! unmeasured code then run at full speed, specialized, with no event at all.

use std::cell::Cell;
use std::ffi::{c_char, c_int, c_void};
use std::ptr::null_mut;

use pyo3_ffi::*;

use super::{CodeEntry, on_exit, on_line, on_start};
use crate::TracerError;
use crate::py::pep523::{
    _PyEval_EvalFrameDefault, _PyInterpreterState_GetEvalFrameFunc,
    _PyInterpreterState_SetEvalFrameFunc, EvalFrame, each_thread, evaluate_with, frame_code,
    interpreter_frame_code,
};
use crate::py::thread_start::{self, Client};
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
    eval_frame: bool,
}

use pyrometer_cpython::v3_11::{
    FRAME_OBJECT_F_TRACE_LINES, TSTATE_CFRAME, TSTATE_PROFILEFUNC, TSTATE_TRACEFUNC,
    TSTATE_TRACING, USE_TRACING_ON as TRACING_ON,
};

/// The trace function installed on the threads ([`trace`], or [`trace_noop`] to measure the
/// mechanism's own cost).
static mut TRACE: Py_tracefunc = trace;
/// The frame evaluator that was installed before ours (null for the default one).
static mut PREVIOUS_EVAL: Option<EvalFrame> = None;
/// Whether the evaluator removed itself because a thread's C stack was nearly full.
static mut STEPPED_ASIDE: bool = false;
/// How much C stack must come back before it goes back in.
const STACK_HYSTERESIS: usize = 256 << 10;

/// The last thread that called the evaluator: (thread pointer, its stack limit).
static mut LAST_LIMIT: (usize, usize) = (0, 0);

thread_local! {
    static STACK_LIMIT: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// Where this thread's C stack is nearly used up (0 when unknown).
#[inline(always)]
unsafe fn stack_limit() -> usize {
    let pointer = crate::thread_cache::thread_pointer();
    // SAFETY: called from the evaluator with the GIL held, which serialises the cache.
    unsafe {
        if LAST_LIMIT.0 != pointer || pointer == 0 {
            let limit = STACK_LIMIT.with(|l| {
                if l.get() == usize::MAX {
                    l.set(crate::stack_limit_of_this_thread());
                }
                l.get()
            });
            LAST_LIMIT = (pointer, limit);
        }
        LAST_LIMIT.1
    }
}

/// The frame evaluator: evaluates each frame with tracing on if its code is measured and off
/// otherwise, when our trace function is the thread's only hook (another trace or profile
/// function keeps tracing as it set it).
unsafe extern "C" fn eval_frame(
    tstate: *mut PyThreadState,
    frame: *mut c_void,
    throwflag: c_int,
) -> *mut PyObject {
    // SAFETY: the interpreter passes its live thread state and frame (3.11 layouts above); the
    // GIL is held; the caller's `_PyCFrame` lives on the C stack below us until we return.
    unsafe {
        let ts = tstate.cast::<u8>();
        let ours = *ts.add(TSTATE_TRACEFUNC).cast::<usize>() == TRACE as usize
            && *ts.add(TSTATE_PROFILEFUNC).cast::<usize>() == 0
            && *ts.add(TSTATE_TRACING).cast::<c_int>() == 0;
        if !ours {
            return chain(tstate, frame, throwflag);
        }
        let cframe = *ts.add(TSTATE_CFRAME).cast::<*mut u8>();
        let here = 0u8;
        let sp = &raw const here as usize;
        if sp < stack_limit() {
            return step_aside(tstate, frame, throwflag, cframe);
        }
        let code = interpreter_frame_code(frame);
        let saved = *cframe;
        *cframe = if measured(code) { TRACING_ON } else { 0 };
        let result = chain(tstate, frame, throwflag);
        *cframe = saved;
        if STEPPED_ASIDE && sp > stack_limit().saturating_add(STACK_HYSTERESIS) {
            STEPPED_ASIDE = false;
            _PyInterpreterState_SetEvalFrameFunc(PyInterpreterState_Get(), Some(eval_frame));
        }
        result
    }
}

/// Whether frames of `code` are measured (deciding on first sight when files are chosen).
///
/// # Safety
/// GIL held, from the evaluator (no other reference to the state is live).
#[inline(always)]
unsafe fn measured(code: *mut PyObject) -> bool {
    // SAFETY: forwarded contract.
    let Some(state) = (unsafe { super::state() }) else {
        return false;
    };
    let index = match state.known.get(&(code as usize)) {
        Some(&i) => i,
        // SAFETY: forwarded contract; `code` is the live code object of the frame.
        None => unsafe { super::decide(state, code) },
    };
    index != super::SKIPPED
}

/// Calls the evaluator we replaced.
#[inline(always)]
unsafe fn chain(tstate: *mut PyThreadState, frame: *mut c_void, throwflag: c_int) -> *mut PyObject {
    // SAFETY: forwarded from the interpreter's call of our evaluator.
    unsafe { evaluate_with(PREVIOUS_EVAL, tstate, frame, throwflag) }
}

/// With our evaluator in place every Python call recurses on the C stack, which plain 3.11
/// does not do. Near the end of the stack the evaluator removes itself (deeper calls are then
/// inlined by the interpreter) and turns tracing on for everything deeper, as without it:
/// unmeasured frames mute their own line events as they start. It goes back in once the
/// recursion unwinds.
#[cold]
unsafe fn step_aside(
    tstate: *mut PyThreadState,
    frame: *mut c_void,
    throwflag: c_int,
    cframe: *mut u8,
) -> *mut PyObject {
    // SAFETY: GIL held; forwarded arguments.
    unsafe {
        if !STEPPED_ASIDE {
            STEPPED_ASIDE = true;
            _PyInterpreterState_SetEvalFrameFunc(PyInterpreterState_Get(), PREVIOUS_EVAL);
        }
        let saved = *cframe;
        *cframe = TRACING_ON;
        let result = chain(tstate, frame, throwflag);
        *cframe = saved;
        result
    }
}

/// `PyFrameObject.f_trace_lines` (offset 44 on v3.11.7's headers): the interpreter sends a
/// frame's line events only while it is set.
#[inline(always)]
unsafe fn mute_lines(frame: *mut PyFrameObject) {
    // SAFETY: `frame` is a live 3.11 frame object; the field is a char.
    unsafe { *frame.cast::<u8>().add(FRAME_OBJECT_F_TRACE_LINES) = 0 };
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

/// The trace function that does nothing: `PYROMETER_TRACER_NOOP=1` measures the mechanism's
/// floor (the evaluator and the interpreter's tracing path) with it.
unsafe extern "C" fn trace_noop(
    _obj: *mut PyObject,
    _frame: *mut PyFrameObject,
    _what: c_int,
    _arg: *mut PyObject,
) -> c_int {
    0
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

static mut THREAD_HOOK_DEF: PyMethodDef = PyMethodDef {
    ml_name: c"pyrometer_lines_thread_start".as_ptr() as *const c_char,
    ml_meth: PyMethodDefPointer {
        PyCFunctionFast: thread_hook,
    },
    ml_flags: METH_FASTCALL,
    ml_doc: std::ptr::null(),
};

/// Run first in a thread started while measuring (through the shared wrapper of
/// `_thread.start_new_thread`): installs the trace function.
unsafe fn install_on_new_thread() {
    if super::is_recording() {
        // SAFETY: GIL held in the new thread (the trampoline runs it); TRACE is set at install.
        unsafe { PyEval_SetTrace(Some(TRACE), null_mut()) };
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
            PyEval_SetTrace(Some(TRACE), null_mut());
            if nargs == 3 && py::str_of(*args.add(1)).as_deref() == Some("call") {
                TRACE(
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
        // SAFETY: GIL held; the interpreter outlives the session.
        unsafe {
            TRACE = if crate::hooks::noop_requested() {
                trace_noop
            } else {
                trace
            };
            let interp = PyInterpreterState_Get();
            let current = _PyInterpreterState_GetEvalFrameFunc(interp);
            let default: EvalFrame = _PyEval_EvalFrameDefault;
            let ours: EvalFrame = eval_frame;
            PREVIOUS_EVAL =
                current.filter(|f| *f as usize != default as usize && *f as usize != ours as usize);
            STEPPED_ASIDE = false;
            _PyInterpreterState_SetEvalFrameFunc(interp, Some(ours));
        }
        backend.eval_frame = true;
        if let Some(threading) = py::imported(gil, "threading") {
            let previous = py::call_method(gil, threading.as_ptr(), "gettrace", &[])?;
            // SAFETY: GIL held; the definition is static.
            let hook = Owned::new(gil, unsafe {
                PyCFunction_NewEx(&raw mut THREAD_HOOK_DEF, null_mut(), null_mut())
            })?;
            py::call_method(gil, threading.as_ptr(), "settrace", &[hook.as_ptr()])?;
            backend.previous_thread_hook = Some(previous.into_raw());
        }
        thread_start::add(gil, Client::Lines, install_on_new_thread)?;
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
    // SAFETY: GIL held; set at install.
    set_all(Some(unsafe { TRACE }))
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
    if backend.eval_frame {
        // SAFETY: GIL held. Another tool that put its evaluator in after ours calls ours: then
        // ours stays, and passes every frame through (our trace function is off).
        unsafe {
            let interp = PyInterpreterState_Get();
            let ours: EvalFrame = eval_frame;
            let current = _PyInterpreterState_GetEvalFrameFunc(interp);
            if current.is_none_or(|f| f as usize == ours as usize) || STEPPED_ASIDE {
                _PyInterpreterState_SetEvalFrameFunc(interp, PREVIOUS_EVAL);
            }
            STEPPED_ASIDE = false;
        }
    }
    if backend.wrapped_start {
        thread_start::remove(gil, Client::Lines)?;
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
