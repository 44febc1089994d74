//! `pyrometer bench compare OLD NEW`: the benchmarks of NEW against those of the same name in
//! OLD. Each is a result JSON file, a name a run was saved under, or a run id (#N).

use anyhow::Result;
use clap::Args;
use pyrometer_bench::format::Unit;
use pyrometer_bench::render;

use super::shared::{self, OutputFormat};
use crate::settings::Settings;
use crate::user_error;

#[derive(Args, Debug)]
pub struct CompareArgs {
    /// The reference: a result JSON file, a saved name, or a run id (#N)
    #[arg(value_name = "OLD")]
    pub old: String,
    /// The result compared with it
    #[arg(value_name = "NEW")]
    pub new: String,
    /// Report format
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
    /// Time unit: nsec, usec, msec or sec
    #[arg(short = 'u', long, value_name = "UNIT", value_parser = shared::parse_unit)]
    pub unit: Option<Unit>,
}

pub fn compare(args: CompareArgs, settings: &Settings) -> Result<i32> {
    let (old, old_label) = shared::resolve_run(&args.old, &settings.dir)?;
    let (new, new_label) = shared::resolve_run(&args.new, &settings.dir)?;
    let matched = pyrometer_bench::compare::between(&old, &new, old_label.clone());
    if matched.comparison.rows.is_empty() {
        return Err(user_error(format!(
            "{old_label} and {new_label} have no benchmark in common"
        ))
        .hint("benchmarks are matched by name; name them alike with --name")
        .into());
    }
    for name in &matched.only_new {
        eprintln!("pyrometer: note: '{name}' is only in {new_label}");
    }
    for name in &matched.only_old {
        eprintln!("pyrometer: note: '{name}' is only in {old_label}");
    }
    let options = shared::options(args.unit, false);
    let text = match args.format {
        OutputFormat::Text => render::text::comparison(&matched.comparison, &options, None),
        OutputFormat::Markdown => render::markdown::comparison(&matched.comparison, &options, None),
        OutputFormat::Json => {
            let mut s = serde_json::to_string_pretty(&matched.comparison)?;
            s.push('\n');
            s
        }
    };
    shared::print(&text)?;
    Ok(0)
}
