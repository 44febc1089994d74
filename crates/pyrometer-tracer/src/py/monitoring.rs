//! `sys.monitoring` (3.12+), as both collectors install their hooks with it: a [`Tool`] claims
//! the first free tool id of one table, registers a C function callback per event, turns the
//! events on globally and, on the code objects a collector watches, locally, and releases all
//! of it at the end.
//!
//! Events are looked up by name in `sys.monitoring.events` when a tool is installed, never by
//! number: the numbers differ between versions (3.14 split BRANCH into BRANCH_LEFT and
//! BRANCH_RIGHT, which moved the events after it).

use std::ptr::null_mut;

use pyo3_ffi::*;

use super::{Gil, Owned};
use crate::{TracerError, py};

/// Tool ids to try, in order: the two no standard tool claims first, so that a program that
/// runs cProfile or line_profiler (id 2, PROFILER_ID) or coverage (1) itself keeps working
/// under pyrometer; then 5 (OPTIMIZER) and 2. 0 (debugger) and 1 are never taken. The function
/// tracer and the line collector each claim their own, so both can be on at once.
const TOOL_IDS: [i64; 4] = [4, 3, 5, 2];

/// Defines `static mut $def: PyMethodDef`, a `METH_FASTCALL` function that calls `$func`, named
/// `$prefix` followed by `$func`'s name. A static, because a callback object
/// (`PyCFunction_NewEx`) keeps a pointer to its definition for as long as it lives.
macro_rules! callback_def {
    ($def:ident, $prefix:literal, $func:ident) => {
        static mut $def: ::pyo3_ffi::PyMethodDef = ::pyo3_ffi::PyMethodDef {
            ml_name: concat!($prefix, stringify!($func), "\0").as_ptr()
                as *const ::std::ffi::c_char,
            ml_meth: ::pyo3_ffi::PyMethodDefPointer {
                PyCFunctionFast: $func,
            },
            ml_flags: ::pyo3_ffi::METH_FASTCALL,
            ml_doc: ::std::ptr::null(),
        };
    };
}
pub(crate) use callback_def;

/// `None`, what a callback returns to keep its event on.
///
/// # Safety
/// GIL held (the interpreter holds it while it calls a callback).
#[inline(always)]
pub(crate) unsafe fn none() -> *mut PyObject {
    // SAFETY: per the contract; None is immortal on 3.12+.
    unsafe { Py_NewRef(Py_None()) }
}

/// `sys.monitoring.<name>`, a singleton such as `DISABLE` or `MISSING`, as a strong reference
/// the caller keeps for the life of the process (hooks compare against it or return it).
pub(crate) fn singleton(gil: &Gil, name: &str) -> Result<*mut PyObject, TracerError> {
    let monitoring = module(gil)?;
    Ok(py::getattr(gil, monitoring.as_ptr(), name)?.into_raw())
}

fn module(gil: &Gil) -> Result<Owned, TracerError> {
    let sys = py::import(gil, "sys")?;
    Ok(py::getattr(gil, sys.as_ptr(), "monitoring")?)
}

/// The number of the event `name` (`sys.monitoring.events.<name>`).
fn event(gil: &Gil, events: &Owned, name: &str) -> Result<i64, TracerError> {
    let value = py::getattr(gil, events.as_ptr(), name)?;
    py::as_i64(value.as_ptr())
        .ok_or_else(|| TracerError::Python(format!("sys.monitoring.events.{name} is not an int")))
}

/// Where a callback's event is turned on.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// For all code (`set_events`).
    Global,
    /// Only on the code objects the tool watches ([`Tool::watch`], `set_local_events`).
    Local,
    /// Both: globally to see every code object once, locally to keep seeing the watched ones
    /// after a global callback returned `DISABLE` for the others.
    GlobalAndLocal,
}

/// A callback to register: the event's name in `sys.monitoring.events`, the C function's
/// definition (a static made by [`callback_def!`]), and where the event is on.
pub(crate) struct Callback {
    pub(crate) event: &'static str,
    pub(crate) def: *mut PyMethodDef,
    pub(crate) scope: Scope,
}

/// A claimed tool id, the events it registered a callback for and its local event mask.
pub(crate) struct Tool {
    id: i64,
    events: Vec<i64>,
    local: i64,
}

