//! How a hook finds the running thread's record, for both collectors.
//!
//! A collector keeps one record per thread and session, owned by its state. A hook reaches it
//! first through a one-entry cache of the thread that ran the last event, keyed by the thread
//! pointer and the session number: the GIL hands over rarely, so most events stop there, at
//! an inlined compare of two words. Otherwise the thread's own slot (a thread-local, which for
//! a library like this one is a call into the dynamic loader) is read out of line, and a
//! thread without a record in this session is registered behind it, colder still.
//!
//! A collector drops the cache entry whenever its thread is back outside anything it measures,
//! so a thread that ends, and whose thread pointer a new thread may reuse, never leaves it
//! behind.

use std::cell::{Cell, UnsafeCell};
use std::ptr::null_mut;
use std::thread::LocalKey;

use crate::GilCell;

/// A thread's slot: the session number and the thread's record in it; (0, null) until the
/// thread's first event.
pub(crate) type Slot<R> = Cell<(u64, *mut R)>;

/// The records of type `R` of one collector's threads (see the module's documentation).
pub(crate) struct ThreadCache<R: 'static> {
    last: GilCell<Last<R>>,
    slot: &'static LocalKey<Slot<R>>,
}

/// The thread that ran the last event: its thread pointer (0 when forgotten), the session and
/// its record. Only ever set for a session in progress, so never with session 0.
struct Last<R> {
    pointer: usize,
    generation: u64,
    record: *mut R,
}

impl<R> ThreadCache<R> {
    /// A cache over `slot`, a `thread_local!` of the collector's, initially (0, null).
    pub(crate) const fn new(slot: &'static LocalKey<Slot<R>>) -> Self {
        ThreadCache {
            last: GilCell(UnsafeCell::new(Last {
                pointer: 0,
                generation: 0,
                record: null_mut(),
            })),
            slot,
        }
    }

    /// This thread's record in session `generation` (`None` for 0, no session). A thread
    /// without one gets the record `register` makes, `None` when it makes none.
    ///
    /// # Safety
    /// Called from a hook (GIL held). The records are live for the session (`register` makes
    /// one owned by it) and reached only through this cache while a hook runs, so the
    /// reference returned is the only one while the hook uses it.
    #[inline(always)]
    pub(crate) unsafe fn current(
        &self,
        generation: u64,
        register: impl FnOnce() -> Option<*mut R>,
    ) -> Option<&'static mut R> {
        let pointer = thread_pointer();
        // SAFETY: hooks run with the GIL held, one at a time.
        let last = unsafe { &mut *self.last.0.get() };
        if last.pointer == pointer && last.generation == generation && pointer != 0 {
            // SAFETY: cached for this very thread in this session (`Last` is never set for
            // session 0, so a `generation` of 0 never matches).
            return Some(unsafe { &mut *last.record });
        }
        // SAFETY: forwarded contract.
        let record = unsafe { self.lookup(generation, register) }?;
        *last = Last {
            pointer,
            generation,
            record,
        };
        // SAFETY: a live record of this thread in this session (forwarded contract).
        Some(unsafe { &mut *record })
    }

    /// This thread's record through its slot, registering the thread if it has none in this
    /// session.
    ///
    /// # Safety
    /// As [`ThreadCache::current`].
    #[inline(never)]
    unsafe fn lookup(
        &self,
        generation: u64,
        register: impl FnOnce() -> Option<*mut R>,
    ) -> Option<*mut R> {
        let (g, record) = self.slot.get();
        if g == generation && !record.is_null() {
            return Some(record);
        }
        if generation == 0 {
            return None;
        }
        let record = register()?;
        self.slot.set((generation, record));
        Some(record)
    }

    /// Forgets the thread that ran the last event (it is outside anything measured, and may
    /// be ending).
    #[inline(always)]
    pub(crate) fn forget(&self) {
        // SAFETY: hooks, and the collectors' functions that call this, run with the GIL held.
        unsafe { (*self.last.0.get()).pointer = 0 };
    }
}

/// A number unique to the running thread among live threads: its thread pointer.
#[inline(always)]
pub(crate) fn thread_pointer() -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        let p: usize;
        // SAFETY: on x86-64 Linux, %fs:0 holds the thread control block's own address.
        unsafe {
            std::arch::asm!("mov {}, fs:0", out(reg) p, options(nostack, readonly, preserves_flags))
        };
        p
    }
    #[cfg(not(target_arch = "x86_64"))]
    0
}
