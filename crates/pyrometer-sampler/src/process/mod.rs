//! A CPython process we read: attaching (finding and checking the runtime) and taking one
//! sample of every thread's stack.
//!
//! # How a sample is read (and why it costs few syscalls)
//!
//! 1. One batched read: the interpreter list heads, the GIL state, every thread state seen
//!    in the previous sample, and, speculatively, everything the previous sample needed next:
//!    each thread's current frame pointer (3.11/3.12 keep it in `tstate->cframe`), the used
//!    part of its current `_PyStackChunk` (where its frames live) plus a little slack, the
//!    older chunks and the frames outside any chunk (C-stack shims, generators) it walked
//!    through, and the headers of the code objects it saw.
//! 2. The thread lists are followed locally; each speculative read is used only if what the
//!    fresh thread state says matches it (same cframe, same chunk, top within the bytes
//!    read). Anything else (a new thread, a deeper stack, a new chunk) is read in a second
//!    batch.
//! 3. Frames are parsed from the copies. Only new code objects cost more reads (their names
//!    and line tables, batched); known ones are validated against the header read in 1.
//!
//! In a steady state that is **one** `process_vm_readv` call per sample for all threads.
//! Every link is bounded and validated; a read failure or a check failure drops that thread's
//! sample (counted), never the sampler.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use rustc_hash::FxHashMap;

use crate::code::{CodeInfo, StringPool};
use crate::discover::{RuntimeLocation, locate_runtime};
use pyrometer_cpython::PyVersion;
use pyrometer_cpython::layout::{self, GilLayout, Layout};
use pyrometer_cpython::memory::{ReadError, RemoteMemory};

use crate::error::{Result, SamplerError, layout_error};

mod walk;

use walk::Scratch;

/// The deepest stack read; deeper stacks are cut (and the sample counted as truncated).
pub const MAX_FRAMES: usize = 2048;
/// The most threads read per interpreter.
pub const MAX_THREADS: usize = 4096;
/// The most interpreters followed.
pub const MAX_INTERPRETERS: usize = 64;
/// The largest used part of one `_PyStackChunk` we copy.
pub const MAX_CHUNK_BYTES: u64 = 16 << 20;
/// The most chunks followed per thread.
pub const MAX_CHUNKS: usize = 256;
/// Off-chunk frames (shims, generators) remembered per thread for prefetching.
const MAX_OFF_CHUNK_PREFETCH: usize = 128;
/// Code objects remembered for prefetching.
const MAX_CODE_PREFETCH: usize = 1024;
/// Code cache entries before the cache is reset.
const MAX_CODE_CACHE: usize = 200_000;
/// First bytes read of a string or bytes object (the header plus a typical payload).
const STR_READ: usize = 192;
const BYTES_READ: usize = 512;
/// Bytes read past a chunk's last known top, so a slightly deeper stack is still covered.
const CHUNK_SLACK: u64 = 1024;

/// One frame of a sampled stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawFrame {
    /// The code object's address in the target.
    pub code: u64,
    /// The code cache entry's serial (see [`CodeInfo::serial`]).
    pub serial: u32,
    /// The line being executed.
    pub line: u32,
}

/// One thread in one sample.
#[derive(Clone, Debug, Default)]
pub struct ThreadStack {
    /// The `PyThreadState` address.
    pub tstate: u64,
    /// The interpreter's id (0 for the main interpreter).
    pub interp_id: i64,
    /// `threading.get_ident()`.
    pub ident: u64,
    /// `threading.get_native_id()` (the Linux TID).
    pub native_id: u64,
    /// Whether this thread held the GIL at the time of the sample.
    pub holds_gil: bool,
    /// Frames from the leaf (innermost) to the outermost.
    pub frames: Vec<RawFrame>,
    /// False when the walk failed (read error, torn data): `frames` is then empty.
    pub ok: bool,
    /// True when the stack was cut at [`MAX_FRAMES`].
    pub truncated: bool,
    // Walk state.
    current_frame: u64,
    cframe: u64,
    chunk: u64,
    top: u64,
}

/// Every thread of one sample. Reused between samples to avoid allocation.
#[derive(Debug, Default)]
pub struct ProcessSample {
    pub threads: Vec<ThreadStack>,
    /// False when the sample as a whole could not be taken (the interpreter list or the
    /// thread list could not be read): threads may be missing.
    pub complete: bool,
    len: usize,
}

