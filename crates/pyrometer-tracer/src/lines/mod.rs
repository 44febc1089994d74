//! The line collector: exact hits and time per line of chosen code objects, line_profiler's
//! semantics, keyed per frame.
//!
//! - CPython 3.12+: `sys.monitoring` LINE, PY_START/RESUME and PY_RETURN/YIELD enabled only on
//!   the chosen code objects (`set_local_events`), plus PY_THROW and PY_UNWIND (global-only
//!   events, which fire only when an exception is thrown into or leaves a frame); when files
//!   are chosen by a [`FileFilter`], a global PY_START sees each code object once, turns its
//!   local events on if its file is chosen, and otherwise switches itself off for that code
//!   (`DISABLE`).
//! - CPython 3.11: a C trace function (`PyEval_SetTrace`) on every thread; frames of code that
//!   is not measured have their line events switched off (`f_trace_lines`) when they start.
//!
//! Per thread, a stack of the measured frames that are running: a line event charges the time
//! since the frame's previous event to that frame's previous line, so recursion, generators
//! that resume, exceptions and early returns are charged to the right activation. A line's
//! time includes the calls it makes (as line_profiler's). Counters are a flat array per thread
//! indexed by a slot each (code, line) gets when the code is registered: a hit is two adds.
//!
//! [`snapshot`] reads the data while measuring goes on, which `pyrometer run` uses for its
//! checkpoints (`crate::checkpoint`, shared with the function tracer).

mod build;
mod filter;
#[cfg(not(Py_3_12))]
mod legacy;
#[cfg(Py_3_12)]
mod monitoring;

use std::cell::{Cell as StdCell, UnsafeCell};
use std::ptr::null_mut;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

pub use filter::FileFilter;
use pyo3_ffi::*;
use pyrometer_profile::Profile;
use rustc_hash::FxHashMap;

use crate::checkpoint::{self, Collector};
use crate::py::{self, Gil};
use crate::thread_cache::{self, ThreadCache};
use crate::{GilCell, TracerError, clock};

#[cfg(not(Py_3_12))]
use legacy as backend;
#[cfg(Py_3_12)]
use monitoring as backend;

/// What to measure.
#[derive(Default)]
pub struct LineOptions {
    /// Code objects to measure (borrowed; the collector takes its own references).
    pub codes: Vec<*mut PyObject>,
    /// Also every code object whose file this filter selects, as it first runs.
    pub filter: Option<FileFilter>,
    /// Source text for files that have none on disk (`-c` code): (file name, text).
    pub sources: Vec<(String, String)>,
}

const NO_SLOT: u32 = u32::MAX;
/// `CodeSlots::index` of a code object seen and not measured.
const SKIPPED: u32 = u32::MAX;

/// A line's counters on one thread.
#[derive(Clone, Copy, Default)]
struct Counters {
    hits: u64,
    ticks: u64,
}

/// A running frame of measured code.
#[derive(Clone, Copy)]
struct Activation {
    code: usize,
    /// The code's slots: line `first + i` has slot `base + i` for `i < len`.
    base: u32,
    first: u32,
    len: u32,
    index: u32,
    /// The slot of the line that ran last in this frame, and when its event came.
    slot: u32,
    since: u64,
}

struct LineThread {
    counters: Vec<Counters>,
    stack: Vec<Activation>,
    ident: u64,
    native_id: u64,
    thread: *mut PyObject,
}

/// A measured code object.
struct CodeEntry {
    /// Strong reference (addresses stay unique while measuring).
    code: *mut PyObject,
    base: u32,
    first: u32,
    len: u32,
}

struct LinesState {
    calibration: clock::Calibration,
    clock: clock::ClockKind,
    start_unix_ns: u64,
    threads: Vec<*mut LineThread>,
    codes: Vec<CodeEntry>,
    /// Code address → index in `codes`, or `SKIPPED`.
    known: FxHashMap<usize, u32>,
    /// Strong references to code objects seen and not measured.
    skipped: Vec<*mut PyObject>,
    /// Lines outside a code's range (rare): (code index, line) → slot.
    extra: FxHashMap<(u32, u32), u32>,
    /// For each slot, its (code index, line).
    slot_lines: Vec<(u32, u32)>,
    filter: Option<FileFilter>,
    /// Source lines by file name: the texts given at start, and the files of measured code read
    /// through `linecache` by [`read_sources`].
    texts: FxHashMap<String, Vec<String>>,
    /// How many of `codes` [`read_sources`] has looked at.
    texts_read: usize,
    backend: backend::Backend,
}

