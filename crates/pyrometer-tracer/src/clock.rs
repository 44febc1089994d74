//! The tracer's clock: the CPU's time-stamp counter where the kernel trusts it (about 10 ns a
//! read on these machines), `CLOCK_MONOTONIC` through the vDSO otherwise (about 25 ns).
//!
//! Hooks store raw ticks; ticks become nanoseconds once, when a profile is taken, with a ratio
//! measured over the whole profiling interval against `CLOCK_MONOTONIC`.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

static USE_TSC: AtomicBool = AtomicBool::new(false);
static CHOSEN: OnceLock<ClockKind> = OnceLock::new();

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockKind {
    Tsc,
    Monotonic,
}

impl ClockKind {
    pub fn name(self) -> &'static str {
        match self {
            ClockKind::Tsc => "tsc",
            ClockKind::Monotonic => "monotonic",
        }
    }
}

/// Chooses the clock once per process. `PYROMETER_CLOCK=monotonic` forces the portable one.
pub fn init() -> ClockKind {
    *CHOSEN.get_or_init(|| {
        let forced = std::env::var("PYROMETER_CLOCK").ok();
        let kind = match forced.as_deref() {
            Some("monotonic") => ClockKind::Monotonic,
            _ if tsc_is_trustworthy() => ClockKind::Tsc,
            _ => ClockKind::Monotonic,
        };
        USE_TSC.store(kind == ClockKind::Tsc, Ordering::Relaxed);
        kind
    })
}

/// The TSC is usable when it ticks at a constant rate through sleep states and the kernel
/// itself keeps time with it (it checks the TSC is synchronized across CPUs before it does).
fn tsc_is_trustworthy() -> bool {
    if !cfg!(target_arch = "x86_64") {
        return false;
    }
    let source =
        std::fs::read_to_string("/sys/devices/system/clocksource/clocksource0/current_clocksource")
            .unwrap_or_default();
    if source.trim() != "tsc" {
        return false;
    }
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let flags = cpuinfo
        .lines()
        .find(|l| l.starts_with("flags"))
        .unwrap_or("");
    let has = |flag: &str| flags.split_whitespace().any(|f| f == flag);
    has("constant_tsc") && has("nonstop_tsc")
}

/// Nanoseconds of `CLOCK_MONOTONIC`.
pub fn monotonic_ns() -> u64 {
    read_ns(libc::CLOCK_MONOTONIC)
}

/// Nanoseconds of CPU time the calling thread has used.
pub fn thread_cpu_ns() -> u64 {
    read_ns(libc::CLOCK_THREAD_CPUTIME_ID)
}

fn read_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; both clocks used here always exist on Linux.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// The current tick of the chosen clock. Call [`init`] first.
#[inline(always)]
pub fn now() -> u64 {
    #[cfg(target_arch = "x86_64")]
    if USE_TSC.load(Ordering::Relaxed) {
        // SAFETY: RDTSC has no preconditions on x86-64; `init` checked the counter is invariant.
        return unsafe { core::arch::x86_64::_rdtsc() };
    }
    monotonic_ns()
}

/// A pairing of ticks with monotonic nanoseconds, taken when tracing starts.
#[derive(Clone, Copy, Debug)]
pub struct Calibration {
    ticks: u64,
    ns: u64,
}

impl Calibration {
    pub fn start() -> Calibration {
        Calibration {
            ticks: now(),
            ns: monotonic_ns(),
        }
    }

    /// Nanoseconds per tick, measured from the start to now. Waits until at least 5 ms have
    /// passed so that the ratio is precise to a few parts in 100,000.
    pub fn ns_per_tick(&self) -> f64 {
        if !USE_TSC.load(Ordering::Relaxed) {
            return 1.0;
        }
        loop {
            let (ticks, ns) = (now(), monotonic_ns());
            let (dt, dns) = (ticks.saturating_sub(self.ticks), ns.saturating_sub(self.ns));
            if dns >= 5_000_000 && dt > 0 {
                return dns as f64 / dt as f64;
            }
            std::hint::spin_loop();
        }
    }

    /// Wall nanoseconds since the calibration was taken.
    pub fn elapsed_ns(&self) -> u64 {
        monotonic_ns().saturating_sub(self.ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_convert_to_wall_time() {
        init();
        let cal = Calibration::start();
        let t0 = now();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let t1 = now();
        let ns = (t1 - t0) as f64 * cal.ns_per_tick();
        assert!((19e6..200e6).contains(&ns), "{ns} ns for a 20 ms sleep");
    }
}
