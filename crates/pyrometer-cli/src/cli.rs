//! The command line: clap definitions shared by the subcommands.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use pyrometer_render::{Format, SortKey};

#[derive(Parser, Debug)]
#[command(
    name = "pyrometer",
    version,
    about = "Find where a Python program spends its time, down to the function and line.",
    propagate_version = true,
    disable_help_subcommand = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a Python program under the profiler, then report where its time went
    #[command(
        after_help = "Examples:\n  pyrometer run script.py arg1 arg2\n  pyrometer run -m http.server 8000\n  pyrometer run --export out.svg --export out.prof script.py\n\nEverything after the script (or -m MODULE, -c CODE) goes to the program."
    )]
    Run(RunArgs),
    /// Show a saved profile again: the report, the call tree, callers/callees, any format
    #[command(
        after_help = "Examples:\n  pyrometer view run.pyro\n  pyrometer view run.pyro --tree\n  pyrometer view run.pyro --callers parse\n  pyrometer view run.pyro --format collapsed > run.collapsed\n  pyrometer view run.pyro --export run.speedscope.json"
    )]
    View(ViewArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    /// Exact calls and times per function (deterministic tracing, like cProfile)
    Trace,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorArg {
    Auto,
    Always,
    Never,
}

fn parse_sort(s: &str) -> Result<SortKey, String> {
    SortKey::from_name(s).ok_or_else(|| {
        format!("unknown sort key '{s}' (expected one of: self, total, calls, name, file)")
    })
}

fn parse_format(s: &str) -> Result<Format, String> {
    Format::from_name(s).ok_or_else(|| {
        let names: Vec<&str> = Format::ALL.iter().map(|f| f.name()).collect();
        format!(
            "unknown format '{s}' (expected one of: {})",
            names.join(", ")
        )
    })
}

/// How reports look: shared by `run` and `view`.
#[derive(Args, Debug, Clone)]
pub struct ReportArgs {
    /// Order of the function table: self, total, calls, name, file [default: one table by
    /// self time and one by inclusive time]
    #[arg(long, value_name = "KEY", value_parser = parse_sort, help_heading = "Report")]
    pub sort: Option<SortKey>,
    /// Rows per table [default: 20]
    #[arg(long, value_name = "N", help_heading = "Report")]
    pub top: Option<usize>,
    /// Show the call tree with inclusive shares instead of the tables
    #[arg(long, help_heading = "Report")]
    pub tree: bool,
    /// Show who calls the functions matching NAME, with the figures of each call edge
    #[arg(long, value_name = "NAME", help_heading = "Report")]
    pub callers: Option<String>,
    /// Show what the functions matching NAME call, with the figures of each call edge
    #[arg(long, value_name = "NAME", help_heading = "Report")]
    pub callees: Option<String>,
    /// In the call tree, hide calls under this percentage of the total
    #[arg(long, value_name = "PERCENT", help_heading = "Report")]
    pub min_share: Option<f64>,
    /// Colour in the terminal report
    #[arg(long, value_enum, default_value_t = ColorArg::Auto, help_heading = "Report")]
    pub color: ColorArg,
}

/// Where the data goes besides the report.
#[derive(Args, Debug, Clone)]
pub struct ExportArgs {
    /// Also write the profile to FILE (repeatable). The extension picks the format: .prof or
    /// .pstats (pstats), .speedscope.json, .collapsed, .svg (flame graph), .json; or --format
    #[arg(long = "export", value_name = "FILE", help_heading = "Output")]
    pub exports: Vec<PathBuf>,
    /// Format of the --export files (pstats, speedscope, collapsed, svg, json, text)
    #[arg(long, value_name = "FORMAT", value_parser = parse_format, help_heading = "Output")]
    pub format: Option<Format>,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// How to measure
    #[arg(long, value_enum, default_value_t = ModeArg::Trace, help_heading = "Profiling")]
    pub mode: ModeArg,
    /// Also trace calls of built-in (C) functions, each as its own entry, as cProfile does.
    /// Off by default: it costs more (on 3.11 much more), and their time is still measured, in
    /// their callers' self time
    #[arg(long, help_heading = "Profiling")]
    pub builtins: bool,
    /// Save what has been collected every SECONDS while the program runs, so that a program
    /// killed outright (SIGKILL, a crash) still leaves a profile; 0 turns this off
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 1.0,
        help_heading = "Profiling"
    )]
    pub checkpoint: f64,
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

#[derive(Args, Debug)]
pub struct ViewArgs {
    /// A profile saved by pyrometer (.pyro, or its .json export)
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    #[command(flatten)]
    pub report: ReportArgs,
    #[command(flatten)]
    pub export: ExportArgs,
}
