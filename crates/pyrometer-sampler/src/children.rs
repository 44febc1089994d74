//! Following subprocesses (`--subprocesses`): finding the descendants of a process.
//!
//! Descendants are found from the `ppid` field of `/proc/*/stat` (works on every kernel; the
//! `/proc/PID/task/TID/children` files need `CONFIG_PROC_CHILDREN`). Whether a descendant is
//! Python is decided by attaching ([`crate::PythonProcess::attach`]): a child that has not
//! exec'd into its interpreter yet gives a transient error and is tried again at the next poll.

use rustc_hash::{FxHashMap, FxHashSet};

/// A process found under the root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcInfo {
    pub pid: u32,
    pub ppid: u32,
    /// `/proc/PID/cmdline`, split on NULs.
    pub command: Vec<String>,
}

/// The parent pid of `pid` (field 4 of `/proc/PID/stat`).
pub fn parent_pid(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// The command line of `pid` (empty for kernel threads or when unreadable).
pub fn command_line(pid: u32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            b.split(|&c| c == 0)
                .filter(|s| !s.is_empty())
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Every live descendant of `root` (children, grandchildren, …), parents before children.
pub fn descendants(root: u32) -> Vec<ProcInfo> {
    let mut children: FxHashMap<u32, Vec<u32>> = FxHashMap::default();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if let Some(ppid) = parent_pid(pid) {
            children.entry(ppid).or_default().push(pid);
        }
    }
    let mut out = Vec::new();
    let mut queue = vec![root];
    let mut seen = FxHashSet::default();
    while let Some(p) = queue.pop() {
        let Some(kids) = children.get(&p) else {
            continue;
        };
        for &k in kids {
            if seen.insert(k) {
                out.push(ProcInfo {
                    pid: k,
                    ppid: p,
                    command: command_line(k),
                });
                queue.push(k);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_child_and_a_grandchild() {
        let mut child = std::process::Command::new("sh")
            .args(["-c", "sleep 5 & wait"])
            .spawn()
            .expect("sh");
        let me = std::process::id();
        let mut found = Vec::new();
        // The grandchild is seen as a copy of `sh` until it has exec'd `sleep`.
        let is_sleep = |p: &ProcInfo| p.command.first().map(String::as_str) == Some("sleep");
        for _ in 0..200 {
            found = descendants(me);
            if found.iter().any(|p| p.ppid == child.id() && is_sleep(p)) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let _ = child.kill();
        let _ = child.wait();
        assert!(found.iter().any(|p| p.pid == child.id() && p.ppid == me));
        assert!(
            found.iter().any(|p| p.ppid == child.id() && is_sleep(p)),
            "no grandchild running sleep: {found:?}"
        );
        assert_eq!(parent_pid(me), Some(std::os::unix::process::parent_id()));
    }
}
