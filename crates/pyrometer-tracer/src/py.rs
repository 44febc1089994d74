//! Small wrappers over the CPython C API used off the hot path (setup, naming, snapshots).
//! Every function here requires the GIL, which the [`Gil`] token stands for.

use std::ffi::{CStr, CString, c_char};
use std::marker::PhantomData;
use std::ptr::null_mut;

use pyo3_ffi::*;

/// Proof that the calling thread holds the GIL. Not `Send`.
pub struct Gil(PhantomData<*mut ()>);

impl Gil {
    /// # Safety
    /// The calling thread must hold the GIL for as long as the token lives.
    pub unsafe fn assume() -> Gil {
        Gil(PhantomData)
    }
}

/// A strong reference, released on drop (the GIL must be held then too: these never outlive
/// the call that made them).
pub struct Owned(pub *mut PyObject);

impl Owned {
    /// Takes ownership of a new reference; `Err` with the pending exception's text when null.
    pub fn new(_gil: &Gil, ptr: *mut PyObject) -> Result<Owned, String> {
        if ptr.is_null() {
            Err(take_error())
        } else {
            Ok(Owned(ptr))
        }
    }

    pub fn as_ptr(&self) -> *mut PyObject {
        self.0
    }

    pub fn into_raw(self) -> *mut PyObject {
        let p = self.0;
        std::mem::forget(self);
        p
    }
}

impl Drop for Owned {
    fn drop(&mut self) {
        // SAFETY: `Owned` holds a strong reference and is only created and dropped under the GIL.
        unsafe { Py_DECREF(self.0) };
    }
}

/// The pending exception, put aside (3.12 has one object; 3.11 a type/value/traceback triple).
struct SavedError {
    #[cfg(Py_3_12)]
    exc: *mut PyObject,
    #[cfg(not(Py_3_12))]
    triple: [*mut PyObject; 3],
}

impl SavedError {
    /// # Safety
    /// The GIL must be held.
    unsafe fn fetch() -> SavedError {
        #[cfg(Py_3_12)]
        return SavedError {
            // SAFETY: GIL held per this function's contract.
            exc: unsafe { PyErr_GetRaisedException() },
        };
        #[cfg(not(Py_3_12))]
        {
            let mut triple = [null_mut(); 3];
            // SAFETY: GIL held; the three out-pointers are valid.
            unsafe {
                #[allow(deprecated)]
                PyErr_Fetch(&mut triple[0], &mut triple[1], &mut triple[2]);
            }
            SavedError { triple }
        }
    }

    /// The exception object (normalized), as a new reference, consuming the saved state.
    /// # Safety
    /// The GIL must be held.
    unsafe fn into_value(self) -> *mut PyObject {
        #[cfg(Py_3_12)]
        return self.exc;
        #[cfg(not(Py_3_12))]
        // SAFETY: GIL held; the triple came from PyErr_Fetch and is owned here.
        unsafe {
            let [mut t, mut v, mut tb] = self.triple;
            if t.is_null() {
                return null_mut();
            }
            #[allow(deprecated)]
            PyErr_NormalizeException(&mut t, &mut v, &mut tb);
            Py_XDECREF(t);
            Py_XDECREF(tb);
            v
        }
    }

    /// Makes the saved exception pending again.
    /// # Safety
    /// The GIL must be held.
    unsafe fn restore(self) {
        #[cfg(Py_3_12)]
        // SAFETY: GIL held; ownership of `exc` passes to the interpreter.
        unsafe {
            PyErr_SetRaisedException(self.exc)
        };
        #[cfg(not(Py_3_12))]
        // SAFETY: GIL held; ownership of the triple passes to the interpreter.
        unsafe {
            #[allow(deprecated)]
            PyErr_Restore(self.triple[0], self.triple[1], self.triple[2]);
        }
    }
}

/// The text of the pending Python exception (and clears it).
pub fn take_error() -> String {
    // SAFETY: called with the GIL held by every caller in this module.
    unsafe {
        let exc = SavedError::fetch().into_value();
        if exc.is_null() {
            return "unknown error (no exception was set)".into();
        }
        let text = PyObject_Str(exc);
        let message = if text.is_null() {
            PyErr_Clear();
            "unprintable exception".to_string()
        } else {
            let s = str_of(text).unwrap_or_default();
            Py_DECREF(text);
            s
        };
        let type_name = CStr::from_ptr((*Py_TYPE(exc)).tp_name)
            .to_string_lossy()
            .into_owned();
        Py_DECREF(exc);
        format!("{type_name}: {message}")
    }
}

