//! The allocator wrappers: installed once over CPython's RAW, MEM and OBJ allocators (each
//! saved and called through — never replaced), switched on and off by a global epoch.
//!
//! Hot path of an allocation: load the epoch, compare the thread's countdown epoch, subtract
//! the size from the thread's byte countdown, add to the thread's exact byte and allocation
//! counters; no lock, no allocation, no call. When the countdown runs out (a sample point of
//! the Poisson process falls in this allocation, see `poisson`), the slow path reads the
//! thread's Python stack, and under the lock charges the allocation to its site and remembers
//! the pointer. Hot path of a free: one load from a counting filter of sampled pointers; only
//! a hit takes the lock.
//!
//! Threads without the GIL call the RAW domain, so everything shared is atomic or behind the
//! lock. A thread-local flag makes the slow path non-reentrant. The hooks stay installed for
//! the life of the process (uninstalling would race with threads inside `PyMem_RawMalloc`);
//! with the epoch at 0 they only forward. The wrappers ignore their `ctx` and use the saved
//! allocator of their domain, so a thread that sees a half-updated allocator struct during
//! installation still reaches the right allocator.

use std::cell::{Cell, UnsafeCell};
use std::ffi::c_void;
use std::ptr::null_mut;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use pyo3_ffi::{PyMemAllocatorDomain, PyMemAllocatorEx};
use pyrometer_cpython::layout::Layout;

use crate::frames::{self, CodeCache, MAX_FRAMES, RawFrame};
use crate::poisson::Rng;
use crate::recorder::{Recorder, Tables};
use crate::spin::SpinLock;

/// The session number; 0 when off.
pub(crate) static EPOCH: AtomicU64 = AtomicU64::new(0);
/// The mean sampling interval of the current session (0: every allocation).
static MEAN: AtomicU64 = AtomicU64::new(0);
/// Exact byte and allocation totals flushed by threads' countdowns.
pub(crate) static FLUSHED_BYTES: AtomicU64 = AtomicU64::new(0);
pub(crate) static FLUSHED_COUNT: AtomicU64 = AtomicU64::new(0);
/// Traced memory now, in bytes, for the timeline thread (updated under the lock).
pub(crate) static CURRENT: AtomicU64 = AtomicU64::new(0);
/// Slow paths that failed (a panic caught): the session is switched off.
pub(crate) static FAILURES: AtomicU64 = AtomicU64::new(0);
static INSTALLED: AtomicBool = AtomicBool::new(false);

pub(crate) static LAYOUT: OnceLock<Layout> = OnceLock::new();
/// Stacks are cut at this frame (the launcher's, in `pyrometer run`'s child); 0 for none.
pub(crate) static BASE_FRAME: AtomicUsize = AtomicUsize::new(0);

/// What the slow path updates, behind the lock.
pub(crate) struct Shared {
    pub epoch: u64,
    pub rec: Recorder,
    pub codes: CodeCache,
    pub start: Instant,
}

pub(crate) static SHARED: SpinLock<Option<Shared>> = SpinLock::new(None);

/// The allocators we wrap, one per domain, written once before the wrappers are installed.
struct Saved(UnsafeCell<[PyMemAllocatorEx; 3]>);
// SAFETY: written once under the GIL before any wrapper can run, read-only afterwards.
unsafe impl Sync for Saved {}
const EMPTY: PyMemAllocatorEx = PyMemAllocatorEx {
    ctx: null_mut(),
    malloc: None,
    calloc: None,
    realloc: None,
    free: None,
};
static SAVED: Saved = Saved(UnsafeCell::new([EMPTY; 3]));

#[inline]
fn saved(domain: usize) -> &'static PyMemAllocatorEx {
    // SAFETY: see `Saved`.
    unsafe { &(*SAVED.0.get())[domain] }
}

// ---- the counting filter of sampled pointers --------------------------------------------

const FILTER_BITS: u32 = 16;
static FILTER: [AtomicU16; 1 << FILTER_BITS] = [const { AtomicU16::new(0) }; 1 << FILTER_BITS];

