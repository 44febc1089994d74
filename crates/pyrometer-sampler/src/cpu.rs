//! A thread's use of the CPU, from `/proc/PID/task/TID/schedstat` (its run time, in
//! nanoseconds) and the state letter of `/proc/PID/task/TID/stat` (`R`: running or runnable).
//! Each file is opened once and re-read with `pread` at offset 0 (the kernel regenerates the
//! text on every read): two reads per thread per sample.
//!
//! How much CPU a sample stands for comes from the run time itself ([`CpuStates::observe`]):
//! the CPU time the kernel accounted, handed out in whole sampling intervals to the samples
//! taken while the thread was running. The kernel adds a running thread's time in lumps: at
//! scheduler ticks, and when it stops running (goes to sleep, is preempted). So the growth a
//! sample sees belongs to the samples taken since the run time last moved, not to the sample
//! that sees it: a thread that computes, then sleeps, shows the last lump of its computing to
//! the first sample of its sleep. The growth is therefore spread over the samples of that
//! window that found the thread running (state `R`); a sample that found it sleeping gets
//! none. A state letter alone would count a thread that is runnable but waiting for a CPU as
//! running; on a loaded machine that more than doubled the CPU time of a busy loop. The run
//! time does not: the CPU time reported is the CPU time the kernel accounted.

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

/// A sample of one thread as the aggregate keeps it: (stack node, thread index).
pub type SampleKey = (u32, u32);

/// Per thread: its schedstat file and the CPU time not yet handed out.
#[derive(Debug)]
struct RunTime {
    file: File,
    /// The run time (ns) last read.
    last: u64,
    /// When it last moved.
    moved: Instant,
    /// Run time accounted by the kernel and not yet handed out to samples.
    unplaced: u64,
    /// The samples taken while the thread was running since the run time last moved, with the
    /// ticks each stands for: the samples its next growth belongs to.
    running: Vec<(SampleKey, u64)>,
}

/// Open stat files by TID.
#[derive(Debug)]
pub struct CpuStates {
    pid: u32,
    files: FxHashMap<u64, File>,
    syscall_files: FxHashMap<u64, File>,
    schedstat: FxHashMap<u64, RunTime>,
    buf: Vec<u8>,
    reads: u64,
}

/// How recently a thread's run time must have moved for [`CpuStates::state`] to count it as
/// running: longer than the scheduler tick of any kernel (HZ ≥ 100).
pub const RECENT: Duration = Duration::from_millis(20);

