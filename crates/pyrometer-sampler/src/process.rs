//! A CPython process we read: attaching (finding and checking the runtime) and taking one
//! sample of every thread's stack.
//!
//! # How a sample is read (and why it costs few syscalls)
//!
//! 1. One batched read: the interpreter list heads, the GIL state and every thread state seen
//!    in the previous sample. The thread list is then followed locally; only a thread state
//!    that is new since the last sample costs a read of its own.
//! 2. One batched read: for every thread, its current frame pointer (3.11/3.12 keep it in
//!    `tstate->cframe`), the used part of its current `_PyStackChunk` (where its frames
//!    live), the older chunks and the frames outside any chunk (C-stack shims, generators)
//!    that the previous sample needed, and the headers of the code objects the previous sample
//!    saw. Frames are then parsed from the copies.
//! 3. Only when something changed: the headers of code objects not prefetched, the strings and
//!    line tables of code objects never seen, chunks or frames not prefetched.
//!
//! In a steady state that is two `process_vm_readv` calls per sample for all threads. Every
//! link is bounded and validated; a read failure or a check failure drops that thread's
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
    /// Older chunks (address, used bytes) the last walk needed.
    chunks: Vec<(u64, u64)>,
    /// Frames outside the chunks the last walk needed.
    off_chunk: Vec<u64>,
    seen: bool,
}

/// Where the bytes of a region of this sample are.
#[derive(Clone, Copy, Debug)]
enum Src {
    Batch(usize),
    Extra(usize),
}