#[inline]
fn slot(ptr: usize) -> &'static AtomicU16 {
    let h = ((ptr >> 4) as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - FILTER_BITS);
    &FILTER[h as usize]
}

/// Under the lock only (so load + store is enough); a saturated counter stays saturated.
fn filter_add(ptr: usize) {
    let s = slot(ptr);
    let v = s.load(Ordering::Relaxed);
    if v != u16::MAX {
        s.store(v + 1, Ordering::Relaxed);
    }
}

fn filter_remove(ptr: usize) {
    let s = slot(ptr);
    let v = s.load(Ordering::Relaxed);
    if v != u16::MAX && v != 0 {
        s.store(v - 1, Ordering::Relaxed);
    }
}

pub(crate) fn filter_clear() {
    for s in &FILTER {
        s.store(0, Ordering::Relaxed);
    }
}

// ---- per-thread state -----------------------------------------------------------------

struct Local {
    epoch: Cell<u64>,
    countdown: Cell<i64>,
    bytes: Cell<u64>,
    count: Cell<u64>,
    busy: Cell<bool>,
    /// Inside the MEM or OBJ wrapper: pymalloc hands large requests to the RAW allocator,
    /// which must then not count them again.
    nested: Cell<bool>,
    rng: Cell<u64>,
}

thread_local! {
    static LOCAL: Local = const {
        Local {
            epoch: Cell::new(0),
            countdown: Cell::new(0),
            bytes: Cell::new(0),
            count: Cell::new(0),
            busy: Cell::new(false),
            nested: Cell::new(false),
            rng: Cell::new(0),
        }
    };
    /// Registered on a thread's first slow path: flushes its counters when it ends.
    static FLUSHER: Flusher = const { Flusher };
}

struct Flusher;

impl Drop for Flusher {
    fn drop(&mut self) {
        let _ = LOCAL.try_with(flush);
    }
}

/// Adds the thread's exact counters to the session's totals.
fn flush(l: &Local) {
    if l.epoch.get() == EPOCH.load(Ordering::Relaxed) && l.epoch.get() != 0 {
        FLUSHED_BYTES.fetch_add(l.bytes.replace(0), Ordering::Relaxed);
        FLUSHED_COUNT.fetch_add(l.count.replace(0), Ordering::Relaxed);
    }
}

/// Flushes the calling thread's counters (at the end of a session).
pub(crate) fn flush_this_thread() {
    let _ = LOCAL.try_with(flush);
}

/// The hot path of an allocation of `size` bytes on this thread: true when it is to be
/// sampled. `epoch` is the session's (non-zero).
#[inline(always)]
fn take(l: &Local, epoch: u64, size: usize) -> bool {
    if l.epoch.get() != epoch || l.busy.get() {
        return slow_take(l, epoch, size);
    }
    l.bytes.set(l.bytes.get().wrapping_add(size as u64));
    l.count.set(l.count.get() + 1);
    let left = l.countdown.get() - size as i64;
    if left > 0 {
        l.countdown.set(left);
        false
    } else {
        l.countdown.set(draw(l));
        true
    }
}

fn draw(l: &Local) -> i64 {
    let mut rng = if l.rng.get() == 0 {
        Rng::new(seed())
    } else {
        Rng::from_state(l.rng.get())
    };
    let d = rng.interval(MEAN.load(Ordering::Relaxed));
    l.rng.set(rng.state());
    d
}

fn seed() -> u64 {
    let t = Instant::now();
    let local = &t as *const Instant as u64;
    // SAFETY: pthread_self has no preconditions.
    let thread = unsafe { libc::pthread_self() } as u64;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    local ^ thread.rotate_left(17) ^ nanos
}

/// The rare cases: the thread's first allocation in this session, or an allocation made
/// inside our own slow path (never sampled, never counted).
#[cold]
fn slow_take(l: &Local, epoch: u64, size: usize) -> bool {
    if l.busy.get() {
        return false;
    }
    // A new session for this thread: counters start afresh, and it is registered to flush
    // them when it ends.
    l.epoch.set(epoch);
    l.bytes.set(size as u64);
    l.count.set(1);
    let _ = FLUSHER.try_with(|_| ());
    let first = draw(l);
    let left = first - size as i64;
    if left > 0 {
        l.countdown.set(left);
        false
    } else {
        l.countdown.set(draw(l));
        true
    }
}