static STATE: GilCell<Option<LinesState>> = GilCell(UnsafeCell::new(None));
/// The current session's number; 0 while none is active.
static GENERATION: AtomicU64 = AtomicU64::new(0);
static SESSIONS: AtomicU64 = AtomicU64::new(0);
/// Whether events are recorded (a session can be paused).
static RECORDING: AtomicBool = AtomicBool::new(false);

thread_local! {
    static CURRENT: thread_cache::Slot<LineThread> = const { StdCell::new((0, null_mut())) };
}

/// The hooks' way to the running thread's record: an entry is dropped whenever its thread has
/// no measured frame running.
static THREADS: ThreadCache<LineThread> = ThreadCache::new(&CURRENT);

/// # Safety
/// GIL held, and no other reference into the state alive.
unsafe fn state() -> Option<&'static mut LinesState> {
    // SAFETY: per the contract.
    unsafe { (*STATE.0.get()).as_mut() }
}

/// This thread's record, registering the thread on its first event; `None` when not recording.
///
/// # Safety
/// Called from a hook (GIL held).
#[inline(always)]
unsafe fn current_thread() -> Option<&'static mut LineThread> {
    if !RECORDING.load(Ordering::Relaxed) {
        return None;
    }
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
unsafe fn register_thread() -> Option<*mut LineThread> {
    // SAFETY: GIL held (forwarded contract); no other reference to the state is live.
    let state = unsafe { state() }?;
    let record = Box::into_raw(Box::new(LineThread {
        counters: vec![Counters::default(); state.slot_lines.len()],
        stack: Vec::with_capacity(64),
        // SAFETY: plain queries of the calling thread.
        ident: unsafe { PyThread_get_thread_ident() } as u64,
        // SAFETY: gettid has no preconditions.
        native_id: unsafe { libc::gettid() } as u64,
        thread: null_mut(),
    }));
    state.threads.push(record);
    Some(record)
}

/// A line event: `line` of `code` is about to run in the innermost measured frame. Returns
/// false when `code` is not measured.
///
/// # Safety
/// Called from a hook (GIL held); `code` is a live code object.
#[inline(always)]
unsafe fn on_line(code: *mut PyObject, line: u32) -> bool {
    // SAFETY: forwarded contract.
    let Some(record) = (unsafe { current_thread() }) else {
        return true;
    };
    let now = clock::now();
    let on_top = record.stack.last().is_some_and(|a| a.code == code as usize);
    // SAFETY: forwarded contract.
    if !on_top && !unsafe { push_running(record, code, now) } {
        return false;
    }
    let Some(top) = record.stack.last_mut() else {
        return true;
    };
    if let Some(previous) = record.counters.get_mut(top.slot as usize) {
        previous.ticks += now.wrapping_sub(top.since);
    }
    let offset = line.wrapping_sub(top.first);
    let slot = if offset < top.len {
        top.base + offset
    } else {
        // SAFETY: forwarded contract.
        unsafe { extra_slot(top.index, line) }
    };
    if slot == NO_SLOT {
        return true;
    }
    if slot as usize >= record.counters.len() {
        grow(&mut record.counters, slot);
    }
    if let Some(counters) = record.counters.get_mut(slot as usize) {
        counters.hits += 1;
    }
    top.slot = slot;
    top.since = now;
    true
}

#[cold]
#[inline(never)]
fn grow(counters: &mut Vec<Counters>, slot: u32) {
    let len = (slot as usize + 1).max(counters.len() * 2);
    counters.resize(len, Counters::default());
}

/// A line event in a frame that is not on top of this thread's stack: a frame that was already
/// running when measuring began (or resumed). Pushes it if its code is measured.
#[cold]
#[inline(never)]
unsafe fn push_running(record: &mut LineThread, code: *mut PyObject, now: u64) -> bool {
    // SAFETY: forwarded contract.
    unsafe { push(record, code, now) }
}

/// A measured frame starts or resumes. Returns whether `code` is measured.
///
/// # Safety
/// Called from a hook (GIL held); `code` is a live code object.
#[inline(always)]
unsafe fn push(record: &mut LineThread, code: *mut PyObject, now: u64) -> bool {
    // SAFETY: GIL held; `record` is not reachable through the state (raw pointers only).
    let Some(state) = (unsafe { state() }) else {
        return false;
    };
    let index = match state.known.get(&(code as usize)) {
        Some(&i) => i,
        // SAFETY: forwarded contract.
        None => unsafe { decide(state, code) },
    };
    let Some(entry) = state.codes.get(index as usize) else {
        return false;
    };
    record.stack.push(Activation {
        code: code as usize,
        base: entry.base,
        first: entry.first,
        len: entry.len,
        index,
        slot: NO_SLOT,
        since: now,
    });
    true
}

