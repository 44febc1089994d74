//! Runs the advisor on a saved profile and prints the report section (or the `check --profile`
//! text or JSON), with how long the advisor took on stderr.
//!
//! ```text
//! advise RUN.pyro [--text | --json] [--repeat N]
//! ```

use std::process::ExitCode;
use std::time::Instant;

use pyrometer_advisor::{AdviceOptions, SectionOptions, advise};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut path = None;
    let mut output = "section";
    let mut repeat = 1usize;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--text" => output = "text",
            "--json" => output = "json",
            "--repeat" => repeat = args.next().and_then(|n| n.parse().ok()).unwrap_or(1),
            _ => path = Some(arg),
        }
    }
    let Some(path) = path else {
        eprintln!("usage: advise RUN.pyro [--text | --json] [--repeat N]");
        return ExitCode::from(2);
    };
    let profile = match pyrometer_profile::pyro::read(std::path::Path::new(&path)) {
        Ok(profile) => profile,
        Err(e) => {
            eprintln!("advise: cannot read {path}: {e}");
            return ExitCode::from(2);
        }
    };
    let options = AdviceOptions::default();
    let mut best = f64::INFINITY;
    let mut advice = None;
    for _ in 0..repeat.max(1) {
        let start = Instant::now();
        let result = advise(&profile, &options);
        let text = match output {
            "text" => result.render_text(),
            "json" => result.render_json(),
            _ => result.render_section(&SectionOptions::default()),
        };
        best = best.min(start.elapsed().as_secs_f64());
        advice = Some((result, text));
    }
    let Some((result, text)) = advice else {
        return ExitCode::from(2);
    };
    print!("{text}");
    eprintln!(
        "advise: {} source files, {} stacks, {} findings, {} advice items; best of {repeat}: {:.1} ms",
        result.report.files_checked,
        profile.stacks.len(),
        result.findings.len(),
        result.items.len(),
        best * 1e3
    );
    ExitCode::SUCCESS
}
