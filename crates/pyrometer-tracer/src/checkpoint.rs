//! Checkpoints: what has been collected so far, saved every few seconds while the program runs,
//! so that a program killed outright (SIGKILL, a crash in C code) still leaves a profile. One
//! implementation serves both in-process collectors that need the GIL to read their data: the
//! function tracer and the line collector ([`Collector`]).
//!
//! A plain thread wakes up every interval, takes the GIL (`PyGILState_Ensure`, as any thread
//! that calls into Python from C does) and saves a snapshot. The GIL is handed over only
//! between two bytecodes or where C code releases it, never inside a hook, so with it held
//! every thread's data is consistent. Whatever the program does meanwhile, the thread gets the
//! GIL within the interpreter's switch interval: a loop of pure arithmetic is asked to drop it,
//! and a main thread blocked in `Thread.join()`, `time.sleep()` or a socket does not hold it.
//! (An earlier design asked the main thread to save, with `Py_AddPendingCall`: that waited for
//! the main thread to run bytecode, which a blocked main thread does not, and before 3.13 did
//! not even interrupt its loop.) A program busy in C code that keeps the GIL gets its
//! checkpoint when the C code returns (until then nothing changes). The profile is encoded
//! and written after the GIL is released. The next interval is the configured one or 50 times
//! the CPU time the last checkpoint took, whichever is longer (the first, which carries
//! one-off imports, excepted), so checkpoints cost at most 2% of the run. The hooks do no work
//! for checkpoints.
//!
//! A thread that waits for the GIL while the interpreter finalizes is ended by it (or hangs),
//! so the collector must not go while a checkpoint is on its way: its stop switches the
//! checkpoints off and then, with the GIL released, waits for one in flight to finish.

use std::cell::UnsafeCell;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use pyo3_ffi::*;
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
    written: u64,
}

/// The checkpoints being taken, if any (touched only with the GIL held).
static CHECKPOINTS: GilCell<Option<Checkpoints>> = GilCell(UnsafeCell::new(None));
/// Whether the checkpoint thread may take checkpoints.
static ON: AtomicBool = AtomicBool::new(false);
/// Held by the thread while it checks `ON` and marks itself [`IN_FLIGHT`], and by
/// [`switch_off`] while it switches off: a checkpoint is either in flight when `switch_off`
/// looks, or never starts (the interpreter may be finalizing after the collector stopped).
static ASKING: Mutex<()> = Mutex::new(());
/// Which session the running thread serves.
static SESSION: AtomicU64 = AtomicU64::new(0);
/// How many checkpoints are on their way (waiting for the GIL, taking, or writing).
static IN_FLIGHT: AtomicU32 = AtomicU32::new(0);
/// The process whose checkpoint threads [`IN_FLIGHT`] counts: a child forked meanwhile must
/// not wait for threads it does not have.
static OWNER: AtomicU32 = AtomicU32::new(0);

/// Counts a checkpoint in flight for as long as it lives, unwinding included: a checkpoint
/// thread that died without taking itself off would leave the collector's stop waiting.
struct InFlight;

