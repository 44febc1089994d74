//! One-shot stacks of every thread (`pyrometer dump --pid`).

use crate::cpu::{CpuStates, ThreadState};
use crate::error::Result;
use crate::process::{ProcessSample, PythonProcess, ThreadStack};

/// One frame of a dumped stack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DumpFrame {
    /// `co_name`
    pub name: String,
    /// `co_qualname`
    pub qualname: String,
    /// `co_filename`
    pub file: String,
    /// `co_firstlineno`
    pub first_line: u32,
    /// The line being executed.
    pub line: u32,
}

/// One thread's stack now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThreadDump {
    pub ident: u64,
    pub native_id: u64,
    /// `threading`'s name, or `MainThread` / `Thread-<ident>` (see
    /// [`PythonProcess::name_thread`]).
    pub name: String,
    pub is_main: bool,
    pub holds_gil: bool,
    /// Running (on a CPU or runnable), idle, or unknown.
    pub state: ThreadState,
    /// Frames from the outermost to the innermost (the order of a traceback).
    pub frames: Vec<DumpFrame>,
    /// False when the stack could not be read consistently (it is then empty).
    pub ok: bool,
}

/// The name a thread gets in reports when `threading`'s own name cannot be read:
/// `MainThread` for the process's main thread (its TID is the pid), `Thread-<ident>`
/// otherwise. Returns (name, is_main).
pub fn thread_name(pid: u32, native_id: u64, ident: u64) -> (String, bool) {
    if native_id == pid as u64 {
        ("MainThread".to_owned(), true)
    } else {
        (format!("Thread-{ident}"), false)
    }
}

impl PythonProcess {
    /// The name of a sampled thread: `threading`'s name (`Thread.name`) when it can be read
    /// ([`PythonProcess::thread_name`]), else [`thread_name`]'s fallback. Returns
    /// (name, is_main).
    pub fn name_thread(&self, t: &ThreadStack) -> (String, bool) {
        let (fallback, is_main) = thread_name(self.pid(), t.native_id, t.ident);
        if is_main {
            return (fallback, true);
        }
        (self.thread_name(t.tstate).unwrap_or(fallback), false)
    }
}

/// Attaches to `pid` and returns every thread's stack now.
pub fn dump(pid: u32) -> Result<Vec<ThreadDump>> {
    let mut process = PythonProcess::attach(pid)?;
    let mut cpu = CpuStates::new(pid);
    process.dump(&mut cpu)
}

impl PythonProcess {
    /// Every thread's stack now. Retries a few times when a thread's stack is torn (it
    /// changed while being read).
    pub fn dump(&mut self, cpu: &mut CpuStates) -> Result<Vec<ThreadDump>> {
        let mut sample = ProcessSample::default();
        for attempt in 0..5 {
            self.sample(&mut sample)?;
            if attempt < 4 && !(sample.complete && sample.threads().iter().all(|t| t.ok)) {
                continue;
            }
            break;
        }
        let mut out = Vec::new();
        for t in sample.threads() {
            let (name, is_main) = self.name_thread(t);
            let frames = t
                .frames
                .iter()
                .rev()
                .filter_map(|f| {
                    let info = self.code(f.code)?;
                    Some(DumpFrame {
                        name: info.name.to_string(),
                        qualname: info.qualname.to_string(),
                        file: info.filename.to_string(),
                        first_line: info.first_line,
                        line: f.line,
                    })
                })
                .collect();
            out.push(ThreadDump {
                ident: t.ident,
                native_id: t.native_id,
                name,
                is_main,
                holds_gil: t.holds_gil,
                state: cpu.state(t.native_id),
                frames,
                ok: t.ok,
            });
        }
        Ok(out)
    }
}
