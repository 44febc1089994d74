//! Whether a thread is on a CPU: the state letter of `/proc/PID/task/TID/stat` is `R` now,
//! and its run time in `/proc/PID/task/TID/schedstat` advanced recently.
//!
//! The letter alone also counts threads that are runnable but waiting for a CPU (a sleeper
//! just woken, on a busy machine) as running; the run time alone would credit a thread that
//! ran earlier and sleeps now. The kernel updates a running thread's run time at scheduler
//! ticks (every 1–10 ms), not on every read, so "recently" is a window of [`RECENT`]. An idle
//! thread costs one read (its run time did not move); a running one two. Each file is opened
//! once and re-read with `pread` at offset 0 (the kernel regenerates the text on every read).
//!
//! How much CPU a sample stands for comes from the run time itself ([`CpuStates::cpu_ticks`]):
//! the nanoseconds the thread ran since the previous sample, in whole sampling intervals, the
//! remainder carried to the next sample. A state letter counts a thread that is runnable but
//! waiting for a CPU as running; on a loaded machine that more than doubled the CPU time of a
//! busy loop. The run time does not: the CPU time reported is the CPU time the kernel
//! accounted, spread over the stacks the samples saw.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant};

use rustc_hash::FxHashMap;

use crate::process::stat_state;

/// The scheduler state of a thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreadState {
    /// `R`: running or runnable.
    Running,
    /// `S`, `D`, `T`, `t`, …: not on a CPU.
    Idle,
    /// The stat file could not be read (the thread ended).
    Unknown,
}

/// Open stat files by TID.
#[derive(Debug)]
pub struct CpuStates {
    pid: u32,
    files: FxHashMap<u64, File>,
    syscall_files: FxHashMap<u64, File>,
    /// Per TID: the schedstat file, the run time (ns) last read, when it last moved, and the
    /// run time not yet handed out as CPU ticks.
    schedstat: FxHashMap<u64, (File, u64, Instant, u64)>,
    buf: Vec<u8>,
    reads: u64,
}

/// How recently a thread's run time must have moved for it to count as running: longer than
/// the scheduler tick of any kernel (HZ ≥ 100), shorter than the sleeps worth telling apart.
pub const RECENT: Duration = Duration::from_millis(20);

/// The first field of a schedstat file: nanoseconds spent on a CPU.
fn run_time(text: &[u8]) -> Option<u64> {
    let field = text.split(|&b| b == b' ').next()?;
    std::str::from_utf8(field).ok()?.trim().parse().ok()
}

impl CpuStates {
    pub fn new(pid: u32) -> CpuStates {
        CpuStates {
            pid,
            files: FxHashMap::default(),
            syscall_files: FxHashMap::default(),
            schedstat: FxHashMap::default(),
            buf: vec![0; 512],
            reads: 0,
        }
    }

    /// `pread` calls made so far.
    pub fn reads(&self) -> u64 {
        self.reads
    }

    /// The state of thread `tid` now (see the module documentation).
    pub fn state(&mut self, tid: u64) -> ThreadState {
        if tid == 0 {
            return ThreadState::Unknown;
        }
        match self.ran_since_last_read(tid) {
            Some(false) => return ThreadState::Idle,
            Some(true) => {}
            // No schedstat (kernels without schedstats): the letter alone decides.
            None => {}
        }
        self.state_letter(tid)
    }

    /// Whether the thread's run time moved within [`RECENT`] (true the first time it is
    /// seen); `None` when schedstat cannot be read.
    fn ran_since_last_read(&mut self, tid: u64) -> Option<bool> {
        let now = Instant::now();
        let first = !self.schedstat.contains_key(&tid);
        if first {
            let f = File::open(format!("/proc/{}/task/{tid}/schedstat", self.pid)).ok()?;
            self.schedstat.insert(tid, (f, 0, now, 0));
        }
        let (f, last, moved, pending) = self.schedstat.get_mut(&tid)?;
        self.reads += 1;
        let n = match f.read_at(&mut self.buf, 0) {
            Ok(n) if n > 0 => n,
            _ => {
                self.schedstat.remove(&tid);
                return None;
            }
        };
        let run = run_time(&self.buf[..n])?;
        if run != *last {
            // What it ran before we first saw it belongs to no sample.
            if !first {
                *pending += run.saturating_sub(*last);
            }
            *last = run;
            *moved = now;
        }
        Some(now.duration_since(*moved) <= RECENT)
    }

    /// The CPU time thread `tid` used since the previous sample, in whole `interval_ns`
    /// ticks, at most `max` (the ticks the sample stands for), after [`CpuStates::state`] read
    /// its run time; `None` when its run time cannot be read. The kernel adds a running
    /// thread's time in lumps (at scheduler ticks), so what exceeds `max` is carried to the
    /// next samples, up to [`RECENT`]'s worth: a lump is spread over the samples that follow
    /// instead of landing whole on one.
    pub fn cpu_ticks(&mut self, tid: u64, interval_ns: u64, max: u64) -> Option<u64> {
        let (_, _, _, pending) = self.schedstat.get_mut(&tid)?;
        let interval_ns = interval_ns.max(1);
        let ticks = (*pending / interval_ns).min(max);
        *pending -= ticks * interval_ns;
        *pending = (*pending).min((RECENT.as_nanos() as u64).max(interval_ns));
        Some(ticks)
    }