/// Samples of a running thread kept waiting for its run time to move. The kernel moves it at
/// every scheduler tick (at most 10 ms), so this many is reached only by a thread that is
/// runnable but waits long for a CPU; older samples then give way to newer ones.
const MAX_WAITING: usize = 512;

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

    /// The state of thread `tid` now, for a one-off look (`dump`): running when its state
    /// letter is `R` and its run time moved within [`RECENT`] (or it is seen for the first
    /// time).
    pub fn state(&mut self, tid: u64) -> ThreadState {
        if tid == 0 {
            return ThreadState::Unknown;
        }
        if self.read_run_time(tid) == Some(false) {
            return ThreadState::Idle;
        }
        self.letter(tid)
    }

    /// Reads thread `tid`'s run time; whether it moved within [`RECENT`] (true the first
    /// time it is seen), `None` when schedstat cannot be read. Growth is added to the
    /// thread's unplaced run time.
    fn read_run_time(&mut self, tid: u64) -> Option<bool> {
        let now = Instant::now();
        let first = !self.schedstat.contains_key(&tid);
        if first {
            let file = File::open(format!("/proc/{}/task/{tid}/schedstat", self.pid)).ok()?;
            self.schedstat.insert(
                tid,
                RunTime {
                    file,
                    last: 0,
                    moved: now,
                    unplaced: 0,
                    running: Vec::new(),
                },
            );
        }
        let rt = self.schedstat.get_mut(&tid)?;
        self.reads += 1;
        let n = match rt.file.read_at(&mut self.buf, 0) {
            Ok(n) if n > 0 => n,
            _ => {
                self.schedstat.remove(&tid);
                return None;
            }
        };
        let run = run_time(&self.buf[..n])?;
        if run != rt.last {
            // What it ran before we first saw it belongs to no sample.
            if !first {
                rt.unplaced += run.saturating_sub(rt.last);
            }
            rt.last = run;
            rt.moved = now;
        }
        Some(now.duration_since(rt.moved) <= RECENT)
    }

    /// Observes thread `tid` for the sample `key` (which stands for `weight` ticks of
    /// `interval_ns`) and hands out the CPU time the kernel accounted since the previous
    /// sample: `charge(key, ticks)` is called for the samples it belongs to (this one or
    /// earlier ones, see the module documentation), each with at most its own weight.
    /// Returns the thread's state letter; `None` when its run time cannot be read, and then
    /// nothing is charged.
    pub fn observe(
        &mut self,
        tid: u64,
        key: SampleKey,
        weight: u64,
        interval_ns: u64,
        mut charge: impl FnMut(SampleKey, u64),
    ) -> Option<ThreadState> {
        if tid == 0 {
            return None;
        }
        let before = self.schedstat.get(&tid).map(|rt| rt.last);
        let first = before.is_none();
        self.read_run_time(tid)?;
        let state = self.letter(tid);
        let rt = self.schedstat.get_mut(&tid)?;
        if state == ThreadState::Running {
            if rt.running.len() == MAX_WAITING {
                rt.running.remove(0);
            }
            rt.running.push((key, weight.max(1)));
        }
        if first || before == Some(rt.last) {
            return Some(state);
        }
        // The run time moved: its growth belongs to the running samples since it last moved.
        let interval_ns = interval_ns.max(1);
        let stands_for: u64 = rt.running.iter().map(|&(_, w)| w).sum();
        let ticks = (rt.unplaced / interval_ns).min(stands_for);
        rt.unplaced -= ticks * interval_ns;
        // Spread evenly: sample i gets the ticks between its cumulative weight's share and
        // the previous one's, so no sample gets more than its weight.
        let mut before_weight = 0;
        for &(k, w) in &rt.running {
            let given = ((before_weight + w) * ticks) / stands_for.max(1)
                - (before_weight * ticks) / stands_for.max(1);
            if given > 0 {
                charge(k, given);
            }
            before_weight += w;
        }
        // What is left is kept for the next samples: less than an interval; or more than
        // the running samples stand for, which the next ones of the same spell of running
        // take (the kernel's lumps do not fall on the sampling grid), up to [`RECENT`]'s
        // worth. When no running sample saw the thread, only the fraction of an interval is
        // kept; the rest cannot be placed and is dropped.
        let keep = if rt.running.is_empty() {
            interval_ns
        } else {
            (RECENT.as_nanos() as u64).max(interval_ns)
        };
        rt.unplaced = rt.unplaced.min(keep);
        rt.running.clear();
        Some(state)
    }

    /// The state letter of thread `tid` now: `R` is running or runnable.
    pub fn letter(&mut self, tid: u64) -> ThreadState {
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
    fn cpu_time_goes_to_the_running_samples_it_accrued_in() {
        use std::sync::atomic::{AtomicU32, Ordering};
        // A thread computes for 200 ms (phase 1), then sleeps for 100 ms (phase 2), sampled
        // every millisecond with its phase as the sample's key.
        static PHASE: AtomicU32 = AtomicU32::new(0);
        let (tx, rx) = std::sync::mpsc::channel();
        let worker = std::thread::spawn(move || {
            // SAFETY: gettid has no preconditions and cannot fail.
            tx.send(unsafe { libc::gettid() } as u64).unwrap();
            while PHASE.load(Ordering::SeqCst) == 0 {
                std::hint::spin_loop();
            }
            let end = Instant::now() + Duration::from_millis(200);
            while Instant::now() < end {
                std::hint::spin_loop();
            }
            PHASE.store(2, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(100));
            PHASE.store(3, Ordering::SeqCst);
        });
        let tid = rx.recv().unwrap();
        let mut s = CpuStates::new(std::process::id());
        let mut charged: FxHashMap<SampleKey, u64> = FxHashMap::default();
        s.observe(tid, (0, 0), 1, 1_000_000, |_, _| {}).unwrap();
        let start = s.schedstat[&tid].last;
        PHASE.store(1, Ordering::SeqCst);
        // Samples on a fixed 1 ms grid, as the sampler takes them: a sample that comes late
        // stands for the ticks it missed too.
        let tick = Duration::from_millis(1);
        let mut next = Instant::now();
        loop {
            next += tick;
            std::thread::sleep(next.saturating_duration_since(Instant::now()));
            let mut weight = 1;
            while Instant::now() >= next + tick {
                next += tick;
                weight += 1;
            }
            let phase = PHASE.load(Ordering::SeqCst);
            if phase == 3 {
                break;
            }
            s.observe(tid, (phase, 0), weight, 1_000_000, |k, t| {
                *charged.entry(k).or_default() += t;
            })
            .unwrap();
        }
        let ran_ms = (s.schedstat[&tid].last - start) / 1_000_000;
        worker.join().unwrap();
        // The computing samples get the thread's CPU time, the last lump (added when it went
        // to sleep) included; the sleeping ones none (one may catch it just before it slept).
        let computing = charged.get(&(1, 0)).copied().unwrap_or(0);
        assert!(
            computing + 2 >= ran_ms && computing <= ran_ms + 1,
            "{computing} ticks for {ran_ms} ms: {charged:?}"
        );
        assert!(
            charged.get(&(2, 0)).copied().unwrap_or(0) <= 1,
            "{charged:?}"
        );
        assert_eq!(s.observe(0, (3, 0), 1, 1_000_000, |_, _| {}), None);
    }
}
