//! A small lock for the hooks' shared state. A `std::sync::Mutex` would do, but this one never
//! allocates, and a forked child can start it afresh ([`SpinLock::reset_after_fork`]) when the
//! fork found it held by a thread the child does not have. Holders keep it for microseconds
//! (one sampled allocation, or a copy), so waiters spin a little, then yield.

use std::cell::UnsafeCell;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, Ordering};

pub struct SpinLock<T> {
    locked: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: access to `value` is serialised by `locked` (acquire on lock, release on unlock).
unsafe impl<T: Send> Sync for SpinLock<T> {}

impl<T> SpinLock<T> {
    pub const fn new(value: T) -> SpinLock<T> {
        SpinLock {
            locked: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    pub fn lock(&self) -> Guard<'_, T> {
        let mut spins = 0u32;
        while self
            .locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            spins += 1;
            if spins < 64 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        Guard { lock: self }
    }

    /// In a child just forked: replaces the value with `value` and frees the lock, whoever held
    /// it. The old value is leaked, never dropped: a thread of the parent may have been changing
    /// it when the process forked.
    ///
    /// # Safety
    /// Only in a forked child before it starts any thread (its one thread, which holds no guard
    /// of this lock).
    pub unsafe fn reset_after_fork(&self, value: T) {
        // SAFETY: no other thread exists and no guard is alive (the caller's guarantee).
        unsafe { std::ptr::write(self.value.get(), value) };
        self.locked.store(false, Ordering::Release);
    }
}

pub struct Guard<'a, T> {
    lock: &'a SpinLock<T>,
}

impl<T> Deref for Guard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard exists only while the lock is held.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> DerefMut for Guard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard exists only while the lock is held, and is not shared.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for Guard<'_, T> {
    fn drop(&mut self) {
        self.lock.locked.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_threads() {
        static L: SpinLock<u64> = SpinLock::new(0);
        let handles: Vec<_> = (0..4)
            .map(|_| {
                std::thread::spawn(|| {
                    for _ in 0..10_000 {
                        *L.lock() += 1;
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(*L.lock(), 40_000);
    }

    #[test]
    fn a_lock_left_held_is_reset() {
        static L: SpinLock<Vec<u32>> = SpinLock::new(Vec::new());
        L.lock().push(1);
        // As if a thread that no longer exists held it.
        std::mem::forget(L.lock());
        // SAFETY: no guard is alive; the forgotten one stands for a thread that is gone.
        unsafe { L.reset_after_fork(vec![2]) };
        assert_eq!(*L.lock(), vec![2]);
    }
}