/// The UTF-8 text of a `str` object (borrowed pointer); `None` if it is not a str.
pub fn str_of(obj: *mut PyObject) -> Option<String> {
    // SAFETY: the GIL is held; PyUnicode_Check accepts any object pointer.
    unsafe {
        if obj.is_null() || PyUnicode_Check(obj) == 0 {
            return None;
        }
        let mut len: Py_ssize_t = 0;
        let data = PyUnicode_AsUTF8AndSize(obj, &mut len);
        if data.is_null() {
            PyErr_Clear();
            return None;
        }
        let bytes = std::slice::from_raw_parts(data.cast::<u8>(), len as usize);
        Some(String::from_utf8_lossy(bytes).into_owned())
    }
}

pub fn cstring(s: &str) -> CString {
    CString::new(s).expect("no NUL in identifiers")
}

pub fn import(gil: &Gil, name: &str) -> Result<Owned, String> {
    let name = cstring(name);
    // SAFETY: GIL held; `name` is a valid C string.
    Owned::new(gil, unsafe { PyImport_ImportModule(name.as_ptr()) })
}

/// The module `name` if it has been imported (from `sys.modules`; never imports).
pub fn imported(gil: &Gil, name: &str) -> Option<Owned> {
    let name = string(gil, name).ok()?;
    // SAFETY: GIL held; PyImport_GetModule returns a new reference or null.
    let module = unsafe { PyImport_GetModule(name.as_ptr()) };
    if module.is_null() {
        // SAFETY: GIL held.
        unsafe { PyErr_Clear() };
        return None;
    }
    Some(Owned(module))
}

pub fn getattr(gil: &Gil, obj: *mut PyObject, name: &str) -> Result<Owned, String> {
    let name = cstring(name);
    // SAFETY: GIL held; `obj` is a live object owned by the caller.
    Owned::new(gil, unsafe { PyObject_GetAttrString(obj, name.as_ptr()) })
}

/// Calls `obj.method(*args)` where `args` are borrowed references.
pub fn call_method(
    gil: &Gil,
    obj: *mut PyObject,
    method: &str,
    args: &[*mut PyObject],
) -> Result<Owned, String> {
    let f = getattr(gil, obj, method)?;
    call(gil, f.as_ptr(), args)
}

/// Calls `f(*args)` where `args` are borrowed references.
pub fn call(gil: &Gil, f: *mut PyObject, args: &[*mut PyObject]) -> Result<Owned, String> {
    // SAFETY: GIL held; every pointer is a live object; PyTuple_SetItem steals the new references.
    unsafe {
        let tuple = Owned::new(gil, PyTuple_New(args.len() as Py_ssize_t))?;
        for (i, &a) in args.iter().enumerate() {
            Py_INCREF(a);
            PyTuple_SetItem(tuple.as_ptr(), i as Py_ssize_t, a);
        }
        Owned::new(gil, PyObject_Call(f, tuple.as_ptr(), null_mut()))
    }
}

#[cfg_attr(not(Py_3_12), allow(dead_code))] // used by the 3.12+ backend
pub fn int(gil: &Gil, v: i64) -> Result<Owned, String> {
    // SAFETY: GIL held.
    Owned::new(gil, unsafe { PyLong_FromLongLong(v) })
}

pub fn string(gil: &Gil, s: &str) -> Result<Owned, String> {
    // SAFETY: GIL held; the pointer and length describe valid UTF-8.
    Owned::new(gil, unsafe {
        PyUnicode_FromStringAndSize(s.as_ptr().cast::<c_char>(), s.len() as Py_ssize_t)
    })
}

pub fn as_i64(obj: *mut PyObject) -> Option<i64> {
    // SAFETY: GIL held by callers; PyLong_AsLongLong accepts any object and sets an error on failure.
    unsafe {
        let v = PyLong_AsLongLong(obj);
        if v == -1 && !PyErr_Occurred().is_null() {
            PyErr_Clear();
            return None;
        }
        Some(v)
    }
}

/// `str(getattr(obj, name))` as a Rust string, or `None`.
pub fn attr_string(gil: &Gil, obj: *mut PyObject, name: &str) -> Option<String> {
    match getattr(gil, obj, name) {
        Ok(v) => str_of(v.as_ptr()),
        Err(_) => None,
    }
}

pub fn attr_i64(gil: &Gil, obj: *mut PyObject, name: &str) -> Option<i64> {
    match getattr(gil, obj, name) {
        Ok(v) => as_i64(v.as_ptr()),
        Err(_) => None,
    }
}

