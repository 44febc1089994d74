//! Installing and removing the hooks, and the hooks themselves, per CPython version.
//!
//! No hook lets a panic out: a bug here must never take the profiled program down (see
//! `guarded`).

use std::ptr::null_mut;
use std::sync::atomic::Ordering;

use pyo3_ffi::*;

use crate::py::Gil;
use crate::{BUILTINS, Function, Options, TracerError, code_function, enter, leave, names};

/// Runs a hook body. The fast path cannot panic (no indexing that can fail, no unwrap); the
/// rare paths that could (`new_path`, `checkpoint`) catch panics themselves and switch the
/// tracer off, so the profiled program never sees one.
#[inline(always)]
fn guarded(body: impl FnOnce()) {
    body()
}

/// `PYROMETER_TRACER_NOOP=1`: install hooks that do nothing (a diagnostic, to measure the
/// interpreter's own cost of calling hooks; the profile comes out empty).
pub(crate) fn noop_requested() -> bool {
    std::env::var_os("PYROMETER_TRACER_NOOP").is_some_and(|v| v == "1")
}

/// The key of a built-in: the address of its method definition, tagged with bit 0 so it can
/// never equal a code object's address.
#[inline(always)]
fn builtin_key(ml: *const PyMethodDef) -> usize {
    ml as usize | 1
}

/// A `builtin_function_or_method` object's key and, lazily, its names.
///
/// # Safety
/// GIL held; `f` is a live `PyCFunctionObject`.
#[inline(always)]
unsafe fn enter_cfunction(f: *mut PyObject) {
    let f = f.cast::<PyCFunctionObject>();
    // SAFETY: `f` is a live C function object per the contract.
    let ml = unsafe { (*f).m_ml };
    // SAFETY: called from a hook; the closure runs under the same GIL with `f` still alive.
    unsafe {
        enter(builtin_key(ml), |gil| {
            Function::Builtin(names::describe_builtin(gil, ml, (*f).m_self, (*f).m_module))
        })
    };
}

#[cfg(Py_3_12)]
pub use monitoring::{Backend, install, uninstall};

#[cfg(not(Py_3_12))]
pub use legacy::{Backend, install, uninstall};

#[cfg(Py_3_12)]
mod monitoring {
    use super::*;
    use crate::py::monitoring::{Callback, Scope, Tool, callback_def, none, singleton};

    /// The tool we hold, once installed.
    #[derive(Default)]
    pub struct Backend {
        tool: Option<Tool>,
    }

    /// `sys.monitoring.MISSING`: the `arg0` of a CALL with no arguments.
    static mut MISSING: *mut PyObject = null_mut();

    /// Does nothing (see `noop_requested`).
    unsafe extern "C" fn noop(
        _slf: *mut PyObject,
        _args: *mut *mut PyObject,
        _nargs: Py_ssize_t,
    ) -> *mut PyObject {
        // SAFETY: GIL held by the interpreter calling us.
        unsafe { none() }
    }

    callback_def!(NOOP_DEF, "pyrometer_", noop);
    callback_def!(PY_START_DEF, "pyrometer_", py_start);
    callback_def!(PY_RETURN_DEF, "pyrometer_", py_return);
    callback_def!(CALL_DEF, "pyrometer_", call);
    callback_def!(C_RETURN_DEF, "pyrometer_", c_return);

    /// PY_START, PY_RESUME, PY_THROW: `(code, offset)`.
    unsafe extern "C" fn py_start(
        _slf: *mut PyObject,
        args: *mut *mut PyObject,
        _nargs: Py_ssize_t,
    ) -> *mut PyObject {
        guarded(|| {
            // SAFETY: the interpreter passes at least the code object; GIL held.
            unsafe {
                let code = *args;
                enter(code as usize, |_| code_function(code));
            }
        });
        // SAFETY: GIL held.
        unsafe { none() }
    }

    /// PY_RETURN, PY_YIELD, PY_UNWIND.
    unsafe extern "C" fn py_return(
        _slf: *mut PyObject,
        _args: *mut *mut PyObject,
        _nargs: Py_ssize_t,
    ) -> *mut PyObject {
        // SAFETY: called by the interpreter with the GIL held.
        guarded(|| unsafe { leave() });
        // SAFETY: GIL held.
        unsafe { none() }
    }

    /// What a CALL / C_RETURN / C_RAISE event is about, if it is a built-in cProfile would
    /// record: a C function, or a method descriptor about to be bound to its first argument.
    enum Callee {
        Function(*mut PyObject),
        Descriptor {
            ml: *mut PyMethodDef,
            self_: *mut PyObject,
        },
    }

