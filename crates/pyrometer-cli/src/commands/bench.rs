//! `pyrometer bench`: time Python statements (timeit-style), the `bench_*` functions of a file,
//! or whole commands (hyperfine-style); compare candidates; record every run in the history;
//! compare with a saved baseline and gate on it. `bench compare OLD NEW` compares two results.

mod compare;
mod progress;
pub(crate) mod shared;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use clap::{Args, Subcommand};
use pyrometer_bench::analysis::analyze;
use pyrometer_bench::command::{self, CommandPlan, CommandSpec};
use pyrometer_bench::format::{Unit, percent};
use pyrometer_bench::pyworker::{Load, PythonSpawner};
use pyrometer_bench::result::{Definition, Document, FORMAT, Kind, PythonInfo, VERSION};
use pyrometer_bench::run::{self, Measured, Plan};

use self::shared::OutputFormat;
use crate::settings::Settings;
use crate::{Host, user_error};

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub action: Option<BenchAction>,

    /// Setup code, run once per value before the loop (repeatable; lines of one setup), as
    /// with timeit's -s
    #[arg(
        short = 's',
        long = "setup",
        value_name = "STMT",
        help_heading = "Python (timeit)"
    )]
    pub setup: Vec<String>,
    /// Loops per value, as timeit's -n [default: calibrated so that a value lasts --min-time]
    #[arg(
        short = 'n',
        long = "number",
        value_name = "N",
        help_heading = "Python (timeit)"
    )]
    pub number: Option<u64>,
    /// Values per worker process, as timeit's -r (repeat); for commands, the number of runs
    #[arg(
        short = 'r',
        long = "repeat",
        value_name = "N",
        help_heading = "Python (timeit)"
    )]
    pub repeat: Option<u32>,
    /// Time unit of the report: nsec, usec, msec or sec [default: the best fit]
    #[arg(short = 'u', long = "unit", value_name = "UNIT", value_parser = shared::parse_unit, help_heading = "Output")]
    pub unit: Option<Unit>,
    /// Also print the calibration and every raw value
    #[arg(short = 'v', long, help_heading = "Output")]
    pub verbose: bool,
    /// Measure CPU time (time.process_time_ns) instead of wall time, as timeit's -p
    #[arg(short = 'p', long = "process", help_heading = "Python (timeit)")]
    pub process_time: bool,
    /// Another candidate statement, compared with the others (repeatable)
    #[arg(long = "stmt", value_name = "STMT", help_heading = "Python (timeit)")]
    pub stmts: Vec<String>,
    /// Time the functions of this file: every bench_* function, or those named as arguments
    #[arg(long, value_name = "FILE.py", help_heading = "Python (timeit)")]
    pub file: Option<PathBuf>,
    /// The Python interpreter of the workers [default: the one pyrometer runs in]
    #[arg(long, value_name = "PATH", help_heading = "Python (timeit)")]
    pub python: Option<PathBuf>,
    /// Leave the garbage collector on while timing (timeit turns it off)
    #[arg(long, help_heading = "Python (timeit)")]
    pub gc: bool,

    /// A command line to time, split into words without a shell (repeatable: candidates)
    #[arg(long = "cmd", value_name = "COMMAND", help_heading = "Whole commands")]
    pub cmds: Vec<String>,
    /// Run commands with `sh -c`
    #[arg(long, help_heading = "Whole commands")]
    pub shell: bool,
    /// Time commands that exit with a non-zero status instead of stopping
    #[arg(short = 'i', long, help_heading = "Whole commands")]
    pub ignore_failure: bool,
    /// Show what the commands print (on stderr) instead of discarding it
    #[arg(long, help_heading = "Whole commands")]
    pub show_output: bool,

    /// Fewer processes and shorter values: about 0.5 s a Python benchmark
    #[arg(long, conflicts_with = "rigorous", help_heading = "Method")]
    pub fast: bool,
    /// More processes and longer values: about 25 s a Python benchmark
    #[arg(long, help_heading = "Method")]
    pub rigorous: bool,
    /// Worker processes [default: 20; --fast 6; --rigorous 40]
    #[arg(long, value_name = "N", help_heading = "Method")]
    pub processes: Option<u32>,
    /// Warm-up values per process (commands: warm-up runs), left out of the statistics
    #[arg(long, value_name = "N", help_heading = "Method")]
    pub warmups: Option<u32>,
    /// Least time per value, for calibration [default: 0.05; --fast 0.02; --rigorous 0.1];
    /// for commands, the time to fill with runs of each [default: 3]
    #[arg(long, value_name = "SECONDS", help_heading = "Method")]
    pub min_time: Option<f64>,

    /// Names of the candidates, in order (repeatable)
    #[arg(long = "name", value_name = "NAME", help_heading = "Comparison")]
    pub names: Vec<String>,
    /// The candidate the others are compared with [default: the first]
    #[arg(long, value_name = "NAME", help_heading = "Comparison")]
    pub reference: Option<String>,
    /// Compare with the run saved under NAME (matching benchmarks by name)
    #[arg(long, value_name = "NAME", help_heading = "Comparison")]
    pub baseline: Option<String>,
    /// With --baseline: exit with status 1 when a benchmark is significantly slower than its
    /// baseline by more than PERCENT
    #[arg(
        long,
        value_name = "PERCENT",
        requires = "baseline",
        help_heading = "Comparison"
    )]
    pub gate: Option<f64>,

    /// Report format on stdout
    #[arg(long, value_enum, default_value_t = OutputFormat::Text, help_heading = "Output")]
    pub format: OutputFormat,
    /// Also write the result to FILE (.json: the result JSON; .md: Markdown; else text)
    #[arg(short = 'o', long, value_name = "FILE", help_heading = "Output")]
    pub output: Option<PathBuf>,
    /// No report on stdout (and no progress bar)
    #[arg(short = 'q', long, help_heading = "Output")]
    pub quiet: bool,
    /// Save the run in the history under NAME too (a later run can use it as --baseline)
    #[arg(long, value_name = "NAME", help_heading = "History")]
    pub save: Option<String>,
    /// Do not record the run in the history (.pyrometer/store.sqlite)
    #[arg(long, conflicts_with = "save", help_heading = "History")]
    pub no_store: bool,

    /// The statement (its lines, as timeit takes them), or with --file the functions to time
    #[arg(value_name = "STMT")]
    pub args: Vec<String>,
    /// After `--`: one command and its arguments, run without a shell
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