/// Runs `f` with the pending exception (if any) put aside and restored afterwards, so that
/// work done inside a hook never disturbs an exception being raised or thrown.
pub fn preserving_exception<T>(f: impl FnOnce() -> T) -> T {
    // SAFETY: GIL held by the hook that calls this.
    unsafe {
        let saved = SavedError::fetch();
        let out = f();
        if !PyErr_Occurred().is_null() {
            PyErr_Clear();
        }
        saved.restore();
        out
    }
}

#[cfg(Py_3_12)]
pub(crate) mod monitoring;

/// PEP 523's frame evaluator hook, which both 3.11 collectors use (CPython 3.11's private but
/// exported functions).
#[cfg(not(Py_3_12))]
pub(crate) mod pep523 {
    use std::ffi::{c_int, c_void};

    use pyrometer_cpython::v3_11;

    use pyo3_ffi::{
        PyFrameObject, PyInterpreterState, PyInterpreterState_Get, PyInterpreterState_ThreadHead,
        PyObject, PyThreadState, PyThreadState_Next,
    };

    /// `_PyInterpreterState_SetEvalFrameFunc`'s function type.
    pub(crate) type EvalFrame =
        unsafe extern "C" fn(*mut PyThreadState, *mut c_void, c_int) -> *mut PyObject;

    unsafe extern "C" {
        pub(crate) fn _PyInterpreterState_SetEvalFrameFunc(
            interp: *mut PyInterpreterState,
            eval_frame: Option<EvalFrame>,
        );
        pub(crate) fn _PyInterpreterState_GetEvalFrameFunc(
            interp: *mut PyInterpreterState,
        ) -> Option<EvalFrame>;
        pub(crate) fn _PyEval_EvalFrameDefault(
            tstate: *mut PyThreadState,
            frame: *mut c_void,
            throwflag: c_int,
        ) -> *mut PyObject;
    }

    /// The code object a 3.11 `_PyInterpreterFrame` (what an evaluator receives) runs.
    ///
    /// # Safety
    /// `frame` is a live 3.11 interpreter frame.
    #[inline(always)]
    pub(crate) unsafe fn interpreter_frame_code(frame: *const c_void) -> *mut PyObject {
        // SAFETY: per the contract; the layout is fixed for every 3.11 release build.
        unsafe {
            *frame
                .cast::<u8>()
                .add(v3_11::INTERPRETER_FRAME_CODE)
                .cast::<*mut PyObject>()
        }
    }

    /// The code object a 3.11 frame object runs, read without the reference counting of
    /// `PyFrame_GetCode`: `PyFrameObject.f_frame` points to the `_PyInterpreterFrame`.
    ///
    /// # Safety
    /// `frame` is a live 3.11 frame object (as hook functions receive).
    #[inline(always)]
    pub(crate) unsafe fn frame_code(frame: *mut PyFrameObject) -> *mut PyObject {
        // SAFETY: per the contract; the layout is fixed for every 3.11 release build.
        unsafe {
            interpreter_frame_code(
                *(frame
                    .cast::<u8>()
                    .add(v3_11::FRAME_OBJECT_F_FRAME)
                    .cast::<*const c_void>()),
            )
        }
    }

    /// Calls `f` with every thread state of this interpreter (GIL held: the list cannot
    /// change meanwhile).
    pub(crate) fn each_thread(
        mut f: impl FnMut(*mut PyThreadState) -> Result<(), crate::TracerError>,
    ) -> Result<(), crate::TracerError> {
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

    /// Evaluates a frame with the evaluator an installed one replaced (`None`: the default).
    ///
    /// # Safety
    /// Arguments as the interpreter passed them to the calling evaluator.
    #[inline(always)]
    pub(crate) unsafe fn evaluate_with(
        previous: Option<EvalFrame>,
        tstate: *mut PyThreadState,
        frame: *mut c_void,
        throwflag: c_int,
    ) -> *mut PyObject {
        // SAFETY: forwarded contract.
        unsafe {
            match previous {
                Some(previous) => previous(tstate, frame, throwflag),
                None => _PyEval_EvalFrameDefault(tstate, frame, throwflag),
            }
        }
    }
}

/// One wrapper of `_thread.start_new_thread` for both 3.11 collectors, which set their hook
/// (a profile or a trace function) per thread: a thread started while one of them is on starts
/// in a trampoline that runs each one's installer first, then the thread's function. The
/// wrapper is in place while any collector is registered; the real function is kept for the
/// life of the process (`threading`, imported meanwhile, may hold the wrapper and call it
/// after; it then passes calls through).
#[cfg(not(Py_3_12))]
pub(crate) mod thread_start {
    use std::cell::UnsafeCell;
    use std::ffi::c_char;
    use std::ptr::null_mut;