    /// # Safety
    /// GIL held; `args` holds `(code, offset, callable, arg0)`.
    #[inline(always)]
    unsafe fn callee(args: *mut *mut PyObject) -> Option<Callee> {
        // SAFETY: per the contract.
        unsafe {
            let callable = *args.add(2);
            let tp = Py_TYPE(callable);
            if tp == &raw mut PyFunction_Type {
                return None;
            }
            if tp == &raw mut PyCFunction_Type || tp == &raw mut PyCMethod_Type {
                return Some(Callee::Function(callable));
            }
            if tp == &raw mut PyMethodDescr_Type {
                let self_ = *args.add(3);
                if self_ == MISSING {
                    return None;
                }
                let descr = callable.cast::<PyMethodDescrObject>();
                // cProfile binds the descriptor to `self`; binding fails (and it records
                // nothing) when `self` is not an instance of the descriptor's type.
                if PyObject_TypeCheck(self_, (*descr).d_common.d_type) == 0 {
                    return None;
                }
                return Some(Callee::Descriptor {
                    ml: (*descr).d_method,
                    self_,
                });
            }
            if tp == &raw mut PyType_Type {
                return None;
            }
            if PyType_IsSubtype(tp, &raw mut PyCFunction_Type) != 0 {
                return Some(Callee::Function(callable));
            }
            None
        }
    }

    /// CALL: `(code, offset, callable, arg0)`.
    unsafe extern "C" fn call(
        _slf: *mut PyObject,
        args: *mut *mut PyObject,
        _nargs: Py_ssize_t,
    ) -> *mut PyObject {
        guarded(|| {
            if !BUILTINS.load(Ordering::Relaxed) {
                return;
            }
            // SAFETY: the interpreter passes the four arguments; GIL held.
            unsafe {
                match callee(args) {
                    Some(Callee::Function(f)) => enter_cfunction(f),
                    Some(Callee::Descriptor { ml, self_ }) => enter(builtin_key(ml), |gil| {
                        // A bound method made by binding a descriptor has no `__module__`.
                        Function::Builtin(names::describe_builtin(gil, ml, self_, null_mut()))
                    }),
                    None => {}
                }
            }
        });
        // SAFETY: GIL held.
        unsafe { none() }
    }

    /// C_RETURN, C_RAISE: `(code, offset, callable, arg0)`.
    unsafe extern "C" fn c_return(
        _slf: *mut PyObject,
        args: *mut *mut PyObject,
        _nargs: Py_ssize_t,
    ) -> *mut PyObject {
        guarded(|| {
            if !BUILTINS.load(Ordering::Relaxed) {
                return;
            }
            // SAFETY: the interpreter passes the four arguments; GIL held.
            unsafe {
                if callee(args).is_some() {
                    leave();
                }
            }
        });
        // SAFETY: GIL held.
        unsafe { none() }
    }

    pub fn install(gil: &Gil, options: Options) -> Result<Backend, TracerError> {
        // SAFETY: GIL held; MISSING is a singleton we keep a reference to for the life of the
        // process.
        unsafe {
            if MISSING.is_null() {
                MISSING = singleton(gil, "MISSING")?;
            }
        }
        let noop = super::noop_requested();
        let global = |event, def| Callback {
            event,
            def: if noop { &raw mut NOOP_DEF } else { def },
            scope: Scope::Global,
        };
        let mut callbacks = vec![
            global("PY_START", &raw mut PY_START_DEF),
            global("PY_RESUME", &raw mut PY_START_DEF),
            global("PY_THROW", &raw mut PY_START_DEF),
            global("PY_RETURN", &raw mut PY_RETURN_DEF),
            global("PY_YIELD", &raw mut PY_RETURN_DEF),
            global("PY_UNWIND", &raw mut PY_RETURN_DEF),
        ];
        if options.builtins {
            callbacks.extend([
                global("CALL", &raw mut CALL_DEF),
                global("C_RETURN", &raw mut C_RETURN_DEF),
                global("C_RAISE", &raw mut C_RETURN_DEF),
            ]);
        }
        let tool = Tool::install(gil, "pyrometer", &callbacks)?;
        Ok(Backend { tool: Some(tool) })
    }

    pub fn uninstall(gil: &Gil, backend: &Backend) -> Result<(), TracerError> {
        match &backend.tool {
            Some(tool) => tool.release(gil, []),
            None => Ok(()),
        }
    }
}

