//! `pyrometer top --pid PID` or `pyrometer top -- SCRIPT [ARGS…]`: a live view of the hottest
//! functions, refreshed every interval, from the sampler.

use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Result;
use clap::Args;
use pyrometer_profile::analysis::{Granularity, Shape, Table, ThreadFilter};
use pyrometer_profile::{Metric, Profile};
use pyrometer_render::format;
use pyrometer_sampler::Sampler;
use rustc_hash::FxHashMap;

use crate::child::{self, Request, Target};
use crate::sampling::{self, SamplingArgs};
use crate::{Host, user_error};

#[derive(Args, Debug)]
pub struct TopArgs {
    /// The process to watch (a running CPython 3.11–3.15); or give a program after `--`
    #[arg(long, value_name = "PID", conflicts_with = "program")]
    pub pid: Option<u32>,
    /// Seconds between refreshes
    #[arg(long, value_name = "SECONDS", default_value_t = 1.0)]
    pub interval: f64,
    /// Rows to show
    #[arg(long, value_name = "N", default_value_t = 25)]
    pub top: usize,
    /// Show wall time (threads waiting included) instead of CPU time
    #[arg(long)]
    pub idle: bool,
    #[command(flatten)]
    pub sampling: SamplingArgs,
    /// The interpreter for a program given after `--` [default: the one pyrometer runs in]
    #[arg(long, value_name = "PATH")]
    pub python: Option<PathBuf>,
    /// A program to start and watch: `pyrometer top -- script.py args…`
    #[arg(value_name = "SCRIPT [ARGS]", last = true)]
    pub program: Vec<String>,
}

/// Self samples per function (name, location), summed over threads.
fn self_samples(profile: &Profile, metric: Metric) -> FxHashMap<(String, String), (u64, u64)> {
    let shape = Shape::new(profile, Granularity::Function);
    let table = Table::new(profile, &shape, metric, &ThreadFilter::All);
    let mut out = FxHashMap::default();
    for row in &table.rows {
        let f = &profile.frames[row.key as usize];
        let key = (
            format::frame_name(profile, row.key).to_string(),
            format::frame_location(profile, row.key, f.line, None),
        );
        let e = out.entry(key).or_insert((0, 0));
        e.0 += row.self_value;
        e.1 += row.total_value;
    }
    out
}

struct View {
    metric: Metric,
    rows: usize,
    clear: bool,
    started: Instant,
    previous: FxHashMap<(String, String), (u64, u64)>,
    title: String,
}

impl View {
    fn draw(&mut self, profile: &Profile) {
        let now = self_samples(profile, self.metric);
        let interval_ns = profile.meta.sample_interval_ns.unwrap_or(1_000_000) as f64;
        let recent_total: u64 = now
            .iter()
            .map(|(k, v)| v.0 - self.previous.get(k).map_or(0, |p| p.0))
            .sum();
        let all_total: u64 = now.values().map(|v| v.0).sum();
        let mut rows: Vec<(&(String, String), u64, u64, u64)> = now
            .iter()
            .map(|(k, v)| (k, v.0 - self.previous.get(k).map_or(0, |p| p.0), v.0, v.1))
            .collect();
        rows.sort_by(|a, b| b.1.cmp(&a.1).then(b.2.cmp(&a.2)));
        let pct = |part: u64, whole: u64| {
            if whole == 0 {
                0.0
            } else {
                part as f64 * 100.0 / whole as f64
            }
        };
        let mut out = String::new();
        if self.clear {
            out.push_str("\x1b[H\x1b[2J");
        }
        let what = if self.metric == Metric::WallSamples {
            "wall time"
        } else {
            "CPU time"
        };
        let _ = writeln!(
            out,
            "{} · {:.0} s · {} samples · {what}, last interval and whole run (Ctrl-C to stop)\n",
            self.title,
            self.started.elapsed().as_secs_f64(),
            format::count(profile.counter("samples").unwrap_or(0)),
        );
        let _ = writeln!(
            out,
            "{:>7}  {:>10}  {:>10}  function",
            "now%", "self", "total"
        );
        for (key, recent, self_all, total_all) in rows.iter().take(self.rows) {
            let _ = writeln!(
                out,
                "{:>6.1}%  {:>10}  {:>10}  {}  {}",
                pct(*recent, recent_total),
                format::duration(*self_all as f64 * interval_ns),
                format::duration(*total_all as f64 * interval_ns),
                key.0,
                key.1
            );
        }
        if all_total == 0 {
            let _ = writeln!(out, "(no {what} measured yet)");
        }
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(out.as_bytes());
        let _ = stdout.flush();
        self.previous = now;
    }
}

pub fn top(args: TopArgs, host: &Host) -> Result<i32> {
    if !(args.interval.is_finite() && args.interval > 0.0) {
        return Err(user_error(format!(
            "--interval {} is not a number of seconds",
            args.interval
        ))
        .into());
    }
    let config = args.sampling.config()?;
    let metric = if args.idle {
        Metric::WallSamples
    } else {
        Metric::CpuSamples
    };
    let every = Duration::from_secs_f64(args.interval);
    let clear = std::io::stdout().is_terminal();
    let (mut sampler, running, title) = match (args.pid, args.program.split_first()) {
        (Some(pid), _) => {
            let sampler = Sampler::attach(pid, config).map_err(|e| sampling::sampler_error(&e))?;
            (sampler, None, format!("pyrometer top · pid {pid}"))
        }
        (None, Some((script, rest))) => {
            let python = args.python.clone().unwrap_or_else(|| host.python.clone());
            if args.python.is_some() {
                child::preflight(&python, false)?;
            }
            let target = Target::Script(script.clone());
            let work = std::env::temp_dir().join(format!("pyrometer-top-{}", std::process::id()));
            std::fs::create_dir_all(&work)?;
            let running = child::spawn(&Request {
                python: &python,
                mode: "sample",
                native: false,
                builtins: false,
                checkpoint_seconds: 0.0,
                target: &target,
                args: rest,
                work_dir: &work,
                env: Vec::new(),
            })?;
            let sampler = Sampler::attach_wait(running.pid(), config, Duration::from_secs(30))
                .map_err(|e| sampling::sampler_error(&e))?;
            (
                sampler,
                Some((running, work)),
                format!("pyrometer top · {}", args.program.join(" ")),
            )
        }
        (None, None) => {
            return Err(user_error("nothing to watch")
                .hint("pyrometer top --pid PID, or pyrometer top -- script.py [ARGS…]")
                .into());
        }
    };
    let _signals = sampling::stop_on_signals(sampler.stop_flag());
    let mut view = View {
        metric,
        rows: args.top,
        clear,
        started: Instant::now(),
        previous: FxHashMap::default(),
        title,
    };
    let launched = running.as_ref().map_or(0, |(r, _)| r.pid());
    let ran = sampler.run_with(every, |s| {
        view.draw(&sampling::strip_launcher(&s.snapshot(), launched));
        ControlFlow::Continue(())
    });
    view.draw(&sampling::strip_launcher(&sampler.snapshot(), launched));
    let status = match running {
        Some((running, work)) => {
            let outcome = running.wait()?;
            let _ = std::fs::remove_dir_all(work);
            child::exit_like(outcome.exit)
        }
        None => 0,
    };
    ran.map_err(|e| sampling::sampler_error(&e))?;
    Ok(status)
}