    use pyo3_ffi::*;

    use super::{Gil, Owned};
    use crate::{GilCell, TracerError};

    /// A collector that needs the threads started while it runs.
    #[derive(Clone, Copy)]
    pub(crate) enum Client {
        Trace = 0,
        Lines = 1,
    }

    /// Run first in a new thread, GIL held: puts the collector's hook in place if it is on.
    pub(crate) type Installer = unsafe fn();

    static CLIENTS: GilCell<[Option<Installer>; 2]> = GilCell(UnsafeCell::new([None; 2]));

    /// The real `_thread.start_new_thread`.
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
        ml_name: c"pyrometer_thread".as_ptr() as *const c_char,
        ml_meth: PyMethodDefPointer {
            PyCFunction: trampoline,
        },
        ml_flags: METH_NOARGS,
        ml_doc: std::ptr::null(),
    };

    /// The registered installers (a copy). GIL held.
    fn clients() -> [Option<Installer>; 2] {
        // SAFETY: GIL held by every caller; the copy ends the borrow at once.
        unsafe { *CLIENTS.0.get() }
    }

    /// Whether no collector is registered (the wrapper then only passes calls through). GIL
    /// held.
    fn none_registered() -> bool {
        clients().iter().all(Option::is_none)
    }

    fn set_start(thread: &Owned, function: *mut PyObject) -> Result<(), TracerError> {
        let name = super::cstring("start_new_thread");
        // SAFETY: GIL held (the `Owned` was made under it); both objects are alive.
        if unsafe { PyObject_SetAttrString(thread.as_ptr(), name.as_ptr(), function) } < 0 {
            return Err(TracerError::Python(super::take_error()));
        }
        Ok(())
    }

    /// Registers `client`'s installer, putting the wrapper in place if it is the first.
    pub(crate) fn add(gil: &Gil, client: Client, installer: Installer) -> Result<(), TracerError> {
        if none_registered() {
            let thread = super::import(gil, "_thread")?;
            // SAFETY: GIL held; the original is kept forever once taken.
            unsafe {
                if ORIGINAL_START.is_null() {
                    ORIGINAL_START =
                        super::getattr(gil, thread.as_ptr(), "start_new_thread")?.into_raw();
                }
            }
            // SAFETY: GIL held; the definition is static.
            let wrapper = Owned::new(gil, unsafe {
                PyCFunction_NewEx(&raw mut START_DEF, null_mut(), null_mut())
            })?;
            set_start(&thread, wrapper.as_ptr())?;
        }
        // SAFETY: GIL held; no other reference to the slots is live.
        unsafe { (*CLIENTS.0.get())[client as usize] = Some(installer) };
        Ok(())
    }

    /// Unregisters `client`, putting the real function back if it was the last.
    pub(crate) fn remove(gil: &Gil, client: Client) -> Result<(), TracerError> {
        // SAFETY: GIL held; no other reference to the slots is live.
        let was = unsafe { (*CLIENTS.0.get())[client as usize].take() };
        if was.is_some() && none_registered() {
            let thread = super::import(gil, "_thread")?;
            // SAFETY: set when the first client was added, and never released.
            set_start(&thread, unsafe { ORIGINAL_START })?;
        }
        Ok(())
    }

    /// Stands in for `_thread.start_new_thread(function, args[, kwargs])`: while a collector
    /// is registered, the new thread starts in [`trampoline`].
    unsafe extern "C" fn start_new_thread(
        _slf: *mut PyObject,
        args: *mut *mut PyObject,
        nargs: Py_ssize_t,
    ) -> *mut PyObject {
        // SAFETY: GIL held; `args` holds `nargs` borrowed references; ORIGINAL_START was set
        // before the wrapper existed and is never released.
        unsafe {
            let original = ORIGINAL_START;
            if none_registered() || !(2..=3).contains(&nargs) {
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

    /// The first thing a thread started through the wrapper runs: `packed` is `(function,
    /// args, kwargs)`.
    unsafe extern "C" fn trampoline(
        packed: *mut PyObject,
        _unused: *mut PyObject,
    ) -> *mut PyObject {
        // SAFETY: GIL held in the new thread; `packed` is the 3-tuple built above.
        unsafe {
            for installer in clients().into_iter().flatten() {
                installer();
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
}