impl ProcessSample {
    /// The threads of this sample.
    pub fn threads(&self) -> &[ThreadStack] {
        &self.threads[..self.len]
    }

    fn threads_mut(&mut self) -> &mut [ThreadStack] {
        &mut self.threads[..self.len]
    }

    fn push(&mut self) -> &mut ThreadStack {
        if self.len == self.threads.len() {
            self.threads.push(ThreadStack::default());
        }
        let t = &mut self.threads[self.len];
        self.len += 1;
        t.frames.clear();
        t.ok = false;
        t.truncated = false;
        t.holds_gil = false;
        t
    }
}

/// Counters of one reader.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadStats {
    /// Needed reads that failed (not counting speculative prefetches that missed).
    pub read_errors: u64,
    /// Thread stacks lost to a failed or torn walk.
    pub dropped: u64,
    /// Samples whose interpreter or thread list could not be read.
    pub incomplete: u64,
    /// Stacks cut at [`MAX_FRAMES`].
    pub truncated: u64,
    /// Code objects decoded (cache misses).
    pub code_misses: u64,
}

#[derive(Clone, Copy, Debug, Default)]
struct InterpCache {
    addr: u64,
    id: i64,
    /// 3.12: the address of the interpreter's `_gil_runtime_state`.
    gil: u64,
}

#[derive(Clone, Debug, Default)]
struct ThreadCache {
    /// 3.11/3.12: the `_PyCFrame` the current frame pointer was read from.
    cframe: u64,
    /// The current chunk and how many bytes of it to read speculatively.
    chunk: u64,
    chunk_len: u64,
    /// Older chunks (address, used bytes) the last walk needed.
    chunks: Vec<(u64, u64)>,
    /// Frames outside the chunks the last walk needed.
    off_chunk: Vec<u64>,
    seen: bool,
}

/// An attached CPython process.
pub struct PythonProcess {
    pid: u32,
    mem: RemoteMemory,
    layout: Layout,
    version: PyVersion,
    location: RuntimeLocation,
    runtime: u64,
    interps: Vec<InterpCache>,
    /// `&PyCode_Type` in the target, once a code object's type name read as "code".
    code_type: u64,
    codes: FxHashMap<u64, CodeInfo>,
    next_serial: u32,
    strings: StringPool,
    tstates: Vec<u64>,
    thread_cache: FxHashMap<u64, ThreadCache>,
    last_codes: Vec<u64>,
    stats: ReadStats,
    scratch: Scratch,
}

impl std::fmt::Debug for PythonProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PythonProcess")
            .field("pid", &self.pid)
            .field("version", &self.version)
            .field("binary", &self.location.binary)
            .field("runtime", &format_args!("{:#x}", self.runtime))
            .finish_non_exhaustive()
    }
}

fn read_error(pid: u32, e: ReadError, what: &'static str) -> SamplerError {
    match e {
        ReadError::Gone => SamplerError::NoSuchProcess { pid },
        ReadError::Denied => SamplerError::PermissionDenied {
            pid,
            what: "process_vm_readv",
        },
        ReadError::Fault => SamplerError::NotReady {
            pid,
            reason: format!("{what} is not readable"),
        },
        ReadError::Other(errno) => SamplerError::Io {
            what: format!("reading {what} of process {pid}"),
            source: std::io::Error::from_raw_os_error(errno),
        },
    }
}

impl PythonProcess {
    /// Attaches to `pid`: finds the runtime, reads the version, selects and checks the layout.
    /// Fails with a typed error if `pid` is not a (supported, initialized) CPython.
    pub fn attach(pid: u32) -> Result<PythonProcess> {
        Self::attach_inner(pid, None)
    }

    /// Attaches with `layout` instead of the one selected for the interpreter's version (to
    /// check a layout table against a live interpreter). The self-checks still run, so a wrong
    /// layout gives [`SamplerError::LayoutMismatch`] (or `NotReady`), not garbage.
    pub fn attach_with_layout(pid: u32, layout: Layout) -> Result<PythonProcess> {
        Self::attach_inner(pid, Some(layout))
    }