#[cfg(not(Py_3_12))]
#[allow(non_upper_case_globals)] // the C API's PyTrace_* constants, matched on
mod legacy {
    use std::ffi::{c_char, c_int};

    use super::*;
    use crate::py::{self, Owned};

    unsafe extern "C" {
        /// Sets the profile function of any thread state (exported, underscored, in 3.11).
        fn _PyEval_SetProfile(
            tstate: *mut PyThreadState,
            func: Option<Py_tracefunc>,
            arg: *mut PyObject,
        ) -> c_int;
    }

    use crate::py::pep523::{
        _PyEval_EvalFrameDefault, _PyInterpreterState_GetEvalFrameFunc,
        _PyInterpreterState_SetEvalFrameFunc, EvalFrame, each_thread, evaluate_with, frame_code,
        interpreter_frame_code,
    };
    use crate::py::thread_start::{self, Client};
    use pyrometer_cpython::v3_11;

    /// The frame evaluator that was installed before ours (the default one, unless another tool
    /// installed its own), which ours calls.
    static mut PREVIOUS_EVAL: Option<EvalFrame> = None;

    /// Without built-ins, 3.11 can trace through PEP 523 instead of a profile function: every
    /// Python frame (a call, or a generator resuming) is evaluated through this function, and
    /// the interpreter keeps its specialized instructions, which a profile function turns off
    /// (measured: a do-nothing profile function alone costs more than this whole tracer).
    /// Calls between Python functions then go through C, so deep recursion uses more C stack.
    unsafe extern "C" fn eval_frame(
        tstate: *mut PyThreadState,
        frame: *mut std::ffi::c_void,
        throwflag: c_int,
    ) -> *mut PyObject {
        // SAFETY: the interpreter passes a live `_PyInterpreterFrame`, whose `f_code` is at
        // offset 32 in every 3.11 release; we hold the GIL.
        unsafe {
            let here = 0u8;
            let sp = &raw const here as usize;
            if sp < crate::current_stack_limit() {
                return step_aside(tstate, frame, throwflag);
            }
            let code = interpreter_frame_code(frame);
            if is_generator_creation(code, frame) {
                // Not a call for cProfile (or sys.monitoring): the frame only makes the
                // generator object and returns it; its first resumption is the first call.
                return chain(tstate, frame, throwflag);
            }
            enter(code as usize, |_| code_function(code));
            let result = chain(tstate, frame, throwflag);
            leave();
            if STEPPED_ASIDE && sp > crate::current_stack_limit().saturating_add(STACK_HYSTERESIS) {
                // The deep recursion is over: trace again.
                STEPPED_ASIDE = false;
                _PyInterpreterState_SetEvalFrameFunc(PyInterpreterState_Get(), Some(eval_frame));
            }
            result
        }
    }

    const GENERATOR_FLAGS: c_int = CO_GENERATOR | CO_COROUTINE | CO_ASYNC_GENERATOR;

    /// A generator, coroutine or async generator frame that has not run its first instruction
    /// yet (`RETURN_GENERATOR`, which only makes the generator object).
    #[inline(always)]
    unsafe fn is_generator_creation(code: *mut PyObject, frame: *mut std::ffi::c_void) -> bool {
        // SAFETY: live code object and frame of a 3.11 release build (`v3_11`'s fields).
        unsafe {
            let flags = *(code.cast::<u8>().add(v3_11::CODE_FLAGS).cast::<c_int>());
            if flags & GENERATOR_FLAGS == 0 {
                return false;
            }
            let prev_instr = *(frame
                .cast::<u8>()
                .add(v3_11::INTERPRETER_FRAME_PREV_INSTR)
                .cast::<usize>());
            prev_instr < code as usize + v3_11::CODE_ADAPTIVE
        }
    }

    /// Whether `eval_frame` removed itself because a thread's C stack was nearly full.
    static mut STEPPED_ASIDE: bool = false;
    /// How much room must come back before tracing resumes.
    const STACK_HYSTERESIS: usize = 256 << 10;

    /// Calls the evaluator we replaced.
    #[inline(always)]
    unsafe fn chain(
        tstate: *mut PyThreadState,
        frame: *mut std::ffi::c_void,
        throwflag: c_int,
    ) -> *mut PyObject {
        // SAFETY: forwarded from the interpreter's call of our evaluator.
        unsafe { evaluate_with(PREVIOUS_EVAL, tstate, frame, throwflag) }
    }

