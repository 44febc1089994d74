//! Reports on stdout and exports to files: shared by `run` and `view`.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::Result;
use pyrometer_profile::{Metric, Mode, Profile};
use pyrometer_render::text::{CallTreeReport, Relations};
use pyrometer_render::{Format, RenderError, RenderOptions, Renderer};

use crate::cli::{ColorArg, ExportArgs, ReportArgs};
use crate::settings::Settings;
use crate::user_error;

/// How to render `profile` for these report options; an error when `--metric` names a
/// measure the profile does not hold.
pub fn render_options(
    profile: &Profile,
    report: &ReportArgs,
    settings: &Settings,
    cwd: &Path,
) -> Result<RenderOptions> {
    let color = match report.color {
        ColorArg::Always => true,
        ColorArg::Never => false,
        ColorArg::Auto => {
            std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        }
    };
    let metric = match report.metric {
        Some(metric) => Some(chosen_metric(profile, metric)?),
        None => report_metric(profile, report.idle),
    };
    Ok(RenderOptions {
        top: report.top.unwrap_or(settings.top),
        sort: report.sort.or(settings.sort),
        min_share: report.min_share.unwrap_or(settings.min_share),
        color,
        base_dir: Some(cwd.to_string_lossy().into_owned()),
        metric,
        unit: report.unit,
        ..RenderOptions::default()
    })
}

/// The metric `--metric` names, if the profile measured it.
fn chosen_metric(profile: &Profile, metric: Metric) -> Result<Metric> {
    if profile.samples.column(metric).is_some() {
        return Ok(metric);
    }
    let held: Vec<&str> = profile
        .samples
        .metrics()
        .filter_map(crate::cli::metric_name)
        .collect();
    let mut error = user_error(format!(
        "this profile has no {} to show ({} mode{})",
        pyrometer_render::format::metric_title(metric),
        profile.meta.mode.as_str(),
        if held.is_empty() {
            String::new()
        } else {
            format!("; it holds: {}", held.join(", "))
        }
    ));
    if profile.meta.mode == Mode::Sample && metric.unit() == pyrometer_profile::Unit::Bytes {
        error = error.hint("record memory with the samples: pyrometer run --memory SCRIPT");
    }
    Err(error.into())
}

/// Sampled profiles report CPU time (threads on a CPU) unless `--idle` asks for wall time
/// (every live thread, waiting or not).
fn report_metric(profile: &Profile, idle: bool) -> Option<Metric> {
    let has = |m| profile.samples.column(m).is_some();
    if profile.meta.mode != Mode::Sample {
        return None;
    }
    if idle && has(Metric::WallSamples) {
        Some(Metric::WallSamples)
    } else if has(Metric::CpuSamples) {
        Some(Metric::CpuSamples)
    } else {
        None
    }
}

/// The part of `profile` the report is about: one process with `--process PID`, else all.
pub fn selected_process<'a>(
    profile: &'a Profile,
    report: &ReportArgs,
) -> Result<std::borrow::Cow<'a, Profile>> {
    let Some(pid) = report.process else {
        return Ok(std::borrow::Cow::Borrowed(profile));
    };
    match profile.only_process(pid) {
        Some(one) => Ok(std::borrow::Cow::Owned(one)),
        None => {
            let pids: Vec<String> = profile
                .processes
                .iter()
                .map(|p| p.pid.to_string())
                .collect();
            Err(user_error(format!("the profile has no process {pid}"))
                .hint(format!("its processes: {}", pids.join(", ")))
                .into())
        }
    }
}

/// Saves the profile, writes the exports, prints the report, then says where the profile is.
/// The profile is saved first: whatever fails after, what was collected is kept.
pub fn deliver(
    profile: &Profile,
    out_path: &Path,
    report: &ReportArgs,
    export: &ExportArgs,
    quiet: bool,
    settings: &Settings,
    cwd: &Path,
) -> Result<()> {
    pyrometer_profile::pyro::write(out_path, profile).map_err(|e| {
        user_error(format!(
            "cannot save the profile to {}: {e}",
            out_path.display()
        ))
    })?;
    let selected = selected_process(profile, report)?;
    let profile = selected.as_ref();
    let options = render_options(profile, report, settings, cwd)?;
    let exported = write_exports(profile, export, &options);
    let reported = if quiet {
        Ok(())
    } else {
        print_report(profile, report, &options)
    };
    let shown = out_path
        .strip_prefix(cwd)
        .unwrap_or(out_path)
        .display()
        .to_string();
    eprintln!("pyrometer: profile saved to {shown} (see it again with: pyrometer view {shown})");
    exported?;
    reported
}

/// Maps a renderer failure to what the user sees.
fn render_failure(e: RenderError) -> anyhow::Error {
    match e {
        RenderError::Empty(what) => user_error(format!("the profile has no {what} to show")).into(),
        RenderError::Other(message) => user_error(message).into(),
        RenderError::Io(e) => e.into(),
    }
}

