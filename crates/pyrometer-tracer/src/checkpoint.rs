//! Checkpoints: what has been collected so far, saved every few seconds while the program runs,
//! so that a program killed outright (SIGKILL, a crash in C code) still leaves a profile.
//!
//! A plain thread (not a Python thread) wakes up every interval and asks the interpreter, with
//! `Py_AddPendingCall`, to run [`run`] on the main thread between two bytecodes: there, with
//! the GIL held and no hook running, every thread's call tree is consistent. A program busy in
//! C code gets its checkpoint when it next runs Python code (until then nothing changes). The
//! next interval is the configured one or 50 times what the last checkpoint took, whichever is
//! longer, so checkpoints cost at most 2% of the run. The hooks do no work for checkpoints.

use std::ffi::{c_int, c_void};
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use pyo3_ffi::Py_AddPendingCall;
use pyrometer_profile::{Counter, Meta};

use crate::{GENERATION, Gil, TracerError, clock, py, snapshot, state};

/// Where to save, with what metadata, and how many were written.
pub(crate) struct Checkpoints {
    path: PathBuf,
    meta: Meta,
    interval: Duration,
    written: u64,
}

/// Whether the checkpoint thread may ask for checkpoints.
static ON: AtomicBool = AtomicBool::new(false);
/// Held by the thread from its check of `ON` to its request, and by [`switch_off`], so that no
/// request is made after the tracer stopped (and the interpreter may be finalizing).
static ASKING: Mutex<()> = Mutex::new(());
/// Which session the running thread serves.
static SESSION: AtomicU64 = AtomicU64::new(0);
/// Nanoseconds the thread sleeps before asking again.
static WAIT_NS: AtomicU64 = AtomicU64::new(1_000_000_000);

/// Saves the collected data to `path` every `interval` while tracing, with `meta` as its
/// metadata (the tracer knows the data, not the run).
pub fn set_checkpoints(
    gil: &Gil,
    path: PathBuf,
    interval: Duration,
    meta: Meta,
) -> Result<(), TracerError> {
    let _ = gil;
    // SAFETY: `gil` proves the GIL is held; hooks cannot run meanwhile.
    let Some(state) = (unsafe { state() }) else {
        return Err(TracerError::NotActive);
    };
    state.checkpoints = Some(Checkpoints {
        path,
        meta,
        interval,
        written: 0,
    });
    let session = SESSION.fetch_add(1, Ordering::Relaxed) + 1;
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
                // (the tracer stops, under this lock, before it finalizes).
                unsafe { Py_AddPendingCall(Some(run), std::ptr::null_mut()) };
            }
        })
        .map_err(|e| TracerError::Python(format!("cannot start the checkpoint thread: {e}")))?;
    Ok(())
}

/// Stops the requests (called when tracing stops, with the GIL held).
pub(crate) fn switch_off() {
    let _asking = ASKING.lock().unwrap_or_else(|p| p.into_inner());
    ON.store(false, Ordering::Relaxed);
}

/// In a forked child the thread does not exist (and may have held the lock): just switch off.
pub(crate) fn forget_after_fork() {
    ON.store(false, Ordering::Relaxed);
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
    // SAFETY: per the contract, no other reference to the state is live.
    let Some(state) = (unsafe { state() }) else {
        return;
    };
    let Some(mut cp) = state.checkpoints.take() else {
        return;
    };
    // SAFETY: GIL held per the contract.
    let gil = unsafe { Gil::assume() };
    let generation = GENERATION.swap(0, Ordering::Relaxed);
    let mut profile = py::preserving_exception(|| snapshot::build(&gil, state, clock::now(), true));
    GENERATION.store(generation, Ordering::Relaxed);
    cp.written += 1;
    let counters = std::mem::take(&mut profile.meta.counters);
    profile.meta = Meta {
        duration_ns: profile.meta.duration_ns,
        counters,
        notes: profile.meta.notes.clone(),
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
    state.checkpoints = Some(cp);
}
