//! `pyrometer gate`: for CI. Compares a run (the latest by default) with a saved baseline and
//! exits with status 1 when a benchmark is significantly slower (Mann-Whitney U, p < 0.05) by
//! more than the threshold.

use anyhow::Result;
use clap::Args;
use pyrometer_bench::format::{Unit, percent};
use pyrometer_bench::render;
use serde_json::json;

use super::bench::shared::{self, OutputFormat};
use crate::settings::Settings;
use crate::user_error;

#[derive(Args, Debug)]
pub struct GateArgs {
    /// The baseline: a saved name, a run id (#N) or a result JSON file
    #[arg(long, value_name = "RUN")]
    pub baseline: String,
    /// The run to check: a result JSON file, a saved name or a run id [default: the latest run]
    #[arg(value_name = "RUN")]
    pub run: Option<String>,
    /// Fail only when slower by more than this percentage
    #[arg(long, value_name = "PERCENT", default_value_t = 5.0)]
    pub threshold: f64,
    /// Fail when a benchmark of the baseline is missing from the run
    #[arg(long)]
    pub strict: bool,
    /// Report format
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
    /// Time unit: nsec, usec, msec or sec
    #[arg(short = 'u', long, value_name = "UNIT", value_parser = shared::parse_unit)]
    pub unit: Option<Unit>,
}

pub fn gate(args: GateArgs) -> Result<i32> {
    let cwd = std::env::current_dir()?;
    let settings = Settings::load(&cwd)?;
    if !(args.threshold.is_finite() && args.threshold >= 0.0) {
        return Err(user_error(format!(
            "--threshold {} is not a percentage",
            args.threshold
        ))
        .into());
    }
    let threshold = args.threshold / 100.0;
    let (old, old_label) = shared::resolve_run(&args.baseline, &settings.dir)?;
    let (new, new_label) = match &args.run {
        Some(r) => shared::resolve_run(r, &settings.dir)?,
        None => {
            let store = shared::open_existing_store(&settings.dir)?;
            let id = store.latest().map_err(shared::store_error)?;
            let doc = store.load(id).map_err(shared::store_error)?;
            (doc, format!("run #{id}"))
        }
    };
    let matched = pyrometer_bench::compare::between(&old, &new, old_label.clone());
    if matched.comparison.rows.is_empty() {
        return Err(user_error(format!(
            "{new_label} has no benchmark in common with the baseline {old_label}"
        ))
        .hint("benchmarks are matched by name")
        .into());
    }
    let failed = pyrometer_bench::compare::regressions(&matched.comparison, threshold);
    let missing_fails = args.strict && !matched.only_old.is_empty();
    let passed = failed.is_empty() && !missing_fails;
    let verdict = if passed {
        format!(
            "gate passed: no benchmark of {new_label} is significantly slower than {old_label} by more than {}",
            percent(threshold)
        )
    } else if failed.is_empty() {
        format!(
            "gate FAILED: {new_label} lacks {} of the baseline's benchmarks",
            matched.only_old.len()
        )
    } else {
        let names: Vec<String> = failed
            .iter()
            .map(|r| format!("'{}' ({} slower)", r.name, percent(r.ratio - 1.0)))
            .collect();
        format!(
            "gate FAILED: {} significantly slower than {old_label} by more than {}: {}",
            if failed.len() == 1 {
                "1 benchmark is".to_string()
            } else {
                format!("{} benchmarks are", failed.len())
            },
            percent(threshold),
            names.join(", ")
        )
    };
    let options = shared::options(args.unit, false);
    let text = match args.format {
        OutputFormat::Json => {
            let value = json!({
                "passed": passed,
                "threshold": threshold,
                "baseline": old_label,
                "run": new_label,
                "regressions": failed.iter().map(|r| r.name.clone()).collect::<Vec<_>>(),
                "missing": matched.only_old,
                "new": matched.only_new,
                "comparison": matched.comparison,
            });
            serde_json::to_string_pretty(&value)? + "\n"
        }
        OutputFormat::Markdown => {
            render::markdown::comparison(&matched.comparison, &options, Some(threshold))
                + &format!("\n**{verdict}**\n")
        }
        OutputFormat::Text => {
            render::text::comparison(&matched.comparison, &options, Some(threshold))
                + &verdict
                + "\n"
        }
    };
    for name in &matched.only_old {
        eprintln!("pyrometer: note: '{name}' of the baseline is not in {new_label}");
    }
    shared::print(&text)?;
    if !passed {
        eprintln!("pyrometer: {verdict}");
    }
    Ok(if passed { 0 } else { 1 })
}