    /// The state letter of thread `tid` now: `R` is running or runnable.
    fn state_letter(&mut self, tid: u64) -> ThreadState {
        if !self.files.contains_key(&tid) {
            match File::open(format!("/proc/{}/task/{tid}/stat", self.pid)) {
                Ok(f) => {
                    self.files.insert(tid, f);
                }
                Err(_) => return ThreadState::Unknown,
            }
        }
        let Some(f) = self.files.get(&tid) else {
            return ThreadState::Unknown;
        };
        self.reads += 1;
        let n = match f.read_at(&mut self.buf, 0) {
            Ok(n) if n > 0 => n,
            _ => {
                // The thread is gone (ESRCH) or its TID was reused: reopen next time.
                self.files.remove(&tid);
                return ThreadState::Unknown;
            }
        };
        let text = String::from_utf8_lossy(&self.buf[..n]);
        match stat_state(&text) {
            Some('R') => ThreadState::Running,
            Some(_) => ThreadState::Idle,
            None => ThreadState::Unknown,
        }
    }

    /// The state of a thread that is stopped (blocking mode), from
    /// `/proc/PID/task/TID/syscall`: a thread stopped inside a system call was waiting in the
    /// kernel (idle); one stopped in user space (`-1 …`) was running. (Its `stat` state would
    /// only say "stopped", and reading it after the resume finds sleepers briefly woken.)
    pub fn paused_state(&mut self, tid: u64) -> ThreadState {
        if tid == 0 {
            return ThreadState::Unknown;
        }
        if !self.syscall_files.contains_key(&tid) {
            match File::open(format!("/proc/{}/task/{tid}/syscall", self.pid)) {
                Ok(f) => {
                    self.syscall_files.insert(tid, f);
                }
                Err(_) => return ThreadState::Unknown,
            }
        }
        let Some(f) = self.syscall_files.get(&tid) else {
            return ThreadState::Unknown;
        };
        self.reads += 1;
        let n = match f.read_at(&mut self.buf, 0) {
            Ok(n) if n > 0 => n,
            _ => {
                self.syscall_files.remove(&tid);
                return ThreadState::Unknown;
            }
        };
        match self.buf[..n].split(|&b| b == b' ').next() {
            Some(b"-1") | Some(b"running\n") | Some(b"running") => ThreadState::Running,
            Some(nr) if !nr.is_empty() && nr.iter().all(u8::is_ascii_digit) => ThreadState::Idle,
            _ => ThreadState::Unknown,
        }
    }

    /// Closes the files of threads not in `alive`.
    pub fn retain(&mut self, alive: impl Fn(u64) -> bool) {
        self.files.retain(|tid, _| alive(*tid));
        self.syscall_files.retain(|tid, _| alive(*tid));
        self.schedstat.retain(|tid, _| alive(*tid));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_own_thread_is_running() {
        let tid = {
            // SAFETY: gettid has no preconditions and cannot fail.
            unsafe { libc::gettid() }
        } as u64;
        let mut s = CpuStates::new(std::process::id());
        assert_eq!(s.state(tid), ThreadState::Running);
        assert_eq!(s.state(0x3fff_fff0), ThreadState::Unknown);
    }

    #[test]
    fn a_sleeping_thread_is_idle_and_a_spinning_one_running() {
        let (tx, rx) = std::sync::mpsc::channel();
        let sleeper = std::thread::spawn(move || {
            // SAFETY: gettid has no preconditions and cannot fail.
            tx.send(unsafe { libc::gettid() } as u64).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(300));
        });
        let sleeping = rx.recv().unwrap();
        let mut s = CpuStates::new(std::process::id());
        s.state(sleeping);
        std::thread::sleep(RECENT * 3);
        assert_eq!(s.state(sleeping), ThreadState::Idle);
        // SAFETY: as above.
        let me = unsafe { libc::gettid() } as u64;
        s.state(me);
        let end = Instant::now() + RECENT;
        while Instant::now() < end {
            std::hint::spin_loop();
        }
        assert_eq!(s.state(me), ThreadState::Running);
        sleeper.join().unwrap();
    }

    #[test]
    fn cpu_ticks_add_up_to_the_run_time_and_never_exceed_the_sample() {
        // SAFETY: gettid has no preconditions and cannot fail.
        let me = unsafe { libc::gettid() } as u64;
        let mut s = CpuStates::new(std::process::id());
        assert_eq!(s.cpu_ticks(me, 1_000_000, 1), None, "not read yet");
        s.state(me);
        assert_eq!(
            s.cpu_ticks(me, 1_000_000, 1),
            Some(0),
            "the time before is nobody's"
        );
        // Spin 200 ms of CPU in 1 ms samples: the ticks handed out follow the run time.
        let cpu = |s: &mut CpuStates| {
            s.state(me);
            s.schedstat[&me].1
        };
        let start = cpu(&mut s);
        let mut ticks = 0;
        for _ in 0..200 {
            let end = Instant::now() + Duration::from_millis(1);
            while Instant::now() < end {
                std::hint::spin_loop();
            }
            s.state(me);
            let t = s.cpu_ticks(me, 1_000_000, 1).unwrap();
            assert!(t <= 1, "at most the sample's one tick");
            ticks += t;
        }
        let ran_ms = (cpu(&mut s) - start) / 1_000_000;
        assert!(
            ticks + 25 >= ran_ms && ticks <= ran_ms + 1,
            "{ticks} ticks for {ran_ms} ms"
        );
        // Sleeping: no CPU, beyond the part of the last scheduler tick (up to 10 ms) the kernel
        // accounts only when the thread stops.
        s.state(me);
        while s.cpu_ticks(me, 1_000_000, 100).unwrap() > 0 {}
        std::thread::sleep(Duration::from_millis(50));
        s.state(me);
        let slept = s.cpu_ticks(me, 1_000_000, 50).unwrap();
        assert!(slept <= 11, "{slept} ticks while sleeping 50 ms");
    }
}
