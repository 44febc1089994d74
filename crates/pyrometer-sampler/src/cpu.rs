//! Whether a thread is on a CPU: the state letter of `/proc/PID/task/TID/stat`.
//!
//! Each thread's stat file is opened once and re-read with `pread` at offset 0 (one syscall
//! per thread per sample; the kernel regenerates the text on every read).

use std::fs::File;
use std::os::unix::fs::FileExt;

use rustc_hash::FxHashMap;

use crate::process::stat_state;

/// The scheduler state of a thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreadState {
    /// `R`: running or runnable.
    Running,
    /// `S`, `D`, `T`, `t`, …: not on a CPU.
    Idle,
    /// The stat file could not be read (the thread ended).
    Unknown,
}

/// Open stat files by TID.
#[derive(Debug)]
pub struct CpuStates {
    pid: u32,
    files: FxHashMap<u64, File>,
    syscall_files: FxHashMap<u64, File>,
    buf: Vec<u8>,
    reads: u64,
}

impl CpuStates {
    pub fn new(pid: u32) -> CpuStates {
        CpuStates {
            pid,
            files: FxHashMap::default(),
            syscall_files: FxHashMap::default(),
            buf: vec![0; 512],
            reads: 0,
        }
    }

    /// `pread` calls made so far.
    pub fn reads(&self) -> u64 {
        self.reads
    }

    /// The state of thread `tid` now.
    pub fn state(&mut self, tid: u64) -> ThreadState {
        if tid == 0 {
            return ThreadState::Unknown;
        }
        if !self.files.contains_key(&tid) {
            match File::open(format!("/proc/{}/task/{tid}/stat", self.pid)) {
                Ok(f) => {
                    self.files.insert(tid, f);
                }
                Err(_) => return ThreadState::Unknown,
            }
        }
        let Some(f) = self.files.get(&tid) else {
            return ThreadState::Unknown;
        };
        self.reads += 1;
        let n = match f.read_at(&mut self.buf, 0) {
            Ok(n) if n > 0 => n,
            _ => {
                // The thread is gone (ESRCH) or its TID was reused: reopen next time.
                self.files.remove(&tid);
                return ThreadState::Unknown;
            }
        };
        let text = String::from_utf8_lossy(&self.buf[..n]);
        match stat_state(&text) {
            Some('R') => ThreadState::Running,
            Some(_) => ThreadState::Idle,
            None => ThreadState::Unknown,
        }
    }

    /// The state of a thread that is stopped (blocking mode), from
    /// `/proc/PID/task/TID/syscall`: a thread stopped inside a system call was waiting in the
    /// kernel (idle); one stopped in user space (`-1 …`) was running. (Its `stat` state would
    /// only say "stopped", and reading it after the resume finds sleepers briefly woken.)
    pub fn paused_state(&mut self, tid: u64) -> ThreadState {
        if tid == 0 {
            return ThreadState::Unknown;
        }
        if !self.syscall_files.contains_key(&tid) {
            match File::open(format!("/proc/{}/task/{tid}/syscall", self.pid)) {
                Ok(f) => {
                    self.syscall_files.insert(tid, f);
                }
                Err(_) => return ThreadState::Unknown,
            }
        }
        let Some(f) = self.syscall_files.get(&tid) else {
            return ThreadState::Unknown;
        };
        self.reads += 1;
        let n = match f.read_at(&mut self.buf, 0) {
            Ok(n) if n > 0 => n,
            _ => {
                self.syscall_files.remove(&tid);
                return ThreadState::Unknown;
            }
        };
        match self.buf[..n].split(|&b| b == b' ').next() {
            Some(b"-1") | Some(b"running\n") | Some(b"running") => ThreadState::Running,
            Some(nr) if !nr.is_empty() && nr.iter().all(u8::is_ascii_digit) => ThreadState::Idle,
            _ => ThreadState::Unknown,
        }
    }

    /// Closes the files of threads not in `alive`.
    pub fn retain(&mut self, alive: impl Fn(u64) -> bool) {
        self.files.retain(|tid, _| alive(*tid));
        self.syscall_files.retain(|tid, _| alive(*tid));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_own_thread_is_running() {
        let tid = {
            // SAFETY: gettid has no preconditions and cannot fail.
            unsafe { libc::gettid() }
        } as u64;
        let mut s = CpuStates::new(std::process::id());
        assert_eq!(s.state(tid), ThreadState::Running);
        assert_eq!(s.state(0x3fff_fff0), ThreadState::Unknown);
    }
}
