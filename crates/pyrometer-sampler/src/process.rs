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

use rustc_hash::{FxHashMap, FxHashSet};

use crate::code::{CodeInfo, CodeKey, StringPool, decode_bytes, decode_str};
use crate::discover::{RuntimeLocation, locate_runtime};
use crate::error::{Result, SamplerError};
use crate::layout::{self, CurrentFrame, GilLayout, Layout, PyVersion};
use crate::linetable::LineTable;
use crate::mem::{Batch, Bytes, ReadError, RemoteMemory};

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

/// Where bytes read during this sample are.
#[derive(Clone, Copy, Debug)]
enum Slot {
    B1(usize),
    B2(usize),
    B3(usize),
    Extra(usize),
}

fn get<'a>(b1: &'a Batch, b2: &'a Batch, extras: &'a [Vec<u8>], slot: Slot) -> Option<&'a [u8]> {
    match slot {
        Slot::B1(i) => b1.get(i),
        Slot::B2(i) => b2.get(i),
        Slot::B3(_) => None,
        Slot::Extra(i) => extras.get(i).map(Vec::as_slice),
    }
}

#[derive(Clone, Copy, Debug)]
struct Region {
    start: u64,
    end: u64,
    src: Slot,
    /// The lowest frame address visited in this region so far.
    floor: u64,
}

/// What phase 1 read speculatively for one thread.
#[derive(Clone, Copy, Debug, Default)]
struct ThreadSpec {
    /// (cframe address, request)
    cframe: Option<(u64, usize)>,
    /// (chunk address, bytes, request)
    chunk: Option<(u64, u64, usize)>,
}

/// Per-sample maps, kept between samples to reuse their allocations.
#[derive(Debug, Default)]
struct Scratch {
    known: FxHashMap<u64, usize>,
    thread_spec: FxHashMap<u64, ThreadSpec>,
    spec_chunks: FxHashMap<u64, (u64, Slot)>,
    spec_frames: FxHashMap<u64, Slot>,
    code_hdr: FxHashMap<u64, Slot>,
    thread_src: Vec<(Option<Slot>, Option<Slot>)>,
    regions: Vec<Region>,
    off_chunk_seen: Vec<u64>,
    frames: Vec<(u64, u64)>,
    per_thread: Vec<(usize, usize)>,
    distinct: FxHashSet<u64>,
    bad_codes: FxHashSet<u64>,
}