    /// With our evaluator in place every Python call recurses on the C stack, which plain
    /// 3.11 does not do; a program that raised its recursion limit could overflow it. Near
    /// the end of the stack we remove the evaluator (deeper calls are then inlined by the
    /// interpreter, untraced) and put it back once the recursion unwinds.
    #[cold]
    unsafe fn step_aside(
        tstate: *mut PyThreadState,
        frame: *mut std::ffi::c_void,
        throwflag: c_int,
    ) -> *mut PyObject {
        // SAFETY: GIL held; forwarded arguments.
        unsafe {
            if !STEPPED_ASIDE {
                STEPPED_ASIDE = true;
                crate::DEPTH_PAUSES.fetch_add(1, Ordering::Relaxed);
                _PyInterpreterState_SetEvalFrameFunc(PyInterpreterState_Get(), PREVIOUS_EVAL);
            }
            chain(tstate, frame, throwflag)
        }
    }

    /// The same, doing nothing but chain (see `noop_requested`).
    unsafe extern "C" fn noop_eval_frame(
        tstate: *mut PyThreadState,
        frame: *mut std::ffi::c_void,
        throwflag: c_int,
    ) -> *mut PyObject {
        // SAFETY: as in `eval_frame`.
        unsafe { evaluate_with(PREVIOUS_EVAL, tstate, frame, throwflag) }
    }

    /// What install changed, to be put back.
    #[derive(Default)]
    pub struct Backend {
        /// Whether our PEP 523 frame evaluator is installed (tracing without built-ins).
        eval_frame: bool,
        /// `threading`'s previous profile hook, when `threading` was imported at start.
        previous_thread_hook: Option<*mut PyObject>,
        /// Whether this session is registered with the `_thread.start_new_thread` wrapper.
        wrapped_start: bool,
    }

    /// Run first in a thread started while tracing (through the shared wrapper of
    /// `_thread.start_new_thread`): installs the profile function.
    unsafe fn install_on_new_thread() {
        if crate::is_active() {
            // SAFETY: GIL held in the new thread (the trampoline runs it).
            unsafe { PyEval_SetProfile(Some(profile_function()), null_mut()) };
        }
    }

    /// A profile function that does nothing: `PYROMETER_TRACER_NOOP=1` installs it instead of
    /// the real one, to measure what the interpreter's hook machinery alone costs.
    unsafe extern "C" fn noop_profile(
        _obj: *mut PyObject,
        _frame: *mut PyFrameObject,
        _what: c_int,
        _arg: *mut PyObject,
    ) -> c_int {
        0
    }

    /// The profile function to install: the real one, or the no-op one for measurements.
    fn profile_function() -> Py_tracefunc {
        if super::noop_requested() {
            noop_profile
        } else {
            profile
        }
    }

    /// The C profile function.
    unsafe extern "C" fn profile(
        _obj: *mut PyObject,
        frame: *mut PyFrameObject,
        what: c_int,
        arg: *mut PyObject,
    ) -> c_int {
        guarded(|| {
            // SAFETY: the interpreter passes a live frame (and for C events the callable); GIL held.
            unsafe {
                match what {
                    PyTrace_CALL => {
                        let code = frame_code(frame);
                        enter(code as usize, |_| code_function(code));
                    }
                    PyTrace_RETURN => leave(),
                    PyTrace_C_CALL
                        if BUILTINS.load(Ordering::Relaxed) && PyCFunction_Check(arg) != 0 =>
                    {
                        enter_cfunction(arg);
                    }
                    PyTrace_C_RETURN | PyTrace_C_EXCEPTION
                        if BUILTINS.load(Ordering::Relaxed) && PyCFunction_Check(arg) != 0 =>
                    {
                        leave();
                    }
                    _ => {}
                }
            }
        });
        0
    }

    static mut THREAD_HOOK_DEF: PyMethodDef = PyMethodDef {
        ml_name: c"pyrometer_thread_start".as_ptr() as *const c_char,
        ml_meth: PyMethodDefPointer {
            PyCFunctionFast: thread_hook,
        },
        ml_flags: METH_FASTCALL,
        ml_doc: std::ptr::null(),
    };

