//! Timing of the sampling loop: a fixed grid of ticks ([`Schedule`]), sleeping to absolute
//! deadlines with tight timer slack, and optionally spinning the last microseconds.

use std::sync::atomic::{AtomicBool, Ordering};

/// `CLOCK_MONOTONIC` in nanoseconds.
pub fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn sleep_until_ns(deadline: u64) {
    let ts = libc::timespec {
        tv_sec: (deadline / 1_000_000_000) as libc::time_t,
        tv_nsec: (deadline % 1_000_000_000) as libc::c_long,
    };
    // SAFETY: `ts` is a valid timespec; a null remainder is allowed with TIMER_ABSTIME.
    unsafe {
        libc::clock_nanosleep(
            libc::CLOCK_MONOTONIC,
            libc::TIMER_ABSTIME,
            &ts,
            std::ptr::null_mut(),
        )
    };
}

/// The tick grid: pure arithmetic, tested with an injected clock.
#[derive(Clone, Copy, Debug)]
pub struct Schedule {
    start: u64,
    interval: u64,
    tick: u64,
}

/// What the schedule says after a tick.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Next {
    /// When the next tick is due.
    pub deadline: u64,
    /// The next tick is already overdue.
    pub late: bool,
    /// Ticks skipped.
    pub missed: u64,
}

impl Schedule {
    pub fn new(start: u64, interval: u64) -> Schedule {
        Schedule {
            start,
            interval: interval.max(1),
            tick: 0,
        }
    }

    /// Called when a tick finished at `now`: the next deadline. If more than one interval
    /// was overrun, the ticks in between are skipped (counted as missed) and the next tick is
    /// the latest one already due.
    pub fn advance(&mut self, now: u64) -> Next {
        self.tick += 1;
        let mut deadline = self.start + self.tick * self.interval;
        let mut missed = 0;
        if now >= deadline + self.interval {
            missed = (now - deadline) / self.interval;
            self.tick += missed;
            deadline = self.start + self.tick * self.interval;
        }
        Next {
            deadline,
            late: now > deadline,
            missed,
        }
    }
}

/// Sleeps until a deadline: sleep, then spin the last `margin`, adapting the margin.
#[derive(Debug)]
pub(crate) struct Sleeper {
    spin: bool,
    max_margin: u64,
    /// EWMA of how late `clock_nanosleep` wakes, ns.
    lateness: f64,
}

impl Sleeper {
    pub(crate) fn new(spin: bool, interval: u64) -> Sleeper {
        Sleeper {
            spin,
            max_margin: (interval / 10).clamp(2_000, 500_000),
            lateness: 20_000.0,
        }
    }

    /// How long before a deadline to stop sleeping and spin: the usual wake-up lateness,
    /// at most a tenth of the interval.
    fn margin(&self) -> u64 {
        ((self.lateness * 1.5) as u64 + 2_000).clamp(2_000, self.max_margin)
    }

    pub(crate) fn sleep_until(&mut self, deadline: u64, stop: &AtomicBool) {
        loop {
            let now = now_ns();
            if now >= deadline || stop.load(Ordering::Relaxed) {
                return;
            }
            if !self.spin {
                sleep_until_ns(deadline);
                return;
            }
            let margin = self.margin();
            if deadline - now <= margin {
                while now_ns() < deadline {
                    std::hint::spin_loop();
                }
                return;
            }
            let wake = deadline - margin;
            sleep_until_ns(wake);
            let late = now_ns().saturating_sub(wake) as f64;
            self.lateness = 0.9 * self.lateness + 0.1 * late;
        }
    }
}

/// Sets the calling thread's timer slack to 1 ns for its lifetime (restored on drop).
pub(crate) struct TimerSlack(libc::c_ulong);

impl TimerSlack {
    pub(crate) fn tight() -> TimerSlack {
        // SAFETY: PR_GET_TIMERSLACK takes no pointer; it returns the slack or -1.
        let old = unsafe { libc::prctl(libc::PR_GET_TIMERSLACK, 0, 0, 0, 0) };
        // SAFETY: PR_SET_TIMERSLACK takes the slack value as an integer.
        unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0) };
        TimerSlack(if old > 0 {
            old as libc::c_ulong
        } else {
            50_000
        })
    }
}

impl Drop for TimerSlack {
    fn drop(&mut self) {
        // SAFETY: as in `tight`.
        unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, self.0, 0, 0, 0) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_stays_on_its_grid() {
        let mut s = Schedule::new(1000, 100);
        assert_eq!(
            s.advance(1010),
            Next {
                deadline: 1100,
                late: false,
                missed: 0
            }
        );
        // Finished a bit after the next deadline: late, nothing missed.
        assert_eq!(
            s.advance(1230),
            Next {
                deadline: 1200,
                late: true,
                missed: 0
            }
        );
        // Finished 3.5 intervals late: the ticks at 1300..1500 are skipped.
        assert_eq!(
            s.advance(1650),
            Next {
                deadline: 1600,
                late: true,
                missed: 3
            }
        );
        assert_eq!(s.advance(1605).deadline, 1700);
    }
}