    fn attach_inner(pid: u32, forced: Option<Layout>) -> Result<PythonProcess> {
        let location = locate_runtime(pid)?;
        let mem = RemoteMemory::new(pid);
        let version_addr = location
            .py_version_addr
            .ok_or_else(|| SamplerError::NotPython {
                pid,
                reason: format!(
                    "{} has no Py_Version symbol (CPython before 3.11?)",
                    location.binary.display()
                ),
            })?;
        let hex = mem
            .read_u32(version_addr)
            .map_err(|e| read_error(pid, e, "Py_Version"))?;
        let version = PyVersion::from_hex(hex);
        if location.debug_build {
            return Err(SamplerError::UnsupportedVersion {
                pid,
                version: format!("{version} (debug build)"),
                reason: "a debug build (Py_DEBUG) lays its structures out differently".into(),
            });
        }
        let layout = match forced {
            Some(l) => l,
            None => {
                layout::for_version(version, &mem, location.runtime_addr, location.runtime_size)
                    .map_err(|e| layout_error(pid, version, e))?
            }
        };
        let mut process = PythonProcess {
            pid,
            mem,
            layout,
            version,
            runtime: location.runtime_addr,
            location,
            interps: Vec::new(),
            code_type: 0,
            codes: FxHashMap::default(),
            next_serial: 0,
            strings: StringPool::default(),
            tstates: Vec::new(),
            thread_cache: FxHashMap::default(),
            last_codes: Vec::new(),
            stats: ReadStats::default(),
            scratch: Scratch::default(),
        };
        process.self_check()?;
        Ok(process)
    }

    /// Attaches to `pid`, retrying while the target is still starting (not yet mapped its
    /// interpreter, runtime not initialized), for up to `timeout`.
    pub fn attach_wait(pid: u32, timeout: Duration) -> Result<PythonProcess> {
        let deadline = Instant::now() + timeout;
        loop {
            match PythonProcess::attach(pid) {
                // An exited child (a zombie until its parent waits) is not "starting".
                Err(e) if e.is_transient() && !process_alive(pid) => {
                    let _ = e;
                    return Err(SamplerError::NoSuchProcess { pid });
                }
                Err(e) if e.is_transient() && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                other => return other,
            }
        }
    }

