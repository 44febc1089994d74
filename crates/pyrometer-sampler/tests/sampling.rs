//! The sampling loop against real interpreters: aggregation into a Profile, counters, racing
//! threads, a target that exits, blocking mode, subprocesses, and accuracy of shares.

mod common;

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use common::{Target, interpreters, roles, tagged_line};
use pyrometer_profile::analysis::{Granularity, Shape, Table, ThreadFilter};
use pyrometer_profile::{Metric, Mode, Profile};
use pyrometer_sampler::{RunEnd, Sampler, SamplerConfig};

fn config(rate: f64, seconds: f64) -> SamplerConfig {
    SamplerConfig {
        rate_hz: rate,
        duration: Some(Duration::from_secs_f64(seconds)),
        ..SamplerConfig::default()
    }
}

/// Self samples of `metric` per function qualname, and the total.
fn self_by_function(profile: &Profile, metric: Metric) -> (Vec<(String, u64)>, u64) {
    let shape = Shape::new(profile, Granularity::Function);
    let table = Table::new(profile, &shape, metric, &ThreadFilter::All);
    let rows = table
        .rows
        .iter()
        .map(|r| {
            let f = &profile.frames[r.key as usize];
            (profile.string(f.qualname).to_owned(), r.self_value)
        })
        .collect();
    (rows, table.grand_total)
}

fn self_of(rows: &[(String, u64)], name: &str) -> u64 {
    rows.iter().filter(|r| r.0 == name).map(|r| r.1).sum()
}

/// Inclusive samples of a function (each recursive activation once).
fn total_of(profile: &Profile, name: &str) -> u64 {
    let shape = Shape::new(profile, Granularity::Function);
    let table = Table::new(profile, &shape, Metric::WallSamples, &ThreadFilter::All);
    table
        .rows
        .iter()
        .filter(|r| profile.string(profile.frames[r.key as usize].qualname) == name)
        .map(|r| r.total_value)
        .sum()
}

#[test]
fn sampling_fills_the_profile_with_threads_columns_and_counters() {
    let _serial = common::serial();
    let interps = interpreters();
    for py in interps {
        let target = Target::start(&py, "threads.py", &[]);
        let roles = roles(&target.ready);
        let (_, busy_ident, busy_tid) = *roles.iter().find(|r| r.0 == "busy").unwrap();
        let mut sampler = Sampler::attach(target.pid(), config(1000.0, 1.0))
            .unwrap_or_else(|e| panic!("{}: {e}", py.label));
        // The busy thread's run time as the kernel accounts it, around the sampling.
        let run_time_ms = || {
            let text = std::fs::read_to_string(format!(
                "/proc/{}/task/{busy_tid}/schedstat",
                target.pid()
            ))
            .unwrap();
            text.split(' ').next().unwrap().parse::<u64>().unwrap() / 1_000_000
        };
        let ran_before = run_time_ms();
        let end = sampler.run().unwrap();
        let ran_ms = run_time_ms() - ran_before;
        assert_eq!(end, RunEnd::Duration);
        let profile = sampler.finish();
        profile.validate().unwrap();
        assert_eq!(profile.meta.mode, Mode::Sample);
        assert_eq!(profile.meta.sample_interval_ns, Some(1_000_000));
        let python = profile.meta.python.as_ref().unwrap();
        assert!(python.version.starts_with(&py.minor), "{}", python.version);
        assert_eq!(profile.processes.len(), 1);
        assert_eq!(profile.processes[0].pid, target.pid());
        assert_eq!(profile.threads.len(), 4, "{}", py.label);
        let samples = profile.counter("samples").unwrap();
        let rate = profile.counter("achieved_rate_mhz").unwrap() as f64 / 1000.0;
        let dropped = profile.counter("dropped").unwrap();
        let thread_samples = profile.counter("thread_samples").unwrap();
        eprintln!(
            "{}: {samples} samples at {rate:.0} Hz, {thread_samples} thread samples, {dropped} dropped, {} syscalls",
            py.label,
            profile.counter("syscalls").unwrap()
        );
        // The rate achieved depends on the machine's load (it is measured by the benchmarks);
        // what the sampler guarantees is that the ticks it took and the ticks it skipped
        // cover its fixed grid for the whole second.
        let missed = profile.counter("missed").unwrap_or(0);
        assert!(
            (950..=1002).contains(&(samples + missed)) && samples >= 100,
            "{}: {samples} samples and {missed} missed at {rate:.0} Hz",
            py.label
        );
        assert!(
            dropped * 20 <= thread_samples,
            "{}: {dropped} dropped",
            py.label
        );
        // Each recorded stack counts once, plus the ticks skipped before it (see Flags::weight).
        let wall = profile.total(Metric::WallSamples);
        assert!(
            wall >= thread_samples && wall <= thread_samples + missed * 8,
            "{wall} {thread_samples}"
        );

        // Per thread: the busy thread is on CPU and holds the GIL; the others do not.
        for (ti, t) in profile.threads.iter().enumerate() {
            let filter = ThreadFilter::Only(vec![ti as u32]);
            let shape = Shape::new(&profile, Granularity::Function);
            let total = |m| Table::new(&profile, &shape, m, &filter).grand_total;
            let (wall, cpu, gil) = (
                total(Metric::WallSamples),
                total(Metric::CpuSamples),
                total(Metric::GilSamples),
            );
            let name = profile.string(t.name);
            if t.ident == busy_ident {
                // Its CPU samples are the CPU time the kernel accounted to it while it was
                // sampled (1 ms each), however much of a CPU the loaded machine gave it.
                assert!(
                    cpu.abs_diff(ran_ms) <= ran_ms / 10 + 25,
                    "{}: busy cpu {cpu} ms of {wall} samples, ran {ran_ms} ms",
                    py.label
                );
                assert!(gil * 10 >= wall * 7, "{}: busy gil {gil}/{wall}", py.label);
                assert_eq!(name, "busy-worker");
            } else {
                assert!(gil * 10 <= wall, "{}: {name} gil {gil}/{wall}", py.label);
                assert!(cpu * 20 <= wall, "{}: {name} cpu {cpu}/{wall}", py.label);
            }
            if t.is_main {
                assert_eq!(name, "MainThread");
            }
        }
        // Lines: the busy loop is sampled on its two lines.
        let shape = Shape::new(&profile, Granularity::Line);
        let lines = Table::new(&profile, &shape, Metric::WallSamples, &ThreadFilter::All);
        let busy_lines: Vec<u32> = lines
            .rows
            .iter()
            .filter(|r| {
                let f = &profile.frames[lines.frame_of(&profile, r.key) as usize];
                profile.string(f.qualname) == "busy" && r.self_value > 0
            })
            .map(|r| profile.locations[r.key as usize].line)
            .collect();
        let allowed = [
            tagged_line("threads.py", "busy"),
            tagged_line("threads.py", "busy-while"),
        ];
        assert!(
            !busy_lines.is_empty() && busy_lines.iter().all(|l| allowed.contains(l)),
            "{}: busy lines {busy_lines:?}",
            py.label
        );
    }
}

