//! Checkpoints: what has been collected so far, saved every few seconds while the program runs,
//! so that a program killed outright (SIGKILL, a crash in C code) still leaves a profile. One
//! implementation serves both in-process collectors that need the GIL to read their data: the
//! function tracer and the line collector ([`Collector`]).
//!
//! A plain thread (not a Python thread) wakes up every interval and asks the interpreter, with
//! `Py_AddPendingCall`, to run [`run`] on the main thread between two bytecodes: there, with
//! the GIL held and no hook running, every thread's data is consistent. A program busy in C
//! code gets its checkpoint when it next runs Python code (until then nothing changes). The
//! next interval is the configured one or 50 times what the last checkpoint took, whichever is
//! longer, so checkpoints cost at most 2% of the run. The hooks do no work for checkpoints.
//!
//! Before 3.13 a pending call made from another thread does not interrupt the main thread's
//! bytecode loop: the interpreter decides whether to look at pending calls from the thread that
//! adds one (`_Py_ThreadCanHandlePendingCalls`, false off the main thread), so the request
//! waited until the main thread next dropped the GIL, and a loop of pure arithmetic was never
//! checkpointed. There, when a request has not run 20 ms after it was made, the thread sends
//! the main thread a real-time signal (one the program left at its default) whose Python
//! handler is a built-in that does nothing: the signal, received on the main thread, makes it
//! look at its signals and pending calls at the next bytecode. The handler restarts
//! interrupted system calls (`siginterrupt(…, False)`), and stays after the run (a signal sent
//! just before the collector stopped would otherwise reach the default action).

use std::cell::UnsafeCell;
use std::ffi::{c_char, c_int, c_void};
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
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
/// The signal sent to make the main thread look at its pending calls (0: none needed, or none
/// available).
static WAKE_SIGNAL: AtomicI32 = AtomicI32::new(0);
/// The main thread (`pthread_t`), where [`WAKE_SIGNAL`] is sent.
static MAIN_THREAD: AtomicU64 = AtomicU64::new(0);
/// How many pending calls have run.
static RAN: AtomicU64 = AtomicU64::new(0);
/// How long a request may wait before the main thread is signalled.
const WAKE_AFTER: Duration = Duration::from_millis(20);

/// The do-nothing handler of [`WAKE_SIGNAL`].
unsafe extern "C" fn wake(
    _slf: *mut PyObject,
    _args: *mut *mut PyObject,
    _n: Py_ssize_t,
) -> *mut PyObject {
    // SAFETY: called by the interpreter with the GIL held.
    unsafe { Py_NewRef(Py_None()) }
}

static mut WAKE_DEF: PyMethodDef = PyMethodDef {
    ml_name: c"pyrometer_checkpoint_wake".as_ptr() as *const c_char,
    ml_meth: PyMethodDefPointer {
        PyCFunctionFast: wake,
    },
    ml_flags: METH_FASTCALL,
    ml_doc: std::ptr::null(),
};

/// Before 3.13: puts [`wake`] on a real-time signal the program left at its default and
/// returns the signal, or 0 (on 3.13+, or when none is free or this is not the main thread).
fn install_wake_signal(gil: &Gil) -> i32 {
    if cfg!(Py_3_13) {
        return 0;
    }
    let current = WAKE_SIGNAL.load(Ordering::Relaxed);
    if current != 0 {
        return current;
    }
    py::preserving_exception(|| {
        // `_signal`, imported at start-up: `signal` would import `enum` and `functools`, which
        // the program may not.
        let signal = py::import(gil, "_signal").ok()?;
        let default = py::getattr(gil, signal.as_ptr(), "SIG_DFL").ok()?;
        let top = py::getattr(gil, signal.as_ptr(), "SIGRTMAX").ok()?;
        // SAFETY: GIL held; `top` is an int.
        let top = unsafe { PyLong_AsLong(top.as_ptr()) };
        if top <= 8 {
            return None;
        }
        // A few below the top: libraries that take real-time signals start from SIGRTMIN.
        let number = (top - 7) as i32;
        // SAFETY: GIL held.
        let n = py::Owned::new(gil, unsafe { PyLong_FromLong(number as _) }).ok()?;
        let handler = py::call_method(gil, signal.as_ptr(), "getsignal", &[n.as_ptr()]).ok()?;
        if handler.as_ptr() != default.as_ptr() {
            return None;
        }
        // SAFETY: GIL held; the definition is static.
        let wake = py::Owned::new(gil, unsafe {
            PyCFunction_NewEx(
                &raw mut WAKE_DEF,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        })
        .ok()?;
        // Fails off the main thread (ValueError): then pending calls wait, as before.
        py::call_method(gil, signal.as_ptr(), "signal", &[n.as_ptr(), wake.as_ptr()]).ok()?;
        // SAFETY: GIL held; a borrowed singleton.
        let no = unsafe { Py_False() };
        let _ = py::call_method(gil, signal.as_ptr(), "siginterrupt", &[n.as_ptr(), no]);
        // SAFETY: no preconditions; this is the main thread (`signal.signal` succeeded).
        MAIN_THREAD.store(unsafe { libc::pthread_self() } as u64, Ordering::Relaxed);
        WAKE_SIGNAL.store(number, Ordering::Relaxed);
        Some(number)
    })
    .unwrap_or(0)
}

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
    let wake_signal = install_wake_signal(gil);
    std::thread::Builder::new()
        .name("pyrometer-checkpoint".into())
        .spawn(move || {
            let asking = || {
                let guard = ASKING.lock().unwrap_or_else(|p| p.into_inner());
                let on = ON.load(Ordering::Relaxed) && SESSION.load(Ordering::Relaxed) == session;
                on.then_some(guard)
            };
            loop {
                std::thread::sleep(Duration::from_nanos(WAIT_NS.load(Ordering::Relaxed)));
                let ran = RAN.load(Ordering::Relaxed);
                {
                    let Some(_asking) = asking() else { return };
                    // SAFETY: callable from any thread without the GIL; the interpreter is
                    // alive (the collector stops, under this lock, before it finalizes).
                    unsafe { Py_AddPendingCall(Some(run), std::ptr::null_mut()) };
                }
                if wake_signal == 0 {
                    continue;
                }
                std::thread::sleep(WAKE_AFTER);
                if RAN.load(Ordering::Relaxed) == ran {
                    let Some(_asking) = asking() else { return };
                    let main = MAIN_THREAD.load(Ordering::Relaxed) as libc::pthread_t;
                    // SAFETY: the main thread is alive while the collector runs (it stops, under
                    // this lock, before the interpreter finalizes); the signal has our handler.
                    unsafe { libc::pthread_kill(main, wake_signal) };
                }
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
    RAN.fetch_add(1, Ordering::Relaxed);
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
