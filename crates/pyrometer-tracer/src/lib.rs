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

pub mod clock;
mod hooks;
mod names;
mod py;
mod snapshot;
pub mod tree;

use std::cell::{Cell, UnsafeCell};
use std::ptr::null_mut;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use pyo3_ffi::*;
use pyrometer_profile::Profile;
use rustc_hash::FxHashMap;

pub use py::Gil;

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
}

/// Where and how often to save what has been collected while the program runs.
struct Checkpoints {
    path: std::path::PathBuf,
    interval_ticks: u64,
    /// Metadata to give each checkpoint (the tracer knows the data, not the run).
    meta: pyrometer_profile::Meta,
    written: u64,
}

struct State {
    calibration: clock::Calibration,
    checkpoints: Option<Checkpoints>,
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
/// The tick at which the next checkpoint is due (`u64::MAX`: none).
static NEXT_CHECKPOINT: AtomicU64 = AtomicU64::new(u64::MAX);

thread_local! {
    /// This thread's record in the current session: (session number, record).
    static CURRENT: Cell<(u64, *mut ThreadRecord)> = const { Cell::new((0, null_mut())) };
}

/// # Safety
/// GIL held, and no other reference into the state alive.
unsafe fn state() -> Option<&'static mut State> {
    // SAFETY: per the contract, this is the only live reference.
    unsafe { (*STATE.0.get()).as_mut() }
}

/// This thread's record, registering the thread on its first event.
///
/// # Safety
/// Called from a hook (GIL held).
#[inline(always)]
unsafe fn current_thread() -> Option<&'static mut ThreadRecord> {
    let generation = GENERATION.load(Ordering::Relaxed);
    let (g, record) = CURRENT.get();
    if g == generation && !record.is_null() {
        // SAFETY: the record belongs to the live session and only this thread touches it.
        return Some(unsafe { &mut *record });
    }
    // SAFETY: forwarded contract.
    unsafe { register_thread(generation) }
}

#[cold]
#[inline(never)]
unsafe fn register_thread(generation: u64) -> Option<&'static mut ThreadRecord> {
    if generation == 0 {
        return None;
    }
    // SAFETY: GIL held (called from a hook); no other reference to the state is live.
    let state = unsafe { state() }?;
    let record = Box::into_raw(Box::new(ThreadRecord {
        tree: tree::CallTree::new(),
        // SAFETY: plain queries of the calling thread.
        ident: unsafe { PyThread_get_thread_ident() } as u64,
        // SAFETY: gettid has no preconditions.
        native_id: unsafe { libc::gettid() } as u64,
        thread: null_mut(),
        lookups_left: 64,
    }));
    state.threads.push(record);
    CURRENT.set((generation, record));
    // SAFETY: just allocated, owned by the state, used by this thread only.
    Some(unsafe { &mut *record })
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
    if let Some(record) = unsafe { current_thread() } {
        record.tree.leave(now);
    }
    if now >= NEXT_CHECKPOINT.load(Ordering::Relaxed) {
        // SAFETY: forwarded contract; the record borrow above has ended.
        unsafe { checkpoint(now) };
    }
}

/// Saves what has been collected so far, from inside a hook (so with the GIL, and with every
/// thread's tree consistent). The next one is due after the interval, or after 50 times what
/// this one took, whichever is later: checkpoints cost at most 2% of the run.
#[cold]
#[inline(never)]
unsafe fn checkpoint(now: u64) {
    NEXT_CHECKPOINT.store(u64::MAX, Ordering::Relaxed);
    // SAFETY: GIL held by the hook; no other reference to the state is live.
    let Some(state) = (unsafe { state() }) else {
        return;
    };
    let Some(mut cp) = state.checkpoints.take() else {
        return;
    };
    // SAFETY: GIL held by the hook.
    let gil = unsafe { Gil::assume() };
    let generation = GENERATION.swap(0, Ordering::Relaxed);
    let mut profile = py::preserving_exception(|| snapshot::build(&gil, state, now, true));
    GENERATION.store(generation, Ordering::Relaxed);
    cp.written += 1;
    let duration_ns = profile.meta.duration_ns;
    let counters = std::mem::take(&mut profile.meta.counters);
    profile.meta = pyrometer_profile::Meta {
        duration_ns,
        counters,
        ..cp.meta.clone()
    };
    profile.meta.counters.push(pyrometer_profile::Counter {
        name: "checkpoint".into(),
        value: cp.written,
    });
    if let Err(e) = pyrometer_profile::pyro::write(&cp.path, &profile) {
        eprintln!(
            "pyrometer: could not write a checkpoint to {}: {e}",
            cp.path.display()
        );
    }
    let spent = clock::now().saturating_sub(now);
    NEXT_CHECKPOINT.store(
        clock::now().saturating_add(cp.interval_ticks.max(spent.saturating_mul(50))),
        Ordering::Relaxed,
    );
    state.checkpoints = Some(cp);
}

/// Saves the collected data to `path` every `interval` while tracing, with `meta` as its
/// metadata, so that a program killed outright (SIGKILL, a crash) still leaves a profile.
pub fn set_checkpoints(
    gil: &Gil,
    path: std::path::PathBuf,
    interval: std::time::Duration,
    meta: pyrometer_profile::Meta,
) -> Result<(), TracerError> {
    let _ = gil;
    // SAFETY: `gil` proves the GIL is held; hooks cannot run meanwhile.
    let Some(state) = (unsafe { state() }) else {
        return Err(TracerError::NotActive);
    };
    let ns_per_tick = clock::quick_ns_per_tick();
    let interval_ticks = (interval.as_nanos() as f64 / ns_per_tick).max(1.0) as u64;
    state.checkpoints = Some(Checkpoints {
        path,
        interval_ticks,
        meta,
        written: 0,
    });
    NEXT_CHECKPOINT.store(
        clock::now().saturating_add(interval_ticks),
        Ordering::Relaxed,
    );
    Ok(())
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

/// Starts tracing every thread of this interpreter.
pub fn start(gil: &Gil, options: Options) -> Result<(), TracerError> {
    if cfg!(Py_GIL_DISABLED) {
        return Err(TracerError::FreeThreaded);
    }
    // SAFETY: `gil` proves the GIL is held; no other reference to the state is live here.
    let slot = unsafe { &mut *STATE.0.get() };
    if slot.is_some() {
        return Err(TracerError::AlreadyActive);
    }
    let clock = clock::init();
    BUILTINS.store(options.builtins, Ordering::Relaxed);
    let start_unix_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    *slot = Some(State {
        checkpoints: None,
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
    // SAFETY: `gil` proves the GIL is held; hooks cannot run while we hold it.
    let slot = unsafe { &mut *STATE.0.get() };
    let Some(state) = slot.as_mut() else {
        return Err(TracerError::NotActive);
    };
    let uninstalled = hooks::uninstall(gil, &state.backend);
    GENERATION.store(0, Ordering::Relaxed);
    NEXT_CHECKPOINT.store(u64::MAX, Ordering::Relaxed);
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
        let _ = hooks::uninstall(gil, &state.backend);
        GENERATION.store(0, Ordering::Relaxed);
        NEXT_CHECKPOINT.store(u64::MAX, Ordering::Relaxed);
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