    /// Installed with `threading.setprofile`: a new thread calls it (through `sys.setprofile`'s
    /// trampoline) with its first event. It puts the C profile function in its place for this
    /// thread and handles that event.
    unsafe extern "C" fn thread_hook(
        _slf: *mut PyObject,
        args: *mut *mut PyObject,
        nargs: Py_ssize_t,
    ) -> *mut PyObject {
        // SAFETY: the trampoline passes (frame, event, arg); GIL held.
        unsafe {
            if crate::is_active() {
                PyEval_SetProfile(Some(profile_function()), null_mut());
                if nargs == 3 {
                    let what = match py::str_of(*args.add(1)).as_deref() {
                        Some("call") => Some(PyTrace_CALL),
                        Some("return") => Some(PyTrace_RETURN),
                        Some("c_call") => Some(PyTrace_C_CALL),
                        Some("c_return") => Some(PyTrace_C_RETURN),
                        Some("c_exception") => Some(PyTrace_C_EXCEPTION),
                        _ => None,
                    };
                    if let Some(what) = what {
                        profile(
                            null_mut(),
                            (*args).cast::<PyFrameObject>(),
                            what,
                            *args.add(2),
                        );
                    }
                }
            } else {
                PyEval_SetProfile(None, null_mut());
            }
            Py_NewRef(Py_None())
        }
    }

    pub fn install(gil: &Gil, options: Options) -> Result<Backend, TracerError> {
        let mut backend = Backend::default();
        if !options.builtins {
            // SAFETY: GIL held; the interpreter outlives the tracing session.
            unsafe {
                let interp = PyInterpreterState_Get();
                let current = _PyInterpreterState_GetEvalFrameFunc(interp);
                let default: EvalFrame = _PyEval_EvalFrameDefault;
                PREVIOUS_EVAL = current.filter(|f| *f as usize != default as usize);
                let ours: EvalFrame = if super::noop_requested() {
                    noop_eval_frame
                } else {
                    eval_frame
                };
                _PyInterpreterState_SetEvalFrameFunc(interp, Some(ours));
            }
            backend.eval_frame = true;
            return Ok(backend);
        }
        let result = (|| {
            // Threads that `threading` starts later (if it is imported already: importing it
            // ourselves would change the program's shutdown).
            if let Some(threading) = py::imported(gil, "threading") {
                let previous = py::call_method(gil, threading.as_ptr(), "getprofile", &[])?;
                // SAFETY: GIL held; the definition is static.
                let hook = Owned::new(gil, unsafe {
                    PyCFunction_NewEx(&raw mut THREAD_HOOK_DEF, null_mut(), null_mut())
                })?;
                py::call_method(gil, threading.as_ptr(), "setprofile", &[hook.as_ptr()])?;
                backend.previous_thread_hook = Some(previous.into_raw());
            }
            // Threads started through `_thread` directly, or by `threading` imported later.
            thread_start::add(gil, Client::Trace, install_on_new_thread)?;
            backend.wrapped_start = true;
            each_thread(|ts| {
                // SAFETY: GIL held; `ts` is a live thread state of this interpreter.
                if unsafe { _PyEval_SetProfile(ts, Some(profile_function()), null_mut()) } < 0 {
                    return Err(TracerError::Python(py::take_error()));
                }
                Ok(())
            })
        })();
        match result {
            Ok(()) => Ok(backend),
            Err(e) => {
                let _ = uninstall(gil, &backend);
                Err(e)
            }
        }
    }

    pub fn uninstall(gil: &Gil, backend: &Backend) -> Result<(), TracerError> {
        if backend.eval_frame {
            // SAFETY: GIL held; puts back the evaluator found at install.
            unsafe {
                STEPPED_ASIDE = false;
                _PyInterpreterState_SetEvalFrameFunc(PyInterpreterState_Get(), PREVIOUS_EVAL);
            }
            return Ok(());
        }
        let cleared = each_thread(|ts| {
            // SAFETY: GIL held; `ts` is a live thread state of this interpreter.
            if unsafe { _PyEval_SetProfile(ts, None, null_mut()) } < 0 {
                return Err(TracerError::Python(py::take_error()));
            }
            Ok(())
        });
        if backend.wrapped_start {
            thread_start::remove(gil, Client::Trace)?;
        }
        if let Some(previous) = backend.previous_thread_hook {
            let restored = match py::imported(gil, "threading") {
                Some(threading) => {
                    py::call_method(gil, threading.as_ptr(), "setprofile", &[previous]).map(drop)
                }
                None => Ok(()),
            };
            // SAFETY: GIL held; we owned this reference since install.
            unsafe { Py_DECREF(previous) };
            restored?;
        }
        cleared
    }
}