/// Records a sampled allocation (`native`: made through `malloc` and co. by an extension module
/// or a library, not through PyMem). Never panics out, never re-enters.
#[cold]
#[inline(never)]
fn record(ptr: *mut c_void, size: usize, native: bool) {
    if ptr.is_null() {
        return;
    }
    let Ok(entered) = LOCAL.try_with(|l| !l.busy.replace(true)) else {
        return;
    };
    if !entered {
        return;
    }
    let epoch = EPOCH.load(Ordering::Relaxed);
    let result = std::panic::catch_unwind(|| {
        let Some(layout) = LAYOUT.get() else { return };
        let tstate = frames::this_thread_state();
        let mut buf = [RawFrame::default(); MAX_FRAMES];
        let (n, truncated, ids) = if tstate.is_null() {
            (0, false, None)
        } else {
            // SAFETY: our own live thread state, the interpreter's layout.
            let (n, t) = unsafe {
                frames::capture(layout, tstate, BASE_FRAME.load(Ordering::Relaxed), &mut buf)
            };
            // SAFETY: as above.
            (n, t, Some(unsafe { frames::thread_ids(layout, tstate) }))
        };
        let mut guard = SHARED.lock();
        let Some(shared) = guard.as_mut().filter(|s| s.epoch == epoch) else {
            return;
        };
        let now = shared.start.elapsed().as_nanos() as u64;
        let rec = &mut shared.rec;
        let thread = match ids {
            Some((ident, native)) => rec.thread(ident, native),
            None => {
                // SAFETY: pthread_self and gettid have no preconditions.
                let (ident, native) =
                    unsafe { (libc::pthread_self() as u64, libc::gettid() as u64) };
                rec.thread(ident, native)
            }
        };
        let mut resolved: Vec<(u32, u32)> = buf[..n]
            .iter()
            // SAFETY: frames just read from this thread's unchanged stack.
            .map(|f| unsafe { shared.codes.resolve(layout, rec, *f) })
            .collect();
        if rec.is_new_thread(thread) {
            let codes: Vec<u32> = resolved.iter().map(|r| r.0).collect();
            let name = frames::thread_name(layout, &buf[..n], &codes, rec);
            rec.set_thread_name(thread, name);
        }
        let mut stack: Vec<(u32, u32)> = Vec::with_capacity(n + 1);
        if truncated {
            stack.push((rec.synthetic("<deeper frames>"), 0));
        }
        if n == 0 {
            stack.push((rec.synthetic("<no Python frame>"), 0));
        }
        resolved.reverse();
        stack.extend(resolved);
        let site = rec.site(stack.into_iter(), thread);
        rec.allocated(ptr as usize, size as u64, site, now);
        if native {
            rec.native_allocated(size as u64);
        }
        filter_add(ptr as usize);
        CURRENT.store(rec.stats().current.max(0.0) as u64, Ordering::Relaxed);
    });
    if result.is_err() {
        FAILURES.fetch_add(1, Ordering::Relaxed);
        EPOCH.store(0, Ordering::Relaxed);
    }
    let _ = LOCAL.try_with(|l| l.busy.set(false));
}

/// Forgets a pointer about to be freed, if it was sampled.
#[inline(always)]
pub(crate) fn forget(ptr: *mut c_void) {
    if ptr.is_null() || EPOCH.load(Ordering::Relaxed) == 0 {
        return;
    }
    if slot(ptr as usize).load(Ordering::Relaxed) != 0 {
        forget_slow(ptr as usize);
    }
}

#[cold]
#[inline(never)]
fn forget_slow(ptr: usize) {
    let result = std::panic::catch_unwind(|| {
        let mut guard = SHARED.lock();
        if let Some(shared) = guard.as_mut()
            && shared.rec.freed(ptr)
        {
            filter_remove(ptr);
            CURRENT.store(
                shared.rec.stats().current.max(0.0) as u64,
                Ordering::Relaxed,
            );
        }
    });
    if result.is_err() {
        FAILURES.fetch_add(1, Ordering::Relaxed);
        EPOCH.store(0, Ordering::Relaxed);
    }
}

