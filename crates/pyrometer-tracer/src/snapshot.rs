//! Turning the per-thread call trees into a [`Profile`].

use std::ptr::null_mut;

use pyo3_ffi::*;
use pyrometer_profile::{
    Counter, FrameId, FrameKind, Meta, Metric, Mode, Profile, ProfileBuilder, StackId,
};
use rustc_hash::{FxHashMap, FxHashSet};

use crate::py::{self, Gil};
use crate::{Function, State, names};

/// The `threading.Thread` object of the thread with this ident (a new reference), or null.
/// Reads `threading._active` without running Python code.
pub(crate) fn find_thread_object(gil: &Gil, ident: u64) -> *mut PyObject {
    let Some(threading) = py::imported(gil, "threading") else {
        return null_mut();
    };
    let Ok(active) = py::getattr(gil, threading.as_ptr(), "_active") else {
        return null_mut();
    };
    // SAFETY: GIL held; `active` is checked to be a dict; the borrowed item is promoted to a
    // new reference before anything else runs.
    unsafe {
        if PyDict_Check(active.as_ptr()) == 0 {
            return null_mut();
        }
        let Ok(key) = py::Owned::new(gil, PyLong_FromUnsignedLongLong(ident)) else {
            return null_mut();
        };
        let thread = PyDict_GetItem(active.as_ptr(), key.as_ptr());
        if thread.is_null() {
            return null_mut();
        }
        Py_NewRef(thread)
    }
}

/// The name of a thread: from its `threading.Thread` object's `_name` (a plain attribute, so no
/// Python code runs), or made up from its ident.
pub(crate) fn thread_name(gil: &Gil, thread: *mut PyObject, ident: u64, is_main: bool) -> String {
    if !thread.is_null()
        && let Some(name) = py::attr_string(gil, thread, "_name")
    {
        return name;
    }
    if is_main {
        "MainThread".into()
    } else {
        format!("Thread-{ident}")
    }
}

/// Whether the thread with native id `native_id` is the process's main thread (whose id is
/// the process id), whichever thread asks.
pub(crate) fn is_main_thread(native_id: u64) -> bool {
    native_id == std::process::id() as u64
}

/// Builds the profile from the state. With `live`, the trees are copied and their open calls
/// closed at `now` in the copy; otherwise they were closed already.
pub(crate) fn build(gil: &Gil, state: &mut State, now: u64, live: bool) -> Profile {
    let ns_per_tick = state.calibration.ns_per_tick();
    let meta = Meta {
        mode: Mode::Trace,
        clock: state.clock.name().into(),
        start_unix_ns: state.start_unix_ns,
        duration_ns: state.calibration.elapsed_ns(),
        ..Meta::default()
    };
    let mut b = ProfileBuilder::new(meta);
    b.declare(Metric::Calls);
    b.declare(Metric::SelfTime);
    let process = b.process(std::process::id(), None, Vec::new());

    let mut frames: FxHashMap<usize, FrameId> = FxHashMap::default();
    let mut taken: FxHashSet<FrameId> = FxHashSet::default();
    let mut unmatched = 0;
    for &record in &state.threads {
        // SAFETY: records are owned by the state, which we hold exclusively (GIL held, hooks
        // suspended or removed).
        let record = unsafe { &mut *record };
        if record.thread.is_null() {
            record.thread = find_thread_object(gil, record.ident);
        }
        let copy;
        let tree = if live {
            copy = record.tree.closed_copy(now);
            &copy
        } else {
            &record.tree
        };
        unmatched += tree.unmatched_returns;
        if tree.nodes.len() <= 1 {
            continue;
        }
        let is_main = is_main_thread(record.native_id);
        let name = thread_name(gil, record.thread, record.ident, is_main);
        let thread = b.thread(process, record.ident, record.native_id, &name, is_main);
        // Nodes are created after their parents, so one pass in index order maps them all.
        let mut stacks: Vec<Option<StackId>> = vec![None; tree.nodes.len()];
        for (i, node) in tree.nodes.iter().enumerate().skip(1) {
            let frame = *frames.entry(node.key).or_insert_with(|| {
                add_frame(gil, &mut b, &mut taken, state.functions.get(&node.key))
            });
            let location = b.location(frame, 0);
            let stack = b.stack(stacks[node.parent as usize], location);
            stacks[i] = Some(stack);
            if node.calls > 0 {
                b.add(stack, thread, Metric::Calls, node.calls);
                b.add(
                    stack,
                    thread,
                    Metric::SelfTime,
                    (node.self_ticks as f64 * ns_per_tick).round() as u64,
                );
            }
        }
    }
    let meta = b.meta_mut();
    meta.counters = vec![
        Counter {
            name: "threads".into(),
            value: state.threads.len() as u64,
        },
        Counter {
            name: "functions".into(),
            value: state.functions.len() as u64,
        },
        Counter {
            name: "unmatched_returns".into(),
            value: unmatched,
        },
    ];
    if !crate::BUILTINS.load(std::sync::atomic::Ordering::Relaxed) {
        meta.notes.push(
            "built-in functions were not traced: their time is in their callers' self time \
             (--builtins traces them, as cProfile does)"
                .into(),
        );
    }
    let pauses = crate::DEPTH_PAUSES.load(std::sync::atomic::Ordering::Relaxed);
    if pauses > 0 {
        meta.notes.push(format!(
            "the recursion went so deep that the C stack was nearly full {pauses} time(s): calls \
             below that depth were not traced (their time is in the deepest traced call)"
        ));
    }
    b.finish()
}

/// The frame of a function the tracer met. Two functions that would describe themselves
/// alike (dataclass methods, made by `exec` from the same template, share their name, file
/// and line) stay two frames, the later ones' qualified names numbered (`[2]`, …): cProfile
/// keeps each function's recursion apart, and so does a call tree of distinct frames. Their
/// pstats keys still collide, and are summed, as cProfile's are.
fn add_frame(
    gil: &Gil,
    b: &mut ProfileBuilder,
    taken: &mut FxHashSet<FrameId>,
    function: Option<&Function>,
) -> FrameId {
    let (name, qualname, file, line, kind) = match function {
        Some(Function::Code(code)) => {
            // SAFETY: GIL held; we hold a strong reference to the code object.
            let n = unsafe { names::describe_code(gil, *code) };
            (n.name, n.qualname, n.file, n.first_line, FrameKind::Python)
        }
        Some(Function::Builtin(n)) => (
            n.label.clone(),
            n.qualname.clone(),
            "~".into(),
            0,
            FrameKind::Builtin,
        ),
        None => (
            "<unknown>".into(),
            "<unknown>".into(),
            "~".into(),
            0,
            FrameKind::Synthetic,
        ),
    };
    let mut id = b.frame(&name, &qualname, &file, line, kind);
    let mut k = 1;
    while !taken.insert(id) {
        k += 1;
        id = b.frame(&name, &format!("{qualname} [{k}]"), &file, line, kind);
    }
    id
}
