//! The orchestration of a Python benchmark: calibration of the inner loops in the first worker,
//! then in each worker process warm-ups and values, the candidates interleaved round by round
//! (in an order that rotates, so that no candidate always runs first). Workers are abstract
//! ([`Worker`], [`Spawner`]): Python worker processes for the CLI, Python callables for the
//! in-process API, a fake clock in tests.

use crate::BenchError;
use crate::analysis::{ALPHA, CI_LEVEL, CI_METHOD, TEST};
use crate::outliers::OutlierMethod;
use crate::result::{Kind, Method, Sample};

/// How many processes, values and loops.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub processes: u32,
    /// Warm-up values per process, discarded.
    pub warmups: u32,
    /// Measured values per process.
    pub values: u32,
    /// Calibration makes one value last at least this long.
    pub min_time_ns: u64,
    /// Loops per value, when given (`-n`): no calibration.
    pub loops: Option<u64>,
    /// Run the garbage collector while timing.
    pub gc: bool,
}

impl Plan {
    /// The default: 20 processes × (1 warm-up + 3 values) of at least 50 ms, about 4 s a
    /// benchmark.
    pub fn normal() -> Plan {
        Plan {
            processes: 20,
            warmups: 1,
            values: 3,
            min_time_ns: 50_000_000,
            loops: None,
            gc: false,
        }
    }

    /// `--fast`: 6 processes × (1 + 3) of 20 ms, about half a second.
    pub fn fast() -> Plan {
        Plan {
            processes: 6,
            min_time_ns: 20_000_000,
            ..Plan::normal()
        }
    }

    /// `--rigorous`: 40 processes × (1 + 5) of 100 ms, about 25 s.
    pub fn rigorous() -> Plan {
        Plan {
            processes: 40,
            values: 5,
            min_time_ns: 100_000_000,
            ..Plan::normal()
        }
    }

    /// In the caller's own process (the Python API): 1 warm-up and 15 values of 20 ms.
    pub fn in_process() -> Plan {
        Plan {
            processes: 1,
            warmups: 1,
            values: 15,
            min_time_ns: 20_000_000,
            loops: None,
            gc: false,
        }
    }