#[test]
fn threads_starting_and_stopping_while_sampling() {
    let _serial = common::serial();
    let interps = interpreters();
    for py in interps {
        let target = Target::start(&py, "churn.py", &[]);
        let mut sampler = Sampler::attach(target.pid(), config(2000.0, 1.5)).unwrap();
        assert_eq!(sampler.run().unwrap(), RunEnd::Duration);
        let c = sampler.counters();
        let profile = sampler.finish();
        profile.validate().unwrap();
        eprintln!("{}: {c:?}", py.label);
        assert!(c.samples > 1000, "{}: {c:?}", py.label);
        assert!(
            profile.threads.len() > 5,
            "{}: saw {} threads",
            py.label,
            profile.threads.len()
        );
        // Racing is expected, but most stacks are read.
        assert!(c.dropped * 10 < c.thread_samples, "{}: {c:?}", py.label);
        let (rows, _) = self_by_function(&profile, Metric::WallSamples);
        assert!(self_of(&rows, "<module>") > 0, "{}: {rows:?}", py.label);
    }
}

#[test]
fn a_target_that_exits_ends_the_run_cleanly() {
    let _serial = common::serial();
    let interps = interpreters();
    for py in interps {
        let mut target = Target::start(&py, "exits.py", &["0.5"]);
        let mut sampler = Sampler::attach(target.pid(), SamplerConfig::default()).unwrap();
        let t0 = Instant::now();
        let end = sampler
            .run()
            .unwrap_or_else(|e| panic!("{}: {e}", py.label));
        assert_eq!(end, RunEnd::TargetExited, "{}", py.label);
        assert!(t0.elapsed() < Duration::from_secs(5));
        let status = target.child.wait().unwrap();
        assert_eq!(
            status.code(),
            Some(3),
            "{}: the exit status is still ours to read",
            py.label
        );
        let profile = sampler.finish();
        profile.validate().unwrap();
        let (rows, _) = self_by_function(&profile, Metric::WallSamples);
        assert!(self_of(&rows, "work") > 200, "{}: {rows:?}", py.label);
        eprintln!(
            "{}: ended {end:?} after {:?}, {} samples",
            py.label,
            t0.elapsed(),
            profile.counter("samples").unwrap()
        );
    }
}

