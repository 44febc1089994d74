//! pyrometer's in-process function tracer.
//!
//! cProfile's semantics — per function and per caller → callee edge: calls, primitive calls,
//! self and cumulative time, built-ins included — from C-level hooks that never call back into
//! Python per event:
//!
//! - CPython 3.12+: `sys.monitoring` with C function callbacks (PY_START/RESUME/THROW enter,
//!   PY_RETURN/YIELD/UNWIND leave; CALL on a C function enters, C_RETURN/C_RAISE leave), on the
//!   first free tool id starting with the profiler's.
//! - CPython 3.11: a C `PyEval_SetProfile` function on every thread, and on threads started
//!   later through `threading.setprofile`.
//!
//! Each thread keeps its own call tree ([`tree::CallTree`]); hooks touch nothing else on their
//! fast path. The GIL serialises every hook, so the shared state needs no lock: everything
//! here runs with the GIL held (free-threaded builds are refused).

mod checkpoint;
pub mod clock;
mod hooks;
pub mod lines;
mod names;
mod py;
mod snapshot;
mod thread_cache;
pub mod tree;

use std::cell::{Cell, UnsafeCell};
use std::ptr::null_mut;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

pub use checkpoint::{Collector, set_checkpoints};
use pyo3_ffi::*;
use pyrometer_profile::Profile;
use rustc_hash::FxHashMap;

pub use py::Gil;
use thread_cache::ThreadCache;

/// What to trace.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Also trace calls of built-in (C) functions, as cProfile does by default.
    pub builtins: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options { builtins: true }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TracerError {
    #[error("a pyrometer tracer is already active in this process")]
    AlreadyActive,
    #[error("no pyrometer tracer is active")]
    NotActive,
    #[error(
        "every sys.monitoring tool id is taken ({0}); stop one of those tools to trace with pyrometer"
    )]
    NoToolId(String),
    #[error("the tracer does not support free-threaded CPython builds yet")]
    FreeThreaded,
    #[error(
        "the tracer does not support debug builds of CPython 3.11 (Py_DEBUG): their private structures differ"
    )]
    DebugBuild,
    #[error("{0}")]
    Python(String),
}

impl From<String> for TracerError {
    fn from(message: String) -> Self {
        TracerError::Python(message)
    }
}

/// A function the tracer met, kept so it can be named when a profile is taken.
enum Function {
    /// A code object, with a strong reference so its address stays unique while tracing.
    Code(*mut PyObject),
    /// A built-in, named when first seen (its `__self__` is not kept alive).
    Builtin(names::BuiltinNames),
}

/// One thread's data.
struct ThreadRecord {
    tree: tree::CallTree,
    ident: u64,
    native_id: u64,
    /// The `threading.Thread` object, once found (strong reference), for the thread's name.
    thread: *mut PyObject,
    /// How many more times to look for the `threading.Thread` object.
    lookups_left: u32,
    /// Below this stack address, a tracer whose hooks recurse on the C stack (3.11's frame
    /// evaluator) steps aside; 0 when unknown.
    stack_limit: usize,
}

/// The address below which this thread's C stack is too close to its end for hooks that
/// recurse: its lowest address plus a quarter of its size (at most 1 MiB).
fn stack_limit_of_this_thread() -> usize {
    // SAFETY: pthread_getattr_np fills an attribute object for the calling thread, which we
    // query and then destroy.
    unsafe {
        let mut attr: libc::pthread_attr_t = std::mem::zeroed();
        if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) != 0 {
            return 0;
        }
        let mut low: *mut libc::c_void = null_mut();
        let mut size: libc::size_t = 0;
        let ok = libc::pthread_attr_getstack(&attr, &mut low, &mut size) == 0;
        libc::pthread_attr_destroy(&mut attr);
        if !ok || low.is_null() {
            return 0;
        }
        low as usize + (size / 4).min(1 << 20)
    }
}

/// The current thread's [`ThreadRecord::stack_limit`] (0 when unknown or not tracing).
///
/// # Safety
/// Called from a hook (GIL held).
#[inline(always)]
#[cfg_attr(Py_3_12, allow(dead_code))]
unsafe fn current_stack_limit() -> usize {
    // SAFETY: forwarded contract.
    unsafe { current_thread() }.map_or(0, |r| r.stack_limit)
}

/// Times a recursing hook stepped aside because the C stack was nearly used up.
static DEPTH_PAUSES: AtomicU64 = AtomicU64::new(0);

struct State {
    calibration: clock::Calibration,
    clock: clock::ClockKind,
    start_unix_ns: u64,
    /// Owned (from `Box::into_raw`); freed in `State::release`.
    threads: Vec<*mut ThreadRecord>,
    functions: FxHashMap<usize, Function>,
    backend: hooks::Backend,
}