#[derive(Subcommand, Debug)]
pub enum BenchAction {
    /// Compare two results: JSON files (-o FILE.json), saved names or run ids (#N)
    Compare(compare::CompareArgs),
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_interrupt(_signal: libc::c_int) {
    INTERRUPTED.store(true, Ordering::Relaxed);
}

/// While timing, Ctrl-C only takes note here (the workers and commands, in the same process
/// group, are interrupted by it themselves); the run then ends with one line. A handler, not
/// SIG_IGN, so that the processes started meanwhile get the default disposition back.
struct InterruptGuard {
    previous: libc::sighandler_t,
}

impl InterruptGuard {
    fn install() -> InterruptGuard {
        INTERRUPTED.store(false, Ordering::Relaxed);
        let handler = on_interrupt as extern "C" fn(libc::c_int);
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        let previous = unsafe { libc::signal(libc::SIGINT, handler as libc::sighandler_t) };
        InterruptGuard { previous }
    }

    /// The run's error, or "interrupted" when Ctrl-C came.
    fn check<T>(&self, result: Result<T, pyrometer_bench::BenchError>) -> Result<T> {
        if INTERRUPTED.load(Ordering::Relaxed) {
            let mut e = user_error("interrupted");
            e.status = 130;
            return Err(e.into());
        }
        result.map_err(shared::bench_error)
    }
}

impl Drop for InterruptGuard {
    fn drop(&mut self) {
        // SAFETY: puts back the handler that was there before.
        unsafe { libc::signal(libc::SIGINT, self.previous) };
    }
}

/// What the run measures.
enum Target {
    Statements(Vec<(String, String)>),
    File(PathBuf, Vec<String>),
    Commands(Vec<CommandSpec>),
}

fn setup_text(setup: &[String]) -> String {
    if setup.is_empty() {
        "pass".into()
    } else {
        setup.join("\n")
    }
}

fn target(args: &BenchArgs) -> Result<Target> {
    let commands = !args.command.is_empty() || !args.cmds.is_empty();
    if commands {
        if args.file.is_some() || !args.stmts.is_empty() || !args.args.is_empty() {
            return Err(
                user_error("commands cannot be mixed with Python statements or --file")
                    .hint("pyrometer bench -- CMD ARGS…, or --cmd 'CMD ARGS' (repeatable)")
                    .into(),
            );
        }
        let mut specs = Vec::new();
        if !args.command.is_empty() {
            specs.push(if args.shell {
                CommandSpec {
                    argv: vec![args.command.join(" ")],
                    shell: true,
                }
            } else {
                CommandSpec {
                    argv: args.command.clone(),
                    shell: false,
                }
            });
        }
        for line in &args.cmds {
            let argv = if args.shell {
                vec![line.clone()]
            } else {
                command::split_words(line).map_err(|e| user_error(e.to_string()))?
            };
            if argv.is_empty() || argv[0].is_empty() {
                return Err(user_error("--cmd was given an empty command").into());
            }
            specs.push(CommandSpec {
                argv,
                shell: args.shell,
            });
        }
        return Ok(Target::Commands(specs));
    }
    if let Some(file) = &args.file {
        if !args.stmts.is_empty() {
            return Err(user_error("--stmt cannot be used with --file").into());
        }
        if !file.is_file() {
            return Err(user_error(format!("cannot read {}: no such file", file.display())).into());
        }
        return Ok(Target::File(file.clone(), args.args.clone()));
    }
    let setup = setup_text(&args.setup);
    let mut list = Vec::new();
    if !args.args.is_empty() {
        list.push((args.args.join("\n"), setup.clone()));
    }
    for stmt in &args.stmts {
        list.push((stmt.clone(), setup.clone()));
    }
    if list.is_empty() {
        return Err(user_error("nothing to benchmark")
            .hint("pyrometer bench [-s SETUP] STMT, --file bench.py, or -- COMMAND ARGS…")
            .into());
    }
    Ok(Target::Statements(list))
}

fn python_plan(args: &BenchArgs) -> Result<Plan> {
    let mut plan = if args.fast {
        Plan::fast()
    } else if args.rigorous {
        Plan::rigorous()
    } else {
        Plan::normal()
    };
    if let Some(p) = args.processes {
        plan.processes = p;
    }
    if let Some(w) = args.warmups {
        plan.warmups = w;
    }
    if let Some(r) = args.repeat {
        plan.values = r;
    }
    if let Some(t) = args.min_time {
        plan.min_time_ns = seconds_ns(t)?;
    }
    plan.loops = args.number;
    plan.gc = args.gc;
    plan.check().map_err(|e| user_error(e.to_string()))?;
    Ok(plan)
}

fn command_plan(args: &BenchArgs) -> Result<CommandPlan> {
    let mut plan = if args.fast {
        CommandPlan::fast()
    } else if args.rigorous {
        CommandPlan::rigorous()
    } else {
        CommandPlan::normal()
    };
    if args.number.is_some() || args.processes.is_some() || args.process_time {
        return Err(user_error(
            "-n, -p and --processes apply to Python code; commands are timed run by run",
        )
        .hint("-r N sets the number of runs of each command")
        .into());
    }
    if let Some(w) = args.warmups {
        plan.warmups = w;
    }
    plan.runs = args.repeat;
    if let Some(t) = args.min_time {
        plan.min_time_ns = seconds_ns(t)?;
    }
    plan.ignore_failure = args.ignore_failure;
    plan.show_output = args.show_output;
    if plan.runs == Some(0) {
        return Err(user_error("the number of runs (-r) must be at least 1").into());
    }
    Ok(plan)
}

fn seconds_ns(seconds: f64) -> Result<u64> {
    if !(seconds.is_finite() && seconds >= 0.0) {
        return Err(user_error(format!("--min-time {seconds} is not a number of seconds")).into());
    }
    Ok((seconds * 1e9) as u64)
}

/// Candidate names: `--name` in order, then the definitions' own.
fn names(given: &[String], defaults: Vec<String>) -> Result<Vec<String>> {
    if given.len() > defaults.len() {
        return Err(user_error(format!(
            "{} names for {} candidate{}",
            given.len(),
            defaults.len(),
            if defaults.len() == 1 { "" } else { "s" }
        ))
        .into());
    }
    let names: Vec<String> = defaults
        .into_iter()
        .enumerate()
        .map(|(i, d)| given.get(i).cloned().unwrap_or(d))
        .collect();
    for (i, n) in names.iter().enumerate() {
        if names[..i].contains(n) {
            return Err(user_error(format!("two candidates are named '{n}'"))
                .hint("name them with --name")
                .into());
        }
    }
    Ok(names)
}

/// The command line as typed, from `bench` on.
fn typed_argv() -> Vec<String> {
    let argv: Vec<String> = std::env::args().collect();
    match argv.iter().position(|a| a == "bench") {
        Some(i) => std::iter::once("pyrometer".to_string())
            .chain(argv[i..].iter().cloned())
            .collect(),
        None => argv,
    }
}

pub fn bench(args: BenchArgs, host: &Host) -> Result<i32> {
    let cwd = std::env::current_dir()?;
    let settings = Settings::load(&cwd)?;
    if let Some(BenchAction::Compare(c)) = args.action {
        return compare::compare(c, &settings);
    }
    if let Some(g) = args.gate
        && !(g.is_finite() && g >= 0.0)
    {
        return Err(user_error(format!("--gate {g} is not a percentage")).into());
    }
    let target = target(&args)?;
    // The store and the baseline are checked before any timing: a bad store fails fast. A new
    // store is only created once there is a run to record.
    let mut store = if args.no_store {
        None
    } else {
        pyrometer_store::Store::open_existing(&settings.dir).map_err(shared::store_error)?
    };
    let baseline = match &args.baseline {
        Some(name) => Some(shared::resolve_run(name, &settings.dir)?),
        None => None,
    };

    let started = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let clock = Instant::now();
    let mut progress = progress::Progress::new(args.quiet);
    let interrupts = InterruptGuard::install();
    let (labels, definitions, measured, python, method) = match &target {
        Target::Commands(specs) => {
            let plan = command_plan(&args)?;
            let labels = names(&args.names, specs.iter().map(CommandSpec::text).collect())?;
            let measured =
                interrupts.check(command::run_commands(specs, &labels, &plan, &mut progress))?;
            let mut method = run::method(
                Kind::Command,
                &Plan {
                    processes: 1,
                    warmups: plan.warmups,
                    values: measured
                        .first()
                        .map_or(0, |m| m.samples.iter().filter(|s| !s.warmup).count() as u32),
                    min_time_ns: plan.min_time_ns,
                    loops: Some(1),
                    gc: true,
                },
                "wall",
            );
            method.fixed_loops = plan.runs.is_some();
            let definitions = specs
                .iter()
                .map(|s| Definition::Command {
                    argv: s.argv.clone(),
                    shell: s.shell,
                })
                .collect();
            (labels, definitions, measured, None, method)
        }
        Target::Statements(_) | Target::File(..) => {
            let plan = python_plan(&args)?;
            let python = args.python.clone().unwrap_or_else(|| host.python.clone());
            let timer = if args.process_time {
                "process_time_ns"
            } else {
                "perf_counter_ns"
            };
            let (load, kind) = match &target {
                Target::Statements(list) => (Load::Statements(list.clone()), Kind::Statement),
                Target::File(path, wanted) => (
                    Load::File {
                        path: path.clone(),
                        names: wanted.clone(),
                    },
                    Kind::Function,
                ),
                Target::Commands(_) => unreachable!("handled above"),
            };
            let mut spawner = PythonSpawner::new(python, load, timer, plan.gc);
            let (found, info) = interrupts.check(spawner.probe())?;
            let definitions: Vec<Definition> = match &target {
                Target::Statements(list) => list
                    .iter()
                    .map(|(stmt, setup)| Definition::Statement {
                        stmt: stmt.clone(),
                        setup: setup.clone(),
                    })
                    .collect(),
                Target::File(path, _) => found
                    .iter()
                    .map(|f| Definition::Function {
                        function: f.clone(),
                        file: Some(path.display().to_string()),
                    })
                    .collect(),
                Target::Commands(_) => unreachable!("handled above"),
            };
            let defaults = definitions
                .iter()
                .zip(&found)
                .map(|(d, f)| match d {
                    Definition::Function { .. } => f.clone(),
                    other => other.text(),
                })
                .collect();
            let labels = names(&args.names, defaults)?;
            let measured =
                interrupts.check(run::run(&labels, &plan, &mut spawner, &mut progress))?;
            let method = run::method(kind, &plan, timer);
            (labels, definitions, measured, Some(info), method)
        }
    };
    progress.clear();
    drop(interrupts);
    let doc = document(
        labels,
        definitions,
        measured,
        method,
        python,
        started.as_nanos() as u64,
        clock.elapsed().as_nanos() as u64,
        &cwd,
    );
    if store.is_none() && !args.no_store {
        store = Some(shared::open_store(&settings.dir)?);
    }
    finish(doc, &args, store.as_mut(), baseline)
}

#[allow(clippy::too_many_arguments)]
fn document(
    labels: Vec<String>,
    definitions: Vec<Definition>,
    measured: Vec<Measured>,
    method: pyrometer_bench::result::Method,
    python: Option<PythonInfo>,
    started_unix_ns: u64,
    duration_ns: u64,
    cwd: &std::path::Path,
) -> Document {
    let benchmarks = labels
        .into_iter()
        .zip(definitions)
        .zip(measured)
        .map(|((name, definition), m)| {
            analyze(name, definition, m.loops, m.calibration, m.samples, &method)
        })
        .collect();
    Document {
        format: FORMAT.into(),
        version: VERSION,
        tool: format!("pyrometer {}", env!("CARGO_PKG_VERSION")),
        started_unix_ns,
        duration_ns,
        environment: pyrometer_bench::env::capture(cwd, python, typed_argv()),
        method,
        benchmarks,
        comparisons: Vec::new(),
    }
}

/// Comparisons, the history, the report, the gate.
fn finish(
    mut doc: Document,
    args: &BenchArgs,
    store: Option<&mut pyrometer_store::Store>,
    baseline: Option<(Document, String)>,
) -> Result<i32> {
    if doc.benchmarks.len() > 1 {
        let reference = match &args.reference {
            Some(name) => doc
                .benchmarks
                .iter()
                .position(|b| &b.name == name)
                .ok_or_else(|| {
                    user_error(format!("--reference {name}: no candidate has that name"))
                })?,
            None => 0,
        };
        if let Some(c) = pyrometer_bench::compare::within(&doc, reference) {
            doc.comparisons.push(c);
        }
    } else if args.reference.is_some() {
        return Err(user_error("--reference needs several candidates").into());
    }
    let mut gate_rows = Vec::new();
    if let Some((old, label)) = &baseline {
        let matched = pyrometer_bench::compare::between(old, &doc, format!("baseline {label}"));
        for name in &matched.only_new {
            eprintln!("pyrometer: note: '{name}' is not in the baseline {label}");
        }
        if matched.comparison.rows.is_empty() {
            eprintln!("pyrometer: note: no benchmark of this run is in the baseline {label}");
        }
        gate_rows = matched.comparison.rows.clone();
        doc.comparisons.push(matched.comparison);
    }
    if let Some(store) = store {
        let id = store
            .save(&doc, args.save.as_deref())
            .map_err(shared::store_error)?;
        let named = args
            .save
            .as_ref()
            .map(|n| format!(" as '{n}'"))
            .unwrap_or_default();
        eprintln!(
            "pyrometer: recorded run #{id}{named} in {}",
            store.path().display()
        );
    }
    let options = shared::options(args.unit, args.verbose);
    if let Some(path) = &args.output {
        let text = shared::render_document(&doc, OutputFormat::of_path(path), &options);
        shared::write_file(path, &text)?;
        eprintln!("pyrometer: wrote {}", path.display());
    }
    if !args.quiet {
        shared::print(&shared::render_document(&doc, args.format, &options))?;
    }
    if let Some(threshold) = args.gate {
        let cmp = pyrometer_bench::result::Comparison {
            against: String::new(),
            rows: gate_rows,
        };
        let failed = pyrometer_bench::compare::regressions(&cmp, threshold / 100.0);
        if !failed.is_empty() {
            for r in &failed {
                eprintln!(
                    "pyrometer: gate: '{}' is {} slower than its baseline (p = {:.3})",
                    r.name,
                    percent(r.ratio - 1.0),
                    r.p_value
                );
            }
            return Ok(1);
        }
    }
    Ok(0)
}