/// A frame of `code` starts or resumes. Returns whether `code` is measured (`None` when not
/// recording).
///
/// # Safety
/// Called from a hook (GIL held); `code` is a live code object.
#[inline(always)]
unsafe fn on_start(code: *mut PyObject) -> Option<bool> {
    // SAFETY: forwarded contract.
    let record = unsafe { current_thread() }?;
    // SAFETY: forwarded contract.
    Some(unsafe { push(record, code, clock::now()) })
}

/// A frame of `code` returns, yields or unwinds.
///
/// # Safety
/// Called from a hook (GIL held).
#[inline(always)]
unsafe fn on_exit(code: *mut PyObject) {
    // SAFETY: forwarded contract.
    let Some(record) = (unsafe { current_thread() }) else {
        return;
    };
    match record.stack.last() {
        Some(top) if top.code == code as usize => {}
        _ => return,
    }
    let now = clock::now();
    if let Some(top) = record.stack.pop()
        && let Some(c) = record.counters.get_mut(top.slot as usize)
    {
        c.ticks += now.wrapping_sub(top.since);
    }
    if record.stack.is_empty() {
        THREADS.forget();
    }
}

/// First sight of a code object while files are chosen by a filter: measure it or not.
#[cold]
#[inline(never)]
unsafe fn decide(state: &mut LinesState, code: *mut PyObject) -> u32 {
    // SAFETY: GIL held by the hook.
    let gil = unsafe { Gil::assume() };
    py::preserving_exception(|| {
        let chosen = state.filter.as_ref().is_some_and(|f| {
            py::attr_string(&gil, code, "co_filename").is_some_and(|file| f.selects(&file))
        });
        if chosen {
            // SAFETY: GIL held; `code` is live.
            match unsafe { register(&gil, state, code) } {
                Ok(i) => return i,
                Err(_) => {
                    state.known.insert(code as usize, SKIPPED);
                }
            }
        } else {
            // SAFETY: GIL held; we keep this reference until the session ends.
            unsafe { Py_INCREF(code) };
            state.skipped.push(code);
            state.known.insert(code as usize, SKIPPED);
        }
        SKIPPED
    })
}

/// The slot of a line outside its code's range.
#[cold]
#[inline(never)]
unsafe fn extra_slot(index: u32, line: u32) -> u32 {
    // SAFETY: GIL held by the hook; no other reference to the state is live.
    let Some(state) = (unsafe { state() }) else {
        return NO_SLOT;
    };
    let next = state.slot_lines.len() as u32;
    let slot = *state.extra.entry((index, line)).or_insert(next);
    if slot == next {
        state.slot_lines.push((index, line));
    }
    slot
}

/// The lines a code object's instructions are on: (lowest, highest), from `co_lines()`.
fn line_range(gil: &Gil, code: *mut PyObject) -> Result<(u32, u32), TracerError> {
    let first = py::attr_i64(gil, code, "co_firstlineno")
        .unwrap_or(0)
        .max(0) as u32;
    let lines = py::call_method(gil, code, "co_lines", &[])?;
    let (mut low, mut high) = (first, first);
    // SAFETY: GIL held; `lines` is an iterable we own; every item is a new reference we drop.
    unsafe {
        let iter = py::Owned::new(gil, PyObject_GetIter(lines.as_ptr()))?;
        loop {
            let item = PyIter_Next(iter.as_ptr());
            if item.is_null() {
                if !PyErr_Occurred().is_null() {
                    return Err(TracerError::Python(py::take_error()));
                }
                break;
            }
            let item = py::Owned(item);
            if PyTuple_Check(item.as_ptr()) != 0 && PyTuple_Size(item.as_ptr()) == 3 {
                let line = PyTuple_GetItem(item.as_ptr(), 2);
                if line != Py_None() {
                    let l = PyLong_AsLong(line);
                    if l > 0 {
                        low = low.min(l as u32);
                        high = high.max(l as u32);
                    } else if l == -1 {
                        PyErr_Clear();
                    }
                }
            }
        }
    }
    Ok((low, high))
}

