//! Whole commands, timed from here: each run is one process, spawned without a shell unless
//! asked (`--shell`), its wall time measured around spawn and wait. Runs of several commands are
//! interleaved round by round. The number of runs is at least `min_runs` and enough to fill
//! `min_time_ns` per command (estimated after the first round), at most `max_runs`; or exactly
//! `runs` when given.

use std::process::{Command, ExitStatus, Stdio};
use std::time::Instant;

use crate::BenchError;
use crate::result::Sample;
use crate::run::{Measured, Observer};

/// One command.
#[derive(Clone, Debug, PartialEq)]
pub struct CommandSpec {
    /// The program and its arguments; with `shell`, one string for `sh -c`.
    pub argv: Vec<String>,
    pub shell: bool,
}

impl CommandSpec {
    pub fn text(&self) -> String {
        if self.shell {
            self.argv.join(" ")
        } else {
            join_words(&self.argv)
        }
    }

    fn command(&self) -> Command {
        if self.shell {
            let mut c = Command::new("sh");
            c.arg("-c").arg(self.argv.join(" "));
            c
        } else {
            let mut c = Command::new(&self.argv[0]);
            c.args(&self.argv[1..]);
            c
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct CommandPlan {
    pub warmups: u32,
    /// Exactly this many runs (`-r`).
    pub runs: Option<u32>,
    pub min_runs: u32,
    pub max_runs: u32,
    /// Time to fill per command when `runs` is not given.
    pub min_time_ns: u64,
    /// A non-zero exit status is not an error.
    pub ignore_failure: bool,
    /// The commands' output goes to stderr instead of nowhere.
    pub show_output: bool,
}

impl CommandPlan {
    /// At least 10 runs and 3 s per command (hyperfine's defaults), 1 warm-up.
    pub fn normal() -> CommandPlan {
        CommandPlan {
            warmups: 1,
            runs: None,
            min_runs: 10,
            max_runs: 10_000,
            min_time_ns: 3_000_000_000,
            ignore_failure: false,
            show_output: false,
        }
    }

    pub fn fast() -> CommandPlan {
        CommandPlan {
            min_runs: 5,
            min_time_ns: 1_000_000_000,
            ..CommandPlan::normal()
        }
    }

    pub fn rigorous() -> CommandPlan {
        CommandPlan {
            warmups: 3,
            min_runs: 30,
            min_time_ns: 10_000_000_000,
            ..CommandPlan::normal()
        }
    }
}

fn describe_status(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(signal)) => format!("signal {signal}"),
        _ => "an unknown status".into(),
    }
}

/// Runs one command once and returns its wall time in nanoseconds.
pub fn time_once(spec: &CommandSpec, plan: &CommandPlan) -> Result<u64, BenchError> {
    let mut command = spec.command();
    command.stdin(Stdio::null());
    if plan.show_output {
        command.stdout(std::io::stderr()).stderr(std::io::stderr());
    } else {
        command.stdout(Stdio::null()).stderr(Stdio::null());
    }
    let start = Instant::now();
    let mut child = command.spawn().map_err(|e| BenchError::CommandSpawn {
        program: if spec.shell {
            "sh".into()
        } else {
            spec.argv[0].clone()
        },
        reason: match e.kind() {
            std::io::ErrorKind::NotFound => "no such program".into(),
            std::io::ErrorKind::PermissionDenied => "permission denied".into(),
            _ => e.to_string(),
        },
    })?;
    let status = child.wait().map_err(|e| BenchError::CommandSpawn {
        program: spec.argv[0].clone(),
        reason: e.to_string(),
    })?;
    let ns = start.elapsed().as_nanos() as u64;
    if !status.success() && !plan.ignore_failure {
        return Err(BenchError::CommandFailed {
            command: spec.text(),
            status: describe_status(status),
        });
    }
    Ok(ns)
}

/// Times `commands` by `plan`; `time` runs one command once (tests inject a fake).
pub fn run_commands_with(
    commands: &[CommandSpec],
    labels: &[String],
    plan: &CommandPlan,
    observer: &mut dyn Observer,
    time: &mut dyn FnMut(&CommandSpec) -> Result<u64, BenchError>,
) -> Result<Vec<Measured>, BenchError> {
    let n = commands.len();
    let mut out: Vec<Measured> = (0..n)
        .map(|_| Measured {
            loops: 1,
            ..Measured::default()
        })
        .collect();
    if n == 0 {
        return Ok(out);
    }
    if plan.runs == Some(0) {
        return Err(BenchError::Usage(
            "the number of runs (-r) must be at least 1".into(),
        ));
    }
    let mut runs = plan.runs.unwrap_or(plan.min_runs).max(1) as u64;
    let mut total = (plan.warmups as u64 + runs) * n as u64;
    let mut done = 0u64;
    let mut round = 0u64;
    let mut run_index = 0u64;
    while run_index < runs {
        let warmup = round < plan.warmups as u64;
        for c in (0..n).map(|i| (i + round as usize) % n) {
            observer.step(done, total, &labels[c]);
            let ns = time(&commands[c])?;
            out[c].samples.push(Sample {
                process: round as u32,
                warmup,
                loops: 1,
                ns,
            });
            done += 1;
        }
        if !warmup {
            if run_index == 0 && plan.runs.is_none() {
                // Enough runs to fill the time budget of the slowest command.
                let slowest = out
                    .iter()
                    .filter_map(|m| m.samples.last().map(|s| s.ns))
                    .max()
                    .unwrap_or(1)
                    .max(1);
                let wanted = plan.min_time_ns.div_ceil(slowest);
                runs = wanted.clamp(plan.min_runs.max(1) as u64, plan.max_runs.max(1) as u64);
                total = (plan.warmups as u64 + runs) * n as u64;
            }
            run_index += 1;
        }
        round += 1;
    }
    observer.step(total, total, "");
    Ok(out)
}

/// Times `commands` by `plan`, for real.
pub fn run_commands(
    commands: &[CommandSpec],
    labels: &[String],
    plan: &CommandPlan,
    observer: &mut dyn Observer,
) -> Result<Vec<Measured>, BenchError> {
    for c in commands {
        if c.argv.is_empty() || c.argv[0].is_empty() {
            return Err(BenchError::Usage("an empty command".into()));
        }
    }
    run_commands_with(commands, labels, plan, observer, &mut |spec| {
        time_once(spec, plan)
    })
}

/// Splits a command line into words the way a POSIX shell would quote them, without running
/// a shell: blanks separate words; 'single quotes' keep everything; "double quotes" keep all
/// but `\"`, `\\`, `\$` and `` \` ``; a backslash outside quotes keeps the next character.
/// No variables, globs or operators.
pub fn split_words(line: &str) -> Result<Vec<String>, BenchError> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(ch) => word.push(ch),
                        None => {
                            return Err(BenchError::Usage(format!(
                                "unterminated single quote in '{line}'"
                            )));
                        }
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.peek() {
                            Some(&n @ ('"' | '\\' | '$' | '`')) => {
                                word.push(n);
                                chars.next();
                            }
                            _ => word.push('\\'),
                        },
                        Some(ch) => word.push(ch),
                        None => {
                            return Err(BenchError::Usage(format!(
                                "unterminated double quote in '{line}'"
                            )));
                        }
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(n) = chars.next() {
                    word.push(n);
                }
            }
            other => {
                in_word = true;
                word.push(other);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// Joins words back into a line that [`split_words`] (and a shell) reads the same.
pub fn join_words(words: &[String]) -> String {
    words
        .iter()
        .map(|w| {
            let plain = !w.is_empty()
                && w.chars()
                    .all(|c| c.is_alphanumeric() || "-_./=:,+@%^".contains(c));
            if plain {
                w.clone()
            } else {
                format!("'{}'", w.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::Quiet;

    #[test]
    fn words() {
        let w = split_words(r#"python -c 'print("a b")' "x \"y\" \$z" a\ b  "#).unwrap();
        assert_eq!(w, ["python", "-c", "print(\"a b\")", "x \"y\" $z", "a b"]);
        assert_eq!(split_words("''").unwrap(), [""]);
        assert!(split_words("echo 'oops").is_err());
        let round = ["a b".to_string(), "it's".into(), "plain".into()];
        assert_eq!(split_words(&join_words(&round)).unwrap(), round);
    }

    #[test]
    fn runs_fill_the_budget_and_interleave() {
        let specs = vec![
            CommandSpec {
                argv: vec!["a".into()],
                shell: false,
            },
            CommandSpec {
                argv: vec!["b".into()],
                shell: false,
            },
        ];
        let labels = vec!["a".to_string(), "b".to_string()];
        let plan = CommandPlan {
            warmups: 1,
            runs: None,
            min_runs: 3,
            max_runs: 100,
            min_time_ns: 1_000,
            ignore_failure: false,
            show_output: false,
        };
        let mut calls = Vec::new();
        let out = run_commands_with(&specs, &labels, &plan, &mut Quiet, &mut |s| {
            calls.push(s.argv[0].clone());
            Ok(if s.argv[0] == "a" { 100 } else { 200 })
        })
        .unwrap();
        // 1000 ns budget / 200 ns for the slowest = 5 runs, plus a warm-up.
        assert_eq!(out[0].samples.len(), 6);
        assert_eq!(out[1].samples.len(), 6);
        assert_eq!(out[0].samples.iter().filter(|s| s.warmup).count(), 1);
        assert_eq!(&calls[..4], ["a", "b", "b", "a"]);
        // Each run is its own process.
        let procs: Vec<u32> = out[0].samples.iter().map(|s| s.process).collect();
        assert_eq!(procs, [0, 1, 2, 3, 4, 5]);
        let fixed = CommandPlan {
            runs: Some(2),
            warmups: 0,
            ..plan
        };
        let out = run_commands_with(&specs, &labels, &fixed, &mut Quiet, &mut |_| Ok(5)).unwrap();
        assert_eq!(out[1].samples.len(), 2);
    }

    #[test]
    fn real_commands_succeed_fail_and_go_missing() {
        let plan = CommandPlan {
            runs: Some(1),
            warmups: 0,
            ..CommandPlan::fast()
        };
        let ok = CommandSpec {
            argv: vec!["true".into()],
            shell: false,
        };
        assert!(time_once(&ok, &plan).unwrap() > 0);
        let fail = CommandSpec {
            argv: vec!["sh".into(), "-c".into(), "exit 3".into()],
            shell: false,
        };
        let err = time_once(&fail, &plan).unwrap_err();
        assert!(err.to_string().contains("exit status 3"), "{err}");
        let ignore = CommandPlan {
            ignore_failure: true,
            ..plan.clone()
        };
        assert!(time_once(&fail, &ignore).is_ok());
        let missing = CommandSpec {
            argv: vec!["/no/such/program-xyz".into()],
            shell: false,
        };
        let err = time_once(&missing, &plan).unwrap_err();
        assert!(err.to_string().contains("no such program"), "{err}");
        let shell = CommandSpec {
            argv: vec!["exit 0 && true".into()],
            shell: true,
        };
        assert!(time_once(&shell, &plan).is_ok());
    }
}