// ---- the wrappers -------------------------------------------------------------------------

const RAW: usize = 0;

/// Runs an allocating call of the wrapped allocator of domain `D` and decides whether the
/// block it returns is sampled, with one thread-local access. RAW calls made from inside a
/// MEM or OBJ wrapper (pymalloc passing a large request on) are not counted again.
#[inline(always)]
fn allocate<const D: usize>(size: usize, call: impl FnOnce() -> *mut c_void) -> *mut c_void {
    let epoch = EPOCH.load(Ordering::Relaxed);
    if epoch == 0 {
        return call();
    }
    let mut call = Some(call);
    let result = LOCAL.try_with(|l| {
        let Some(call) = call.take() else {
            return (null_mut(), false);
        };
        if D == RAW {
            if l.nested.get() {
                return (call(), false);
            }
            let ptr = call();
            (ptr, take(l, epoch, size))
        } else {
            let outer = l.nested.replace(true);
            let ptr = call();
            l.nested.set(outer);
            (ptr, !outer && take(l, epoch, size))
        }
    });
    let (ptr, sampled) = match result {
        Ok(r) => r,
        // Thread-local storage is gone (the thread is ending): just allocate.
        Err(_) => (call.take().map_or(null_mut(), |c| c()), false),
    };
    if sampled {
        record(ptr, size, false);
    }
    ptr
}

/// Runs a native allocating call (`malloc` and co. from a patched object, see `native`) and
/// decides whether the block it returns is sampled: the same countdown as the PyMem domains,
/// so the same Poisson process and the same exact totals. A call made inside a MEM or OBJ
/// wrapper (a PyMem allocator living in an extension module) is already counted there.
#[inline(always)]
pub(crate) fn allocate_native(size: usize, call: impl FnOnce() -> *mut c_void) -> *mut c_void {
    let epoch = EPOCH.load(Ordering::Relaxed);
    let ptr = call();
    if epoch == 0 {
        return ptr;
    }
    let sampled = LOCAL
        .try_with(|l| !l.nested.get() && take(l, epoch, size))
        .unwrap_or(false);
    if sampled {
        record(ptr, size, true);
    }
    ptr
}

extern "C" fn hook_malloc<const D: usize>(_ctx: *mut c_void, size: usize) -> *mut c_void {
    let a = saved(D);
    let Some(malloc) = a.malloc else {
        return null_mut();
    };
    allocate::<D>(size, || malloc(a.ctx, size))
}

extern "C" fn hook_calloc<const D: usize>(
    _ctx: *mut c_void,
    nelem: usize,
    elsize: usize,
) -> *mut c_void {
    let a = saved(D);
    let Some(calloc) = a.calloc else {
        return null_mut();
    };
    allocate::<D>(nelem.saturating_mul(elsize), || {
        calloc(a.ctx, nelem, elsize)
    })
}

extern "C" fn hook_realloc<const D: usize>(
    _ctx: *mut c_void,
    ptr: *mut c_void,
    size: usize,
) -> *mut c_void {
    let a = saved(D);
    let Some(realloc) = a.realloc else {
        return null_mut();
    };
    // The old block ends here (a failed realloc keeps it, and it is then forgotten early: a
    // rare under-count, only when memory runs out). A nested RAW call finds nothing to
    // forget: the outer wrapper already did.
    forget(ptr);
    allocate::<D>(size, || realloc(a.ctx, ptr, size))
}

extern "C" fn hook_free<const D: usize>(_ctx: *mut c_void, ptr: *mut c_void) {
    let a = saved(D);
    forget(ptr);
    if let Some(free) = a.free {
        free(a.ctx, ptr);
    }
}

