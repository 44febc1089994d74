//! `pyrometer view FILE`: render a saved profile again.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use pyrometer_profile::{FileError, pyro};

use crate::cli::{ExportArgs, ReportArgs};
use crate::output;
use crate::settings::Settings;
use crate::user_error;

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

pub fn view(args: ViewArgs) -> Result<i32> {
    let cwd = std::env::current_dir()?;
    let settings = Settings::load(&cwd)?;
    output::check_exports(&args.export)?;
    let profile = pyro::read(&args.file).map_err(|e| {
        let file = args.file.display();
        match e {
            FileError::Io(io) if io.kind() == std::io::ErrorKind::NotFound => {
                user_error(format!("cannot open {file}: no such file"))
            }
            FileError::Io(io) => user_error(format!("cannot read {file}: {io}")),
            other => user_error(format!("cannot read {file}: {other}")),
        }
    })?;
    let selected = output::selected_process(&profile, &args.report)?;
    let profile = selected.as_ref();
    let options = output::render_options(profile, &args.report, &settings, &cwd)?;
    output::write_exports(profile, &args.export, &options)?;
    let asked_for_report =
        args.report.tree || args.report.callers.is_some() || args.report.callees.is_some();
    match args.export.format {
        Some(format) if args.export.exports.is_empty() && !asked_for_report => {
            output::print_format(profile, format, &options)?
        }
        _ if args.export.exports.is_empty() || asked_for_report => {
            output::print_report(profile, &args.report, &options)?
        }
        _ => {}
    }
    Ok(0)
}
