//! The sampling loop: timing, counters, blocking, subprocesses, and the aggregate.
//!
//! # Counters (`meta.counters` of the profile)
//!
//! | name | meaning |
//! |---|---|
//! | `samples` | sampling ticks taken (each reads every thread of every target) |
//! | `thread_samples` | thread stacks recorded |
//! | `dropped` | thread stacks lost: a read failed or the data was torn mid-walk |
//! | `late` | ticks that started behind schedule (the previous tick overran its interval) |
//! | `missed` | ticks skipped entirely because the sampler fell more than an interval behind |
//! | `read_errors` | needed memory reads that failed (speculative prefetch misses excluded) |
//! | `incomplete` | ticks whose interpreter or thread list could not be read in full |
//! | `truncated` | stacks cut at 2048 frames |
//! | `empty_stacks` | live threads sampled with no Python frame (not recorded as a stack) |
//! | `achieved_rate_mhz` | ticks per second of sampling, in millihertz (`1000 Hz` = `1000000`) |
//! | `syscalls` | `process_vm_readv` calls |
//! | `stat_reads` | `/proc/PID/task/TID/stat` reads (on-CPU state) |
//! | `processes` | processes sampled (more than one with subprocesses) |
//!
//! # Timing
//!
//! Ticks sit on a fixed grid (`start + k × interval`), so a late wake-up does not shift later
//! ticks. Between ticks the sampler sleeps with `clock_nanosleep(TIMER_ABSTIME)` to the
//! deadline, with the sampling thread's timer slack set to 1 ns (the default 50 µs slack
//! would make every wake-up late). With `spin: true` it wakes a margin early and spins to the
//! deadline; the margin follows the measured wake-up lateness (an EWMA), capped at a tenth of
//! the interval. Spinning is off by default: on a 2-core machine with a CPU-bound target it
//! competes with the target and made 10 kHz worse, not better.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pyrometer_profile::{Counter, Meta, Mode, Profile, PythonInfo};
use rustc_hash::FxHashSet;

use crate::aggregate::{Aggregate, Flags, MissingCode};
use crate::blocking::Pause;
use crate::children::{command_line, descendants};
use crate::cpu::{CpuStates, ThreadState};
use crate::error::{Result, SamplerError};
use crate::process::{ProcessSample, PythonProcess};
use crate::timing::{Schedule, Sleeper, TimerSlack, now_ns};

/// How to sample.
#[derive(Clone, Debug)]
pub struct SamplerConfig {
    /// Samples per second (default 1000).
    pub rate_hz: f64,
    /// Stop after this long (default: until stopped or the target exits).
    pub duration: Option<Duration>,
    /// Stop the target's threads during each sample (exact stacks, costs the target time).
    pub blocking: bool,
    /// Read each thread's on-CPU state (one small read per thread per sample; default true).
    pub cpu_state: bool,
    /// Follow descendant Python processes (default false).
    pub subprocesses: bool,
    /// How often to look for new descendants.
    pub subprocess_poll: Duration,
    /// Spin the last microseconds before each tick for a more precise schedule (default
    /// false: on a loaded machine spinning steals the CPU the target needs, and the fixed
    /// grid already keeps the rate).
    pub spin: bool,
}

impl Default for SamplerConfig {
    fn default() -> Self {
        SamplerConfig {
            rate_hz: 1000.0,
            duration: None,
            blocking: false,
            cpu_state: true,
            subprocesses: false,
            subprocess_poll: Duration::from_millis(100),
            spin: false,
        }
    }
}

/// The sampler's health figures (see the module documentation for each).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub samples: u64,
    pub thread_samples: u64,
    pub dropped: u64,
    pub late: u64,
    pub missed: u64,
    pub read_errors: u64,
    pub incomplete: u64,
    pub truncated: u64,
    pub empty_stacks: u64,
    pub syscalls: u64,
    pub stat_reads: u64,
    pub processes: u64,
    /// Nanoseconds spent sampling (from the first tick to the last).
    pub elapsed_ns: u64,
}

impl Counters {
    /// Ticks per second achieved.
    pub fn achieved_rate(&self) -> f64 {
        if self.elapsed_ns == 0 {
            0.0
        } else {
            self.samples as f64 * 1e9 / self.elapsed_ns as f64
        }
    }