/// A cell only ever touched with the GIL held.
struct GilCell<T>(UnsafeCell<T>);
// SAFETY: every access happens with the GIL held (hooks run under it; the public functions
// take a `Gil` token), which serialises them; free-threaded builds are refused at start.
unsafe impl<T> Sync for GilCell<T> {}

static STATE: GilCell<Option<State>> = GilCell(UnsafeCell::new(None));
/// The current session's number; 0 while no session is active (hooks then do nothing).
static GENERATION: AtomicU64 = AtomicU64::new(0);
static SESSIONS: AtomicU64 = AtomicU64::new(0);
static BUILTINS: AtomicBool = AtomicBool::new(true);

thread_local! {
    /// This thread's record in the current session: (session number, record).
    static CURRENT: thread_cache::Slot<ThreadRecord> = const { Cell::new((0, null_mut())) };
}

/// The hooks' way to the running thread's record: an entry is dropped whenever its thread is
/// back outside any traced call.
static THREADS: ThreadCache<ThreadRecord> = ThreadCache::new(&CURRENT);

/// # Safety
/// GIL held, and no other reference into the state alive.
unsafe fn state() -> Option<&'static mut State> {
    // SAFETY: per the contract.
    unsafe { (*STATE.0.get()).as_mut() }
}

/// This thread's record, registering the thread on its first event.
///
/// # Safety
/// Called from a hook (GIL held).
#[inline(always)]
unsafe fn current_thread() -> Option<&'static mut ThreadRecord> {
    let generation = GENERATION.load(Ordering::Relaxed);
    // SAFETY: forwarded contract; records are owned by the session's state.
    unsafe { THREADS.current(generation, || register_thread()) }
}

/// A new record for this thread, owned by the state.
///
/// # Safety
/// Called from a hook (GIL held).
#[cold]
#[inline(never)]
unsafe fn register_thread() -> Option<*mut ThreadRecord> {
    // SAFETY: GIL held (forwarded contract); no other reference to the state is live.
    let state = unsafe { state() }?;
    let record = Box::into_raw(Box::new(ThreadRecord {
        tree: tree::CallTree::new(),
        // SAFETY: plain queries of the calling thread.
        ident: unsafe { PyThread_get_thread_ident() } as u64,
        // SAFETY: gettid has no preconditions.
        native_id: unsafe { libc::gettid() } as u64,
        thread: null_mut(),
        lookups_left: 64,
        stack_limit: stack_limit_of_this_thread(),
    }));
    state.threads.push(record);
    Some(record)
}

/// A call of `key` begins on this thread. `register` names the function the first time the
/// tracer meets it.
///
/// # Safety
/// Called from a hook (GIL held).
#[inline(always)]
unsafe fn enter(key: usize, register: impl FnOnce(&Gil) -> Function) {
    // SAFETY: forwarded contract.
    let Some(record) = (unsafe { current_thread() }) else {
        return;
    };
    if record.tree.enter_with(key, clock::now) {
        // SAFETY: forwarded contract; `record` is not reachable through the state's fields
        // (they hold raw pointers only).
        unsafe { new_path(record, key, register) };
    }
}

#[cold]
#[inline(never)]
unsafe fn new_path(record: &mut ThreadRecord, key: usize, register: impl FnOnce(&Gil) -> Function) {
    // SAFETY: GIL held by the hook.
    let gil = unsafe { Gil::assume() };
    // SAFETY: GIL held; the only other live reference is `record`, which the state does not own
    // through a Rust reference.
    let Some(state) = (unsafe { state() }) else {
        return;
    };
    py::preserving_exception(|| {
        if let std::collections::hash_map::Entry::Vacant(slot) = state.functions.entry(key) {
            slot.insert(register(&gil));
        }
        if record.thread.is_null() && record.lookups_left > 0 {
            record.lookups_left -= 1;
            record.thread = snapshot::find_thread_object(&gil, record.ident);
        }
    });
}

/// The innermost call on this thread returns.
///
/// # Safety
/// Called from a hook (GIL held).
#[inline(always)]
unsafe fn leave() {
    let now = clock::now();
    // SAFETY: forwarded contract.
    if let Some(record) = unsafe { current_thread() }
        && record.tree.leave(now)
    {
        THREADS.forget();
    }
}

/// Registers a code object: keeps a strong reference so its address is not reused.
///
/// # Safety
/// GIL held; `code` is a live code object.
unsafe fn code_function(code: *mut PyObject) -> Function {
    // SAFETY: per the contract.
    unsafe { Py_INCREF(code) };
    Function::Code(code)
}

