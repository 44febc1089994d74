//! `pyrometer run`: profile a program from start to end.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use pyrometer_profile::{Exit, Profile, pyro};

use crate::child::{self, Leftovers, Outcome, Request, Target};
use crate::cli::{ExportArgs, ReportArgs};
use crate::sampling::{self, ChildSampler, SamplingArgs};
use crate::settings::Settings;
use crate::{Host, output, user_error};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    /// Sample every thread's stack from outside the process, with lines: costs the program
    /// almost nothing
    Sample,
    /// Exact calls and times per function (deterministic tracing, like cProfile)
    Trace,
    /// Exact hits and time per line of your own code (like line_profiler/kernprof)
    Lines,
    /// Which lines allocate memory, what the peak is made of, and what is still alive at the
    /// end (allocations sampled by bytes)
    Memory,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// How to measure
    #[arg(long, value_enum, default_value_t = ModeArg::Sample, help_heading = "Profiling")]
    pub mode: ModeArg,
    #[command(flatten)]
    pub sampling: SamplingArgs,
    /// Also profile memory while sampling: the program runs the memory collector (as under
    /// --mode memory) and the saved profile holds both the time samples and the allocations
    #[arg(long, help_heading = "Memory")]
    pub memory: bool,
    /// Trace mode: also trace calls of built-in (C) functions, each as its own entry, as
    /// cProfile does. Off by default: it costs more (on 3.11 much more), and their time is still
    /// measured, in their callers' self time
    #[arg(long, help_heading = "Tracing")]
    pub builtins: bool,
    /// Trace, lines and memory modes: save what has been collected every SECONDS while the
    /// program runs, so that a program killed outright (SIGKILL, a crash) still leaves a
    /// profile; 0 turns this off
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 1.0,
        help_heading = "Tracing"
    )]
    pub checkpoint: f64,
    /// Memory mode and --memory: mean bytes between sampled allocations (512K, 1M, …); 0 or
    /// 'exact' records every allocation (slower)
    #[arg(
        long,
        value_name = "SIZE",
        default_value = "16K",
        value_parser = parse_memory_interval,
        help_heading = "Memory"
    )]
    pub memory_interval: u64,
    /// Lines mode: measure files matching GLOB (repeatable) instead of every file under the
    /// program's directory; a pattern without '/' matches any path component ('app', '*.py'),
    /// one with '/' a path from the working directory ('src/app/**')
    #[arg(long, value_name = "GLOB", help_heading = "Lines")]
    pub include: Vec<String>,
    /// Lines mode: do not measure files matching GLOB (repeatable)
    #[arg(long, value_name = "GLOB", help_heading = "Lines")]
    pub exclude: Vec<String>,
    /// Lines mode: measure only functions decorated with @profile (a builtin in lines mode,
    /// as under kernprof) or @pyrometer.lines
    #[arg(long, help_heading = "Lines")]
    pub decorated: bool,
    /// The Python interpreter to run the program with [default: the one pyrometer runs in]
    #[arg(long, value_name = "PATH", help_heading = "Profiling")]
    pub python: Option<PathBuf>,
    /// Run a library module as a script (like python -m); the rest goes to the module
    #[arg(short = 'm', value_name = "MODULE", conflicts_with = "code")]
    pub module: Option<String>,
    /// Run a program passed as a string (like python -c); the rest goes to the program
    #[arg(short = 'c', value_name = "CODE")]
    pub code: Option<String>,
    /// Where to save the profile [default: .pyrometer/runs/<time>-<name>.pyro]
    #[arg(short = 'o', long, value_name = "FILE.pyro", help_heading = "Output")]
    pub output: Option<PathBuf>,
    /// Do not print the report (the profile is still saved and exported)
    #[arg(short = 'q', long, help_heading = "Output")]
    pub quiet: bool,
    #[command(flatten)]
    pub report: ReportArgs,
    #[command(flatten)]
    pub export: ExportArgs,
    /// The script and its arguments
    #[arg(
        value_name = "SCRIPT [ARGS]",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub target: Vec<String>,
}

/// A scratch directory for the child's files, removed on drop.
struct WorkDir(PathBuf);