impl Tool {
    /// Claims the first free id of [`TOOL_IDS`] as `name`, registers `callbacks` in their order
    /// and turns their global events on. On failure nothing stays claimed or registered.
    pub(crate) fn install(
        gil: &Gil,
        name: &str,
        callbacks: &[Callback],
    ) -> Result<Tool, TracerError> {
        let monitoring = module(gil)?;
        let mon = monitoring.as_ptr();
        let mut tool = Tool::claim(gil, mon, name)?;
        match tool.register(gil, mon, callbacks) {
            Ok(()) => Ok(tool),
            Err(e) => {
                let _ = tool.release(gil, []);
                Err(e)
            }
        }
    }

    /// The first free tool id, taken as `name`; the error lists who holds each one.
    fn claim(gil: &Gil, mon: *mut PyObject, name: &str) -> Result<Tool, TracerError> {
        let mut taken = Vec::new();
        for id in TOOL_IDS {
            let id_obj = py::int(gil, id)?;
            let holder = py::call_method(gil, mon, "get_tool", &[id_obj.as_ptr()])?;
            // SAFETY: GIL held; comparing against the None singleton.
            if unsafe { holder.as_ptr() == Py_None() } {
                let name = py::string(gil, name)?;
                py::call_method(gil, mon, "use_tool_id", &[id_obj.as_ptr(), name.as_ptr()])?;
                return Ok(Tool {
                    id,
                    events: Vec::new(),
                    local: 0,
                });
            }
            taken.push(format!(
                "{id}: {}",
                py::str_of(holder.as_ptr()).unwrap_or_default()
            ));
        }
        Err(TracerError::NoToolId(taken.join(", ")))
    }

    fn register(
        &mut self,
        gil: &Gil,
        mon: *mut PyObject,
        callbacks: &[Callback],
    ) -> Result<(), TracerError> {
        let events = py::getattr(gil, mon, "events")?;
        let id_obj = py::int(gil, self.id)?;
        let mut global = 0;
        for callback in callbacks {
            let ev = event(gil, &events, callback.event)?;
            // SAFETY: GIL held; `def` is a static method definition that outlives the object.
            let function = Owned::new(gil, unsafe {
                PyCFunction_NewEx(callback.def, null_mut(), null_mut())
            })?;
            let ev_obj = py::int(gil, ev)?;
            py::call_method(
                gil,
                mon,
                "register_callback",
                &[id_obj.as_ptr(), ev_obj.as_ptr(), function.as_ptr()],
            )?;
            self.events.push(ev);
            if callback.scope != Scope::Local {
                global |= ev;
            }
            if callback.scope != Scope::Global {
                self.local |= ev;
            }
        }
        let mask = py::int(gil, global)?;
        py::call_method(gil, mon, "set_events", &[id_obj.as_ptr(), mask.as_ptr()])?;
        Ok(())
    }

    /// Turns the local events on for `code`.
    pub(crate) fn watch(&self, gil: &Gil, code: *mut PyObject) -> Result<(), TracerError> {
        let monitoring = module(gil)?;
        self.set_local_events(gil, monitoring.as_ptr(), code, self.local)
    }

    fn set_local_events(
        &self,
        gil: &Gil,
        mon: *mut PyObject,
        code: *mut PyObject,
        mask: i64,
    ) -> Result<(), TracerError> {
        let id_obj = py::int(gil, self.id)?;
        let mask = py::int(gil, mask)?;
        py::call_method(
            gil,
            mon,
            "set_local_events",
            &[id_obj.as_ptr(), code, mask.as_ptr()],
        )?;
        Ok(())
    }

    /// Turns the events off (globally, and locally on the `watched` code objects), unregisters
    /// the callbacks and frees the id (on 3.12 and 3.13 `free_tool_id` alone leaves the
    /// callbacks and events in place). It goes on past failures and returns the first of
    /// `set_events`'s and `free_tool_id`'s errors.
    pub(crate) fn release(
        &self,
        gil: &Gil,
        watched: impl IntoIterator<Item = *mut PyObject>,
    ) -> Result<(), TracerError> {
        let monitoring = module(gil)?;
        let mon = monitoring.as_ptr();
        let id_obj = py::int(gil, self.id)?;
        let zero = py::int(gil, 0)?;
        let first =
            py::call_method(gil, mon, "set_events", &[id_obj.as_ptr(), zero.as_ptr()]).map(drop);
        for code in watched {
            let _ = self.set_local_events(gil, mon, code, 0);
        }
        for &ev in &self.events {
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
}