#[derive(Clone, Copy, Debug)]
struct Region {
    start: u64,
    end: u64,
    src: Src,
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
    frames_scratch: Vec<(u64, u64)>,
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
        let layout = layout::select(pid, version, &mem, location.runtime_addr)?;
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
            frames_scratch: Vec::new(),
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
            .read_u64(self.runtime + self.layout.runtime_interpreters_head)
            .map_err(|e| read_error(self.pid, e, "_PyRuntime"))?;
        if head == 0 {
            return Err(SamplerError::NotReady {
                pid: self.pid,
                reason: "no interpreter yet (or already finalized)".into(),
            });
        }
        self.reload_interpreters()
            .map_err(|e| read_error(self.pid, e, "the interpreter list"))?;
        let interp = self.interps[0].addr;
        let t = self
            .mem
            .read_u64(interp + self.layout.interp_threads_head)
            .map_err(|e| read_error(self.pid, e, "the interpreter state"))?;
        if t == 0 {
            return Err(SamplerError::NotReady {
                pid: self.pid,
                reason: "the main interpreter has no thread yet".into(),
            });
        }
        let back = self
            .mem
            .read_u64(t + self.layout.tstate_interp)
            .map_err(|e| read_error(self.pid, e, "a thread state"))?;
        if back != interp {
            return Err(mismatch(
                "the first thread state does not point back to its interpreter (tstate->interp)",
            ));
        }
        // Find a code object: sample until a thread shows a frame (the main thread of a
        // running script always has one), then check its type's name.
        let mut sample = ProcessSample::default();
        let deadline = Instant::now() + Duration::from_millis(500);
        loop {
            self.sample(&mut sample)?;
            if self.code_type != 0 {
                return Ok(());
            }
            let seen_frames =
                self.stats.dropped > 0 || sample.threads().iter().any(|t| t.current_frame != 0);
            if Instant::now() > deadline {
                if seen_frames {
                    return Err(mismatch(
                        "no frame's code object has a type named \"code\" (f_code offset or code layout wrong)",
                    ));
                }
                // No Python frame anywhere yet (embedded interpreter idle): accept; the
                // type is checked when the first code object shows up.
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn reload_interpreters(&mut self) -> Result<(), ReadError> {
        self.interps.clear();
        let l = &self.layout;
        let mut addr = self
            .mem
            .read_u64(self.runtime + l.runtime_interpreters_head)?;
        while addr != 0 && self.interps.len() < MAX_INTERPRETERS {
            let id = self.mem.read_u64(addr + l.interp_id)? as i64;
            let gil = match l.gil {
                GilLayout::InterpPointer { gil_ptr, .. } => self.mem.read_u64(addr + gil_ptr)?,
                _ => 0,
            };
            self.interps.push(InterpCache { addr, id, gil });
            addr = self.mem.read_u64(addr + l.interp_next)?;
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
        let l = self.layout.clone();
        if self.interps.is_empty() {
            self.reload_interpreters()?;
        }
        let mut complete = true;

        // ---- Phase 1: interpreter heads, GIL, known thread states.
        let b1 = &mut self.b1;
        b1.clear();
        let i_head = b1.push(self.runtime + l.runtime_interpreters_head, 8);
        let i_gil_global = match l.gil {
            GilLayout::RuntimeTstateCurrent { offset } => Some(b1.push(self.runtime + offset, 8)),
            _ => None,
        };
        let mut interp_reqs = Vec::with_capacity(self.interps.len());
        for ic in &self.interps {
            let next = b1.push(ic.addr + l.interp_next, 8);
            let threads = b1.push(ic.addr + l.interp_threads_head, 8);
            let (holder, locked) = match l.gil {
                GilLayout::RuntimeTstateCurrent { .. } => (None, None),
                GilLayout::InterpPointer {
                    last_holder,
                    locked,
                    ..
                } => (
                    Some(b1.push(ic.gil + last_holder, 8)),
                    Some(b1.push(ic.gil + locked, 4)),
                ),
                GilLayout::InterpInline {
                    last_holder,
                    locked,
                } => (
                    Some(b1.push(ic.addr + last_holder, 8)),
                    Some(b1.push(ic.addr + locked, 4)),
                ),
            };
            interp_reqs.push((next, threads, holder, locked));
        }
        let tlen = l.tstate_read_len();
        let mut known: FxHashMap<u64, usize> = FxHashMap::default();
        for &t in &self.tstates {
            known.insert(t, b1.push(t, tlen));
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
            return self.sample_inner(out, false);
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
                let data: &[u8] = match known.get(&t).and_then(|&i| b1.get(i)) {
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

        // ---- Phase 2: frame pointers, chunks, prefetched frames and code headers.
        let b2 = &mut self.b2;
        b2.clear();
        let n = out.len;
        // Per thread: (cframe req, chunk req, first prefetched chunk, first off-chunk req).
        let mut reqs: Vec<(Option<usize>, Option<usize>)> = Vec::with_capacity(n);
        let mut spec_chunks: FxHashMap<(u64, u64), usize> = FxHashMap::default();
        let mut spec_frames: FxHashMap<u64, usize> = FxHashMap::default();
        for ts in &out.threads[..n] {
            let cf = match l.tstate_frame {
                CurrentFrame::ViaCFrame { current_frame, .. } if ts.cframe != 0 => {
                    Some(b2.push(ts.cframe + current_frame, 8))
                }
                _ => None,
            };
            let ch = (ts.chunk != 0 && ts.top > ts.chunk && ts.top - ts.chunk <= MAX_CHUNK_BYTES)
                .then(|| b2.push(ts.chunk, (ts.top - ts.chunk) as usize));
            reqs.push((cf, ch));
            if let Some(cache) = self.thread_cache.get(&ts.tstate) {
                for &(a, len) in &cache.chunks {
                    spec_chunks
                        .entry((a, len))
                        .or_insert_with(|| b2.push(a, len as usize));
                }
                for &f in &cache.off_chunk {
                    spec_frames
                        .entry(f)
                        .or_insert_with(|| b2.push(f, l.frame_size as usize));
                }
            }
        }
        let clen = l.code_read_len();
        let mut code_hdr: FxHashMap<u64, (u8, usize)> = FxHashMap::default();
        for &c in &self.last_codes {
            code_hdr.insert(c, (2, b2.push(c, clen)));
        }
        self.mem.read_batch(b2)?;

        // ---- Walk every thread's frames from the copies.
        self.extras.clear();
        let mut regions: Vec<Region> = Vec::new();
        let mut frames: Vec<(u64, u64)> = std::mem::take(&mut self.frames_scratch);
        for c in self.thread_cache.values_mut() {
            c.seen = false;
        }
        let mut per_thread_frames: Vec<(usize, usize)> = Vec::with_capacity(n); // range in `frames`
        frames.clear();
        for (ti, ts) in out.threads[..n].iter_mut().enumerate() {
            let (cf, ch) = reqs[ti];
            let start = frames.len();
            if let Some(i) = cf {
                match self.b2.get(i).and_then(|b| b.u64_at(0)) {
                    Some(f) => ts.current_frame = f,
                    None => {
                        self.stats.read_errors += 1;
                        self.stats.dropped += 1;
                        per_thread_frames.push((start, start));
                        continue;
                    }
                }
            }
            regions.clear();
            // The chunk chain still to load: the previous pointer of the last loaded chunk.
            let mut pending_chunk = 0u64;
            if let Some(i) = ch {
                if let Some(b) = self.b2.get(i) {
                    regions.push(Region {
                        start: ts.chunk,
                        end: ts.top,
                        src: Src::Batch(i),
                    });
                    pending_chunk = b.u64_at(l.chunk_previous as usize).unwrap_or(0);
                } else {
                    self.stats.read_errors += 1;
                }
            }
            let mut new_cache = ThreadCache {
                seen: true,
                ..ThreadCache::default()
            };
            let old_cache = self.thread_cache.remove(&ts.tstate).unwrap_or_default();
            let mut chunks_loaded = 0usize;
            let mut f = ts.current_frame;
            let mut ok = true;
            let mut depth = 0usize;
            while f != 0 {
                if depth >= MAX_FRAMES {
                    ts.truncated = true;
                    self.stats.truncated += 1;
                    break;
                }
                depth += 1;
                let fsize = l.frame_size;
                // Find the frame's bytes: in a loaded chunk, else load older chunks, else a
                // prefetched off-chunk frame, else read it.
                let bytes: Option<&[u8]> = loop {
                    if let Some(r) = regions
                        .iter()
                        .find(|r| f >= r.start && f + fsize <= r.end)
                        .copied()
                    {
                        let data = match r.src {
                            Src::Batch(i) => self.b2.get(i),
                            Src::Extra(i) => Some(self.extras[i].as_slice()),
                        };
                        let off = (f - r.start) as usize;
                        break data.and_then(|d| d.get(off..off + fsize as usize));
                    }
                    if pending_chunk != 0 && chunks_loaded < MAX_CHUNKS {
                        chunks_loaded += 1;
                        let c = pending_chunk;
                        pending_chunk = 0;
                        // Prefetched with the same extent?
                        let pre = old_cache
                            .chunks
                            .iter()
                            .find(|(a, _)| *a == c)
                            .and_then(|k| spec_chunks.get(k).map(|&i| (i, k.1)));
                        let mut loaded = None;
                        if let Some((i, len)) = pre
                            && let Some(b) = self.b2.get(i)
                        {
                            let top = b.u64_at(l.chunk_top as usize).unwrap_or(0);
                            if l.chunk_data + top * 8 == len {
                                pending_chunk = b.u64_at(l.chunk_previous as usize).unwrap_or(0);
                                loaded = Some((Src::Batch(i), len));
                            }
                        }
                        if loaded.is_none() {
                            // Header (previous, size, top as a count of slots), then the used part.
                            let mut hdr = [0u8; 24];
                            if self.mem.read(c, &mut hdr).is_ok() {
                                let top = hdr.u64_at(l.chunk_top as usize).unwrap_or(0);
                                let size = hdr.u64_at(l.chunk_size as usize).unwrap_or(0);
                                let len = l.chunk_data + top.saturating_mul(8);
                                if len <= size && len <= MAX_CHUNK_BYTES {
                                    let mut body = vec![0u8; len as usize];
                                    if self.mem.read(c, &mut body).is_ok() {
                                        pending_chunk =
                                            body.u64_at(l.chunk_previous as usize).unwrap_or(0);
                                        self.extras.push(body);
                                        loaded = Some((Src::Extra(self.extras.len() - 1), len));
                                    }
                                }
                            }
                        }
                        if let Some((src, len)) = loaded {
                            regions.push(Region {
                                start: c,
                                end: c + len,
                                src,
                            });
                            new_cache.chunks.push((c, len));
                        }
                        continue;
                    }
                    if let Some(&i) = spec_frames.get(&f)
                        && old_cache.off_chunk.contains(&f)
                        && self.b2.get(i).is_some()
                    {
                        if new_cache.off_chunk.len() < MAX_OFF_CHUNK_PREFETCH {
                            new_cache.off_chunk.push(f);
                        }
                        break self.b2.get(i);
                    }
                    let mut buf = vec![0u8; fsize as usize];
                    if self.mem.read(f, &mut buf).is_err() {
                        break None;
                    }
                    if new_cache.off_chunk.len() < MAX_OFF_CHUNK_PREFETCH {
                        new_cache.off_chunk.push(f);
                    }
                    self.extras.push(buf);
                    break Some(self.extras.last().map(Vec::as_slice).unwrap_or(&[]));
                };
                let Some(fb) = bytes else {
                    self.stats.read_errors += 1;
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
                    frames.push((code, instr));
                }
                f = previous;
            }
            self.thread_cache.insert(ts.tstate, new_cache);
            if !ok {
                self.stats.dropped += 1;
                frames.truncate(start);
            }
            ts.ok = ok;
            per_thread_frames.push((start, frames.len()));
        }
        self.thread_cache.retain(|_, c| c.seen);

        // ---- Phase 3: validate code objects, decode new ones.
        let mut missing: Vec<u64> = Vec::new();
        let mut distinct: FxHashSet<u64> = FxHashSet::default();
        for &(code, _) in &frames {
            if distinct.insert(code) && !code_hdr.contains_key(&code) {
                missing.push(code);
            }
        }
        // Prefetched headers that failed to read are read again below with the rest.
        for (&c, &(_, i)) in &code_hdr {
            if distinct.contains(&c) && self.b2.get(i).is_none() {
                missing.push(c);
            }
        }
        self.b3.clear();
        for &c in &missing {
            code_hdr.insert(c, (3, self.b3.push(c, clen)));
        }
        if !self.b3.is_empty() {
            self.mem.read_batch(&mut self.b3)?;
        }
        let mut bad_codes: FxHashSet<u64> = FxHashSet::default();
        let mut new_codes: Vec<(u64, CodeKey)> = Vec::new();
        for &c in &distinct {
            let hdr = code_hdr.get(&c).and_then(|&(batch, i)| {
                if batch == 2 {
                    self.b2.get(i)
                } else {
                    self.b3.get(i)
                }
            });
            let Some(key) = hdr.and_then(|h| CodeKey::parse(&l, h)) else {
                self.stats.read_errors += 1;
                bad_codes.insert(c);
                continue;
            };
            if self.code_type == 0 {
                if self.type_is_code(key.ob_type) {
                    self.code_type = key.ob_type;
                } else {
                    bad_codes.insert(c);
                    continue;
                }
            } else if key.ob_type != self.code_type {
                bad_codes.insert(c);
                continue;
            }
            match self.codes.get(&c) {
                Some(info) if info.key == key => {}
                _ => new_codes.push((c, key)),
            }
        }
        if !new_codes.is_empty() {
            self.decode_codes(&new_codes, &mut bad_codes)?;
        }

        // ---- Resolve lines; drop threads that touched a bad code object.
        for (ti, ts) in out.threads[..n].iter_mut().enumerate() {
            let (s, e) = per_thread_frames[ti];
            if !ts.ok {
                continue;
            }
            let mut ok = true;
            for &(code, instr) in &frames[s..e] {
                match self.codes.get(&code) {
                    Some(info) if !bad_codes.contains(&code) => ts.frames.push(RawFrame {
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
            distinct
                .iter()
                .filter(|c| !bad_codes.contains(c))
                .take(MAX_CODE_PREFETCH),
        );
        self.frames_scratch = frames;
        Ok(complete)
    }

    /// Whether the type object at `ty` is named "code".
    fn type_is_code(&self, ty: u64) -> bool {
        let Ok(name_ptr) = self.mem.read_u64(ty + self.layout.type_name) else {
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
