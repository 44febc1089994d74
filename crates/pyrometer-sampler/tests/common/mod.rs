//! Shared test support: the interpreters on this machine, target scripts, and a child
//! process guard.
#![allow(dead_code)]

use std::ffi::OsString;
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
    pub label: String,
    /// What runs it: its path, or `chroot ROOT PATH` for one inside a Debian sid root.
    pub command: Vec<OsString>,
    /// `3.12` etc.
    pub minor: String,
    /// The directory of the target scripts, as the interpreter sees it.
    pub scripts: PathBuf,
}

/// The minor versions pyrometer supports; under CI each must be found.
pub const SUPPORTED: [&str; 5] = ["3.11", "3.12", "3.13", "3.14", "3.15"];

/// The minor version an interpreter command reports, if it runs.
fn minor_of(command: &[OsString]) -> Option<String> {
    let out = Command::new(&command[0])
        .args(&command[1..])
        .args(["-c", "import sys; print('%d.%d' % sys.version_info[:2])"])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

impl Interpreter {
    /// A command that runs the interpreter (arguments to be added).
    pub fn command(&self) -> Command {
        let mut c = Command::new(&self.command[0]);
        c.args(&self.command[1..]);
        c
    }
}

/// The Debian sid root `scripts/sid-root.sh` makes (CPython 3.14 and 3.15 run only there).
fn sid_root() -> PathBuf {
    match std::env::var_os("PYROMETER_SID_ROOT") {
        Some(root) => PathBuf::from(root),
        None => Path::new(&std::env::var_os("HOME").unwrap_or_default())
            .join(".cache/pyrometer/sid-root"),
    }
}

/// The scripts copied into `root` (once per test process), as seen from inside it.
fn scripts_in(root: &Path) -> PathBuf {
    static COPIED: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    COPIED
        .get_or_init(|| {
            let inside = PathBuf::from(format!(
                "/tmp/pyrometer-sampler-tests-{}",
                std::process::id()
            ));
            let dest = root.join(inside.strip_prefix("/").unwrap());
            std::fs::create_dir_all(&dest).expect("scripts dir in the sid root");
            for entry in std::fs::read_dir(script_dir()).expect("scripts") {
                let entry = entry.expect("script");
                std::fs::copy(entry.path(), dest.join(entry.file_name())).expect("copy script");
            }
            inside
        })
        .clone()
}

/// Every CPython 3.11+ on this machine: `PYROMETER_TEST_PYTHONS` (paths, separated by
/// whitespace) when set; otherwise `python3.X` on the PATH, pyenv's versions, Debian's static
/// `/usr/bin/python3.11` and, when running as root, the 3.14 and 3.15 of the sid root
/// (`PYROMETER_SID_ROOT`, default `~/.cache/pyrometer/sid-root`), run through `chroot`.
/// Panics when none is found, and under CI (`CI` set) when a supported version is missing:
/// a test cannot pass having tested nothing.
pub fn interpreters() -> Vec<Interpreter> {
    let mut candidates: Vec<(String, Vec<OsString>, PathBuf)> = Vec::new();
    let local = |label: String, path: PathBuf| (label, vec![path.into_os_string()], script_dir());
    if let Some(list) = std::env::var_os("PYROMETER_TEST_PYTHONS") {
        for path in list.to_string_lossy().split_whitespace() {
            candidates.push(local(path.to_owned(), PathBuf::from(path)));
        }
    } else {
        let pyenv = std::env::var_os("PYENV_ROOT")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                Path::new(&std::env::var_os("HOME").unwrap_or_default()).join(".pyenv")
            });
        for minor in ["3.11", "3.12", "3.13"] {
            let mut versions: Vec<PathBuf> = std::fs::read_dir(pyenv.join("versions"))
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with(&format!("{minor}.")))
                })
                .collect();
            versions.sort();
            if let Some(v) = versions.last() {
                candidates.push(local(
                    format!("pyenv {minor}"),
                    v.join(format!("bin/python{minor}")),
                ));
            }
            for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
                let path = dir.join(format!("python{minor}"));
                if path.exists() && !path.starts_with(&pyenv) {
                    candidates.push(local(path.display().to_string(), path));
                    break;
                }
            }
        }
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            let root = sid_root();
            for minor in ["3.14", "3.15"] {
                let inside = format!("/usr/bin/python{minor}");
                if root.join(&inside[1..]).exists() {
                    candidates.push((
                        format!("sid {minor} (chroot)"),
                        vec![
                            "chroot".into(),
                            root.clone().into_os_string(),
                            inside.into(),
                        ],
                        scripts_in(&root),
                    ));
                }
            }
        }
    }
    let mut out: Vec<Interpreter> = Vec::new();
    for (label, command, scripts) in candidates {
        let Some(minor) = minor_of(&command) else {
            eprintln!("note: {label} does not run");
            continue;
        };
        if !SUPPORTED.contains(&minor.as_str()) {
            continue;
        }
        // The same binary found twice (PATH and pyenv) is tested once.
        let resolved = std::fs::canonicalize(&command[command.len() - 1]).ok();
        if command.len() == 1
            && out.iter().any(|i| {
                i.command.len() == 1 && std::fs::canonicalize(&i.command[0]).ok() == resolved
            })
        {
            continue;
        }
        out.push(Interpreter {
            label,
            command,
            minor,
            scripts,
        });
    }
    assert!(
        !out.is_empty(),
        "no CPython 3.11+ interpreter found on this machine"
    );
    if std::env::var_os("CI").is_some() {
        for minor in SUPPORTED {
            assert!(
                out.iter().any(|i| i.minor == minor),
                "CI: no CPython {minor} found (make the sid root with scripts/sid-root.sh for 3.14 and 3.15)"
            );
        }
    } else {
        for minor in SUPPORTED {
            if !out.iter().any(|i| i.minor == minor) {
                eprintln!("note: no CPython {minor} found; its cases are not tested here");
            }
        }
    }
    out
}

fn script_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scripts")
}

pub fn script(name: &str) -> PathBuf {
    script_dir().join(name)
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
    pub fn start(python: &Interpreter, name: &str, args: &[&str]) -> Target {
        let mut child = python
            .command()
            .arg(python.scripts.join(name))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {}: {e}", python.label));
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
            Err(_) => panic!("{name} under {} never printed READY", python.label),
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