#[test]
fn blocking_mode_samples_and_always_resumes() {
    let _serial = common::serial();
    let py = interpreters().remove(0);
    let target = Target::start(&py, "threads.py", &[]);
    let cfg = SamplerConfig {
        blocking: true,
        ..config(200.0, 0.5)
    };
    let mut sampler = match Sampler::attach(target.pid(), cfg) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("SKIP blocking_mode: {e}");
            return;
        }
    };
    assert_eq!(sampler.run().unwrap(), RunEnd::Duration);
    let c = sampler.counters();
    let profile = sampler.finish();
    eprintln!("{}: blocking {c:?}", py.label);
    assert!(c.samples > 20, "{c:?}");
    assert_eq!(c.dropped, 0, "stopped threads cannot tear");
    assert_eq!(profile.threads.len(), 4);
    // On-CPU state comes from where each stopped thread was: only the busy one was running.
    let busy_ident = roles(&target.ready)
        .iter()
        .find(|r| r.0 == "busy")
        .unwrap()
        .1;
    for (ti, t) in profile.threads.iter().enumerate() {
        let filter = ThreadFilter::Only(vec![ti as u32]);
        let shape = Shape::new(&profile, Granularity::Function);
        let total = |m| Table::new(&profile, &shape, m, &filter).grand_total;
        let (wall, cpu) = (total(Metric::WallSamples), total(Metric::CpuSamples));
        if t.ident == busy_ident {
            assert!(cpu * 10 >= wall * 8, "busy thread on CPU {cpu}/{wall}");
        } else {
            assert!(cpu * 20 <= wall, "idle thread on CPU {cpu}/{wall}");
        }
    }
    // Every thread runs again: none is left in a stopped state.
    std::thread::sleep(Duration::from_millis(50));
    for tid in pyrometer_sampler::blocking::task_ids(target.pid()).unwrap() {
        let stat = std::fs::read_to_string(format!("/proc/{}/task/{tid}/stat", target.pid()))
            .unwrap_or_default();
        let state = pyrometer_sampler::process::stat_state(&stat);
        assert!(
            !matches!(state, Some('t') | Some('T')),
            "thread {tid} left stopped: {stat}"
        );
        let status = std::fs::read_to_string(format!("/proc/{}/task/{tid}/status", target.pid()))
            .unwrap_or_default();
        assert!(
            status.contains("TracerPid:\t0"),
            "thread {tid} still traced"
        );
    }
    // And the busy thread still makes progress: a later dump shows it running.
    let threads = pyrometer_sampler::dump(target.pid()).unwrap();
    assert_eq!(threads.len(), 4);
}

