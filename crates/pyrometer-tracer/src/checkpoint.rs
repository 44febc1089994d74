//! Checkpoints: what has been collected so far, saved every few seconds while the program runs,
//! so that a program killed outright (SIGKILL, a crash in C code) still leaves a profile. One
//! implementation serves both in-process collectors that need the GIL to read their data: the
//! function tracer and the line collector ([`Collector`]).
//!
//! A plain thread (not a Python thread) wakes up every interval and asks the interpreter, with
//! `Py_AddPendingCall`, to run [`run`] on the main thread between two bytecodes: there, with
//! the GIL held and no hook running, every thread's data is consistent. A program busy in C
//! code gets its checkpoint when it next runs Python code (until then nothing changes). Before
//! 3.13 a request made from another thread reaches the main thread only when that thread next
//! takes the GIL (after I/O, a sleep, a thread switch) or schedules a garbage collection
//! (CPython gh-95820): a loop that does neither, pure arithmetic on numbers, is checkpointed
//! only once it does. The next interval is the configured one or 50 times what the last checkpoint took, whichever is
//! longer, so checkpoints cost at most 2% of the run. The hooks do no work for checkpoints.

use std::cell::UnsafeCell;
use std::ffi::{c_int, c_void};
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use pyo3_ffi::Py_AddPendingCall;
use pyrometer_profile::{Counter, Meta, Profile};

use crate::{Gil, GilCell, TracerError, clock, py};

/// The collector a checkpoint saves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Collector {
    /// The function tracer ([`crate::start`]).
    Trace,
    /// The line collector ([`crate::lines::start`]).
    Lines,
}

impl Collector {
    fn is_active(self) -> bool {
        match self {
            Collector::Trace => crate::is_active(),
            Collector::Lines => crate::lines::is_active(),
        }
    }

    /// What the collector has so far, collecting going on. GIL held, no hook running.
    fn snapshot(self, gil: &Gil) -> Result<Profile, TracerError> {
        match self {
            Collector::Trace => crate::snapshot(gil),
            Collector::Lines => crate::lines::snapshot(gil),
        }
    }
}

/// What to save, where, with what metadata, and how many were written.
struct Checkpoints {
    collector: Collector,
    /// The value of [`SESSION`] these checkpoints belong to.
    session: u64,
    path: PathBuf,
    meta: Meta,
    interval: Duration,
    written: u64,
}

/// The checkpoints being taken, if any (touched only with the GIL held).
static CHECKPOINTS: GilCell<Option<Checkpoints>> = GilCell(UnsafeCell::new(None));
/// Whether the checkpoint thread may ask for checkpoints.
static ON: AtomicBool = AtomicBool::new(false);
/// Held by the thread from its check of `ON` to its request, and by [`switch_off`], so that no
/// request is made after the collector stopped (and the interpreter may be finalizing).
static ASKING: Mutex<()> = Mutex::new(());
/// Which session the running thread serves.
static SESSION: AtomicU64 = AtomicU64::new(0);
/// Nanoseconds the thread sleeps before asking again.
static WAIT_NS: AtomicU64 = AtomicU64::new(1_000_000_000);

/// Saves what `collector` has collected to `path` every `interval` while it runs, with `meta`
/// describing the run (the collector knows the data, not the run). Replaces earlier settings.
pub fn set_checkpoints(
    gil: &Gil,
    collector: Collector,
    path: PathBuf,
    interval: Duration,
    meta: Meta,
) -> Result<(), TracerError> {
    if !collector.is_active() {
        return Err(TracerError::NotActive);
    }
    let session = SESSION.fetch_add(1, Ordering::Relaxed) + 1;
    // SAFETY: `gil` proves the GIL is held, which every access to the slot holds.
    let slot = unsafe { &mut *CHECKPOINTS.0.get() };
    let _ = gil;
    *slot = Some(Checkpoints {
        collector,
        session,
        path,
        meta,
        interval,
        written: 0,
    });
    WAIT_NS.store(
        interval.as_nanos().min(u64::MAX as u128) as u64,
        Ordering::Relaxed,
    );
    ON.store(true, Ordering::Relaxed);
    std::thread::Builder::new()
        .name("pyrometer-checkpoint".into())
        .spawn(move || {
            loop {
                std::thread::sleep(Duration::from_nanos(WAIT_NS.load(Ordering::Relaxed)));
                let _asking = ASKING.lock().unwrap_or_else(|p| p.into_inner());
                if !ON.load(Ordering::Relaxed) || SESSION.load(Ordering::Relaxed) != session {
                    return;
                }
                // SAFETY: callable from any thread without the GIL; the interpreter is alive
                // (the collector stops, under this lock, before it finalizes).
                unsafe { Py_AddPendingCall(Some(run), std::ptr::null_mut()) };
            }
        })
        .map_err(|e| {
            // SAFETY: GIL held (as above).
            unsafe { *CHECKPOINTS.0.get() = None };
            ON.store(false, Ordering::Relaxed);
            TracerError::Python(format!("cannot start the checkpoint thread: {e}"))
        })?;
    Ok(())
}

