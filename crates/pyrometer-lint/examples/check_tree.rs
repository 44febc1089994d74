//! Checks a tree and prints the summary: the harness for `benchmarks/rules/stdlib_speed.sh`.
//!
//! `cargo run --release -p pyrometer-lint --example check_tree -- [--all] [--format text|json|sarif|summary] PATH...`
//!
//! `--all` enables every rule (default: the default rules). The default format, `summary`,
//! prints only the count lines; the exit code is the report's.

use std::path::PathBuf;
use std::process::ExitCode;

use pyrometer_lint::{CheckOptions, Settings, check_paths};

fn main() -> ExitCode {
    let mut paths = Vec::new();
    let mut all = false;
    let mut format = String::from("summary");
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--all" => all = true,
            "--format" => format = args.next().unwrap_or_default(),
            _ => paths.push(PathBuf::from(arg)),
        }
    }
    if paths.is_empty() {
        eprintln!("usage: check_tree [--all] [--format text|json|sarif|summary] PATH...");
        return ExitCode::from(2);
    }
    let options = CheckOptions {
        select: all.then(|| vec!["ALL".to_string()]),
        ..CheckOptions::default()
    };
    let settings = match Settings::from_options(&options) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    let report = check_paths(&paths, &settings);
    let output = match format.as_str() {
        "text" => report.render_text(),
        "json" => report.render_json(),
        "sarif" => report.render_sarif(),
        _ => {
            let text = report.render_text();
            let summary_start = text
                .rfind("\nAll checks passed")
                .or_else(|| text.rfind("\nFound "))
                .map_or(0, |i| i + 1);
            text[summary_start..].to_string()
        }
    };
    print!("{output}");
    ExitCode::from(u8::try_from(report.exit_code()).unwrap_or(1))
}
