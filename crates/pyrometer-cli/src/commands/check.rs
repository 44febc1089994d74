//! `pyrometer check`: the static performance rules over source files, optionally ranked by
//! what a saved profile measured on each finding's lines; and the "Advice" section that `run`
//! and `view` add to their reports.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::{ArgAction, Args, ValueEnum};
use pyrometer_advisor::{AdviceOptions, SectionOptions, advise};
use pyrometer_lint::{CheckOptions, Report, Rule, Settings, find_pyproject, rules};
use pyrometer_profile::{FileError, Profile, pyro};

use crate::user_error;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CheckFormat {
    /// ruff-like text: location, code, message, the source line with a marker
    Text,
    /// pyrometer's JSON document (version 1)
    Json,
    /// SARIF 2.1.0, for code-scanning UIs
    Sarif,
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Files and directories to check [default: the current directory; with --profile, the
    /// program's own source files named in the profile]
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Rules to run: codes (PYR101), prefixes (PYR1) or ALL; comma-separated, repeatable.
    /// Replaces `select` of [tool.pyrometer.check]
    #[arg(long, value_name = "RULES", value_delimiter = ',', action = ArgAction::Append, help_heading = "Rules")]
    pub select: Option<Vec<String>>,
    /// Rules to run in addition to the selected ones
    #[arg(long, value_name = "RULES", value_delimiter = ',', action = ArgAction::Append, help_heading = "Rules")]
    pub extend_select: Option<Vec<String>>,
    /// Rules not to run (codes or prefixes); wins over --select
    #[arg(long, value_name = "RULES", value_delimiter = ',', action = ArgAction::Append, help_heading = "Rules")]
    pub ignore: Option<Vec<String>>,
    /// Glob patterns of paths to skip while walking directories
    #[arg(long, value_name = "GLOBS", value_delimiter = ',', action = ArgAction::Append, help_heading = "Rules")]
    pub exclude: Option<Vec<String>>,
    /// Rank the findings by what this saved run measured on their lines, and add the advice
    /// that comes from the profile
    #[arg(long, value_name = "RUN.pyro", help_heading = "Profile")]
    pub profile: Option<PathBuf>,
    /// With --profile: findings in code under this share of the run are cold (listed last)
    #[arg(
        long,
        value_name = "PERCENT",
        default_value_t = 1.0,
        help_heading = "Profile"
    )]
    pub cold_share: f64,
    /// Output format
    #[arg(long, value_enum, default_value_t = CheckFormat::Text, help_heading = "Output")]
    pub format: CheckFormat,
    /// Write the output to FILE instead of stdout
    #[arg(short = 'o', long, value_name = "FILE", help_heading = "Output")]
    pub output: Option<PathBuf>,
    /// Print a rule's documentation (what it finds, why, an example, the measured gain)
    #[arg(long, value_name = "CODE", conflicts_with_all = ["paths", "profile", "list_rules"])]
    pub explain: Option<String>,
    /// List every rule: code, name, whether it is on by default, what it finds
    #[arg(long, conflicts_with_all = ["paths", "profile"])]
    pub list_rules: bool,
}

/// `[tool.pyrometer.check]` of the nearest pyproject.toml, with `cli` over it.
fn lint_settings(cwd: &Path, cli: CheckOptions) -> Result<Settings, crate::UserError> {
    let file = match find_pyproject(cwd) {
        Some(path) => CheckOptions::from_pyproject(&path).map_err(|e| user_error(e.to_string()))?,
        None => CheckOptions::default(),
    };
    Settings::from_options(&cli.merge(file)).map_err(|e| {
        user_error(e.to_string()).hint("pyrometer check --list-rules lists the rule codes")
    })
}

/// Reads a saved profile, with the errors `view` gives.
fn read_profile(path: &Path) -> Result<Profile, crate::UserError> {
    pyro::read(path).map_err(|e| {
        let file = path.display();
        match e {
            FileError::Io(io) if io.kind() == std::io::ErrorKind::NotFound => {
                user_error(format!("cannot open {file}: no such file"))
            }
            FileError::Io(io) => user_error(format!("cannot read {file}: {io}")),
            other => user_error(format!("cannot read {file}: {other}")),
        }
    })
}

/// Writes the output to `--output` or stdout (a closed pipe is not an error).
fn emit(text: &str, output: Option<&Path>) -> Result<()> {
    match output {
        Some(path) => {
            std::fs::write(path, text)
                .map_err(|e| user_error(format!("cannot write {}: {e}", path.display())))?;
            eprintln!("pyrometer: wrote {}", path.display());
            Ok(())
        }
        None => {
            let mut out = std::io::stdout().lock();
            match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
                other => Ok(other?),
            }
        }
    }
}