impl InFlight {
    fn new() -> InFlight {
        IN_FLIGHT.fetch_add(1, Ordering::AcqRel);
        InFlight
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        IN_FLIGHT.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Saves what `collector` has collected to `path` every `interval` while it runs, with `meta`
/// describing the run (the collector knows the data, not the run). Replaces earlier settings.
pub fn set_checkpoints(
    _gil: &Gil,
    collector: Collector,
    path: PathBuf,
    interval: Duration,
    meta: Meta,
) -> Result<(), TracerError> {
    if !collector.is_active() {
        return Err(TracerError::NotActive);
    }
    let session = SESSION.fetch_add(1, Ordering::Relaxed) + 1;
    // SAFETY: the token proves the GIL is held, which every access to the slot holds.
    let slot = unsafe { &mut *CHECKPOINTS.0.get() };
    *slot = Some(Checkpoints {
        collector,
        session,
        path,
        meta,
        written: 0,
    });
    ON.store(true, Ordering::Relaxed);
    OWNER.store(std::process::id(), Ordering::Relaxed);
    std::thread::Builder::new()
        .name("pyrometer-checkpoint".into())
        .spawn(move || {
            let mut wait = interval;
            let mut first = true;
            loop {
                std::thread::sleep(wait);
                let in_flight = {
                    let _asking = ASKING.lock().unwrap_or_else(|p| p.into_inner());
                    if !ON.load(Ordering::Relaxed) || SESSION.load(Ordering::Relaxed) != session {
                        return;
                    }
                    InFlight::new()
                };
                let started = clock::thread_cpu_ns();
                // SAFETY: the interpreter is alive: the collector stops before it finalizes,
                // and stopping waits for this checkpoint (see `switch_off`).
                let gstate = unsafe { PyGILState_Ensure() };
                let taken = std::panic::catch_unwind(|| {
                    // SAFETY: GIL held; a hook never lets go of it, so none is running.
                    unsafe { take(session) }
                });
                // SAFETY: paired with the `PyGILState_Ensure` above, on this thread.
                unsafe { PyGILState_Release(gstate) };
                // Encoding and writing need no GIL: the program goes on meanwhile. Still in
                // flight, so that the collector's final profile is written after this.
                if let Ok(Some((path, profile))) = taken
                    && let Err(e) = pyrometer_profile::pyro::write(&path, &profile)
                {
                    eprintln!(
                        "pyrometer: could not write a checkpoint to {}: {e}",
                        path.display()
                    );
                }
                drop(in_flight);
                // The checkpoint's own CPU time: while its Python part (reading new sources)
                // runs, the program may take the GIL back and run, which costs it nothing. The
                // first one carries one-off costs (the line collector imports `linecache`,
                // tens of milliseconds) that must not space out the next.
                let spent = clock::thread_cpu_ns().saturating_sub(started);
                wait = if first {
                    interval
                } else {
                    interval.max(Duration::from_nanos(spent.saturating_mul(50)))
                };
                first = false;
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

/// Stops the checkpoints if they save `collector` and waits, the GIL released, for one that is
/// on its way (called when the collector stops, with the GIL held, outside any hook; nothing may
/// borrow the collector's state across the call, since other threads run meanwhile).
pub(crate) fn switch_off(_gil: &Gil, collector: Collector) {
    {
        let _asking = ASKING.lock().unwrap_or_else(|p| p.into_inner());
        // SAFETY: GIL held per the token.
        let slot = unsafe { &mut *CHECKPOINTS.0.get() };
        if slot.as_ref().is_some_and(|cp| cp.collector == collector) {
            ON.store(false, Ordering::Relaxed);
            *slot = None;
        }
    }
    let mine = OWNER.load(Ordering::Relaxed) == std::process::id();
    if mine && IN_FLIGHT.load(Ordering::Acquire) > 0 {
        // SAFETY: GIL held by this thread, given back below.
        let tstate = unsafe { PyEval_SaveThread() };
        while IN_FLIGHT.load(Ordering::Acquire) > 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        // SAFETY: the thread state saved above, on the same thread.
        unsafe { PyEval_RestoreThread(tstate) };
    }
}

/// In a forked child the thread does not exist (and may have held the lock): just switch off.
pub(crate) fn forget_after_fork(_gil: &Gil) {
    ON.store(false, Ordering::Relaxed);
    IN_FLIGHT.store(0, Ordering::Relaxed);
    // SAFETY: GIL held per the token; only the forking thread exists in the child.
    unsafe { *CHECKPOINTS.0.get() = None };
}

/// A checkpoint of `session` and where to write it, if `session` is still the one being
/// checkpointed.
///
/// # Safety
/// GIL held, no hook running.
unsafe fn take(session: u64) -> Option<(PathBuf, Profile)> {
    // SAFETY: GIL held per the contract.
    let gil = unsafe { Gil::assume() };
    // SAFETY: GIL held; the reference ends before anything else can touch the slot.
    let collector = (unsafe { &*CHECKPOINTS.0.get() })
        .as_ref()
        .filter(|cp| cp.session == session)?
        .collector;
    let snapshot = py::preserving_exception(|| collector.snapshot(&gil));
    // Taking a snapshot may run Python code (the line collector reads new source files through
    // `linecache`), and another thread may have stopped the collector and saved its profile
    // meanwhile: a checkpoint must not replace that.
    // SAFETY: GIL held; no other reference to the slot is live.
    let slot = unsafe { &mut *CHECKPOINTS.0.get() };
    let cp = slot.as_mut().filter(|cp| cp.session == session)?;
    let mut profile = snapshot.ok()?;
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
    Some((cp.path.clone(), profile))
}