    /// The counters as the profile stores them.
    pub fn to_meta(&self) -> Vec<Counter> {
        let c = |name: &str, value: u64| Counter {
            name: name.to_owned(),
            value,
        };
        vec![
            c("samples", self.samples),
            c("thread_samples", self.thread_samples),
            c("dropped", self.dropped),
            c("late", self.late),
            c("missed", self.missed),
            c("read_errors", self.read_errors),
            c("incomplete", self.incomplete),
            c("truncated", self.truncated),
            c("empty_stacks", self.empty_stacks),
            c(
                "achieved_rate_mhz",
                (self.achieved_rate() * 1000.0).round() as u64,
            ),
            c("syscalls", self.syscalls),
            c("stat_reads", self.stat_reads),
            c("processes", self.processes),
        ]
    }
}

/// Why [`Sampler::run`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunEnd {
    /// The stop flag was set (Ctrl-C, the caller) or the callback broke.
    Stopped,
    /// The configured duration elapsed.
    Duration,
    /// Every target process exited.
    TargetExited,
}

struct Target {
    process: PythonProcess,
    cpu: CpuStates,
    index: u32,
    sample: ProcessSample,
    alive: bool,
    /// Consecutive ticks in which nothing could be read (the process may have exec'd).
    bad_ticks: u32,
    last_reattach_ns: u64,
    /// Counters of readers replaced by a re-attach.
    retired: Counters,
    /// Blocking mode: on-CPU states read while the threads were stopped, by TID.
    pre_states: Vec<(u64, ThreadState)>,
}

/// Ticks of unreadable samples after which the process is attached afresh.
const REATTACH_AFTER: u32 = 20;

/// A candidate subprocess not yet attached.
struct Pending {
    pid: u32,
    ppid: u32,
    tries: u32,
}

/// Samples one process (and optionally its descendants) and aggregates the stacks.
pub struct Sampler {
    config: SamplerConfig,
    root: u32,
    targets: Vec<Target>,
    agg: Aggregate,
    counters: Counters,
    stop: Arc<AtomicBool>,
    start_unix_ns: u64,
    first_tick_ns: Option<u64>,
    /// Ticks the next sample stands for (see `Flags::weight`).
    weight: u64,
    last_tick_ns: u64,
    python: Option<PythonInfo>,
    known_pids: FxHashSet<u32>,
    pending: Vec<Pending>,
    last_poll_ns: u64,
}

impl std::fmt::Debug for Sampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sampler")
            .field("root", &self.root)
            .field("config", &self.config)
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

impl Sampler {
    /// Attaches to `pid` (which must be a running, initialized CPython).
    pub fn attach(pid: u32, config: SamplerConfig) -> Result<Sampler> {
        let process = PythonProcess::attach(pid)?;
        Sampler::from_process(process, config)
    }

    /// Attaches to `pid`, waiting up to `timeout` for it to become a ready CPython (for a
    /// child just spawned by `pyrometer run`).
    pub fn attach_wait(pid: u32, config: SamplerConfig, timeout: Duration) -> Result<Sampler> {
        let process = PythonProcess::attach_wait(pid, timeout)?;
        Sampler::from_process(process, config)
    }

