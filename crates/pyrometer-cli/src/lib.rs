//! pyrometer's command line. The Python console script calls [`main`] through the native
//! module; everything from argument parsing to the report is here, in Rust.

mod child;
mod cli;
mod commands;
mod output;
mod sampling;
mod settings;

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

use clap::{CommandFactory, Parser};

pub use cli::Cli;

/// Facts about the interpreter the CLI runs in.
#[derive(Clone, Debug)]
pub struct Host {
    /// `sys.executable`: the default interpreter for `run`.
    pub python: PathBuf,
}

/// An error the user can fix: printed as one line (and a `hint:`), exit status 2 unless said.
#[derive(Debug)]
pub struct UserError {
    pub message: String,
    pub hint: Option<String>,
    pub status: i32,
}

impl std::fmt::Display for UserError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for UserError {}

/// A [`UserError`] with exit status 2.
pub fn user_error(message: impl Into<String>) -> UserError {
    UserError {
        message: message.into(),
        hint: None,
        status: 2,
    }
}

impl UserError {
    pub fn hint(mut self, hint: impl Into<String>) -> UserError {
        self.hint = Some(hint.into());
        self
    }
}

/// Runs the command line and returns the process exit status.
pub fn main(argv: Vec<OsString>, host: &Host) -> i32 {
    let argv = split_program_arguments(argv);
    let cli = match Cli::try_parse_from(argv) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return e.exit_code();
        }
    };
    match commands::dispatch(cli, host) {
        Ok(status) => status,
        Err(e) => {
            let stderr = std::io::stderr();
            let mut err = stderr.lock();
            match e.downcast_ref::<UserError>() {
                Some(user) => {
                    let _ = writeln!(err, "pyrometer: error: {}", user.message);
                    if let Some(hint) = &user.hint {
                        let _ = writeln!(err, "hint: {hint}");
                    }
                    user.status
                }
                None => {
                    // An unexpected failure: the cause chain on one line.
                    let chain: Vec<String> = e.chain().map(|c| c.to_string()).collect();
                    let _ = writeln!(err, "pyrometer: error: {}", chain.join(": "));
                    1
                }
            }
        }
    }
}

/// `run`'s own options come before the program; everything from the script (or `-m MODULE`,
/// `-c CODE`, or `--`) on belongs to the program, exactly as with `python`. Clap cannot express
/// that split, so it is made here: the program's part is passed after a `--`.
fn split_program_arguments(argv: Vec<OsString>) -> Vec<OsString> {
    if argv.get(1).and_then(|a| a.to_str()) != Some("run") {
        return argv;
    }
    let command = Cli::command();
    let run = command.find_subcommand("run").expect("run is defined");
    let takes_value = |token: &str| {
        run.get_arguments().any(|arg| {
            arg.get_action().takes_values()
                && (arg.get_long().is_some_and(|l| token == format!("--{l}"))
                    || arg.get_short().is_some_and(|s| token == format!("-{s}")))
        })
    };
    let mut out: Vec<OsString> = argv[..2].to_vec();
    let mut rest = argv[2..].iter().cloned();
    while let Some(token) = rest.next() {
        let Some(text) = token.to_str() else {
            out.push("--".into());
            out.push(token);
            break;
        };
        if text == "--" {
            out.push(token);
            break;
        }
        if text == "-m" || text == "-c" {
            out.push(token);
            if let Some(value) = rest.next() {
                out.push(value);
            }
            out.push("--".into());
            break;
        }
        if (text.starts_with("-m") || text.starts_with("-c"))
            && !text.starts_with("--")
            && text.len() > 2
        {
            out.push(text[..2].into());
            out.push(text[2..].into());
            out.push("--".into());
            break;
        }
        if text.starts_with('-') && text.len() > 1 {
            let value_follows = takes_value(text);
            out.push(token);
            if value_follows && let Some(value) = rest.next() {
                out.push(value);
            }
            continue;
        }
        // The script: it and everything after it go to the program.
        out.push("--".into());
        out.push(token);
        break;
    }
    out.extend(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(args: &[&str]) -> Vec<String> {
        let argv = std::iter::once("pyrometer")
            .chain(args.iter().copied())
            .map(OsString::from)
            .collect();
        split_program_arguments(argv)
            .into_iter()
            .map(|s| s.into_string().unwrap())
            .collect()
    }

    #[test]
    fn program_arguments_are_kept_apart() {
        assert_eq!(
            split(&["run", "--top", "5", "script.py", "--top", "x"]),
            [
                "pyrometer",
                "run",
                "--top",
                "5",
                "--",
                "script.py",
                "--top",
                "x"
            ]
        );
        assert_eq!(
            split(&["run", "-m", "http.server", "--bind", "::"]),
            [
                "pyrometer",
                "run",
                "-m",
                "http.server",
                "--",
                "--bind",
                "::"
            ]
        );
        assert_eq!(
            split(&["run", "-cprint(1)", "-v"]),
            ["pyrometer", "run", "-c", "print(1)", "--", "-v"]
        );
        assert_eq!(
            split(&["run", "--tree", "--", "-weird.py"]),
            ["pyrometer", "run", "--tree", "--", "-weird.py"]
        );
        assert_eq!(
            split(&["view", "x.pyro", "--top", "3"]),
            ["pyrometer", "view", "x.pyro", "--top", "3"]
        );
        assert_eq!(
            split(&["run", "--export", "/o/a.prof", "-q", "s.py"]),
            [
                "pyrometer",
                "run",
                "--export",
                "/o/a.prof",
                "-q",
                "--",
                "s.py"
            ]
        );
    }

    #[test]
    fn parsed_program_arguments() {
        let cli = Cli::try_parse_from(split(&[
            "run", "--export", "a.svg", "s.py", "-q", "--export", "b",
        ]))
        .unwrap();
        let cli::Command::Run(run) = cli.command else {
            panic!()
        };
        assert_eq!(run.export.exports, vec![PathBuf::from("a.svg")]);
        assert_eq!(run.target, ["s.py", "-q", "--export", "b"]);
        assert!(!run.quiet);
    }
}
