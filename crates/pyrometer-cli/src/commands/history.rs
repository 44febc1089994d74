//! `pyrometer history`: the benchmark runs recorded in the store, one benchmark over time, or
//! one run in full.

use anyhow::Result;
use clap::Args;
use pyrometer_bench::format::{Unit, duration_in};
use pyrometer_bench::render::text::table;
use pyrometer_bench::render::{Table, markdown};
use serde_json::json;

use super::bench::shared::{self, OutputFormat};
use crate::settings::Settings;

#[derive(Args, Debug)]
pub struct HistoryArgs {
    /// Show this benchmark's median over the runs
    #[arg(value_name = "BENCHMARK")]
    pub benchmark: Option<String>,
    /// Show one run's full report: a run id (#N) or a saved name
    #[arg(long, value_name = "RUN", conflicts_with = "benchmark")]
    pub show: Option<String>,
    /// How many runs, newest first
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub limit: usize,
    /// Report format
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
    /// Time unit: nsec, usec, msec or sec
    #[arg(short = 'u', long, value_name = "UNIT", value_parser = shared::parse_unit)]
    pub unit: Option<Unit>,
}

fn commit(commit: &Option<String>, dirty: Option<bool>) -> String {
    match commit {
        Some(c) => format!(
            "{}{}",
            &c[..c.len().min(10)],
            if dirty == Some(true) { "+dirty" } else { "" }
        ),
        None => "-".into(),
    }
}

fn render_table(t: &Table, format: OutputFormat) -> String {
    match format {
        OutputFormat::Markdown => markdown::table(t),
        _ => table(t),
    }
}

pub fn history(args: HistoryArgs) -> Result<i32> {
    let cwd = std::env::current_dir()?;
    let settings = Settings::load(&cwd)?;
    if let Some(reference) = &args.show {
        let (doc, _) = shared::resolve_run(reference, &settings.dir)?;
        let options = shared::options(args.unit, false);
        shared::print(&shared::render_document(&doc, args.format, &options))?;
        return Ok(0);
    }
    let store = shared::open_existing_store(&settings.dir)?;
    if let Some(name) = &args.benchmark {
        let points = store
            .history_of(name, args.limit)
            .map_err(shared::store_error)?;
        if points.is_empty() {
            return Err(
                crate::user_error(format!("no run has a benchmark named '{name}'"))
                    .hint("`pyrometer history` lists the runs and their benchmarks")
                    .into(),
            );
        }
        if args.format == OutputFormat::Json {
            let rows: Vec<_> = points
                .iter()
                .map(|p| {
                    json!({"run": p.run_id, "started_unix_ns": p.started_unix_ns, "median": p.median,
                           "ci_low": p.ci_low, "ci_high": p.ci_high, "n": p.n,
                           "git_commit": p.git_commit, "git_dirty": p.git_dirty})
                })
                .collect();
            shared::print(&(serde_json::to_string_pretty(&rows)? + "\n"))?;
            return Ok(0);
        }
        let unit = args.unit;
        let t = Table {
            header: ["run", "when", "commit", "median", "95% CI", "values"]
                .map(String::from)
                .to_vec(),
            right: vec![true, false, false, true, true, true],
            rows: points
                .iter()
                .map(|p| {
                    vec![
                        format!("#{}", p.run_id),
                        shared::local_time(p.started_unix_ns),
                        commit(&p.git_commit, p.git_dirty),
                        duration_in(p.median, unit),
                        format!(
                            "{} … {}",
                            duration_in(p.ci_low, unit),
                            duration_in(p.ci_high, unit)
                        ),
                        p.n.to_string(),
                    ]
                })
                .collect(),
        };
        shared::print(&render_table(&t, args.format))?;
        return Ok(0);
    }
    let runs = store.runs(args.limit).map_err(shared::store_error)?;
    if args.format == OutputFormat::Json {
        let rows: Vec<_> = runs
            .iter()
            .map(|r| {
                json!({"run": r.id, "started_unix_ns": r.started_unix_ns, "kind": r.kind,
                       "saved_as": r.names, "benchmarks": r.benchmarks, "git_commit": r.git_commit,
                       "git_dirty": r.git_dirty, "python": r.python_version, "machine": r.machine})
            })
            .collect();
        shared::print(&(serde_json::to_string_pretty(&rows)? + "\n"))?;
        return Ok(0);
    }
    if runs.is_empty() {
        eprintln!("pyrometer: the history is empty");
        return Ok(0);
    }
    let t = Table {
        header: [
            "run",
            "when",
            "saved as",
            "commit",
            "python",
            "kind",
            "benchmarks",
        ]
        .map(String::from)
        .to_vec(),
        right: vec![true, false, false, false, false, false, false],
        rows: runs
            .iter()
            .map(|r| {
                let mut benchmarks = r.benchmarks.iter().take(3).cloned().collect::<Vec<_>>();
                if r.benchmarks.len() > 3 {
                    benchmarks.push(format!("+{} more", r.benchmarks.len() - 3));
                }
                vec![
                    format!("#{}", r.id),
                    shared::local_time(r.started_unix_ns),
                    r.names.join(", "),
                    commit(&r.git_commit, r.git_dirty),
                    r.python_version.clone().unwrap_or_else(|| "-".into()),
                    r.kind.clone(),
                    benchmarks.join(", "),
                ]
            })
            .collect(),
    };
    shared::print(&render_table(&t, args.format))?;
    Ok(0)
}