impl Scratch {
    fn clear(&mut self) {
        self.known.clear();
        self.thread_spec.clear();
        self.spec_chunks.clear();
        self.spec_frames.clear();
        self.code_hdr.clear();
        self.thread_src.clear();
        self.regions.clear();
        self.frames.clear();
        self.per_thread.clear();
        self.distinct.clear();
        self.bad_codes.clear();
    }
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
    b1: Batch,
    b2: Batch,
    b3: Batch,
    extras: Vec<Vec<u8>>,
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
        let layout = match forced {
            Some(l) => l,
            None => layout::select(pid, version, &mem, location.runtime_addr)?,
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
            b1: Batch::default(),
            b2: Batch::default(),
            b3: Batch::default(),
            extras: Vec::new(),
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

    /// Returns whether the sample is complete.
    fn sample_inner(&mut self, out: &mut ProcessSample, retry: bool) -> Result<bool, ReadError> {
        let mut s = std::mem::take(&mut self.scratch);
        let r = self.sample_with(out, retry, &mut s);
        self.scratch = s;
        r
    }

    fn sample_with(
        &mut self,
        out: &mut ProcessSample,
        retry: bool,
        s: &mut Scratch,
    ) -> Result<bool, ReadError> {
        if self.interps.is_empty() {
            self.reload_interpreters()?;
        }
        let l = self.layout.clone();
        let mut complete = true;
        s.clear();

        // ---- Phase 1: interpreter heads, GIL, known thread states, and speculatively
        // everything the previous sample needed after them.
        let b1 = &mut self.b1;
        b1.clear();
        let i_head = b1.push(self.runtime.wrapping_add(l.runtime_interpreters_head), 8);
        let i_gil_global = match l.gil {
            GilLayout::RuntimeTstateCurrent { offset } => {
                Some(b1.push(self.runtime.wrapping_add(offset), 8))
            }
            _ => None,
        };
        let mut interp_reqs = Vec::with_capacity(self.interps.len());
        for ic in &self.interps {
            let next = b1.push(ic.addr.wrapping_add(l.interp_next), 8);
            let threads = b1.push(ic.addr.wrapping_add(l.interp_threads_head), 8);
            let (holder, locked) = match l.gil {
                GilLayout::RuntimeTstateCurrent { .. } => (None, None),
                GilLayout::InterpPointer {
                    last_holder,
                    locked,
                    ..
                } => (
                    Some(b1.push(ic.gil.wrapping_add(last_holder), 8)),
                    Some(b1.push(ic.gil.wrapping_add(locked), 4)),
                ),
                GilLayout::InterpInline {
                    last_holder,
                    locked,
                } => (
                    Some(b1.push(ic.addr.wrapping_add(last_holder), 8)),
                    Some(b1.push(ic.addr.wrapping_add(locked), 4)),
                ),
            };
            interp_reqs.push((next, threads, holder, locked));
        }
        let tlen = l.tstate_read_len();
        for &t in &self.tstates {
            let i = b1.push(t, tlen);
            s.known.insert(t, i);
        }
        // Speculation: the frame pointer, current chunk, older chunks and off-chunk frames of
        // each known thread, then the code objects of the previous sample.
        let cf_off = match l.tstate_frame {
            CurrentFrame::ViaCFrame { current_frame, .. } => Some(current_frame),
            CurrentFrame::Direct { .. } => None,
        };
        for &t in &self.tstates {
            let Some(c) = self.thread_cache.get(&t) else {
                continue;
            };
            let mut spec = ThreadSpec::default();
            if let Some(off) = cf_off
                && c.cframe != 0
            {
                spec.cframe = Some((c.cframe, b1.push(c.cframe.wrapping_add(off), 8)));
            }
            if c.chunk != 0 && c.chunk_len > 0 {
                spec.chunk = Some((c.chunk, c.chunk_len, b1.push(c.chunk, c.chunk_len as usize)));
            }
            s.thread_spec.insert(t, spec);
            for &(a, len) in &c.chunks {
                if let std::collections::hash_map::Entry::Vacant(e) = s.spec_chunks.entry(a) {
                    e.insert((len, Slot::B1(b1.push(a, len as usize))));
                }
            }
            for &f in &c.off_chunk {
                if let std::collections::hash_map::Entry::Vacant(e) = s.spec_frames.entry(f) {
                    e.insert(Slot::B1(b1.push(f, l.frame_size as usize)));
                }
            }
        }
        let clen = l.code_read_len();
        for &c in &self.last_codes {
            s.code_hdr.insert(c, Slot::B1(b1.push(c, clen)));
        }
        self.mem.read_batch(b1)?;
        let b1 = &self.b1;

        // The interpreter list must be what we cached; otherwise reload it and retry once.
        let head = b1
            .get(i_head)
            .and_then(|b| b.u64_at(0))
            .ok_or(ReadError::Fault)?;
        let chain_ok = head == self.interps[0].addr
            && interp_reqs.iter().enumerate().all(|(i, r)| {
                let next = b1.get(r.0).and_then(|b| b.u64_at(0));
                let want = self.interps.get(i + 1).map_or(0, |ic| ic.addr);
                next == Some(want)
            });
        if !chain_ok {
            if head == 0 || !retry {
                // Finalizing or not started, or changing under our feet.
                return Ok(false);
            }
            self.reload_interpreters()?;
            return self.sample_with(out, false, s);
        }

        let global_holder = i_gil_global
            .and_then(|i| b1.get(i))
            .and_then(|b| b.u64_at(0))
            .unwrap_or(0);

        // Follow every interpreter's thread list.
        let mut found: Vec<u64> = Vec::with_capacity(self.tstates.len() + 1);
        let mut extra_tstate: Vec<u8> = Vec::new();
        for (ii, req) in interp_reqs.iter().enumerate() {
            let ic = self.interps[ii];
            let Some(mut t) = b1.get(req.1).and_then(|b| b.u64_at(0)) else {
                self.stats.read_errors += 1;
                complete = false;
                continue;
            };
            let holder = match (req.2, req.3) {
                (Some(h), Some(lk)) => {
                    let locked = b1.get(lk).and_then(|b| b.u32_at(0)).unwrap_or(0);
                    if locked != 0 {
                        b1.get(h).and_then(|b| b.u64_at(0)).unwrap_or(0)
                    } else {
                        0
                    }
                }
                _ => global_holder,
            };
            let mut count = 0;
            while t != 0 && count < MAX_THREADS {
                count += 1;
                let data: &[u8] = match s.known.get(&t).and_then(|&i| b1.get(i)) {
                    Some(d) => d,
                    None => {
                        extra_tstate.resize(tlen, 0);
                        if self.mem.read(t, &mut extra_tstate).is_err() {
                            self.stats.read_errors += 1;
                            complete = false;
                            break;
                        }
                        &extra_tstate
                    }
                };
                let field = |off: u64| data.u64_at(off as usize).unwrap_or(0);
                if field(l.tstate_interp) != ic.addr {
                    // Freed or torn thread state: the rest of the list is unreliable.
                    self.stats.dropped += 1;
                    complete = false;
                    break;
                }
                let ts = out.push();
                ts.tstate = t;
                ts.interp_id = ic.id;
                ts.ident = field(l.tstate_thread_id);
                ts.native_id = field(l.tstate_native_thread_id);
                ts.holds_gil = holder != 0 && holder == t;
                match l.tstate_frame {
                    CurrentFrame::ViaCFrame { cframe, .. } => {
                        ts.cframe = field(cframe);
                        ts.current_frame = 0;
                    }
                    CurrentFrame::Direct { current_frame } => {
                        ts.cframe = 0;
                        ts.current_frame = field(current_frame);
                    }
                }
                ts.chunk = field(l.tstate_datastack_chunk);
                ts.top = field(l.tstate_datastack_top);
                found.push(t);
                t = field(l.tstate_next);
            }
        }
        self.tstates.clear();
        self.tstates.extend_from_slice(&found);

        // ---- Phase 2: whatever the speculation did not cover.
        let n = out.len;
        let b2 = &mut self.b2;
        b2.clear();
        // Per thread: where its frame pointer and its current chunk are.
        s.thread_src.clear();
        for ts in &out.threads[..n] {
            let spec = s.thread_spec.get(&ts.tstate).copied().unwrap_or_default();
            let cf = match cf_off {
                Some(off) if ts.cframe != 0 => match spec.cframe {
                    Some((addr, i)) if addr == ts.cframe && b1.get(i).is_some() => {
                        Some(Slot::B1(i))
                    }
                    _ => Some(Slot::B2(b2.push(ts.cframe.wrapping_add(off), 8))),
                },
                _ => None,
            };
            let valid_chunk =
                ts.chunk != 0 && ts.top > ts.chunk && ts.top - ts.chunk <= MAX_CHUNK_BYTES;
            let chunk = if !valid_chunk {
                None
            } else {
                match spec.chunk {
                    Some((addr, len, i))
                        if addr == ts.chunk
                            && ts.top <= addr.saturating_add(len)
                            && b1.get(i).is_some() =>
                    {
                        Some(Slot::B1(i))
                    }
                    _ => Some(Slot::B2(b2.push(ts.chunk, (ts.top - ts.chunk) as usize))),
                }
            };
            s.thread_src.push((cf, chunk));
        }
        if !b2.is_empty() {
            self.mem.read_batch(b2)?;
        }

        // ---- Walk every thread's frames from the copies.
        self.extras.clear();
        for c in self.thread_cache.values_mut() {
            c.seen = false;
        }
        s.frames.clear();
        for (ti, ts) in out.threads[..n].iter_mut().enumerate() {
            let (cf, chunk) = s.thread_src[ti];
            let start = s.frames.len();
            if let Some(slot) = cf {
                match get(&self.b1, &self.b2, &self.extras, slot).and_then(|b| b.u64_at(0)) {
                    Some(f) => ts.current_frame = f,
                    None => {
                        self.stats.read_errors += 1;
                        self.stats.dropped += 1;
                        s.per_thread.push((start, start));
                        continue;
                    }
                }
            }
            let old_cache = self.thread_cache.remove(&ts.tstate).unwrap_or_default();
            let mut new_cache = ThreadCache {
                seen: true,
                cframe: ts.cframe,
                ..ThreadCache::default()
            };
            s.regions.clear();
            s.off_chunk_seen.clear();
            // The chunk chain still to load: the previous pointer of the last loaded chunk.
            let mut pending_chunk = 0u64;
            if let Some(slot) = chunk {
                if let Some(b) = get(&self.b1, &self.b2, &self.extras, slot) {
                    s.regions.push(Region {
                        start: ts.chunk,
                        end: ts.top,
                        src: slot,
                        floor: u64::MAX,
                    });
                    pending_chunk = b.u64_at(l.chunk_previous as usize).unwrap_or(0);
                    let size = b.u64_at(l.chunk_size as usize).unwrap_or(0);
                    // Next time read a little past the top, so that a slightly deeper stack
                    // is still covered by the speculative read.
                    let used = ts.top - ts.chunk;
                    new_cache.chunk = ts.chunk;
                    new_cache.chunk_len = (used.saturating_add(CHUNK_SLACK)).min(size.max(used));
                } else {
                    self.stats.read_errors += 1;
                }
            }
            let mut chunks_loaded = 0usize;
            let mut last_region = 0usize;
            let mut f = ts.current_frame;
            let mut ok = true;
            let mut torn = false;
            let mut depth = 0usize;
            let fsize = l.frame_size;
            while f != 0 {
                if depth >= MAX_FRAMES {
                    ts.truncated = true;
                    self.stats.truncated += 1;
                    break;
                }
                depth += 1;
                // Find the frame's bytes: in a loaded chunk, else load older chunks, else a
                // prefetched off-chunk frame, else read it.
                let slot_off: Option<(Slot, usize)> = loop {
                    let inside = |r: &Region| f >= r.start && f.saturating_add(fsize) <= r.end;
                    let hit = if s.regions.get(last_region).is_some_and(inside) {
                        Some(last_region)
                    } else {
                        s.regions.iter().position(inside)
                    };
                    if let Some(i) = hit {
                        // Within a chunk, callers sit below callees: a frame at or above one
                        // already visited in this chunk means a cycle in torn data.
                        let r = &mut s.regions[i];
                        if f >= r.floor {
                            torn = true;
                            break None;
                        }
                        r.floor = f;
                        last_region = i;
                        break Some((r.src, (f - r.start) as usize));
                    }
                    if pending_chunk != 0 && chunks_loaded < MAX_CHUNKS {
                        chunks_loaded += 1;
                        let c = pending_chunk;
                        pending_chunk = 0;
                        let mut loaded = None;
                        // Prefetched with the same extent?
                        if let Some(&(len, slot)) = s.spec_chunks.get(&c)
                            && let Some(b) = get(&self.b1, &self.b2, &self.extras, slot)
                        {
                            let top = b.u64_at(l.chunk_top as usize).unwrap_or(0);
                            if l.chunk_data.saturating_add(top.saturating_mul(8)) == len {
                                pending_chunk = b.u64_at(l.chunk_previous as usize).unwrap_or(0);
                                loaded = Some((slot, len));
                            }
                        }
                        if loaded.is_none() {
                            // Header (previous, size, top as a count of slots), then the
                            // used part.
                            let mut hdr = [0u8; 24];
                            if self.mem.read(c, &mut hdr).is_ok() {
                                let top = hdr.u64_at(l.chunk_top as usize).unwrap_or(0);
                                let size = hdr.u64_at(l.chunk_size as usize).unwrap_or(0);
                                let len = l.chunk_data.saturating_add(top.saturating_mul(8));
                                if len <= size && len <= MAX_CHUNK_BYTES {
                                    let mut body = vec![0u8; len as usize];
                                    if self.mem.read(c, &mut body).is_ok() {
                                        pending_chunk =
                                            body.u64_at(l.chunk_previous as usize).unwrap_or(0);
                                        self.extras.push(body);
                                        loaded = Some((Slot::Extra(self.extras.len() - 1), len));
                                    }
                                }
                            }
                        }
                        if let Some((src, len)) = loaded {
                            s.regions.push(Region {
                                start: c,
                                end: c.saturating_add(len),
                                src,
                                floor: u64::MAX,
                            });
                            new_cache.chunks.push((c, len));
                        }
                        continue;
                    }
                    // Off-chunk frames (generators, C-stack shims) have no order; a repeat
                    // is a cycle.
                    if s.off_chunk_seen.contains(&f) {
                        torn = true;
                        break None;
                    }
                    s.off_chunk_seen.push(f);
                    let keep = new_cache.off_chunk.len() < MAX_OFF_CHUNK_PREFETCH;
                    if let Some(&slot) = s.spec_frames.get(&f)
                        && get(&self.b1, &self.b2, &self.extras, slot).is_some()
                    {
                        if keep {
                            new_cache.off_chunk.push(f);
                        }
                        break Some((slot, 0));
                    }
                    let mut buf = vec![0u8; fsize as usize];
                    if self.mem.read(f, &mut buf).is_err() {
                        break None;
                    }
                    if keep {
                        new_cache.off_chunk.push(f);
                    }
                    self.extras.push(buf);
                    break Some((Slot::Extra(self.extras.len() - 1), 0));
                };
                let fb = slot_off.and_then(|(slot, off)| {
                    get(&self.b1, &self.b2, &self.extras, slot)
                        .and_then(|b| b.get(off..off + fsize as usize))
                });
                let Some(fb) = fb else {
                    if !torn {
                        self.stats.read_errors += 1;
                    }
                    ok = false;
                    break;
                };
                let owner = fb.u8_at(l.frame_owner as usize).unwrap_or(u8::MAX);
                let code = fb.u64_at(l.frame_code as usize).unwrap_or(0);
                let previous = fb.u64_at(l.frame_previous as usize).unwrap_or(0);
                let instr = fb.u64_at(l.frame_instr as usize).unwrap_or(0);
                if owner > l.frame_owner_max {
                    ok = false;
                    break;
                }
                if l.frame_owner_shim != Some(owner) {
                    if code == 0 {
                        ok = false;
                        break;
                    }
                    s.frames.push((code, instr));
                }
                f = previous;
            }
            drop(old_cache);
            self.thread_cache.insert(ts.tstate, new_cache);
            if !ok {
                self.stats.dropped += 1;
                s.frames.truncate(start);
            }
            ts.ok = ok;
            s.per_thread.push((start, s.frames.len()));
        }
        self.thread_cache.retain(|_, c| c.seen);

        // ---- Phase 3: validate code objects, decode new ones.
        let mut missing: Vec<u64> = Vec::new();
        for &(code, _) in &s.frames {
            if s.distinct.insert(code) {
                let prefetched = s
                    .code_hdr
                    .get(&code)
                    .is_some_and(|&slot| get(&self.b1, &self.b2, &self.extras, slot).is_some());
                if !prefetched {
                    missing.push(code);
                }
            }
        }
        self.b3.clear();
        for &c in &missing {
            s.code_hdr.insert(c, Slot::B3(self.b3.push(c, clen)));
        }
        if !self.b3.is_empty() {
            self.mem.read_batch(&mut self.b3)?;
        }
        let mut new_codes: Vec<(u64, CodeKey)> = Vec::new();
        for &c in &s.distinct {
            let hdr = s.code_hdr.get(&c).and_then(|&slot| match slot {
                Slot::B3(i) => self.b3.get(i),
                other => get(&self.b1, &self.b2, &self.extras, other),
            });
            let Some(key) = hdr.and_then(|h| CodeKey::parse(&l, h)) else {
                self.stats.read_errors += 1;
                s.bad_codes.insert(c);
                continue;
            };
            if self.code_type == 0 {
                if self.type_is_code(key.ob_type) {
                    self.code_type = key.ob_type;
                } else {
                    s.bad_codes.insert(c);
                    continue;
                }
            } else if key.ob_type != self.code_type {
                s.bad_codes.insert(c);
                continue;
            }
            match self.codes.get(&c) {
                Some(info) if info.key == key => {}
                _ => new_codes.push((c, key)),
            }
        }
        if !new_codes.is_empty() {
            self.decode_codes(&new_codes, &mut s.bad_codes)?;
        }

        // ---- Resolve lines; drop threads that touched a bad code object.
        for (ti, ts) in out.threads[..n].iter_mut().enumerate() {
            let (start, end) = s.per_thread[ti];
            if !ts.ok {
                continue;
            }
            let mut ok = true;
            for &(code, instr) in &s.frames[start..end] {
                match self.codes.get(&code) {
                    Some(info) if !s.bad_codes.contains(&code) => ts.frames.push(RawFrame {
                        code,
                        serial: info.serial,
                        line: info.line_for(code, l.code_adaptive, instr),
                    }),
                    _ => {
                        ok = false;
                        break;
                    }
                }
            }
            if !ok {
                ts.frames.clear();
                ts.ok = false;
                self.stats.dropped += 1;
            }
        }
        self.last_codes.clear();
        self.last_codes.extend(
            s.distinct
                .iter()
                .filter(|c| !s.bad_codes.contains(c))
                .take(MAX_CODE_PREFETCH),
        );
        Ok(complete)
    }

    /// Whether the type object at `ty` is named "code".
    fn type_is_code(&self, ty: u64) -> bool {
        let Ok(name_ptr) = self.mem.read_u64(ty.wrapping_add(self.layout.type_name)) else {
            return false;
        };
        let mut name = [0u8; 5];
        self.mem.read(name_ptr, &mut name).is_ok() && &name == b"code\0"
    }

    /// Reads the names and line tables of new code objects (batched) and caches them.
    fn decode_codes(
        &mut self,
        new_codes: &[(u64, CodeKey)],
        bad: &mut FxHashSet<u64>,
    ) -> Result<(), ReadError> {
        let l = &self.layout;
        self.b3.clear();
        let mut idx = Vec::with_capacity(new_codes.len());
        for &(_, k) in new_codes {
            idx.push([
                self.b3.push(k.filename, STR_READ),
                self.b3.push(k.name, STR_READ),
                self.b3.push(k.qualname, STR_READ),
                self.b3.push(k.linetable, BYTES_READ),
            ]);
        }
        self.mem.read_batch(&mut self.b3)?;
        if self.codes.len() + new_codes.len() > MAX_CODE_CACHE {
            self.codes.clear();
        }
        for (&(addr, key), reqs) in new_codes.iter().zip(&idx) {
            let mut strings: [Option<String>; 3] = [None, None, None];
            for (k, s) in strings.iter_mut().enumerate() {
                let ptr = [key.filename, key.name, key.qualname][k];
                *s = match self.b3.get(reqs[k]) {
                    // A short object (near the end of a mapping) fails the speculative
                    // read: read its header alone and then its exact size.
                    None => read_str_exact(&self.mem, l, ptr),
                    Some(b) => match decode_str(l, b) {
                        Ok(v) => v,
                        Err(needed) => self
                            .mem
                            .read_vec(ptr, needed)
                            .ok()
                            .and_then(|b| decode_str(l, &b).ok().flatten()),
                    },
                };
            }
            let table = match self.b3.get(reqs[3]) {
                None => read_bytes_exact(&self.mem, l, key.linetable),
                Some(b) => match decode_bytes(l, b) {
                    Ok(v) => v.map(<[u8]>::to_vec),
                    Err(needed) => self
                        .mem
                        .read_vec(key.linetable, needed)
                        .ok()
                        .and_then(|b| decode_bytes(l, &b).ok().flatten().map(<[u8]>::to_vec)),
                },
            };
            let [Some(filename), Some(name), Some(qualname)] = strings else {
                self.stats.read_errors += 1;
                bad.insert(addr);
                continue;
            };
            let Some(table) = table else {
                self.stats.read_errors += 1;
                bad.insert(addr);
                continue;
            };
            let first_line = key.first_line.max(0) as u32;
            let info = CodeInfo {
                serial: self.next_serial,
                key,
                name: self.strings.get(&name),
                qualname: self.strings.get(&qualname),
                filename: self.strings.get(&filename),
                first_line,
                lines: LineTable::decode(&table, first_line),
            };
            self.next_serial = self.next_serial.wrapping_add(1);
            self.stats.code_misses += 1;
            self.codes.insert(addr, info);
        }
        Ok(())
    }
}

fn read_str_exact(mem: &RemoteMemory, l: &Layout, ptr: u64) -> Option<String> {
    let hdr = mem.read_vec(ptr, l.unicode_compact_size as usize).ok()?;
    match decode_str(l, &hdr) {
        Ok(v) => v,
        Err(needed) => {
            let b = mem.read_vec(ptr, needed).ok()?;
            decode_str(l, &b).ok().flatten()
        }
    }
}

fn read_bytes_exact(mem: &RemoteMemory, l: &Layout, ptr: u64) -> Option<Vec<u8>> {
    let hdr = mem.read_vec(ptr, l.bytes_sval as usize).ok()?;
    match decode_bytes(l, &hdr) {
        Ok(v) => v.map(<[u8]>::to_vec),
        Err(needed) => {
            let b = mem.read_vec(ptr, needed).ok()?;
            decode_bytes(l, &b).ok().flatten().map(<[u8]>::to_vec)
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