/// Writes to stdout, treating a closed pipe (`| head`) as success.
fn write_stdout(bytes: &[u8]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// A line-level profile exports as JSON or text: the other formats describe call paths, which
/// it does not record.
pub fn check_lines_export(format: Format) -> Result<()> {
    if matches!(format, Format::Json | Format::Text) {
        return Ok(());
    }
    Err(user_error(format!(
        "a line-level profile cannot be written as {}: it records lines, not call paths",
        format.name()
    ))
    .hint("export it as .json (pyrometer view reads it) or .txt")
    .into())
}

/// The report the flags ask for: callers/callees, the call tree, or the top tables.
pub fn print_report(profile: &Profile, report: &ReportArgs, options: &RenderOptions) -> Result<()> {
    if profile.meta.mode == Mode::Lines
        && (report.tree || report.callers.is_some() || report.callees.is_some())
    {
        return Err(user_error(
            "--tree, --callers and --callees need call paths, which a line-level profile does not record",
        )
        .hint("run with --mode trace for them")
        .into());
    }
    let relations;
    let renderer: &dyn Renderer = if report.callers.is_some() || report.callees.is_some() {
        let query = report
            .callers
            .clone()
            .or_else(|| report.callees.clone())
            .unwrap_or_default();
        if let (Some(a), Some(b)) = (&report.callers, &report.callees)
            && a != b
        {
            return Err(user_error(
                "--callers and --callees must name the same function when given together",
            )
            .into());
        }
        relations = Relations {
            query,
            callers: report.callers.is_some(),
            callees: report.callees.is_some(),
        };
        &relations
    } else if report.tree {
        &CallTreeReport
    } else {
        Format::Text.renderer()
    };
    let top_report = report.callers.is_none() && report.callees.is_none() && !report.tree;
    let mut bytes = Vec::new();
    renderer
        .render(profile, options, &mut bytes)
        .map_err(render_failure)?;
    // The Advice section ends the top report (not the tree or callers/callees).
    if top_report && !report.no_advice {
        let cwd = std::env::current_dir()?;
        if Settings::load(&cwd).map_or(true, |s| s.advice) {
            bytes.push(b'\n');
            let section = crate::commands::check::advice_section(profile, options.color, &cwd);
            bytes.extend_from_slice(section.as_bytes());
        }
    }
    write_stdout(&bytes)
}

/// Writes one format to stdout (`view --format collapsed | flamegraph.pl`).
pub fn print_format(profile: &Profile, format: Format, options: &RenderOptions) -> Result<()> {
    if profile.meta.mode == Mode::Lines {
        check_lines_export(format)?;
    }
    if format.is_binary() && std::io::stdout().is_terminal() {
        return Err(user_error(format!(
            "{} output is binary; send it to a file with --export FILE",
            format.name()
        ))
        .into());
    }
    let bytes =
        pyrometer_render::render_to_vec(format, profile, options).map_err(render_failure)?;
    write_stdout(&bytes)
}

/// The format of an export file: `--format`, else its extension.
pub fn export_format(path: &Path, format: Option<Format>) -> Result<Format> {
    match format.or_else(|| Format::from_path(path)) {
        Some(f) => Ok(f),
        None => Err(user_error(format!("cannot tell the format of '{}' from its name", path.display()))
            .hint("use an extension (.prof, .pstats, .speedscope.json, .collapsed, .svg, .timeline.svg, .json) or --format")
            .into()),
    }
}

/// Checks every export's format before any work is done, so a typo fails fast.
pub fn check_exports(export: &ExportArgs) -> Result<()> {
    for path in &export.exports {
        export_format(path, export.format)?;
    }
    Ok(())
}

/// Writes the `--export` files, saying on stderr what was written.
pub fn write_exports(
    profile: &Profile,
    export: &ExportArgs,
    options: &RenderOptions,
) -> Result<()> {
    let file_options = RenderOptions {
        color: false,
        ..options.clone()
    };
    for path in &export.exports {
        let format = export_format(path, export.format)?;
        if profile.meta.mode == Mode::Lines {
            check_lines_export(format)?;
        }
        pyrometer_render::render_to_file(format, profile, &file_options, path).map_err(
            |e| match e {
                RenderError::Io(io) => anyhow::Error::from(user_error(format!(
                    "cannot write {}: {io}",
                    path.display()
                ))),
                other => render_failure(other),
            },
        )?;
        eprintln!("pyrometer: wrote {} ({})", path.display(), format.name());
    }
    Ok(())
}

/// This machine's name.
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it.
    if unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } != 0 {
        return String::new();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// `YYYYmmdd-HHMMSS` in local time.
fn local_timestamp(unix_secs: i64) -> String {
    // SAFETY: localtime_r writes into the tm we own.
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        let t: libc::time_t = unix_secs;
        libc::localtime_r(&t, &mut tm);
        tm
    };
    format!(
        "{:04}{:02}{:02}-{:02}{:02}{:02}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    )
}

/// `<dir>/runs/<time>-<name>.pyro`, never overwriting an earlier run.
pub fn new_run_path(settings: &Settings, name: &str, unix_secs: i64) -> PathBuf {
    let base = format!("{}-{}", local_timestamp(unix_secs), name);
    let runs = settings.dir.join("runs");
    let mut path = runs.join(format!("{base}.pyro"));
    let mut n = 2;
    while path.exists() {
        path = runs.join(format!("{base}-{n}.pyro"));
        n += 1;
    }
    path
}