impl WorkDir {
    fn create() -> Result<WorkDir> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = std::env::temp_dir().join(format!("pyrometer-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(WorkDir(dir))
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn parse_memory_interval(s: &str) -> Result<u64, String> {
    pyrometer_render::format::parse_size(s)
}

fn check_script(script: &str) -> Result<()> {
    let path = Path::new(script);
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(user_error(format!("cannot run '{script}': no such file"))
                .hint("give the path of a Python script, or -m MODULE, or -c CODE")
                .into())
        }
        Err(e) => Err(user_error(format!("cannot run '{script}': {e}")).into()),
        Ok(m) if m.is_dir() && !path.join("__main__.py").is_file() => Err(user_error(format!(
            "cannot run '{script}': it is a directory without a __main__.py"
        ))
        .into()),
        Ok(_) => Ok(()),
    }
}

fn exit_words(exit: Exit) -> String {
    match exit {
        Exit::Signal(s) => format!("killed by signal {s}"),
        Exit::Code(c) => format!("exit status {c}"),
    }
}

/// Why the child left no profile.
fn why_missing(left: &Leftovers, outcome: &Outcome) -> String {
    match outcome.exit {
        _ if !left.started => {
            "the program's interpreter could not start pyrometer (see the messages above)"
                .to_string()
        }
        Exit::Signal(s) => {
            format!("the program was killed by signal {s} before it could save its profile")
        }
        Exit::Code(c) => format!("the program exited with status {c} without saving its profile"),
    }
}

/// The profile the child's tracer saved (or its last checkpoint), with notes saying what is
/// missing when it saved none.
fn traced_profile(left: &Leftovers, outcome: &Outcome) -> Result<Profile> {
    let mut profile = match &left.profile {
        Some(path) => pyro::read(path).with_context(|| "reading the profile the program left")?,
        None => {
            let why = why_missing(left, outcome);
            let mut empty = Profile::default();
            empty
                .meta
                .notes
                .push(format!("{why}; nothing was collected"));
            empty
        }
    };
    if let Some(n) = profile.counter("checkpoint") {
        // The program never saved its profile: what we have is its last checkpoint.
        let taken = pyrometer_render::format::duration(profile.meta.duration_ns as f64);
        let how = match outcome.exit {
            Exit::Signal(s) => format!("was killed by signal {s}"),
            Exit::Code(c) => format!("exited with status {c}"),
        };
        profile.meta.notes.push(format!(
            "the program {how} before it could save its profile; this is checkpoint {n}, taken {taken} into the run"
        ));
        profile.meta.counters.retain(|c| c.name != "checkpoint");
    }
    Ok(profile)
}

/// Lines mode's settings for the child, checked: `--include`/`--exclude`/`--decorated` only
/// with `--mode lines`, and exports in formats that can hold line figures.
fn lines_request(args: &RunArgs) -> Result<Vec<(&'static str, String)>> {
    if args.mode != ModeArg::Lines {
        if !args.include.is_empty() || !args.exclude.is_empty() || args.decorated {
            return Err(
                user_error("--include, --exclude and --decorated apply to --mode lines")
                    .hint("pyrometer run --mode lines --include 'src/**' script.py")
                    .into(),
            );
        }
        return Ok(Vec::new());
    }
    for pattern in args.include.iter().chain(&args.exclude) {
        if pattern.trim().is_empty() || pattern.contains('\n') {
            return Err(user_error(format!("'{pattern}' is not a file pattern")).into());
        }
    }
    for path in &args.export.exports {
        output::check_lines_export(output::export_format(path, args.export.format)?)?;
    }
    Ok(vec![
        ("PYROMETER_CHILD_INCLUDE", args.include.join("\n")),
        ("PYROMETER_CHILD_EXCLUDE", args.exclude.join("\n")),
        (
            "PYROMETER_CHILD_DECORATED",
            if args.decorated { "1" } else { "0" }.into(),
        ),
    ])
}

/// `--memory` samples time and memory together: only with the default sampling mode.
fn check_memory_flag(args: &RunArgs) -> Result<()> {
    let mode = match args.mode {
        _ if !args.memory => return Ok(()),
        ModeArg::Sample => return Ok(()),
        ModeArg::Trace => "trace",
        ModeArg::Lines => "lines",
        ModeArg::Memory => "memory",
    };
    let hint = if args.mode == ModeArg::Memory {
        "drop --mode memory to sample time as well: pyrometer run --memory SCRIPT"
    } else {
        "pyrometer run --memory SCRIPT samples time and profiles memory in one run"
    };
    Err(user_error(format!(
        "--memory goes with the default sampling mode, not --mode {mode}"
    ))
    .hint(hint)
    .into())
}

/// The sampled profile with the child's memory profile merged in (`run --memory`): one
/// profile whose stacks carry both the sample columns and the memory columns. The memory
/// collector's own sample count is kept as `memory_samples` (the sampler's is `samples`).
fn with_memory(sampled: Profile, left: &Leftovers, outcome: &Outcome) -> Result<Profile> {
    if left.profile.is_none() {
        let mut profile = sampled;
        profile
            .meta
            .notes
            .push(format!("no memory figures: {}", why_missing(left, outcome)));
        return Ok(profile);
    }
    let mut memory = traced_profile(left, outcome)?;
    for c in &mut memory.meta.counters {
        if c.name == "samples" {
            c.name = "memory_samples".into();
        }
    }
    let mut profile = pyrometer_profile::builder::merge(&[&sampled, &memory]);
    profile.meta.python = sampled.meta.python.or(memory.meta.python);
    Ok(profile)
}

pub fn run(args: RunArgs, host: &Host) -> Result<i32> {
    let cwd = std::env::current_dir()?;
    let settings = Settings::load(&cwd)?;
    check_memory_flag(&args)?;
    output::check_exports(&args.export)?;
    let lines_env = lines_request(&args)?;
    let (target, program_args) = match (args.module, args.code) {
        (Some(module), _) => (Target::Module(module), args.target),
        (None, Some(code)) => (Target::Code(code), args.target),
        (None, None) => {
            let mut rest = args.target.into_iter();
            let Some(script) = rest.next() else {
                return Err(user_error("nothing to run")
                    .hint("pyrometer run SCRIPT [ARGS…], or -m MODULE [ARGS…], or -c CODE [ARGS…]")
                    .into());
            };
            check_script(&script)?;
            (Target::Script(script), rest.collect())
        }
    };
    let python = args.python.clone().unwrap_or_else(|| host.python.clone());
    // Sampling reads the program from outside: any CPython 3.11+ will do, pyrometer or not.
    let native = args.mode != ModeArg::Sample || args.memory;
    if args.python.is_some() {
        child::preflight(&python, native)?;
    }
    if !(args.checkpoint >= 0.0 && args.checkpoint.is_finite()) {
        return Err(user_error(format!(
            "--checkpoint {} is not a number of seconds",
            args.checkpoint
        ))
        .into());
    }
    let mut child_env = lines_env;
    if args.mode == ModeArg::Memory || args.memory {
        child_env.push((
            "PYROMETER_CHILD_MEMORY_INTERVAL",
            args.memory_interval.to_string(),
        ));
    }
    let sampler_config = match args.mode {
        ModeArg::Sample => Some(args.sampling.config()?),
        ModeArg::Trace | ModeArg::Memory | ModeArg::Lines => None,
    };
    let work = WorkDir::create()?;
    let start_unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let running = child::spawn(&Request {
        python: &python,
        mode: match args.mode {
            ModeArg::Sample => "sample",
            ModeArg::Trace => "trace",
            ModeArg::Memory => "memory",
            ModeArg::Lines => "lines",
        },
        native,
        env: child_env,
        builtins: args.builtins,
        checkpoint_seconds: args.checkpoint,
        target: &target,
        args: &program_args,
        work_dir: &work.0,
    })?;
    let child_pid = running.pid();
    let sampler = sampler_config.map(|config| ChildSampler::start(child_pid, config));
    let outcome = running.wait()?;
    let sampled = sampler.map(ChildSampler::finish);
    let left = child::leftovers(&work.0);
    if let Some(error) = left.error {
        return Err(user_error(error).into());
    }
    let mut profile = match sampled {
        Some(Ok(profile)) => sampling::strip_launcher(&profile, child_pid),
        Some(Err(pyrometer_sampler::SamplerError::NoSuchProcess { .. })) => {
            sampling::empty_with_note(format!(
                "the program ended before it could be sampled ({}); nothing was collected",
                exit_words(outcome.exit)
            ))
        }
        Some(Err(e)) => {
            // The program ran; say why it could not be read, and still save what we know.
            let error = sampling::sampler_error(&e);
            eprintln!("pyrometer: error: {}", error.message);
            if let Some(hint) = &error.hint {
                eprintln!("hint: {hint}");
            }
            sampling::empty_with_note(format!(
                "the program could not be sampled: {}",
                error.message
            ))
        }
        None => traced_profile(&left, &outcome)?,
    };
    if args.memory {
        profile = with_memory(profile, &left, &outcome)?;
    }
    let command = target.command(&program_args);
    let meta = &mut profile.meta;
    meta.tool = format!("pyrometer {}", env!("CARGO_PKG_VERSION"));
    meta.command = command.clone();
    meta.cwd = cwd.to_string_lossy().into_owned();
    meta.host = output::hostname();
    meta.start_unix_ns = start_unix.as_nanos() as u64;
    meta.duration_ns = outcome.wall.as_nanos() as u64;
    meta.exit = Some(outcome.exit);
    if let Some(process) = profile.processes.first_mut() {
        process.command = std::iter::once(python.to_string_lossy().into_owned())
            .chain(command)
            .collect();
    }

    let out_path = args.output.clone().unwrap_or_else(|| {
        output::new_run_path(&settings, &target.stem(), start_unix.as_secs() as i64)
    });
    output::deliver(
        &profile,
        &out_path,
        &args.report,
        &args.export,
        args.quiet,
        &settings,
        &cwd,
    )?;
    Ok(child::exit_like(outcome.exit))
}
