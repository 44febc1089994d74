//! The sampler's typed errors.
//!
//! Every way an attach or a sample can fail has its own variant, so the CLI can print one line
//! (the `Display` text) plus, where the user can do something about it, a `hint:` line
//! ([`SamplerError::hint`]).

use std::io;

use pyrometer_cpython::{LayoutError, PyVersion};

/// Errors of attaching to a process and reading it.
#[derive(Debug, thiserror::Error)]
pub enum SamplerError {
    /// No process with this pid (or it exited before we could read it).
    #[error("no process with pid {pid}")]
    NoSuchProcess { pid: u32 },

    /// The kernel refused to let us read the target's memory or maps.
    #[error("permission denied reading process {pid} ({what})")]
    PermissionDenied { pid: u32, what: &'static str },

    /// The process exists but no CPython runtime could be found in it.
    #[error("process {pid} does not look like CPython: {reason}")]
    NotPython { pid: u32, reason: String },

    /// CPython was found, but its runtime is not (yet, or any more) initialized.
    #[error("the Python runtime of process {pid} is not ready: {reason}")]
    NotReady { pid: u32, reason: String },

    /// A CPython version this build has no layout for.
    #[error("unsupported Python version {version} in process {pid}: {reason}")]
    UnsupportedVersion {
        pid: u32,
        version: String,
        reason: String,
    },

    /// The layout table disagrees with what is in memory (a self-check failed).
    #[error("the memory layout of Python {version} in process {pid} failed a self-check: {check}")]
    LayoutMismatch {
        pid: u32,
        version: String,
        check: String,
    },

    /// Blocking mode could not stop the target.
    #[error("could not stop the threads of process {pid}: {reason}")]
    Blocking { pid: u32, reason: String },

    /// An ELF file could not be parsed.
    #[error("cannot parse {path}: {reason}")]
    Elf { path: String, reason: String },

    /// Any other I/O error, with what we were doing.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
}

impl SamplerError {
    /// A line telling the user how to fix the problem, when there is one (print it after the
    /// error as `hint: …`).
    pub fn hint(&self) -> Option<String> {
        match self {
            SamplerError::PermissionDenied { .. } => Some(permission_hint()),
            SamplerError::UnsupportedVersion { .. } => Some(format!(
                "pyrometer reads {}",
                pyrometer_cpython::layout::SUPPORTED
            )),
            SamplerError::NotReady { .. } => Some(
                "the interpreter may still be starting or already shutting down; try again"
                    .to_owned(),
            ),
            SamplerError::Blocking { .. } => Some(
                "blocking mode needs ptrace rights on the target; try without --blocking"
                    .to_owned(),
            ),
            _ => None,
        }
    }

    /// Whether retrying the attach later may succeed (the target is starting up).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            SamplerError::NotReady { .. } | SamplerError::NotPython { .. }
        )
    }
}

fn permission_hint() -> String {
    let scope = std::fs::read_to_string("/proc/sys/kernel/yama/ptrace_scope")
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok());
    let mut hint = String::from(
        "run pyrometer as the same user as the target (or as root / with CAP_SYS_PTRACE)",
    );
    match scope {
        Some(0) | None => {}
        Some(1) => hint.push_str(
            "; Yama ptrace_scope is 1 (only descendants can be read): \
             `echo 0 | sudo tee /proc/sys/kernel/yama/ptrace_scope` or use sudo",
        ),
        Some(n) => hint.push_str(&format!(
            "; Yama ptrace_scope is {n}: only root (2) or nobody (3) may read other processes"
        )),
    }
    hint.push_str("; in a container, run it with `--cap-add SYS_PTRACE`");
    hint
}

/// Maps an I/O error on `/proc/PID/...` to the right variant.
pub(crate) fn proc_error(pid: u32, what: &'static str, err: io::Error) -> SamplerError {
    match err.raw_os_error() {
        Some(libc::ENOENT) | Some(libc::ESRCH) => SamplerError::NoSuchProcess { pid },
        Some(libc::EPERM) | Some(libc::EACCES) => SamplerError::PermissionDenied { pid, what },
        _ => SamplerError::Io {
            what: format!("reading {what} of process {pid}"),
            source: err,
        },
    }
}

/// Why process `pid`, running CPython `version`, has no layout.
pub(crate) fn layout_error(pid: u32, version: PyVersion, e: LayoutError) -> SamplerError {
    match e {
        LayoutError::Unsupported { reason } => SamplerError::UnsupportedVersion {
            pid,
            version: version.to_string(),
            reason,
        },
        LayoutError::FreeThreaded => SamplerError::UnsupportedVersion {
            pid,
            version: format!("{version}t"),
            reason: e.to_string(),
        },
        LayoutError::Mismatch { check } => SamplerError::LayoutMismatch {
            pid,
            version: version.to_string(),
            check,
        },
    }
}

pub type Result<T, E = SamplerError> = std::result::Result<T, E>;