/// Whether the collectors can run in this interpreter: not a free-threaded build (the hooks
/// rely on the GIL), and on 3.11 not a debug build (the 3.11 hooks read and write private
/// fields at the release build's offsets).
pub(crate) fn check_build() -> Result<(), TracerError> {
    if cfg!(Py_GIL_DISABLED) {
        return Err(TracerError::FreeThreaded);
    }
    if cfg!(not(Py_3_12)) && pyrometer_cpython::this_process::is_debug_build() {
        return Err(TracerError::DebugBuild);
    }
    Ok(())
}

/// Starts tracing every thread of this interpreter.
pub fn start(gil: &Gil, options: Options) -> Result<(), TracerError> {
    check_build()?;
    // SAFETY: `gil` proves the GIL is held; no other reference to the state is live here.
    let slot = unsafe { &mut *STATE.0.get() };
    if slot.is_some() {
        return Err(TracerError::AlreadyActive);
    }
    let clock = clock::init();
    BUILTINS.store(options.builtins, Ordering::Relaxed);
    DEPTH_PAUSES.store(0, Ordering::Relaxed);
    let start_unix_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    *slot = Some(State {
        calibration: clock::Calibration::start(),
        clock,
        start_unix_ns,
        threads: Vec::new(),
        functions: FxHashMap::default(),
        backend: hooks::Backend::default(),
    });
    let generation = SESSIONS.fetch_add(1, Ordering::Relaxed) + 1;
    GENERATION.store(generation, Ordering::Relaxed);
    match hooks::install(gil, options) {
        Ok(backend) => {
            slot.as_mut().expect("set above").backend = backend;
            Ok(())
        }
        Err(e) => {
            GENERATION.store(0, Ordering::Relaxed);
            if let Some(state) = slot.take() {
                state.release(gil);
            }
            Err(e)
        }
    }
}

pub fn is_active() -> bool {
    GENERATION.load(Ordering::Relaxed) != 0
}

/// Stops tracing, closes the calls still open (as cProfile's `disable` does) and returns what
/// was collected. The tracer is then empty and can be started again.
pub fn stop(gil: &Gil) -> Result<Profile, TracerError> {
    // First: it may let other threads run (and hooks with them) while a checkpoint finishes.
    checkpoint::switch_off(gil, Collector::Trace);
    // SAFETY: `gil` proves the GIL is held; hooks cannot run while we hold it.
    let slot = unsafe { &mut *STATE.0.get() };
    let Some(state) = slot.as_mut() else {
        return Err(TracerError::NotActive);
    };
    let uninstalled = hooks::uninstall(gil, &state.backend);
    GENERATION.store(0, Ordering::Relaxed);
    let now = clock::now();
    for &record in &state.threads {
        // SAFETY: records are owned by the state; no hook runs any more.
        unsafe { (*record).tree.close_all(now) };
    }
    let profile = snapshot::build(gil, state, now, false);
    slot.take().expect("checked above").release(gil);
    uninstalled?;
    Ok(profile)
}

/// What has been collected so far, as if every open call returned now; tracing goes on.
pub fn snapshot(gil: &Gil) -> Result<Profile, TracerError> {
    let generation = GENERATION.swap(0, Ordering::Relaxed);
    // SAFETY: `gil` proves the GIL is held; events are suspended (generation 0) meanwhile.
    let result = match unsafe { state() } {
        Some(state) => Ok(snapshot::build(gil, state, clock::now(), true)),
        None => Err(TracerError::NotActive),
    };
    GENERATION.store(generation, Ordering::Relaxed);
    result
}

/// In a child made by `fork()`: stops tracing there and drops the copy of the parent's data,
/// so the child runs untraced and never writes the parent's profile.
pub fn forget_after_fork(gil: &Gil) {
    // SAFETY: `gil` proves the GIL is held; only the forking thread exists in the child.
    let slot = unsafe { &mut *STATE.0.get() };
    if let Some(state) = slot.take() {
        checkpoint::forget_after_fork(gil);
        let _ = hooks::uninstall(gil, &state.backend);
        GENERATION.store(0, Ordering::Relaxed);
        state.release(gil);
    }
}

impl State {
    /// Frees the thread records and drops the references the session took.
    fn release(self, _gil: &Gil) {
        for record in self.threads {
            // SAFETY: each record came from Box::into_raw and is freed exactly once, here.
            let record = unsafe { Box::from_raw(record) };
            if !record.thread.is_null() {
                // SAFETY: GIL held; we own this reference.
                unsafe { Py_DECREF(record.thread) };
            }
        }
        for function in self.functions.into_values() {
            if let Function::Code(code) = function {
                // SAFETY: GIL held; we own this reference.
                unsafe { Py_DECREF(code) };
            }
        }
    }
}
