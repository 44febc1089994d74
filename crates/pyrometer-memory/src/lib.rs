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
//!
//! One session at a time per process: [`start`], then [`stop`] (or [`snapshot`] while
//! running). A forked child's hooks only forward; the session belongs to the parent.

pub mod frames;
mod hooks;
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
use recorder::{Recorder, ThreadInfo};

/// The default mean distance between samples, in bytes. At this interval a line that
/// allocates 100 MB in small objects is sampled ~1,600 times; a sampled allocation costs a
/// stack read (about a microsecond), so a program allocating 1 GB/s spends ~1.5 % in samples.
pub const DEFAULT_SAMPLE_INTERVAL: u64 = 64 * 1024;

/// How to profile.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Mean bytes between samples; 0 records every allocation (exact mode).
    pub sample_interval: u64,
    /// How often the timeline records traced memory and RSS.
    pub timeline_interval: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            sample_interval: DEFAULT_SAMPLE_INTERVAL,
            timeline_interval: Duration::from_millis(10),
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
}

/// Touched only by API calls, under the GIL (never by the hooks).
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
        // Inherited from the parent across fork: not ours.
        *guard = None;
    }
    let layout = match hooks::LAYOUT.get() {
        Some(l) => l.clone(),
        None => frames::layout_for_this_process().map_err(MemoryError::Unsupported)?,
    };
    let _ = hooks::LAYOUT.set(layout);
    // SAFETY: the GIL is held (the token says so).
    unsafe { hooks::install() };
    hooks::begin(
        options.sample_interval,
        Recorder::new(options.sample_interval),
    );
    let start = Instant::now();
    *guard = Some(Session {
        pid: std::process::id(),
        start,
        start_unix_ns: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
        timeline: timeline::Timeline::start(start, options.timeline_interval),
    });
    Ok(())
}

/// Names threads for the profile: `(name, is_main)` for a thread ident, when known.
pub type ThreadNames<'a> = &'a dyn Fn(u64) -> Option<(String, bool)>;

fn profile_of(
    rec: &Recorder,
    start_unix_ns: u64,
    elapsed: Duration,
    points: &[timeline::Point],
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
    let namer = |t: &ThreadInfo| {
        names(t.ident).unwrap_or_else(|| {
            if t.native_id != 0 {
                (format!("thread {}", t.native_id), false)
            } else {
                ("<not a Python thread>".into(), false)
            }
        })
    };
    rec.build(&mut builder, process, &namer);
    let stats = rec.stats();
    for s in timeline::series(points, Some((stats.peak_ns, stats.peak))) {
        builder.add_series(s);
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
    let shared = hooks::end().ok_or(MemoryError::NotActive)?;
    let elapsed = session.start.elapsed();
    let points = session.timeline.finish(session.start);
    Ok(profile_of(
        &shared.rec,
        session.start_unix_ns,
        elapsed,
        &points,
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
    let mut shared = hooks::SHARED.lock();
    let Some(shared) = shared.as_mut() else {
        return Err(MemoryError::NotActive);
    };
    shared.rec.allocated_bytes = hooks::FLUSHED_BYTES.load(Ordering::Relaxed);
    shared.rec.allocations = hooks::FLUSHED_COUNT.load(Ordering::Relaxed);
    Ok(profile_of(
        &shared.rec,
        session.start_unix_ns,
        session.start.elapsed(),
        &points,
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