fn explain(code: &str) -> Result<String> {
    let Some(rule) = Rule::from_code(code) else {
        return Err(user_error(format!("unknown rule code '{code}'"))
            .hint("pyrometer check --list-rules lists them")
            .into());
    };
    let info = rule.info();
    let default = if info.default_enabled {
        "on by default"
    } else {
        "off by default (select it by its code)"
    };
    Ok(format!(
        "# {} ({})\n\n{}; {default}.\n\n{}\n",
        info.code,
        info.name,
        info.summary,
        info.explanation()
    ))
}

fn list_rules(format: CheckFormat) -> String {
    match format {
        CheckFormat::Text => {
            let mut out = String::new();
            for info in rules() {
                let default = if info.default_enabled { "on " } else { "off" };
                out.push_str(&format!(
                    "{}  {default}  {:<28} {}\n",
                    info.code, info.name, info.summary
                ));
            }
            out
        }
        CheckFormat::Json | CheckFormat::Sarif => {
            let list: Vec<serde_json::Value> = rules()
                .iter()
                .map(|info| {
                    serde_json::json!({
                        "code": info.code,
                        "name": info.name,
                        "default": info.default_enabled,
                        "summary": info.summary,
                        "expected_gain": info.expected_gain(),
                    })
                })
                .collect();
            let mut text = serde_json::to_string_pretty(&list).unwrap_or_default();
            text.push('\n');
            text
        }
    }
}

pub fn check(args: CheckArgs) -> Result<i32> {
    if let Some(code) = &args.explain {
        emit(&explain(code)?, args.output.as_deref())?;
        return Ok(0);
    }
    if args.list_rules {
        emit(&list_rules(args.format), args.output.as_deref())?;
        return Ok(0);
    }
    if !(args.cold_share.is_finite() && (0.0..=100.0).contains(&args.cold_share)) {
        return Err(user_error(format!(
            "--cold-share {} is not a percentage between 0 and 100",
            args.cold_share
        ))
        .into());
    }
    let cwd = std::env::current_dir()?;
    let cli = CheckOptions {
        select: args.select,
        extend_select: args.extend_select,
        ignore: args.ignore,
        exclude: args.exclude,
    };
    let settings = lint_settings(&cwd, cli)?;
    for path in &args.paths {
        if std::fs::symlink_metadata(path).is_err() {
            return Err(user_error(format!(
                "cannot check '{}': no such file or directory",
                path.display()
            ))
            .into());
        }
    }
    let (text, status) = match &args.profile {
        None => {
            let paths = if args.paths.is_empty() {
                vec![PathBuf::from(".")]
            } else {
                args.paths
            };
            let report: Report = pyrometer_lint::check_paths(&paths, &settings);
            let text = match args.format {
                CheckFormat::Text => report.render_text(),
                CheckFormat::Json => report.render_json(),
                CheckFormat::Sarif => report.render_sarif(),
            };
            (text, report.exit_code())
        }
        Some(profile_path) => {
            let profile = read_profile(profile_path)?;
            let options = AdviceOptions {
                settings,
                cold_percent: args.cold_share,
                paths: (!args.paths.is_empty()).then_some(args.paths),
                profile_advice: true,
            };
            let advice = advise(&profile, &options);
            let text = match args.format {
                CheckFormat::Text => advice.render_text(),
                CheckFormat::Json => advice.render_json(),
                CheckFormat::Sarif => advice.render_sarif(),
            };
            (text, advice.exit_code())
        }
    };
    emit(&text, args.output.as_deref())?;
    Ok(status)
}

/// The "Advice" section of a run report (`run`, `view`): the rules of `[tool.pyrometer.check]`
/// on the program's sources, ranked by the profile, and the profile-only advice. Never fails:
/// a problem becomes a line of the section.
pub(crate) fn advice_section(profile: &Profile, color: bool, cwd: &Path) -> String {
    let settings = match lint_settings(cwd, CheckOptions::default()) {
        Ok(settings) => settings,
        Err(e) => return format!("Advice · not available: {}\n", e.message),
    };
    let options = AdviceOptions {
        settings,
        ..AdviceOptions::default()
    };
    advise(profile, &options).render_section(&SectionOptions {
        color,
        ..SectionOptions::default()
    })
}