    /// Checks the layout against live data: the interpreter list is readable, every thread
    /// state points back to its interpreter, and a code object's type is named "code".
    fn self_check(&mut self) -> Result<()> {
        let (pid, version) = (self.pid, self.version.to_string());
        let mismatch = move |check: &str| SamplerError::LayoutMismatch {
            pid,
            version: version.clone(),
            check: check.to_owned(),
        };
        let head = self
            .mem
            .read_u64(
                self.runtime
                    .wrapping_add(self.layout.runtime_interpreters_head),
            )
            .map_err(|e| read_error(self.pid, e, "_PyRuntime"))?;
        if head == 0 {
            return Err(SamplerError::NotReady {
                pid: self.pid,
                reason: "no interpreter yet (or already finalized)".into(),
            });
        }
        // From here on a pointer that leads to unmapped memory means the layout is wrong
        // (these structures do not move once the runtime is initialized).
        let layout_or = |e: ReadError, what: &str| match e {
            ReadError::Fault => mismatch(&format!("{what} points to unreadable memory")),
            e => read_error(pid, e, "the interpreter state"),
        };
        self.reload_interpreters()
            .map_err(|e| layout_or(e, "_PyRuntime.interpreters.head"))?;
        let interp = self.interps[0].addr;
        let t = self
            .mem
            .read_u64(interp.wrapping_add(self.layout.interp_threads_head))
            .map_err(|e| layout_or(e, "_PyRuntime.interpreters.head"))?;
        if t == 0 {
            return Err(SamplerError::NotReady {
                pid: self.pid,
                reason: "the main interpreter has no thread yet".into(),
            });
        }
        let back = self
            .mem
            .read_u64(t.wrapping_add(self.layout.tstate_interp))
            .map_err(|e| layout_or(e, "interp->threads.head"))?;
        if back != interp {
            return Err(mismatch(
                "the first thread state does not point back to its interpreter (tstate->interp)",
            ));
        }
        // Check a code object's type name, if any thread has a frame yet. A failure can be a
        // race (a frame popped mid-read), so retry a little; with no frame at all (an
        // interpreter still starting, or idle in C), accept now and let the walker check the
        // first code object it meets (until then every stack is dropped, and counted).
        let mut sample = ProcessSample::default();
        for _ in 0..50 {
            self.sample(&mut sample)?;
            if self.code_type != 0 {
                return Ok(());
            }
            let seen_frames =
                self.stats.dropped > 0 || sample.threads().iter().any(|t| t.current_frame != 0);
            if !seen_frames {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        if self.code_type == 0 && self.stats.dropped > 0 {
            return Err(mismatch(
                "no frame's code object has a type named \"code\" (f_code offset or code layout wrong)",
            ));
        }
        // Counters start from zero for the caller.
        self.stats = ReadStats::default();
        self.mem.reset_counters();
        Ok(())
    }

    fn reload_interpreters(&mut self) -> Result<(), ReadError> {
        self.interps.clear();
        let l = &self.layout;
        let mut addr = self
            .mem
            .read_u64(self.runtime.wrapping_add(l.runtime_interpreters_head))?;
        while addr != 0 && self.interps.len() < MAX_INTERPRETERS {
            let id = self.mem.read_u64(addr.wrapping_add(l.interp_id))? as i64;
            let gil = match l.gil {
                GilLayout::InterpPointer { gil_ptr, .. } => {
                    self.mem.read_u64(addr.wrapping_add(gil_ptr))?
                }
                _ => 0,
            };
            self.interps.push(InterpCache { addr, id, gil });
            addr = self.mem.read_u64(addr.wrapping_add(l.interp_next))?;
        }
        if self.interps.is_empty() {
            return Err(ReadError::Fault);
        }
        Ok(())
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn version(&self) -> PyVersion {
        self.version
    }

    /// The ELF file holding the runtime (the executable or `libpython3.X.so`).
    pub fn binary(&self) -> &PathBuf {
        &self.location.binary
    }

    /// How the runtime was found: `section` (`.PyRuntime`) or `symbol` (`_PyRuntime`).
    pub fn discovery_method(&self) -> &'static str {
        self.location.method
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The target's memory.
    pub fn memory(&self) -> &RemoteMemory {
        &self.mem
    }

    pub fn stats(&self) -> ReadStats {
        self.stats
    }

    /// `process_vm_readv` calls so far.
    pub fn syscalls(&self) -> u64 {
        self.mem.syscalls()
    }

    /// The decoded code object a frame refers to.
    pub fn code(&self, addr: u64) -> Option<&CodeInfo> {
        self.codes.get(&addr)
    }

    /// Reads every thread's stack now. Errors are fatal for this reader (the process is gone,
    /// access was denied); anything else is recorded in the sample and in [`Self::stats`].
    pub fn sample(&mut self, out: &mut ProcessSample) -> Result<()> {
        out.len = 0;
        out.complete = false;
        match self.sample_inner(out, true) {
            Ok(complete) => {
                out.complete = complete;
                if !complete {
                    self.stats.incomplete += 1;
                }
                Ok(())
            }
            Err(ReadError::Gone) => Err(SamplerError::NoSuchProcess { pid: self.pid }),
            Err(ReadError::Denied) => Err(SamplerError::PermissionDenied {
                pid: self.pid,
                what: "process_vm_readv",
            }),
            Err(e) => {
                // A failure of the first, essential reads: the process may be exiting.
                if !process_alive(self.pid) {
                    return Err(SamplerError::NoSuchProcess { pid: self.pid });
                }
                self.stats.read_errors += 1;
                self.stats.incomplete += 1;
                let _ = e;
                Ok(())
            }
        }
    }
}

/// Whether `pid` exists and is not a zombie.
pub fn process_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !matches!(stat_state(&s), Some('Z') | Some('X') | None),
        Err(_) => false,
    }
}

/// The state letter of a `/proc/.../stat` line (the field after the parenthesized command).
pub fn stat_state(stat: &str) -> Option<char> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.trim_start().chars().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_state_survives_odd_command_names() {
        assert_eq!(stat_state("12 (python3) S 1 2 3"), Some('S'));
        assert_eq!(stat_state("12 (a) b (c)) R 1 2 3"), Some('R'));
        assert_eq!(stat_state("garbage"), None);
    }
}