/// Stops the requests if they save `collector` (called when it stops, with the GIL held).
pub(crate) fn switch_off(_gil: &Gil, collector: Collector) {
    let _asking = ASKING.lock().unwrap_or_else(|p| p.into_inner());
    // SAFETY: GIL held per the token.
    let slot = unsafe { &mut *CHECKPOINTS.0.get() };
    if slot.as_ref().is_some_and(|cp| cp.collector == collector) {
        ON.store(false, Ordering::Relaxed);
        *slot = None;
    }
}

/// In a forked child the thread does not exist (and may have held the lock): just switch off.
pub(crate) fn forget_after_fork(_gil: &Gil) {
    ON.store(false, Ordering::Relaxed);
    // SAFETY: GIL held per the token; only the forking thread exists in the child.
    unsafe { *CHECKPOINTS.0.get() = None };
}

/// The pending call: runs on the main thread with the GIL held. Never raises.
extern "C" fn run(_arg: *mut c_void) -> c_int {
    if ON.load(Ordering::Relaxed) {
        let _ = std::panic::catch_unwind(|| {
            // SAFETY: pending calls run with the GIL held, between bytecodes, outside hooks.
            unsafe { take() };
        });
    }
    0
}

/// # Safety
/// GIL held, no hook running.
unsafe fn take() {
    let started = clock::monotonic_ns();
    // SAFETY: GIL held per the contract.
    let gil = unsafe { Gil::assume() };
    // SAFETY: GIL held; the reference ends before anything else can touch the slot.
    let Some((collector, session)) = (unsafe { &*CHECKPOINTS.0.get() })
        .as_ref()
        .map(|cp| (cp.collector, cp.session))
    else {
        return;
    };
    let snapshot = py::preserving_exception(|| collector.snapshot(&gil));
    // Taking a snapshot may run Python code (the line collector reads new source files through
    // `linecache`), and another thread may have stopped the collector and saved its profile
    // meanwhile: a checkpoint must not replace that.
    // SAFETY: GIL held; no other reference to the slot is live.
    let slot = unsafe { &mut *CHECKPOINTS.0.get() };
    let Some(cp) = slot.as_mut().filter(|cp| cp.session == session) else {
        return;
    };
    let Ok(mut profile) = snapshot else {
        return;
    };
    cp.written += 1;
    // What was measured comes from the collector; the description of the run from `meta`.
    let measured = std::mem::take(&mut profile.meta);
    profile.meta = Meta {
        mode: measured.mode,
        clock: measured.clock,
        start_unix_ns: measured.start_unix_ns,
        duration_ns: measured.duration_ns,
        sample_interval_ns: measured.sample_interval_ns,
        counters: measured.counters,
        notes: measured.notes,
        ..cp.meta.clone()
    };
    profile.meta.counters.push(Counter {
        name: "checkpoint".into(),
        value: cp.written,
    });
    if let Err(e) = pyrometer_profile::pyro::write(&cp.path, &profile) {
        eprintln!(
            "pyrometer: could not write a checkpoint to {}: {e}",
            cp.path.display()
        );
    }
    let spent = clock::monotonic_ns().saturating_sub(started);
    let wait = (cp.interval.as_nanos().min(u64::MAX as u128) as u64).max(spent.saturating_mul(50));
    WAIT_NS.store(wait, Ordering::Relaxed);
}
