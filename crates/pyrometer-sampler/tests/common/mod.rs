//! Shared test support: the interpreters on this machine, target scripts, and a child
//! process guard.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Tests that run CPU-bound targets take this lock: on a 2-core machine, two of them at once
/// would measure each other.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// An interpreter to test against.
#[derive(Clone, Debug)]
pub struct Interpreter {
    pub label: &'static str,
    pub path: PathBuf,
    /// `3.12` etc.
    pub minor: &'static str,
}

const CANDIDATES: &[(&str, &str, &str)] = &[
    (
        "pyenv 3.11",
        "/root/.pyenv/versions/3.11.7/bin/python3.11",
        "3.11",
    ),
    (
        "pyenv 3.12",
        "/root/.pyenv/versions/3.12.1/bin/python3.12",
        "3.12",
    ),
    (
        "pyenv 3.13",
        "/root/.pyenv/versions/3.13.0/bin/python3.13",
        "3.13",
    ),
    ("debian 3.11 (static)", "/usr/bin/python3.11", "3.11"),
];

/// The interpreters present; prints a skip line for each one missing.
pub fn interpreters() -> Vec<Interpreter> {
    let mut out = Vec::new();
    for &(label, path, minor) in CANDIDATES {
        if Path::new(path).exists() {
            out.push(Interpreter {
                label,
                path: PathBuf::from(path),
                minor,
            });
        } else {
            eprintln!("SKIP {label}: {path} not found");
        }
    }
    out
}

/// Fails loudly if no interpreter at all is available, so a test cannot pass having tested
/// nothing without saying so.
pub fn require_some(interps: &[Interpreter], test: &str) -> bool {
    if interps.is_empty() {
        eprintln!("SKIP {test}: no CPython 3.11+ interpreter found on this machine");
        return false;
    }
    true
}

pub fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/scripts")
        .join(name)
}

/// The line of `script` carrying the tag `# LINE:<tag>`.
pub fn tagged_line(name: &str, tag: &str) -> u32 {
    let text = std::fs::read_to_string(script(name)).expect("script");
    let needle = format!("# LINE:{tag}");
    text.lines()
        .position(|l| l.trim_end().ends_with(&needle))
        .map(|i| i as u32 + 1)
        .unwrap_or_else(|| panic!("no {needle} in {name}"))
}

/// A target process, killed and reaped on drop.
pub struct Target {
    pub child: Child,
    /// What the script printed after `READY `.
    pub ready: String,
}

impl Target {
    /// Starts `python script args…` and waits for its `READY` line.
    pub fn start(python: &Path, name: &str, args: &[&str]) -> Target {
        let mut child = Command::new(python)
            .arg(script(name))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {}: {e}", python.display()));
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            // Keep draining after READY so that later output never meets a closed pipe.
            while reader.read_line(&mut line).unwrap_or(0) > 0 {
                if let Some(rest) = line.trim_end().strip_prefix("READY ") {
                    let _ = tx.send(rest.to_owned());
                }
                line.clear();
            }
        });
        let mut target = Target {
            child,
            ready: String::new(),
        };
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(r) => target.ready = r,
            Err(_) => panic!("{name} under {} never printed READY", python.display()),
        }
        target
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Parses the `{"role": [ident, native], …}` map the threads script prints.
pub fn roles(json: &str) -> Vec<(String, u64, u64)> {
    let mut out = Vec::new();
    for part in json.trim_matches(|c| c == '{' || c == '}').split("],") {
        let Some((key, value)) = part.split_once(':') else {
            continue;
        };
        let key = key.trim().trim_matches('"').to_owned();
        let nums: Vec<u64> = value
            .trim()
            .trim_matches(|c| c == '[' || c == ']')
            .split(',')
            .filter_map(|n| n.trim().parse().ok())
            .collect();
        if nums.len() == 2 {
            out.push((key, nums[0], nums[1]));
        }
    }
    out
}
