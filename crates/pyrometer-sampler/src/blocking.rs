//! `--blocking`: stopping every thread of the target for the duration of one sample, so the
//! stacks read are exact.
//!
//! Each sample seizes every thread (`PTRACE_SEIZE`), interrupts it (`PTRACE_INTERRUPT`) and
//! waits until it has stopped; [`Pause`] detaches them all when dropped, on every path
//! (including errors and panics), re-delivering any signal that arrived meanwhile. Nothing of
//! the tracing outlives the sample, so a crash of the sampler cannot leave the target stopped.
//! Waits use `waitid(WSTOPPED | WNOHANG)` only, so they never reap the exit status of a
//! child the caller is waiting for.

use std::time::{Duration, Instant};

use crate::error::{Result, SamplerError};

/// How long to wait for one thread to stop.
const STOP_TIMEOUT: Duration = Duration::from_millis(100);

/// The threads stopped for one sample; resumed on drop.
#[derive(Debug, Default)]
pub struct Pause {
    /// (tid, signal to re-deliver on detach)
    stopped: Vec<(libc::pid_t, libc::c_int)>,
}

/// The thread ids of `pid`.
pub fn task_ids(pid: u32) -> std::io::Result<Vec<libc::pid_t>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        if let Some(tid) = entry?.file_name().to_str().and_then(|s| s.parse().ok()) {
            out.push(tid);
        }
    }
    Ok(out)
}

fn ptrace(req: libc::c_uint, tid: libc::pid_t, data: usize) -> std::io::Result<()> {
    // SAFETY: these requests (SEIZE, INTERRUPT, DETACH) take no pointers from us: `addr` is
    // null and `data` is an integer (options or a signal number).
    let r = unsafe { libc::ptrace(req, tid, std::ptr::null_mut::<libc::c_void>(), data) };
    if r == -1 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Waits until `tid` is in a ptrace stop; returns the signal to re-deliver (0 for our own
/// interrupt), or `None` if it did not stop in time (it exited, most likely).
fn wait_stopped(tid: libc::pid_t) -> Option<libc::c_int> {
    let deadline = Instant::now() + STOP_TIMEOUT;
    loop {
        // SAFETY: an all-zero siginfo_t is a valid value for waitid to overwrite.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: `info` is a valid, writable siginfo_t for the duration of the call.
        let r = unsafe {
            libc::waitid(
                libc::P_PID,
                tid as libc::id_t,
                &mut info,
                libc::WSTOPPED | libc::WNOHANG | libc::__WALL,
            )
        };
        if r == -1 {
            return None;
        }
        // SAFETY: waitid filled `info` (si_pid stays 0 when nothing was reported yet).
        let reported = unsafe { info.si_pid() } != 0;
        if reported {
            // SAFETY: as above; si_status is valid for CLD_TRAPPED/CLD_STOPPED reports.
            let status = unsafe { info.si_status() };
            // PTRACE_EVENT_STOP after our interrupt reports SIGTRAP (or a group-stop
            // signal); any other signal is a signal-delivery stop to re-deliver.
            let event = status >> 8;
            let sig = status & 0x7f;
            return Some(if event != 0 || sig == libc::SIGTRAP || sig == 0 {
                0
            } else {
                sig
            });
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::yield_now();
    }
}

impl Pause {
    /// Stops every thread of `pid` (not our own process).
    pub fn new(pid: u32) -> Result<Pause> {
        if pid == std::process::id() {
            return Err(SamplerError::Blocking {
                pid,
                reason: "a process cannot stop itself; blocking mode is for other processes".into(),
            });
        }
        let tids = task_ids(pid).map_err(|e| crate::error::proc_error(pid, "/proc/PID/task", e))?;
        let mut pause = Pause::default();
        // Seize and interrupt every thread first, then wait for them all: the threads stop
        // in parallel instead of one after the other.
        for tid in tids {
            match ptrace(libc::PTRACE_SEIZE, tid, 0) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(libc::ESRCH) => continue,
                Err(e) => {
                    return Err(SamplerError::Blocking {
                        pid,
                        reason: format!("PTRACE_SEIZE of thread {tid}: {e}"),
                    });
                }
            }
            // From here on the thread is ours: it is detached on drop whatever happens.
            pause.stopped.push((tid, 0));
            let _ = ptrace(libc::PTRACE_INTERRUPT, tid, 0);
        }
        for entry in &mut pause.stopped {
            if let Some(sig) = wait_stopped(entry.0) {
                entry.1 = sig;
            }
        }
        Ok(pause)
    }

    /// Threads stopped.
    pub fn len(&self) -> usize {
        self.stopped.len()
    }

    pub fn is_empty(&self) -> bool {
        self.stopped.is_empty()
    }
}

impl Drop for Pause {
    fn drop(&mut self) {
        for &(tid, sig) in &self.stopped {
            // A thread that exited meanwhile gives ESRCH: nothing to resume.
            let _ = ptrace(libc::PTRACE_DETACH, tid, sig as usize);
        }
    }
}
