//! The command line: the subcommand list and the options several subcommands share. Each
//! subcommand's own options live in its module under `commands/`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use pyrometer_profile::Metric;
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
    Run(crate::commands::run::RunArgs),
    /// Show a saved profile again: the report, the call tree, callers/callees, any format
    #[command(
        after_help = "Examples:\n  pyrometer view run.pyro\n  pyrometer view run.pyro --tree\n  pyrometer view run.pyro --callers parse\n  pyrometer view run.pyro --format collapsed > run.collapsed\n  pyrometer view run.pyro --export run.speedscope.json"
    )]
    View(crate::commands::view::ViewArgs),
    /// Find performance anti-patterns in Python source; with --profile, ranked by a run's measurements
    #[command(
        after_help = "Examples:\n  pyrometer check src/\n  pyrometer check --select PYR1,PYR401 --ignore PYR103 app.py\n  pyrometer check --format sarif -o pyrometer.sarif .\n  pyrometer check --profile .pyrometer/runs/latest.pyro\n  pyrometer check --explain PYR101\n\nExit status: 1 with findings, 0 without, 2 on an error. Settings: [tool.pyrometer.check] in pyproject.toml."
    )]
    Check(crate::commands::check::CheckArgs),
    /// Sample a running Python process until it ends (or Ctrl-C), then report and save
    #[command(
        after_help = "Examples:\n  pyrometer record --pid 4242\n  pyrometer record --pid 4242 --duration 30 --export flame.svg"
    )]
    Record(crate::commands::record::RecordArgs),
    /// Print every thread's Python stack in a running process, with lines, GIL and idle state
    Dump(crate::commands::dump::DumpArgs),
    /// A live view of the hottest functions of a running process, or of a program started here
    #[command(
        after_help = "Examples:\n  pyrometer top --pid 4242\n  pyrometer top -- script.py arg1"
    )]
    Top(crate::commands::top::TopArgs),
    /// Time Python statements, functions or commands with sound statistics; compare; record
    #[command(
        after_help = "Examples:\n  pyrometer bench -s 'x = list(range(1000))' 'sorted(x)'\n  pyrometer bench --stmt 'sorted(x)' --stmt 'x.sort()' -s 'x = list(range(1000))'\n  pyrometer bench --file bench.py --save main\n  pyrometer bench -- python -c pass\n  pyrometer bench compare old.json new.json"
    )]
    Bench(crate::commands::bench::BenchArgs),
    /// List the benchmark runs recorded in the store, or one benchmark over time
    History(crate::commands::history::HistoryArgs),
    /// Exit with status 1 when a run is significantly slower than a saved baseline (for CI)
    Gate(crate::commands::gate::GateArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorArg {
    Auto,
    Always,
    Never,
}

pub(crate) fn parse_sort(s: &str) -> Result<SortKey, String> {
    SortKey::from_name(s).ok_or_else(|| {
        format!("unknown sort key '{s}' (expected one of: self, total, calls, name, file)")
    })
}

pub(crate) fn parse_unit(s: &str) -> Result<f64, String> {
    pyrometer_render::text::lines::parse_unit(s)
}

/// The names `--metric` takes, with the metric each stands for (the first name is the one
/// messages use).
const METRIC_NAMES: [(&str, Metric); 10] = [
    ("cpu", Metric::CpuSamples),
    ("wall", Metric::WallSamples),
    ("gil", Metric::GilSamples),
    ("time", Metric::SelfTime),
    ("calls", Metric::Calls),
    ("alloc", Metric::AllocBytes),
    ("allocs", Metric::AllocCount),
    ("retained", Metric::RetainedBytes),
    ("peak", Metric::PeakBytes),
    ("hits", Metric::LineHits),
];

/// The `--metric` name of a metric.
pub(crate) fn metric_name(metric: Metric) -> Option<&'static str> {
    METRIC_NAMES
        .iter()
        .find(|(_, m)| *m == metric)
        .map(|(name, _)| *name)
}

pub(crate) fn parse_metric(s: &str) -> Result<Metric, String> {
    let lower = s.to_ascii_lowercase();
    METRIC_NAMES
        .iter()
        .find(|(name, m)| *name == lower || m.as_str() == lower)
        .map(|(_, m)| *m)
        .ok_or_else(|| {
            let names: Vec<&str> = METRIC_NAMES.iter().map(|(n, _)| *n).collect();
            format!(
                "unknown metric '{s}' (expected one of: {})",
                names.join(", ")
            )
        })
}

pub(crate) fn parse_format(s: &str) -> Result<Format, String> {
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
    /// For sampled profiles: report wall time, every thread's time whether it ran or waited
    /// (the default is CPU time: samples of threads on a CPU)
    #[arg(long, help_heading = "Report")]
    pub idle: bool,
    /// The measure of the tables and of the exports (flame graph, collapsed, speedscope,
    /// pstats): cpu, wall, gil, time, calls, alloc (allocated bytes), allocs, retained,
    /// peak, hits [default: CPU time for sampled profiles, also with --memory; allocated
    /// bytes for memory profiles; traced time otherwise]
    #[arg(long, value_name = "METRIC", value_parser = parse_metric, help_heading = "Report")]
    pub metric: Option<Metric>,
    /// In the call tree, hide calls under this percentage of the total
    #[arg(long, value_name = "PERCENT", help_heading = "Report")]
    pub min_share: Option<f64>,
    /// Report and export only this process of a run that followed subprocesses (by pid; the
    /// Processes table lists them) [default: all processes merged]
    #[arg(long, value_name = "PID", help_heading = "Report")]
    pub process: Option<u32>,
    /// Line-level reports: the unit of the Time and Per Hit columns: s, ms, us, ns or seconds
    /// as a number (1e-6) [default: us]
    #[arg(long, value_name = "UNIT", value_parser = parse_unit, help_heading = "Report")]
    pub unit: Option<f64>,
    /// Colour in the terminal report
    #[arg(long, value_enum, default_value_t = ColorArg::Auto, help_heading = "Report")]
    pub color: ColorArg,
    /// Leave the Advice section (findings ranked by this profile, profile-only advice) out of
    /// the report [also: advice = false in [tool.pyrometer], PYROMETER_ADVICE=0]
    #[arg(long, help_heading = "Report")]
    pub no_advice: bool,
}

/// Where the data goes besides the report.
#[derive(Args, Debug, Clone)]
pub struct ExportArgs {
    /// Also write the profile to FILE (repeatable). The extension picks the format: .prof or
    /// .pstats (pstats), .speedscope.json, .collapsed, .svg (flame graph), .timeline.svg (the
    /// memory timeline as a chart), .json; or --format
    #[arg(long = "export", value_name = "FILE", help_heading = "Output")]
    pub exports: Vec<PathBuf>,
    /// Format of the --export files (pstats, speedscope, collapsed, svg, json, text, timeline)
    #[arg(long, value_name = "FORMAT", value_parser = parse_format, help_heading = "Output")]
    pub format: Option<Format>,
}
