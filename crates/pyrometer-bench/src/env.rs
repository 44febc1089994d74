//! The environment a run is recorded with: CPU, machine, OS, git commit and dirty state.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::result::{Environment, GitInfo, PythonInfo};

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

/// The CPU model named in /proc/cpuinfo.
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_default()
}

pub fn hostname() -> String {
    read_trimmed("/proc/sys/kernel/hostname")
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_default()
}

pub fn os() -> String {
    match (
        read_trimmed("/proc/sys/kernel/ostype"),
        read_trimmed("/proc/sys/kernel/osrelease"),
    ) {
        (Some(t), Some(r)) => format!("{t} {r}"),
        _ => std::env::consts::OS.to_string(),
    }
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The commit of `dir`'s repository and whether tracked files differ from it.
pub fn git_info(dir: &Path) -> Option<GitInfo> {
    let commit = git(dir, &["rev-parse", "HEAD"])?;
    let dirty =
        git(dir, &["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    let branch = git(dir, &["rev-parse", "--abbrev-ref", "HEAD"]).filter(|b| b != "HEAD");
    Some(GitInfo {
        commit,
        dirty,
        branch,
    })
}

/// Everything but the interpreter, which the caller knows.
pub fn capture(cwd: &Path, python: Option<PythonInfo>, argv: Vec<String>) -> Environment {
    Environment {
        python,
        cpu: cpu_model(),
        cores: std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
        machine: hostname(),
        os: os(),
        git: git_info(cwd),
        cwd: cwd.to_string_lossy().into_owned(),
        argv,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_what_it_can() {
        let dir = tempfile::tempdir().unwrap();
        let env = capture(dir.path(), None, vec!["x".into()]);
        assert!(env.cores >= 1);
        assert!(
            env.git.is_none(),
            "a fresh temporary directory is no repository"
        );
        assert_eq!(env.argv, ["x"]);
    }
}