#[test]
fn subprocesses_are_found_and_tagged() {
    let _serial = common::serial();
    let py = interpreters().remove(0);
    // A Python parent that starts a Python child running exits.py for 1.5 s.
    let code = format!(
        "import subprocess, sys, time\n\
         print('READY {{}}', flush=True)\n\
         p = subprocess.Popen([sys.executable, {:?}, '1.5'], stdout=subprocess.DEVNULL)\n\
         def parent_wait():\n    p.wait()\n\
         parent_wait()\n",
        common::script("exits.py").display().to_string()
    );
    let dir = std::env::temp_dir().join(format!("pyrometer-sub-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let parent_script = dir.join("parent.py");
    std::fs::write(&parent_script, code).unwrap();
    let target = Target::start(&py, parent_script.to_str().unwrap(), &[]);
    // Until the parent exits (after its child's 1.5 s of work, however long the child takes
    // to start on a loaded machine); the duration is only a bound.
    let cfg = SamplerConfig {
        subprocesses: true,
        subprocess_poll: Duration::from_millis(20),
        ..config(500.0, 120.0)
    };
    let mut sampler = Sampler::attach(target.pid(), cfg).unwrap();
    assert_eq!(sampler.run().unwrap(), RunEnd::TargetExited);
    let profile = sampler.finish();
    profile.validate().unwrap();
    assert_eq!(profile.processes.len(), 2, "{:?}", profile.processes);
    let child = &profile.processes[1];
    assert_eq!(child.parent, Some(0));
    assert!(
        child.command.iter().any(|a| a.ends_with("exits.py")),
        "{child:?}"
    );
    let (rows, _) = self_by_function(&profile, Metric::WallSamples);
    assert!(self_of(&rows, "work") > 0, "child samples: {rows:?}");
    assert!(
        total_of(&profile, "parent_wait") > 0,
        "parent samples: {rows:?}"
    );
    let child_threads = profile.threads.iter().filter(|t| t.process == 1).count();
    assert_eq!(child_threads, 1);
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!(
        "{}: parent and child sampled: {:?}",
        py.label, profile.processes
    );
}

#[test]
fn shares_are_accurate_within_two_points() {
    let _serial = common::serial();
    let interps = interpreters();
    // The CPU shares are exact in expectation (the program splits its work 60/30/10); what
    // varies is the noise. CPU time, not wall time: other processes competing for this 2-core
    // machine preempt the target, and a preempted target collects wall samples in whichever
    // function it was in, but no CPU time. A statistical test that fails on one noisy run is
    // retried; it must fail three times in a row to fail.
    for py in interps {
        let mut attempts = Vec::new();
        let mut passed = false;
        for _ in 0..3 {
            let target = Target::start(&py, "shares.py", &[]);
            // Let the interpreter warm up (specialization) before measuring.
            std::thread::sleep(Duration::from_millis(200));
            // Until the target has had 2 s of CPU (as on an idle machine), however long a
            // loaded machine takes to give it that: the noise depends on the CPU samples.
            let mut sampler = Sampler::attach(target.pid(), config(1000.0, 60.0)).unwrap();
            sampler
                .run_with(Duration::from_millis(200), |s| {
                    if s.snapshot().total(Metric::CpuSamples) >= 2000 {
                        ControlFlow::Break(())
                    } else {
                        ControlFlow::Continue(())
                    }
                })
                .unwrap();
            let profile = sampler.finish();
            let (rows, total) = self_by_function(&profile, Metric::CpuSamples);
            let share = |name: &str| self_of(&rows, name) as f64 * 100.0 / total as f64;
            let (a, b, c) = (share("f60"), share("f30"), share("f10"));
            let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
            let line = format!(
                "f60 {a:.1}% f30 {b:.1}% f10 {c:.1}% of {total} samples (load {})",
                load.split(' ').next().unwrap_or("?")
            );
            eprintln!("{}: {line}", py.label);
            attempts.push(line);
            if (a - 60.0).abs() <= 2.0 && (b - 30.0).abs() <= 2.0 && (c - 10.0).abs() <= 2.0 {
                passed = true;
                break;
            }
        }
        assert!(
            passed,
            "{}: shares off by more than 2 points: {attempts:#?}",
            py.label
        );
    }
}

#[test]
fn a_target_that_execs_is_followed_into_its_new_image() {
    let _serial = common::serial();
    let interps = interpreters();
    for py in interps {
        let target = Target::start(&py, "execs.py", &[]);
        let mut sampler = Sampler::attach(target.pid(), config(1000.0, 5.0)).unwrap();
        let end = sampler
            .run()
            .unwrap_or_else(|e| panic!("{}: {e}", py.label));
        assert_eq!(end, RunEnd::TargetExited, "{}", py.label);
        let c = sampler.counters();
        let profile = sampler.finish();
        profile.validate().unwrap();
        let (rows, _) = self_by_function(&profile, Metric::WallSamples);
        let (before, after) = (self_of(&rows, "before_exec"), self_of(&rows, "work"));
        eprintln!("{}: before exec {before}, after {after}; {c:?}", py.label);
        assert!(before > 200, "{}: {rows:?}", py.label);
        assert!(after > 300, "{}: {rows:?}", py.label);
        assert_eq!(profile.processes.len(), 1);
        assert!(
            profile.processes[0]
                .command
                .iter()
                .any(|a| a.ends_with("exits.py")),
            "{:?}",
            profile.processes[0]
        );
    }
}

#[test]
fn attach_wait_gives_up_at_once_on_a_child_that_already_exited() {
    let _serial = common::serial();
    let py = interpreters().remove(0);
    let mut child = py.command().args(["-c", "pass"]).spawn().unwrap();
    // Let it exit, but do not reap it yet: it stays a zombie, as a `run` child would.
    std::thread::sleep(Duration::from_millis(500));
    let t0 = Instant::now();
    let result = Sampler::attach_wait(child.id(), SamplerConfig::default(), Duration::from_secs(5));
    assert!(
        matches!(
            result,
            Err(pyrometer_sampler::SamplerError::NoSuchProcess { .. })
        ),
        "{result:?}"
    );
    assert!(
        t0.elapsed() < Duration::from_secs(1),
        "waited {:?}",
        t0.elapsed()
    );
    assert!(child.wait().unwrap().success());
}
