//! Exercises the sampler by hand.
//!
//! ```text
//! sample --pid N [--rate HZ] [--duration S] [--blocking] [--no-cpu] [--spin]
//!        [--subprocesses] [--top K] [--self-cpu]
//! sample --pid N --dump
//! ```
//!
//! Prints the top functions and lines (self wall samples, with CPU and GIL shares) and the
//! counters. `--self-cpu` adds the sampler's own CPU time per sample (getrusage).

use std::ops::ControlFlow;
use std::process::ExitCode;
use std::time::Duration;

use pyrometer_profile::analysis::{Granularity, Shape, Table, ThreadFilter, percent};
use pyrometer_profile::{Metric, Profile};
use pyrometer_sampler::{Sampler, SamplerConfig, SamplerError, dump};

struct Args {
    pid: u32,
    config: SamplerConfig,
    dump: bool,
    top: usize,
    self_cpu: bool,
}

fn usage() -> ! {
    eprintln!(
        "usage: sample --pid N [--rate HZ] [--duration S] [--blocking] [--no-cpu] [--spin] \
         [--subprocesses] [--top K] [--self-cpu] | --pid N --dump"
    );
    std::process::exit(2)
}

fn parse() -> Args {
    let mut args = Args {
        pid: 0,
        config: SamplerConfig::default(),
        dump: false,
        top: 15,
        self_cpu: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--pid" => args.pid = value().parse().unwrap_or_else(|_| usage()),
            "--rate" => args.config.rate_hz = value().parse().unwrap_or_else(|_| usage()),
            "--duration" => {
                let s: f64 = value().parse().unwrap_or_else(|_| usage());
                args.config.duration = Some(Duration::from_secs_f64(s));
            }
            "--top" => args.top = value().parse().unwrap_or_else(|_| usage()),
            "--blocking" => args.config.blocking = true,
            "--no-cpu" => args.config.cpu_state = false,
            "--no-spin" => args.config.spin = false,
            "--spin" => args.config.spin = true,
            "--subprocesses" => args.config.subprocesses = true,
            "--dump" => args.dump = true,
            "--self-cpu" => args.self_cpu = true,
            _ => usage(),
        }
    }
    if args.pid == 0 {
        usage();
    }
    args
}

fn fail(e: SamplerError) -> ExitCode {
    eprintln!("error: {e}");
    if let Some(h) = e.hint() {
        eprintln!("hint: {h}");
    }
    ExitCode::from(1)
}

/// User + system CPU time of this process, seconds.
fn self_cpu_seconds() -> f64 {
    // SAFETY: an all-zero rusage is valid; getrusage fills it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid, writable rusage.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn print_table(profile: &Profile, granularity: Granularity, top: usize) {
    let shape = Shape::new(profile, granularity);
    let filter = ThreadFilter::All;
    let wall = Table::new(profile, &shape, Metric::WallSamples, &filter);
    let cpu = Table::new(profile, &shape, Metric::CpuSamples, &filter);
    let gil = Table::new(profile, &shape, Metric::GilSamples, &filter);
    let find = |t: &Table, key: u32| {
        t.rows
            .iter()
            .find(|r| r.key == key)
            .map_or(0, |r| r.self_value)
    };
    let mut rows: Vec<_> = wall.rows.iter().filter(|r| r.self_value > 0).collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.self_value));
    println!(
        "{:>7} {:>7} {:>7} {:>7}  {}",
        "self%",
        "total%",
        "cpu%",
        "gil%",
        if granularity == Granularity::Line {
            "line"
        } else {
            "function"
        }
    );
    for r in rows.into_iter().take(top) {
        let frame = &profile.frames[wall.frame_of(profile, r.key) as usize];
        let label = match granularity {
            Granularity::Function => format!(
                "{} ({}:{})",
                profile.string(frame.qualname),
                profile.string(frame.file),
                frame.line
            ),
            Granularity::Line => format!(
                "{} ({}:{})",
                profile.string(frame.qualname),
                profile.string(frame.file),
                profile.locations[r.key as usize].line
            ),
        };
        println!(
            "{:>6.1}% {:>6.1}% {:>6.1}% {:>6.1}%  {label}",
            percent(r.self_value, wall.grand_total),
            percent(r.total_value, wall.grand_total),
            percent(find(&cpu, r.key), wall.grand_total),
            percent(find(&gil, r.key), wall.grand_total),
        );
    }
}

fn main() -> ExitCode {
    // Die quietly when the reader of stdout goes away (`| head`), like other CLI tools.
    // SAFETY: restoring the default disposition of SIGPIPE before any thread is started.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let args = parse();
    if args.dump {
        let threads = match dump(args.pid) {
            Ok(t) => t,
            Err(e) => return fail(e),
        };
        for t in threads {
            println!(
                "Thread {} \"{}\" (native {}){}{}{}",
                t.ident,
                t.name,
                t.native_id,
                if t.holds_gil { " [has GIL]" } else { "" },
                match t.state {
                    pyrometer_sampler::ThreadState::Running => " [running]",
                    pyrometer_sampler::ThreadState::Idle => " [idle]",
                    pyrometer_sampler::ThreadState::Unknown => "",
                },
                if t.ok { "" } else { " [stack unreadable]" },
            );
            for f in t.frames.iter().rev() {
                println!("    {} ({}:{})", f.qualname, f.file, f.line);
            }
        }
        return ExitCode::SUCCESS;
    }
    let mut sampler = match Sampler::attach(args.pid, args.config.clone()) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let cpu0 = self_cpu_seconds();
    let end = sampler.run_with(Duration::from_secs(1), |s| {
        let c = s.counters();
        eprintln!(
            "  {} samples, {:.0} Hz, {} dropped, {} late",
            c.samples,
            c.achieved_rate(),
            c.dropped,
            c.late
        );
        ControlFlow::Continue(())
    });
    let cpu1 = self_cpu_seconds();
    let end = match end {
        Ok(e) => e,
        Err(e) => return fail(e),
    };
    let profile = sampler.finish();
    let python = profile
        .meta
        .python
        .as_ref()
        .map_or("?", |p| p.version.as_str());
    println!(
        "Python {python}, pid {}, ended: {end:?}, {} threads",
        args.pid,
        profile.threads.len()
    );
    for t in &profile.threads {
        println!(
            "  thread {} \"{}\" (native {}){}",
            t.ident,
            profile.string(t.name),
            t.native_id,
            if t.is_main { " main" } else { "" }
        );
    }
    print_table(&profile, Granularity::Function, args.top);
    println!();
    print_table(&profile, Granularity::Line, args.top);
    println!();
    for c in &profile.meta.counters {
        println!("{:>20} {}", c.name, c.value);
    }
    for n in &profile.meta.notes {
        println!("note: {n}");
    }
    if args.self_cpu {
        let samples = profile.counter("samples").unwrap_or(0).max(1) as f64;
        let secs = cpu1 - cpu0;
        println!(
            "{:>20} {:.3} s ({:.2} us/sample)",
            "sampler_cpu",
            secs,
            secs * 1e6 / samples
        );
    }
    ExitCode::SUCCESS
}