    /// A sampler over an already attached process.
    pub fn from_process(process: PythonProcess, config: SamplerConfig) -> Result<Sampler> {
        if config.blocking && process.pid() == std::process::id() {
            return Err(SamplerError::Blocking {
                pid: process.pid(),
                reason: "a process cannot stop itself; blocking mode is for other processes".into(),
            });
        }
        let pid = process.pid();
        let python = PythonInfo {
            version: process.version().to_string(),
            implementation: "cpython".to_owned(),
            executable: std::fs::read_link(format!("/proc/{pid}/exe"))
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        };
        let mut sampler = Sampler {
            config,
            root: pid,
            targets: Vec::new(),
            agg: Aggregate::default(),
            counters: Counters::default(),
            stop: Arc::new(AtomicBool::new(false)),
            start_unix_ns: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64),
            first_tick_ns: None,
            weight: 1,
            last_tick_ns: 0,
            python: Some(python),
            known_pids: FxHashSet::default(),
            pending: Vec::new(),
            last_poll_ns: 0,
        };
        sampler.add_target(process, None);
        Ok(sampler)
    }

    fn add_target(&mut self, process: PythonProcess, parent: Option<u32>) {
        let pid = process.pid();
        let parent_index = parent.and_then(|pp| {
            self.agg
                .processes()
                .iter()
                .position(|p| p.pid == pp)
                .map(|i| i as u32)
        });
        let index = self.agg.add_process(pid, parent_index, command_line(pid));
        self.known_pids.insert(pid);
        self.targets.push(Target {
            cpu: CpuStates::new(pid),
            process,
            index,
            sample: ProcessSample::default(),
            alive: true,
            bad_ticks: 0,
            last_reattach_ns: 0,
            retired: Counters::default(),
            pre_states: Vec::new(),
        });
        self.counters.processes = self.targets.len() as u64;
    }

    /// Attaches another process (a subprocess the caller found itself). `parent` is the pid
    /// of its parent, if that is sampled too.
    pub fn add_process(&mut self, pid: u32, parent: Option<u32>) -> Result<()> {
        if self.known_pids.contains(&pid) {
            return Ok(());
        }
        let process = PythonProcess::attach(pid)?;
        self.add_target(process, parent);
        Ok(())
    }

    /// A flag that stops [`Sampler::run`] at the next tick when set (from any thread or a
    /// signal handler).
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        self.stop.clone()
    }

    pub fn config(&self) -> &SamplerConfig {
        &self.config
    }

    /// The pids being sampled (alive or not).
    pub fn pids(&self) -> Vec<u32> {
        self.targets.iter().map(|t| t.process.pid()).collect()
    }

    /// The counters so far.
    pub fn counters(&self) -> Counters {
        let mut c = self.counters;
        for t in &self.targets {
            c.dropped += t.retired.dropped;
            c.read_errors += t.retired.read_errors;
            c.incomplete += t.retired.incomplete;
            c.truncated += t.retired.truncated;
            c.syscalls += t.retired.syscalls;
            c.stat_reads += t.retired.stat_reads;
            let s = t.process.stats();
            c.dropped += s.dropped;
            c.read_errors += s.read_errors;
            c.incomplete += s.incomplete;
            c.truncated += s.truncated;
            c.syscalls += t.process.syscalls();
            c.stat_reads += t.cpu.reads();
        }
        c.elapsed_ns = match self.first_tick_ns {
            Some(first) => self.last_tick_ns.saturating_sub(first),
            None => 0,
        };
        c
    }

    /// Takes one sample of every live target now. Returns false when no target is alive.
    pub fn sample_once(&mut self) -> Result<bool> {
        let now = now_ns();
        if self.first_tick_ns.is_none() {
            self.first_tick_ns = Some(now);
        }
        self.last_tick_ns = now;
        self.counters.samples += 1;
        let mut any = false;
        for ti in 0..self.targets.len() {
            if !self.targets[ti].alive {
                continue;
            }
            match self.sample_target(ti) {
                Ok(()) => any = true,
                Err(SamplerError::NoSuchProcess { .. }) => self.targets[ti].alive = false,
                Err(e) => return Err(e),
            }
        }
        Ok(any)
    }

    fn sample_target(&mut self, ti: usize) -> Result<()> {
        let t = &mut self.targets[ti];
        let blocking = self.config.blocking;
        t.pre_states.clear();
        {
            let _pause = if blocking {
                Some(Pause::new(t.process.pid())?)
            } else {
                None
            };
            t.process.sample(&mut t.sample)?;
            // While stopped, where each thread stopped tells whether it was running.
            if blocking && self.config.cpu_state {
                for ts in t.sample.threads() {
                    let state = t.cpu.paused_state(ts.native_id);
                    t.pre_states.push((ts.native_id, state));
                }
            }
            // `_pause` resumes the threads here, before the aggregation.
        }
        let threads = t.sample.threads();
        let unreadable =
            !t.sample.complete || (!threads.is_empty() && threads.iter().all(|ts| !ts.ok));
        t.bad_ticks = if unreadable { t.bad_ticks + 1 } else { 0 };
        if t.bad_ticks >= REATTACH_AFTER {
            return self.reattach(ti);
        }
        let interval_ns = (1e9 / self.config.rate_hz.max(0.001)) as u64;
        let t = &mut self.targets[ti];
        let process = &t.process;
        for ts in t.sample.threads() {
            if !ts.ok {
                continue;
            }
            if ts.frames.is_empty() {
                self.counters.empty_stacks += 1;
                continue;
            }
            let thread = self
                .agg
                .thread(t.index, ts.ident, ts.native_id, || process.name_thread(ts));
            // In blocking mode, where each thread stopped tells whether it was running;
            // otherwise the CPU time the kernel accounts, charged once it is known (see
            // `cpu.rs`), or, without that, whether the thread is running now.
            let paused = blocking.then(|| {
                t.pre_states
                    .iter()
                    .find(|(tid, _)| *tid == ts.native_id)
                    .map_or(ThreadState::Unknown, |(_, s)| *s)
            });
            let cpu_ticks = match paused {
                Some(state) => (state == ThreadState::Running) as u64 * self.weight,
                None => 0,
            };
            let flags = Flags {
                cpu_ticks,
                holds_gil: ts.holds_gil,
                weight: self.weight,
            };
            let row = match self
                .agg
                .record(t.index, ts.tstate, thread, &ts.frames, flags, |c| {
                    process.code(c)
                }) {
                Ok(row) => {
                    self.counters.thread_samples += 1;
                    row
                }
                Err(MissingCode) => {
                    self.counters.dropped += 1;
                    None
                }
            };
            if let (Some(row), true, None) = (row, self.config.cpu_state, paused) {
                let agg = &mut self.agg;
                let observed =
                    t.cpu
                        .observe(ts.native_id, row, self.weight, interval_ns, |r, ticks| {
                            agg.add_cpu(r, ticks)
                        });
                if observed.is_none() && t.cpu.letter(ts.native_id) == ThreadState::Running {
                    agg.add_cpu(row, self.weight);
                }
            }
        }
        // Forget per-thread state of threads that ended (occasionally: it is a scan).
        if self.counters.samples.is_multiple_of(256) {
            let alive: FxHashSet<(u32, u64)> = t
                .sample
                .threads()
                .iter()
                .map(|ts| (t.index, ts.tstate))
                .collect();
            let index = t.index;
            self.agg
                .retain_threads(|p, ts| p != index || alive.contains(&(p, ts)));
            let tids: FxHashSet<u64> = t.sample.threads().iter().map(|ts| ts.native_id).collect();
            t.cpu.retain(|tid| tids.contains(&tid));
        }
        Ok(())
    }

    /// Attaches afresh to a target that has been unreadable for a while: after an `exec`
    /// (a forked child becoming another program, or Python again at new addresses) the old
    /// addresses mean nothing. Gives up on the process if it is no longer Python.
    fn reattach(&mut self, ti: usize) -> Result<()> {
        let now = now_ns();
        let t = &mut self.targets[ti];
        if now.saturating_sub(t.last_reattach_ns) < 50_000_000 {
            return Ok(());
        }
        t.last_reattach_ns = now;
        let pid = t.process.pid();
        match PythonProcess::attach(pid) {
            Ok(process) => {
                let s = t.process.stats();
                t.retired.dropped += s.dropped;
                t.retired.read_errors += s.read_errors;
                t.retired.incomplete += s.incomplete;
                t.retired.truncated += s.truncated;
                t.retired.syscalls += t.process.syscalls();
                t.retired.stat_reads += t.cpu.reads();
                t.process = process;
                t.cpu = CpuStates::new(pid);
                t.bad_ticks = 0;
                let index = t.index;
                self.agg.forget_codes(index);
                self.agg.set_command(index, command_line(pid));
                Ok(())
            }
            Err(SamplerError::NoSuchProcess { pid }) => Err(SamplerError::NoSuchProcess { pid }),
            Err(e) if e.is_transient() => Ok(()),
            Err(_) => {
                // Not a Python we can read any more.
                t.alive = false;
                Ok(())
            }
        }
    }

    /// Re-reads the command lines of live targets (an `exec` that kept the interpreter at the
    /// same addresses, as with a static non-PIE build, needs no re-attach but changes them).
    fn refresh_commands(&mut self) {
        for t in self.targets.iter().filter(|t| t.alive) {
            let command = command_line(t.process.pid());
            if !command.is_empty() {
                self.agg.set_command(t.index, command);
            }
        }
    }

    /// Looks for new descendant Python processes and attaches to them.
    pub fn poll_subprocesses(&mut self) {
        for p in descendants(self.root) {
            if self.known_pids.contains(&p.pid) || self.pending.iter().any(|q| q.pid == p.pid) {
                continue;
            }
            self.pending.push(Pending {
                pid: p.pid,
                ppid: p.ppid,
                tries: 0,
            });
        }
        let pending = std::mem::take(&mut self.pending);
        for mut p in pending {
            match PythonProcess::attach(p.pid) {
                Ok(process) => self.add_target(process, Some(p.ppid)),
                Err(e) if e.is_transient() && p.tries < 20 => {
                    p.tries += 1;
                    self.pending.push(p);
                }
                Err(_) => {
                    // Not Python (or gone, or not readable): never look at it again.
                    self.known_pids.insert(p.pid);
                }
            }
        }
    }

    /// Samples until stopped, the duration elapses, or every target exits.
    pub fn run(&mut self) -> Result<RunEnd> {
        self.run_with(Duration::MAX, |_| ControlFlow::Continue(()))
    }

    /// Like [`Sampler::run`], calling `callback` every `every` (from the sampling thread, so
    /// keep it short; its time shows up as late ticks). The callback can read
    /// [`Sampler::snapshot`] or [`Sampler::counters`] for a live view, and stop the run by
    /// returning `ControlFlow::Break`.
    pub fn run_with(
        &mut self,
        every: Duration,
        mut callback: impl FnMut(&Sampler) -> ControlFlow<()>,
    ) -> Result<RunEnd> {
        let _slack = TimerSlack::tight();
        let interval = (1e9 / self.config.rate_hz.max(0.001)) as u64;
        let start = now_ns();
        let end = self
            .config
            .duration
            .map(|d| start.saturating_add(d.as_nanos().min(u64::MAX as u128) as u64));
        let every = every.as_nanos().min(u64::MAX as u128) as u64;
        let mut next_callback = start.saturating_add(every);
        let mut schedule = Schedule::new(start, interval);
        let mut sleeper = Sleeper::new(self.config.spin, interval);
        let poll = self.config.subprocess_poll.as_nanos() as u64;
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return Ok(RunEnd::Stopped);
            }
            let now = now_ns();
            if end.is_some_and(|e| now >= e) {
                return Ok(RunEnd::Duration);
            }
            if now.saturating_sub(self.last_poll_ns) >= poll {
                self.last_poll_ns = now;
                if self.config.subprocesses {
                    self.poll_subprocesses();
                }
                self.refresh_commands();
            }
            let any = self.sample_once()?;
            if !any && self.pending.is_empty() {
                return Ok(RunEnd::TargetExited);
            }
            let now = now_ns();
            if now >= next_callback {
                next_callback = now.saturating_add(every);
                if callback(self).is_break() {
                    return Ok(RunEnd::Stopped);
                }
            }
            let next = schedule.advance(now_ns());
            self.counters.late += next.late as u64;
            self.counters.missed += next.missed;
            // The next sample stands for the ticks skipped before it too.
            self.weight = 1 + next.missed;
            let deadline = match end {
                Some(e) => next.deadline.min(e),
                None => next.deadline,
            };
            sleeper.sleep_until(deadline, &self.stop);
        }
    }

    /// The profile so far (cheap enough for a live view a few times a second).
    pub fn snapshot(&self) -> Profile {
        let counters = self.counters();
        let meta = Meta {
            tool: format!("pyrometer {}", env!("CARGO_PKG_VERSION")),
            mode: Mode::Sample,
            python: self.python.clone(),
            start_unix_ns: self.start_unix_ns,
            duration_ns: counters.elapsed_ns,
            sample_interval_ns: Some((1e9 / self.config.rate_hz.max(0.001)) as u64),
            clock: "monotonic".to_owned(),
            counters: counters.to_meta(),
            command: self
                .agg
                .processes()
                .first()
                .map(|p| p.command.clone())
                .unwrap_or_default(),
            ..Meta::default()
        };
        let mut profile = self.agg.to_profile(meta);
        if counters.dropped > 0 || counters.missed > 0 {
            let total = counters.thread_samples + counters.dropped;
            if total > 0 && counters.dropped * 100 > total {
                profile.meta.notes.push(format!(
                    "{} of {} thread samples were dropped (stacks changed while being read)",
                    counters.dropped, total
                ));
            }
            if counters.missed * 10 > counters.samples {
                profile.meta.notes.push(format!(
                    "the sampler fell behind: {} ticks missed; achieved {:.0} Hz of {:.0} Hz",
                    counters.missed,
                    counters.achieved_rate(),
                    self.config.rate_hz
                ));
            }
        }
        profile
    }

    /// The final profile.
    pub fn finish(self) -> Profile {
        self.snapshot()
    }
}

/// The sampler moves to a background thread (live views, in-process profiling).
const _: () = {
    const fn assert_send<T: Send>() {}
    assert_send::<Sampler>();
    assert_send::<PythonProcess>();
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_have_their_documented_names() {
        let c = Counters {
            samples: 2000,
            elapsed_ns: 2_000_000_000,
            ..Counters::default()
        };
        let meta = c.to_meta();
        let get = |n: &str| meta.iter().find(|m| m.name == n).map(|m| m.value);
        assert_eq!(get("achieved_rate_mhz"), Some(1_000_000));
        for name in ["samples", "dropped", "late", "read_errors", "missed"] {
            assert!(get(name).is_some(), "{name}");
        }
    }
}
