//! pyrometer's memory profiler: which lines allocate, what the peak is made of, and what is
//! still alive at the end.
//!
//! - [`hooks`]: wrappers installed over CPython's RAW, MEM and OBJ allocators (saved and called
//!   through, never replaced); a per-thread byte countdown decides which allocations are
//!   sampled (a Poisson process over bytes, [`poisson`]); sampled pointers are remembered
//!   until freed.
//! - [`frames`]: the calling thread's Python stack, read from memory with the sampler's
//!   per-version layouts (a hook may not call into Python).
//! - [`recorder`]: functions, stacks, threads and per-site figures (allocated bytes and
//!   allocations with unbiased weights, live bytes, bytes at the peak), turned into a
//!   [`Profile`] in `Mode::Memory`.
//! - [`timeline`]: traced memory and RSS over time, from a plain thread.
//! - `native`: `malloc` and co. called by extension modules and libraries (numpy's arrays),
//!   caught by patching their GOT slots while a session is on, fed to the same sampler.
//!
//! One session at a time per process: [`start`], then [`stop`] (or [`snapshot`] while
//! running). A forked child's hooks only forward; the session belongs to the parent.

pub mod frames;
mod hooks;
mod native;
pub mod poisson;
pub mod recorder;
mod spin;
pub mod timeline;

use std::marker::PhantomData;
use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use pyrometer_profile::{Meta, Mode, Profile, ProfileBuilder};

pub use recorder::Stats;
use recorder::{Recorder, Tables, ThreadInfo};

/// The default mean distance between samples, in bytes. At this interval a line that
/// allocates 100 MB in small objects is sampled ~6,400 times, and its share of a stretch where
/// other lines allocate too is known within ~0.3 % (0.8 % at 64 KiB, measured on the accuracy
/// test's program); a sampled allocation costs a stack read (about a microsecond), so a program
/// allocating 1 GB/s spends ~6 % in samples, and the pyperformance workloads, which allocate
/// far less, about 1 % more than at 64 KiB.
pub const DEFAULT_SAMPLE_INTERVAL: u64 = 16 * 1024;

/// How to profile.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Mean bytes between samples; 0 records every allocation (exact mode).
    pub sample_interval: u64,
    /// How often the timeline records traced memory and RSS.
    pub timeline_interval: Duration,
    /// Leave the caller's frames (and theirs) out of every stack: for a launcher that starts
    /// profiling, then runs the program from the frame that called [`start`].
    pub cut_caller_frames: bool,
    /// Also capture native allocations (`malloc` and co. called by extension modules and
    /// shared libraries). On by default; the environment variable
    /// `PYROMETER_NATIVE_MEMORY=0` turns it off.
    pub native: bool,
}

/// The environment's choice for [`Options::native`].
fn native_from_env() -> bool {
    std::env::var_os("PYROMETER_NATIVE_MEMORY").is_none_or(|v| v != "0")
}