/// Registers a code object to measure: its slots, and (on 3.12+) its local events.
///
/// # Safety
/// GIL held; `code` is a live code object.
unsafe fn register(
    gil: &Gil,
    state: &mut LinesState,
    code: *mut PyObject,
) -> Result<u32, TracerError> {
    if let Some(&i) = state.known.get(&(code as usize))
        && i != SKIPPED
    {
        return Ok(i);
    }
    // SAFETY: GIL held.
    if unsafe { PyCode_Check(code) } == 0 {
        return Err(TracerError::Python("not a code object".into()));
    }
    let (first, last) = line_range(gil, code)?;
    let len = last - first + 1;
    let base = state.slot_lines.len() as u32;
    let index = state.codes.len() as u32;
    backend::watch(gil, &state.backend, code)?;
    // SAFETY: GIL held; the reference is released when the session ends.
    unsafe { Py_INCREF(code) };
    state.codes.push(CodeEntry {
        code,
        base,
        first,
        len,
    });
    state
        .slot_lines
        .extend((0..len).map(|i| (index, first + i)));
    state.known.insert(code as usize, index);
    Ok(index)
}

/// Starts measuring lines.
pub fn start(gil: &Gil, options: LineOptions) -> Result<(), TracerError> {
    crate::check_build()?;
    // SAFETY: `gil` proves the GIL is held; no other reference to the state is live here.
    let slot = unsafe { &mut *STATE.0.get() };
    if slot.is_some() {
        return Err(TracerError::AlreadyActive);
    }
    let clock = clock::init();
    let start_unix_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let auto = options.filter.is_some();
    let backend = backend::install(gil, auto)?;
    *slot = Some(LinesState {
        calibration: clock::Calibration::start(),
        clock,
        start_unix_ns,
        threads: Vec::new(),
        codes: Vec::new(),
        known: FxHashMap::default(),
        skipped: Vec::new(),
        extra: FxHashMap::default(),
        slot_lines: Vec::new(),
        filter: options.filter,
        texts: options
            .sources
            .into_iter()
            .map(|(file, text)| (file, text.lines().map(str::to_string).collect()))
            .collect(),
        texts_read: 0,
        backend,
    });
    let state = slot.as_mut().expect("set above");
    for code in options.codes {
        // SAFETY: GIL held; the caller passes live code objects.
        if let Err(e) = unsafe { register(gil, state, code) } {
            if let Some(state) = slot.take() {
                state.release(gil);
            }
            return Err(e);
        }
    }
    let generation = SESSIONS.fetch_add(1, Ordering::Relaxed) + 1;
    GENERATION.store(generation, Ordering::Relaxed);
    RECORDING.store(true, Ordering::Relaxed);
    backend::resume(gil, &slot.as_ref().expect("set above").backend)?;
    Ok(())
}

/// Adds a code object to the running session.
///
/// # Safety
/// `code` must point to a live Python object (it is checked to be a code object).
pub unsafe fn add_code(gil: &Gil, code: *mut PyObject) -> Result<(), TracerError> {
    // SAFETY: `gil` proves the GIL is held; hooks cannot run meanwhile.
    let Some(state) = (unsafe { state() }) else {
        return Err(TracerError::NotActive);
    };
    // SAFETY: GIL held; the caller passes a live object (checked to be code in `register`).
    unsafe { register(gil, state, code) }.map(drop)
}

pub fn is_active() -> bool {
    GENERATION.load(Ordering::Relaxed) != 0
}

pub fn is_recording() -> bool {
    is_active() && RECORDING.load(Ordering::Relaxed)
}

/// Charges every open frame's current line up to `now` and empties the frame stacks.
fn close_frames(state: &mut LinesState, now: u64) {
    for &record in &state.threads {
        // SAFETY: records are owned by the state; no hook runs (GIL held by the caller).
        let record = unsafe { &mut *record };
        for a in record.stack.drain(..) {
            if let Some(c) = record.counters.get_mut(a.slot as usize) {
                c.ticks += now.wrapping_sub(a.since);
            }
        }
    }
    THREADS.forget();
}

/// Pauses (`false`) or resumes (`true`) recording; what was collected is kept. Pausing closes
/// the open lines at the pause.
pub fn set_recording(gil: &Gil, on: bool) -> Result<(), TracerError> {
    // SAFETY: `gil` proves the GIL is held.
    let Some(state) = (unsafe { state() }) else {
        return Err(TracerError::NotActive);
    };
    if on == RECORDING.load(Ordering::Relaxed) {
        return Ok(());
    }
    if on {
        RECORDING.store(true, Ordering::Relaxed);
        backend::resume(gil, &state.backend)
    } else {
        RECORDING.store(false, Ordering::Relaxed);
        close_frames(state, clock::now());
        backend::pause(gil, &state.backend)
    }
}

