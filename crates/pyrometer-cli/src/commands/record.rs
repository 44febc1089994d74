//! `pyrometer record --pid PID`: sample a running program until it ends, the duration is up,
//! or Ctrl-C; then save and report as `run` does.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use clap::Args;
use pyrometer_sampler::Sampler;

use crate::cli::{ExportArgs, ReportArgs};
use crate::output;
use crate::sampling::{self, SamplingArgs};
use crate::settings::Settings;
use crate::user_error;

#[derive(Args, Debug)]
pub struct RecordArgs {
    /// The process to sample (a running CPython 3.11–3.15)
    #[arg(long, value_name = "PID")]
    pub pid: u32,
    /// Stop after SECONDS [default: when the process ends, or Ctrl-C]
    #[arg(long, value_name = "SECONDS")]
    pub duration: Option<f64>,
    #[command(flatten)]
    pub sampling: SamplingArgs,
    /// Where to save the profile [default: .pyrometer/runs/<time>-pid<PID>.pyro]
    #[arg(short = 'o', long, value_name = "FILE.pyro", help_heading = "Output")]
    pub output: Option<PathBuf>,
    /// Do not print the report (the profile is still saved and exported)
    #[arg(short = 'q', long, help_heading = "Output")]
    pub quiet: bool,
    #[command(flatten)]
    pub report: ReportArgs,
    #[command(flatten)]
    pub export: ExportArgs,
}

pub fn record(args: RecordArgs) -> Result<i32> {
    let cwd = std::env::current_dir()?;
    let settings = Settings::load(&cwd)?;
    output::check_exports(&args.export)?;
    let mut config = args.sampling.config()?;
    if let Some(seconds) = args.duration {
        if !(seconds.is_finite() && seconds > 0.0) {
            return Err(
                user_error(format!("--duration {seconds} is not a number of seconds")).into(),
            );
        }
        config.duration = Some(Duration::from_secs_f64(seconds));
    }
    let mut sampler = Sampler::attach(args.pid, config).map_err(|e| sampling::sampler_error(&e))?;
    let _signals = sampling::stop_on_signals(sampler.stop_flag());
    eprintln!(
        "pyrometer: sampling process {} at {} Hz (Ctrl-C to stop)",
        args.pid, args.sampling.rate
    );
    let start = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    sampler.run().map_err(|e| sampling::sampler_error(&e))?;
    let mut profile = sampler.finish();
    profile.meta.cwd = cwd.to_string_lossy().into_owned();
    profile.meta.host = output::hostname();
    let out_path = args.output.clone().unwrap_or_else(|| {
        output::new_run_path(
            &settings,
            &format!("pid{}", args.pid),
            start.as_secs() as i64,
        )
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
    Ok(0)
}