impl Default for Options {
    fn default() -> Self {
        Options {
            sample_interval: DEFAULT_SAMPLE_INTERVAL,
            timeline_interval: Duration::from_millis(10),
            cut_caller_frames: false,
            native: native_from_env(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    #[error("memory profiling is already on in this process")]
    AlreadyActive,
    #[error("memory profiling is not on in this process")]
    NotActive,
    #[error("memory profiling is not available: {0}")]
    Unsupported(String),
}

/// Proof that the calling thread holds the GIL. Not `Send`.
pub struct Gil(PhantomData<*mut ()>);

impl Gil {
    /// # Safety
    /// The calling thread must hold the GIL for as long as the token lives.
    pub unsafe fn assume() -> Gil {
        Gil(PhantomData)
    }
}

struct Session {
    pid: u32,
    start: Instant,
    start_unix_ns: u64,
    timeline: timeline::Timeline,
    /// Whether native allocations are captured: `Ok(())`, or why not.
    native: Result<(), String>,
}

/// Touched only by API calls, under the GIL (never by the hooks, nor by the checkpoint thread):
/// so never held by another thread when the program forks, which it does holding the GIL.
static SESSION: Mutex<Option<Session>> = Mutex::new(None);

fn session() -> std::sync::MutexGuard<'static, Option<Session>> {
    SESSION.lock().unwrap_or_else(|p| p.into_inner())
}

/// Whether a session is on in this process.
pub fn is_active() -> bool {
    session()
        .as_ref()
        .is_some_and(|s| s.pid == std::process::id())
}

/// Starts profiling every thread's allocations.
pub fn start(_gil: &Gil, options: Options) -> Result<(), MemoryError> {
    let mut guard = session();
    if let Some(s) = guard.as_ref() {
        if s.pid == std::process::id() {
            return Err(MemoryError::AlreadyActive);
        }
        // Inherited from the parent across fork: not ours, and neither are its threads (the
        // timeline's, the checkpoints'), which this process does not have: their handles are
        // forgotten, never joined.
        std::mem::forget(guard.take());
        if let Some(t) = checkpointer().take() {
            std::mem::forget(t);
        }
    }
    let layout = match hooks::LAYOUT.get() {
        Some(l) => l.clone(),
        None => frames::layout_for_this_process().map_err(MemoryError::Unsupported)?,
    };
    let _ = hooks::LAYOUT.set(layout);
    let base = match (options.cut_caller_frames, hooks::LAYOUT.get()) {
        (true, Some(layout)) => {
            let tstate = frames::this_thread_state();
            if tstate.is_null() {
                0
            } else {
                // SAFETY: our own live thread state (the GIL is held), the interpreter's layout.
                unsafe { frames::current_frame(layout, tstate) }
            }
        }
        _ => 0,
    };
    hooks::BASE_FRAME.store(base, Ordering::Relaxed);
    // SAFETY: the GIL is held (the token says so).
    unsafe { hooks::install() };
    hooks::begin(
        options.sample_interval,
        Recorder::new(options.sample_interval),
    );
    let native = if options.native {
        // SAFETY: the GIL is held and the session is on.
        unsafe { native::attach() }.map(|_| ())
    } else {
        Err("turned off (PYROMETER_NATIVE_MEMORY=0)".into())
    };
    let start = Instant::now();
    *guard = Some(Session {
        pid: std::process::id(),
        start,
        start_unix_ns: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
        timeline: timeline::Timeline::start(start, options.timeline_interval),
        native,
    });
    Ok(())
}

/// Names threads for the profile: `(name, is_main)` for a thread ident, when known. Threads
/// it does not know are named from what was read when they were first seen; the main thread
/// (whose native id is the process id) is `MainThread`.
pub type ThreadNames<'a> = &'a dyn Fn(u64) -> Option<(String, bool)>;

/// The profile of what was collected, built from a copy (never under the hooks' lock).
fn profile_of(
    rec: &Tables,
    start_unix_ns: u64,
    elapsed: Duration,
    points: &[timeline::Point],
    native: &Result<(), String>,
    names: ThreadNames,
) -> Profile {
    let mut builder = ProfileBuilder::new(Meta {
        mode: Mode::Memory,
        start_unix_ns,
        duration_ns: elapsed.as_nanos() as u64,
        clock: "monotonic".into(),
        ..Meta::default()
    });
    let process = builder.process(std::process::id(), None, Vec::new());
    let main = std::process::id() as u64;
    let namer = |t: &ThreadInfo| {
        names(t.ident).unwrap_or_else(|| {
            if let Some(name) = &t.name {
                (name.clone(), t.native_id == main)
            } else if t.native_id == main {
                ("MainThread".into(), true)
            } else if t.native_id != 0 {
                (format!("thread {}", t.native_id), false)
            } else {
                ("<not a Python thread>".into(), false)
            }
        })
    };
    rec.build(&mut builder, process, &namer);
    let stats = rec.stats;
    for s in timeline::series(points, Some((stats.peak_ns, stats.peak))) {
        builder.add_series(s);
    }
    match native {
        Ok(()) => builder.meta_mut().notes.push(format!(
            "native allocations (malloc and co. from extension modules and libraries) are included: about {:.1} MiB of the allocated bytes",
            rec.native_bytes / (1024.0 * 1024.0)
        )),
        Err(why) => builder
            .meta_mut()
            .notes
            .push(format!("native allocations are not included: {why}")),
    }
    let failures = hooks::FAILURES.load(Ordering::Relaxed);
    if failures > 0 {
        builder.meta_mut().notes.push(format!(
            "memory profiling stopped early after an internal error ({failures}); the figures cover the run up to it"
        ));
    }
    builder.finish()
}

/// Stops profiling and returns the profile.
pub fn stop(_gil: &Gil, names: ThreadNames) -> Result<Profile, MemoryError> {
    let mut guard = session();
    let Some(session) = guard.take().filter(|s| s.pid == std::process::id()) else {
        return Err(MemoryError::NotActive);
    };
    native::detach();
    let shared = hooks::end().ok_or(MemoryError::NotActive)?;
    if let Some(t) = checkpointer().take() {
        let _ = t.join();
    }
    let elapsed = session.start.elapsed();
    let points = session.timeline.finish(session.start);
    Ok(profile_of(
        &shared.rec.tables(),
        session.start_unix_ns,
        elapsed,
        &points,
        &session.native,
        names,
    ))
}

/// What was collected so far, while profiling goes on.
pub fn snapshot(_gil: &Gil, names: ThreadNames) -> Result<Profile, MemoryError> {
    let guard = session();
    let Some(session) = guard.as_ref().filter(|s| s.pid == std::process::id()) else {
        return Err(MemoryError::NotActive);
    };
    let points = session.timeline.points(session.start);
    hooks::flush_this_thread();
    let mut tables = Tables::default();
    let tables = hooks::copy_tables(&mut tables, None).ok_or(MemoryError::NotActive)?;
    Ok(profile_of(
        tables,
        session.start_unix_ns,
        session.start.elapsed(),
        &points,
        &session.native,
        names,
    ))
}

/// Traced memory now and at its peak, and the totals so far.
pub fn stats() -> Result<Stats, MemoryError> {
    if !is_active() {
        return Err(MemoryError::NotActive);
    }
    hooks::flush_this_thread();
    let guard = hooks::SHARED.lock();
    let shared = guard.as_ref().ok_or(MemoryError::NotActive)?;
    let mut stats = shared.rec.stats();
    stats.allocated_bytes = hooks::FLUSHED_BYTES.load(Ordering::Relaxed);
    stats.allocations = hooks::FLUSHED_COUNT.load(Ordering::Relaxed);
    Ok(stats)
}

/// Forgets the peak so far: the next peak is measured from traced memory now (for
/// `reset_peak`-style use in tests).
pub fn reset_peak() -> Result<(), MemoryError> {
    if !is_active() {
        return Err(MemoryError::NotActive);
    }
    let mut guard = hooks::SHARED.lock();
    let shared = guard.as_mut().ok_or(MemoryError::NotActive)?;
    shared
        .rec
        .reset_peak(shared.start.elapsed().as_nanos() as u64);
    Ok(())
}

/// Saves what was collected to `path` every `interval` while profiling goes on, from a plain
/// thread (no GIL needed), so that a program killed outright still leaves a profile. Each
/// checkpoint carries `meta` and a `checkpoint` counter (its number); the wait after one is at
/// least 50 times what it took.
pub fn set_checkpoints(path: std::path::PathBuf, interval: Duration, meta: Meta) {
    let Some(epoch) = hooks::current_epoch() else {
        return;
    };
    let (start, start_unix_ns, native) = match session().as_ref() {
        Some(s) => (s.start, s.start_unix_ns, s.native.clone()),
        None => return,
    };
    let thread = std::thread::Builder::new()
        .name("pyrometer-memory-checkpoint".into())
        .spawn(move || {
            let mut written = 0u64;
            let mut wait = interval;
            // Refreshed at each checkpoint: after the first, a copy takes only what changed
            // in the tables that grow.
            let mut tables = Tables::default();
            loop {
                let until = Instant::now() + wait;
                while Instant::now() < until {
                    if hooks::current_epoch() != Some(epoch) {
                        return;
                    }
                    std::thread::sleep((until - Instant::now()).min(Duration::from_millis(50)));
                }
                let began = Instant::now();
                let Some(copy) = hooks::copy_tables(&mut tables, Some(epoch)) else {
                    return;
                };
                let mut profile =
                    profile_of(copy, start_unix_ns, start.elapsed(), &[], &native, &|_| {
                        None
                    });
                written += 1;
                let counters = std::mem::take(&mut profile.meta.counters);
                profile.meta = Meta {
                    mode: Mode::Memory,
                    start_unix_ns,
                    duration_ns: profile.meta.duration_ns,
                    clock: profile.meta.clock.clone(),
                    counters,
                    notes: profile.meta.notes.clone(),
                    ..meta.clone()
                };
                profile.meta.counters.push(pyrometer_profile::Counter {
                    name: "checkpoint".into(),
                    value: written,
                });
                if hooks::current_epoch() != Some(epoch) {
                    return;
                }
                if let Err(e) = pyrometer_profile::pyro::write(&path, &profile) {
                    eprintln!(
                        "pyrometer: could not write a checkpoint to {}: {e}",
                        path.display()
                    );
                }
                wait = interval.max(began.elapsed() * 50);
            }
        });
    if let Ok(t) = thread {
        *checkpointer() = Some(t);
    }
}

/// The checkpoint thread, joined when the session stops (so no checkpoint can land after the
/// final profile).
static CHECKPOINTER: Mutex<Option<std::thread::JoinHandle<()>>> = Mutex::new(None);

fn checkpointer() -> std::sync::MutexGuard<'static, Option<std::thread::JoinHandle<()>>> {
    CHECKPOINTER.lock().unwrap_or_else(|p| p.into_inner())
}