/// Reads the source of the files of measured code that has none yet into `texts`, through
/// `linecache` (which knows zip imports and `__loader__.get_source`): of the code registered
/// since the last call, or with `all` of every measured code. This runs Python code, during
/// which hooks run (this thread's, and other threads' if the GIL is handed over), so no
/// reference into the state is held while reading; a profile can then be built without running
/// any Python code, while recording is suspended.
fn read_sources(gil: &Gil, all: bool) {
    let files: Vec<String> = {
        // SAFETY: `gil` proves the GIL is held; the reference ends with this block.
        let Some(state) = (unsafe { state() }) else {
            return;
        };
        let from = if all { 0 } else { state.texts_read };
        state.texts_read = state.codes.len();
        let mut files = rustc_hash::FxHashSet::default();
        for entry in state.codes.get(from..).unwrap_or_default() {
            if let Some(file) = py::attr_string(gil, entry.code, "co_filename")
                && !state.texts.contains_key(&file)
            {
                files.insert(file);
            }
        }
        files.into_iter().collect()
    };
    if files.is_empty() {
        return;
    }
    let Some(linecache) = py::preserving_exception(|| py::import(gil, "linecache").ok()) else {
        return;
    };
    for file in files {
        let lines = py::preserving_exception(|| build::file_lines(gil, linecache.as_ptr(), &file))
            .unwrap_or_default();
        // SAFETY: as above; the session may have ended while linecache ran.
        let Some(state) = (unsafe { state() }) else {
            return;
        };
        if !lines.is_empty() {
            state.texts.entry(file).or_insert(lines);
        }
    }
}

/// Stops measuring and returns what was collected.
pub fn stop(gil: &Gil) -> Result<Profile, TracerError> {
    checkpoint::switch_off(gil, Collector::Lines);
    read_sources(gil, true);
    // SAFETY: `gil` proves the GIL is held; hooks cannot run while we hold it.
    let slot = unsafe { &mut *STATE.0.get() };
    let Some(state) = slot.as_mut() else {
        return Err(TracerError::NotActive);
    };
    RECORDING.store(false, Ordering::Relaxed);
    let uninstalled = backend::uninstall(gil, &state.backend, &state.codes);
    GENERATION.store(0, Ordering::Relaxed);
    close_frames(state, clock::now());
    let profile = build::build(gil, state);
    slot.take().expect("checked above").release(gil);
    uninstalled?;
    Ok(profile)
}

/// What has been collected so far, as if every open line ended now; measuring goes on.
pub fn snapshot(gil: &Gil) -> Result<Profile, TracerError> {
    read_sources(gil, false);
    // SAFETY: `gil` proves the GIL is held; hooks cannot run while we hold it.
    let Some(state) = (unsafe { state() }) else {
        return Err(TracerError::NotActive);
    };
    let now = clock::now();
    let mut saved = Vec::with_capacity(state.threads.len());
    for &record in &state.threads {
        // SAFETY: records are owned by the state; no hook runs meanwhile.
        let record = unsafe { &mut *record };
        saved.push(record.counters.clone());
        for a in &record.stack {
            if let Some(c) = record.counters.get_mut(a.slot as usize) {
                c.ticks += now.wrapping_sub(a.since);
            }
        }
    }
    // No hook may touch the state while it is read (building runs no Python code: the sources
    // were read above, so no other thread can take the GIL and run meanwhile).
    let recording = RECORDING.swap(false, Ordering::Relaxed);
    let profile = build::build(gil, state);
    RECORDING.store(recording, Ordering::Relaxed);
    for (&record, counters) in state.threads.iter().zip(saved) {
        // SAFETY: as above.
        unsafe { (*record).counters = counters };
    }
    Ok(profile)
}

/// In a child made by `fork()`: stops measuring there and drops the parent's data.
pub fn forget_after_fork(gil: &Gil) {
    // SAFETY: `gil` proves the GIL is held; only the forking thread exists in the child.
    let slot = unsafe { &mut *STATE.0.get() };
    if let Some(state) = slot.take() {
        checkpoint::forget_after_fork(gil);
        RECORDING.store(false, Ordering::Relaxed);
        let _ = backend::uninstall(gil, &state.backend, &state.codes);
        GENERATION.store(0, Ordering::Relaxed);
        state.release(gil);
    }
}

impl LinesState {
    fn release(self, _gil: &Gil) {
        for record in self.threads {
            // SAFETY: each record came from Box::into_raw and is freed exactly once, here.
            let record = unsafe { Box::from_raw(record) };
            if !record.thread.is_null() {
                // SAFETY: GIL held; we own this reference.
                unsafe { Py_DECREF(record.thread) };
            }
        }
        for code in self.codes.iter().map(|c| c.code).chain(self.skipped) {
            // SAFETY: GIL held; we own these references.
            unsafe { Py_DECREF(code) };
        }
    }
}