const DOMAINS: [PyMemAllocatorDomain; 3] = [
    PyMemAllocatorDomain::PYMEM_DOMAIN_RAW,
    PyMemAllocatorDomain::PYMEM_DOMAIN_MEM,
    PyMemAllocatorDomain::PYMEM_DOMAIN_OBJ,
];

fn wrapper<const D: usize>() -> PyMemAllocatorEx {
    PyMemAllocatorEx {
        ctx: null_mut(),
        malloc: Some(hook_malloc::<D>),
        calloc: Some(hook_calloc::<D>),
        realloc: Some(hook_realloc::<D>),
        free: Some(hook_free::<D>),
    }
}

extern "C" fn after_fork_in_child() {
    // The session belongs to the parent: the child's hooks only forward. Only the forking
    // thread survives, perhaps with the lock held by a thread that no longer exists, in the
    // middle of a change: the child starts from an empty, free lock, so that it can start a
    // session of its own.
    EPOCH.store(0, Ordering::Relaxed);
    // SAFETY: in the child, right after fork: its one thread holds no guard.
    unsafe { SHARED.reset_after_fork(None) };
}

/// The session's epoch, when one is on.
pub(crate) fn current_epoch() -> Option<u64> {
    Some(EPOCH.load(Ordering::Relaxed)).filter(|&e| e != 0)
}

/// Installs the wrappers once.
///
/// # Safety
/// The GIL must be held.
pub(crate) unsafe fn install() {
    if INSTALLED.swap(true, Ordering::AcqRel) {
        return;
    }
    // SAFETY: the GIL is held; SAVED is written before any wrapper is installed (so before any
    // can run), and never again.
    unsafe {
        let slots = &mut *SAVED.0.get();
        for (d, domain) in DOMAINS.into_iter().enumerate() {
            pyo3_ffi::PyMem_GetAllocator(domain, &mut slots[d]);
        }
        let mut ours = [wrapper::<0>(), wrapper::<1>(), wrapper::<2>()];
        for (d, domain) in DOMAINS.into_iter().enumerate() {
            pyo3_ffi::PyMem_SetAllocator(domain, &mut ours[d]);
        }
        libc::pthread_atfork(None, None, Some(after_fork_in_child));
    }
}

/// Starts a session (the hooks are installed, the shared state is empty).
pub(crate) fn begin(mean: u64, rec: Recorder) -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let epoch = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut guard = SHARED.lock();
    filter_clear();
    FLUSHED_BYTES.store(0, Ordering::Relaxed);
    FLUSHED_COUNT.store(0, Ordering::Relaxed);
    CURRENT.store(0, Ordering::Relaxed);
    *guard = Some(Shared {
        epoch,
        rec,
        codes: CodeCache::default(),
        start: Instant::now(),
    });
    MEAN.store(mean, Ordering::Relaxed);
    EPOCH.store(epoch, Ordering::Release);
    drop(guard);
    epoch
}

/// Copies what a profile is built from into `tables` (see `Recorder::copy_into`), with the
/// exact totals flushed so far, holding the lock only for the copy: `None` when no session is
/// on (or not the session `epoch`, when given).
pub(crate) fn copy_tables(tables: &mut Tables, epoch: Option<u64>) -> Option<&mut Tables> {
    let mut guard = SHARED.lock();
    let shared = guard
        .as_mut()
        .filter(|s| epoch.is_none_or(|e| s.epoch == e))?;
    shared.rec.allocated_bytes = FLUSHED_BYTES.load(Ordering::Relaxed);
    shared.rec.allocations = FLUSHED_COUNT.load(Ordering::Relaxed);
    shared.rec.copy_into(tables);
    drop(guard);
    Some(tables)
}

/// Ends the session: the hooks forward only; the shared state is handed over.
pub(crate) fn end() -> Option<Shared> {
    flush_this_thread();
    EPOCH.store(0, Ordering::Release);
    let mut guard = SHARED.lock();
    let mut shared = guard.take()?;
    drop(guard);
    filter_clear();
    shared.rec.allocated_bytes = FLUSHED_BYTES.load(Ordering::Relaxed);
    shared.rec.allocations = FLUSHED_COUNT.load(Ordering::Relaxed);
    Some(shared)
}