    /// Checks the numbers make a benchmark.
    pub fn check(&self) -> Result<(), BenchError> {
        if self.processes == 0 {
            return Err(BenchError::Usage(
                "the number of processes must be at least 1".into(),
            ));
        }
        if self.values == 0 {
            return Err(BenchError::Usage(
                "the number of values (-r) must be at least 1".into(),
            ));
        }
        if self.loops == Some(0) {
            return Err(BenchError::Usage(
                "the number of loops (-n) must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

/// The method record of a run made with `plan`.
pub fn method(kind: Kind, plan: &Plan, timer: &str) -> Method {
    Method {
        kind,
        processes: plan.processes,
        warmups: plan.warmups,
        values: plan.values,
        min_time_ns: plan.min_time_ns,
        fixed_loops: plan.loops.is_some(),
        timer: timer.into(),
        gc: plan.gc,
        outliers: OutlierMethod::Tukey,
        ci_level: CI_LEVEL,
        ci_method: CI_METHOD.into(),
        test: TEST.into(),
        alpha: ALPHA,
    }
}

/// One process that can time the candidates.
pub trait Worker {
    /// Runs candidate `candidate` `loops` times and returns the time taken, in nanoseconds.
    fn time(&mut self, candidate: usize, loops: u64) -> Result<u64, BenchError>;
}

/// Makes the worker of each process in turn.
pub trait Spawner {
    fn spawn(&mut self, process: u32) -> Result<Box<dyn Worker + '_>, BenchError>;
}

/// Hears about progress (the CLI draws a bar on a terminal).
pub trait Observer {
    /// `done` of `total` timed values are taken; `label` says what runs now.
    fn step(&mut self, _done: u64, _total: u64, _label: &str) {}
    /// Calibration chose `loops` for a candidate.
    fn calibrated(&mut self, _candidate: usize, _loops: u64) {}
}

/// An observer that ignores everything.
pub struct Quiet;
impl Observer for Quiet {}

/// What was measured for one candidate.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Measured {
    pub loops: u64,
    pub calibration: Vec<[u64; 2]>,
    pub samples: Vec<Sample>,
}

/// The largest loop count calibration will try.
pub const MAX_LOOPS: u64 = 1 << 40;

/// The smallest of 1, 2, 5 × 10^k that is at least `x`.
pub fn nice_up(x: f64) -> u64 {
    if x <= 1.0 {
        return 1;
    }
    let mut base = 1u64;
    loop {
        for m in [1u64, 2, 5] {
            let candidate = base.saturating_mul(m);
            if candidate as f64 >= x || candidate >= MAX_LOOPS {
                return candidate.min(MAX_LOOPS);
            }
        }
        base = base.saturating_mul(10);
    }
}

/// Finds the loops for which one value lasts at least `min_time_ns`: ten times more loops
/// until a value lasts a tenth of the target (long enough to extrapolate from), then the
/// extrapolated count, rounded up to 1, 2 or 5 × 10^k. Returns the loops and the trials.
pub fn calibrate(
    time: &mut dyn FnMut(u64) -> Result<u64, BenchError>,
    min_time_ns: u64,
) -> Result<(u64, Vec<[u64; 2]>), BenchError> {
    let mut loops = 1u64;
    let mut trials = Vec::new();
    for _ in 0..64 {
        let ns = time(loops)?;
        trials.push([loops, ns]);
        if ns >= min_time_ns || loops >= MAX_LOOPS {
            return Ok((loops, trials));
        }
        let next = if ns.saturating_mul(10) < min_time_ns {
            loops.saturating_mul(10)
        } else {
            nice_up(loops as f64 * min_time_ns as f64 / ns.max(1) as f64)
        };
        loops = next.max(loops + 1).min(MAX_LOOPS);
    }
    Ok((loops, trials))
}

/// The candidate order of a round: rotated by the round and the process.
fn order(candidates: usize, shift: usize) -> impl Iterator<Item = usize> {
    (0..candidates).map(move |i| (i + shift) % candidates)
}

/// Runs a Python benchmark of `labels.len()` candidates by `plan`.
pub fn run(
    labels: &[String],
    plan: &Plan,
    spawner: &mut dyn Spawner,
    observer: &mut dyn Observer,
) -> Result<Vec<Measured>, BenchError> {
    plan.check()?;
    let n = labels.len();
    let mut out = vec![Measured::default(); n];
    if n == 0 {
        return Ok(out);
    }
    if let Some(loops) = plan.loops {
        for m in &mut out {
            m.loops = loops;
        }
    }
    let rounds = plan.warmups + plan.values;
    let total = plan.processes as u64 * rounds as u64 * n as u64;
    let mut done = 0u64;
    observer.step(0, total, &labels[0]);
    for process in 0..plan.processes {
        let mut worker = spawner.spawn(process)?;
        if process == 0 && plan.loops.is_none() {
            for (c, m) in out.iter_mut().enumerate() {
                observer.step(done, total, &format!("{} (calibrating)", labels[c]));
                let (loops, trials) =
                    calibrate(&mut |loops| worker.time(c, loops), plan.min_time_ns)?;
                m.loops = loops;
                m.calibration = trials;
                observer.calibrated(c, loops);
            }
        }
        for round in 0..rounds {
            for c in order(n, round as usize + process as usize) {
                observer.step(done, total, &labels[c]);
                let loops = out[c].loops;
                let ns = worker.time(c, loops)?;
                out[c].samples.push(Sample {
                    process,
                    warmup: round < plan.warmups,
                    loops,
                    ns,
                });
                done += 1;
            }
        }
    }
    observer.step(total, total, "");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake worker: candidate c costs (c + 1) × 100 ns a loop plus 1 µs per call, and
    /// process p adds p ns a loop. It logs the calls.
    struct Fake {
        process: u32,
        log: std::rc::Rc<std::cell::RefCell<Vec<(u32, usize, u64)>>>,
    }

    impl Worker for Fake {
        fn time(&mut self, candidate: usize, loops: u64) -> Result<u64, BenchError> {
            self.log.borrow_mut().push((self.process, candidate, loops));
            if candidate == 9 {
                return Err(BenchError::Code(
                    "ZeroDivisionError: division by zero".into(),
                ));
            }
            Ok(loops * ((candidate as u64 + 1) * 100 + self.process as u64) + 1000)
        }
    }

    struct FakeSpawner {
        log: std::rc::Rc<std::cell::RefCell<Vec<(u32, usize, u64)>>>,
        spawned: Vec<u32>,
    }

    impl Spawner for FakeSpawner {
        fn spawn(&mut self, process: u32) -> Result<Box<dyn Worker + '_>, BenchError> {
            self.spawned.push(process);
            Ok(Box::new(Fake {
                process,
                log: self.log.clone(),
            }))
        }
    }

    #[test]
    fn nice_numbers() {
        assert_eq!(nice_up(0.3), 1);
        assert_eq!(nice_up(1.5), 2);
        assert_eq!(nice_up(2.0), 2);
        assert_eq!(nice_up(3.0), 5);
        assert_eq!(nice_up(7.0), 10);
        assert_eq!(nice_up(1234.0), 2000);
        assert_eq!(nice_up(1e30), MAX_LOOPS);
    }

    #[test]
    fn calibration_reaches_the_target() {
        // 100 ns a loop, target 1 ms: 1, 10, 100, 1000 (100 µs ≥ a tenth), then 10,000.
        let mut time = |loops: u64| Ok(loops * 100);
        let (loops, trials) = calibrate(&mut time, 1_000_000).unwrap();
        assert_eq!(loops, 10_000);
        assert_eq!(
            trials,
            vec![
                [1, 100],
                [10, 1000],
                [100, 10_000],
                [1000, 100_000],
                [10_000, 1_000_000]
            ]
        );
        // A slow statement: one loop is enough.
        let mut slow = |loops: u64| Ok(loops * 5_000_000);
        assert_eq!(calibrate(&mut slow, 1_000_000).unwrap().0, 1);
        // 300 ns a loop, target 1 ms: 1000 loops take 300 µs → 3333 → 5000.
        let mut mid = |loops: u64| Ok(loops * 300);
        assert_eq!(calibrate(&mut mid, 1_000_000).unwrap().0, 5000);
    }

    #[test]
    fn processes_rounds_and_interleaving() {
        let log = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let mut spawner = FakeSpawner {
            log: log.clone(),
            spawned: vec![],
        };
        let plan = Plan {
            processes: 3,
            warmups: 1,
            values: 2,
            min_time_ns: 1_000_000,
            loops: None,
            gc: false,
        };
        let labels = vec!["a".to_string(), "b".to_string()];
        let out = run(&labels, &plan, &mut spawner, &mut Quiet).unwrap();
        assert_eq!(spawner.spawned, vec![0, 1, 2]);
        // a: 100 ns + 1 µs per call → calibrates to 10,000 loops; b: 200 ns → 5000.
        assert_eq!(out[0].loops, 10_000);
        assert_eq!(out[1].loops, 5000);
        for m in &out {
            assert_eq!(m.samples.len(), 9);
            assert_eq!(m.samples.iter().filter(|s| s.warmup).count(), 3);
            assert!(m.samples.iter().all(|s| s.loops == m.loops));
        }
        // Process 1's samples of `a`: 101 ns a loop.
        let s = out[0].samples.iter().find(|s| s.process == 1).unwrap();
        assert_eq!(s.ns, 10_000 * 101 + 1000);
        // After calibration, rounds alternate which candidate goes first.
        let timed: Vec<(u32, usize)> = log
            .borrow()
            .iter()
            .filter(|(_, _, loops)| *loops == 10_000 || *loops == 5000)
            .map(|&(p, c, _)| (p, c))
            .collect();
        let firsts: Vec<usize> = timed
            .iter()
            .filter(|(p, _)| *p == 1)
            .step_by(2)
            .map(|&(_, c)| c)
            .collect();
        assert_eq!(firsts, vec![1, 0, 1]);
    }

    #[test]
    fn fixed_loops_skip_calibration_and_errors_stop_the_run() {
        let log = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let mut spawner = FakeSpawner {
            log: log.clone(),
            spawned: vec![],
        };
        let plan = Plan {
            processes: 1,
            warmups: 0,
            values: 2,
            min_time_ns: 1,
            loops: Some(7),
            gc: false,
        };
        let out = run(&["x".into()], &plan, &mut spawner, &mut Quiet).unwrap();
        assert_eq!(out[0].loops, 7);
        assert!(out[0].calibration.is_empty());
        assert_eq!(log.borrow().len(), 2);
        let labels: Vec<String> = (0..10).map(|i| i.to_string()).collect();
        let err = run(&labels, &plan, &mut spawner, &mut Quiet).unwrap_err();
        assert!(err.to_string().contains("ZeroDivisionError"));
        assert!(
            Plan {
                values: 0,
                ..Plan::fast()
            }
            .check()
            .is_err()
        );
    }
}
