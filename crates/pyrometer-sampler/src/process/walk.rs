//! One sample, as the steps [`PythonProcess::sample_with`] takes: the first batch
//! (interpreter heads, GIL state, thread states and the speculative prefetches), the thread
//! lists, the second batch (what the speculation missed), each thread's frame chain, and the
//! code objects on the stacks (checked, new ones decoded, lines resolved). The module
//! documentation of [`super`] says why a sample is read this way.

use std::collections::hash_map::Entry;
use std::ops::Range;

use rustc_hash::{FxHashMap, FxHashSet};

use super::{
    BYTES_READ, CHUNK_SLACK, InterpCache, MAX_CHUNK_BYTES, MAX_CHUNKS, MAX_CODE_CACHE,
    MAX_CODE_PREFETCH, MAX_FRAMES, MAX_OFF_CHUNK_PREFETCH, MAX_THREADS, ProcessSample,
    PythonProcess, RawFrame, STR_READ, ThreadCache, ThreadStack,
};
use pyrometer_cpython::layout::{CurrentFrame, Frame, GilLayout, Layout};
use pyrometer_cpython::linetable::LineTable;
use pyrometer_cpython::memory::{Batch, Bytes, ReadError, RemoteMemory};
use pyrometer_cpython::objects::{decode_bytes, decode_str, read_bytes, read_str};

use crate::code::{CodeInfo, CodeKey};

/// Where bytes read during this sample are.
#[derive(Clone, Copy, Debug)]
enum Slot {
    /// An element of [`Copies::first`].
    First(usize),
    /// An element of [`Copies::second`].
    Second(usize),
    /// An element of [`Copies::codes`].
    Code(usize),
    /// One of [`Copies::extra`].
    Extra(usize),
}

/// The copies of the target's memory one sample works on.
#[derive(Debug, Default)]
struct Copies {
    /// Interpreter heads, GIL state, the known thread states and the speculative reads.
    first: Batch,
    /// What the speculation did not cover: frame pointers and current chunks.
    second: Batch,
    /// Headers of the code objects the first batch did not prefetch; then the names and line
    /// tables of the code objects new to the cache.
    codes: Batch,
    /// Reads made one at a time during the walk: older chunks and off-chunk frames no batch
    /// covered.
    extra: Vec<Vec<u8>>,
}

impl Copies {
    fn clear(&mut self) {
        self.first.clear();
        self.second.clear();
        self.codes.clear();
        self.extra.clear();
    }

    /// The bytes at `slot`, if they were read.
    fn get(&self, slot: Slot) -> Option<&[u8]> {
        match slot {
            Slot::First(i) => self.first.get(i),
            Slot::Second(i) => self.second.get(i),
            Slot::Code(i) => self.codes.get(i),
            Slot::Extra(i) => self.extra.get(i).map(Vec::as_slice),
        }
    }

    /// Reads `len` bytes at `addr` on their own (one syscall) and keeps them.
    fn read_extra(&mut self, mem: &RemoteMemory, addr: u64, len: usize) -> Option<Slot> {
        let mut buf = vec![0u8; len];
        mem.read(addr, &mut buf).ok()?;
        self.extra.push(buf);
        Some(Slot::Extra(self.extra.len() - 1))
    }
}

/// Where the first batch put the interpreter list and the GIL state.
#[derive(Debug, Default)]
struct HeadSlots {
    /// `_PyRuntime.interpreters.head`.
    head: usize,
    /// 3.11: the thread state holding the GIL, kept in the runtime.
    runtime_gil_holder: Option<usize>,
    /// One per cached interpreter, in list order.
    interps: Vec<InterpSlots>,
}

/// Where the first batch put one interpreter's fields.
#[derive(Clone, Copy, Debug)]
struct InterpSlots {
    /// `interp->next`, to check that the cached list is still the list.
    next: usize,
    /// `interp->threads.head`.
    threads: usize,
    /// 3.12+: the GIL's `last_holder` and `locked`, kept per interpreter.
    gil: Option<(usize, usize)>,
}

/// What the first batch read speculatively for one thread, from what its previous walk needed.
#[derive(Clone, Copy, Debug, Default)]
struct ThreadSpec {
    /// 3.11/3.12: the `_PyCFrame` address and the element holding its `current_frame`.
    cframe: Option<(u64, usize)>,
    /// The current chunk's address, the bytes read from it, and the element holding them.
    chunk: Option<(u64, u64, usize)>,
}

/// Where the first batch put the known thread states and the speculative reads.
#[derive(Debug, Default)]
struct Speculation {
    /// Thread state address → its element.
    tstates: FxHashMap<u64, usize>,
    /// Thread state address → what was read for its walk.
    threads: FxHashMap<u64, ThreadSpec>,
    /// Older chunk address → (bytes read, where).
    chunks: FxHashMap<u64, (u64, Slot)>,
    /// Off-chunk frame address → where.
    frames: FxHashMap<u64, Slot>,
}

/// Where one thread's walk starts: its frame pointer and current chunk, in a batch.
#[derive(Clone, Copy, Debug, Default)]
struct FrameSource {
    /// 3.11/3.12: the `current_frame` field of the thread's `_PyCFrame`.
    cframe: Option<Slot>,
    /// The used part of the current chunk; `None` when the thread state's chunk and top do
    /// not make a plausible extent.
    chunk: Option<Slot>,
}

/// A chunk copied during this sample.
#[derive(Clone, Copy, Debug)]
struct Region {
    start: u64,
    end: u64,
    src: Slot,
    /// The lowest frame address visited in this region so far.
    floor: u64,
}

/// Why a frame's bytes are not available.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lost {
    /// The chain loops (torn data): already counted as a drop, not a read error.
    Torn,
    /// A read failed.
    Unreadable,
}

/// What one thread's walk reads from: the target, for what no batch covered, and the copies.
struct Sources<'a> {
    mem: &'a RemoteMemory,
    layout: &'a Layout,
    copies: &'a mut Copies,
    spec: &'a Speculation,
}

/// The memory one thread's frames are in, as its walk discovers it.
#[derive(Debug, Default)]
struct FrameMemory {
    /// The chunks loaded so far.
    regions: Vec<Region>,
    /// The region the previous frame was in (the next one usually is too).
    last_region: usize,
    /// The next older chunk to load (the `previous` of the last one loaded), 0 for none.
    older: u64,
    /// Older chunks loaded (or tried) so far.
    chunks_loaded: usize,
    /// The frames met outside any chunk so far.
    off_chunk: Vec<u64>,
}

/// The frames every thread's walk found, before their code objects are checked.
#[derive(Debug, Default)]
struct Walked {
    /// (code object, instruction pointer) pairs, leaf first, one thread after the other.
    frames: Vec<(u64, u64)>,
    /// Per thread, its part of `frames`.
    threads: Vec<Range<usize>>,
}

/// The code objects on this sample's stacks.
#[derive(Debug, Default)]
struct CodeCheck {
    /// Where each one's header is: prefetched in the first batch or read in the code batch.
    headers: FxHashMap<u64, Slot>,
    /// Each one once.
    distinct: FxHashSet<u64>,
    /// Those whose header, type or strings failed: a stack through one is dropped.
    bad: FxHashSet<u64>,
    /// Those to decode: not cached, or cached from a different header.
    new: Vec<(u64, CodeKey)>,
}

/// One sample's working state, kept between samples only to reuse its allocations.
#[derive(Debug, Default)]
pub(super) struct Scratch {
    copies: Copies,
    heads: HeadSlots,
    spec: Speculation,
    /// A thread state the first batch did not cover (a new thread), read on its own.
    tstate: Vec<u8>,
    /// Per thread of the sample, in order.
    sources: Vec<FrameSource>,
    frame_memory: FrameMemory,
    walked: Walked,
    codes: CodeCheck,
}

impl Scratch {
    fn clear(&mut self) {
        self.copies.clear();
        self.heads.interps.clear();
        self.spec.tstates.clear();
        self.spec.threads.clear();
        self.spec.chunks.clear();
        self.spec.frames.clear();
        self.sources.clear();
        self.walked.frames.clear();
        self.walked.threads.clear();
        self.codes.headers.clear();
        self.codes.distinct.clear();
        self.codes.bad.clear();
        self.codes.new.clear();
    }
}

/// Whether the interpreter list read in the first batch is the cached one.
enum InterpList {
    /// Same head, same `next` pointers.
    Cached,
    /// No interpreter: not started yet, or finalizing.
    Empty,
    /// Interpreters came or went.
    Changed,
}

impl PythonProcess {
    /// Returns whether the sample is complete.
    pub(super) fn sample_inner(
        &mut self,
        out: &mut ProcessSample,
        retry: bool,
    ) -> Result<bool, ReadError> {
        let mut s = std::mem::take(&mut self.scratch);
        let r = self.sample_with(out, retry, &mut s);
        self.scratch = s;
        r
    }

    /// Reads every thread's stack into `out` and returns whether every thread list was read
    /// to its end. In a steady state only the first batch reaches the kernel: the second
    /// batch, the code batch and the single reads are for what changed since the previous
    /// sample. `retry`: whether a changed interpreter list may be reloaded and the sample
    /// taken again (once).
    fn sample_with(
        &mut self,
        out: &mut ProcessSample,
        retry: bool,
        s: &mut Scratch,
    ) -> Result<bool, ReadError> {
        if self.interps.is_empty() {
            self.reload_interpreters()?;
        }
        s.clear();
        self.queue_heads_and_threads(s);
        self.queue_speculation(s);
        self.mem.read_batch(&mut s.copies.first)?;
        match self.interpreter_list(s)? {
            InterpList::Cached => {}
            InterpList::Changed if retry => {
                self.reload_interpreters()?;
                return self.sample_with(out, false, s);
            }
            // Not started or finalizing, or changing under our feet.
            InterpList::Empty | InterpList::Changed => return Ok(false),
        }
        let complete = self.read_thread_lists(out, s);
        self.read_frame_sources(out, s)?;
        self.walk_threads(out, s);
        self.read_code_headers(s)?;
        self.check_codes(s)?;
        self.resolve_lines(out, s);
        self.remember_codes(s);
        Ok(complete)
    }

    /// Queues in the first batch the interpreter list's head, the GIL state (in the runtime
    /// on 3.11, per interpreter after), each cached interpreter's `next` pointer and thread
    /// list head, and every thread state the previous sample found.
    fn queue_heads_and_threads(&self, s: &mut Scratch) {
        let l = &self.layout;
        let batch = &mut s.copies.first;
        let heads = &mut s.heads;
        heads.head = batch.push(self.runtime.wrapping_add(l.runtime_interpreters_head), 8);
        heads.runtime_gil_holder = match l.gil {
            GilLayout::RuntimeTstateCurrent { offset } => {
                Some(batch.push(self.runtime.wrapping_add(offset), 8))
            }
            _ => None,
        };
        for ic in &self.interps {
            let next = batch.push(ic.addr.wrapping_add(l.interp_next), 8);
            let threads = batch.push(ic.addr.wrapping_add(l.interp_threads_head), 8);
            let gil = match l.gil {
                GilLayout::RuntimeTstateCurrent { .. } => None,
                GilLayout::InterpPointer {
                    last_holder,
                    locked,
                    ..
                } => Some((
                    batch.push(ic.gil.wrapping_add(last_holder), 8),
                    batch.push(ic.gil.wrapping_add(locked), 4),
                )),
                GilLayout::InterpInline {
                    last_holder,
                    locked,
                } => Some((
                    batch.push(ic.addr.wrapping_add(last_holder), 8),
                    batch.push(ic.addr.wrapping_add(locked), 4),
                )),
            };
            heads.interps.push(InterpSlots { next, threads, gil });
        }
        let len = l.tstate_read_len();
        for &t in &self.tstates {
            s.spec.tstates.insert(t, batch.push(t, len));
        }
    }

    /// Queues in the first batch, speculatively, what each known thread's previous walk
    /// needed after its thread state: the `_PyCFrame` (3.11/3.12), the used part of the
    /// current chunk plus [`CHUNK_SLACK`], the older chunks and the off-chunk frames; then the
    /// headers of the code objects the previous sample met. What still matches the fresh
    /// thread states is used; the rest costs nothing but bytes copied.
    fn queue_speculation(&self, s: &mut Scratch) {
        let l = &self.layout;
        let batch = &mut s.copies.first;
        let spec = &mut s.spec;
        let cframe_current = cframe_current_frame(l);
        for &t in &self.tstates {
            let Some(c) = self.thread_cache.get(&t) else {
                continue;
            };
            let mut thread = ThreadSpec::default();
            if let Some(off) = cframe_current
                && c.cframe != 0
            {
                thread.cframe = Some((c.cframe, batch.push(c.cframe.wrapping_add(off), 8)));
            }
            if c.chunk != 0 && c.chunk_len > 0 {
                let i = batch.push(c.chunk, c.chunk_len as usize);
                thread.chunk = Some((c.chunk, c.chunk_len, i));
            }
            spec.threads.insert(t, thread);
            for &(a, len) in &c.chunks {
                if let Entry::Vacant(e) = spec.chunks.entry(a) {
                    e.insert((len, Slot::First(batch.push(a, len as usize))));
                }
            }
            for &f in &c.off_chunk {
                if let Entry::Vacant(e) = spec.frames.entry(f) {
                    e.insert(Slot::First(batch.push(f, l.frame_size as usize)));
                }
            }
        }
        let len = l.code_read_len();
        for &c in &self.last_codes {
            s.codes.headers.insert(c, Slot::First(batch.push(c, len)));
        }
    }

    /// Compares the interpreter list read in the first batch with the cached one. Fails
    /// when not even the list's head could be read.
    fn interpreter_list(&self, s: &Scratch) -> Result<InterpList, ReadError> {
        let batch = &s.copies.first;
        let head = batch
            .get(s.heads.head)
            .and_then(|b| b.u64_at(0))
            .ok_or(ReadError::Fault)?;
        if head == 0 {
            return Ok(InterpList::Empty);
        }
        let cached = head == self.interps[0].addr
            && s.heads.interps.iter().enumerate().all(|(i, slots)| {
                let next = batch.get(slots.next).and_then(|b| b.u64_at(0));
                let want = self.interps.get(i + 1).map_or(0, |ic| ic.addr);
                next == Some(want)
            });
        Ok(if cached {
            InterpList::Cached
        } else {
            InterpList::Changed
        })
    }

    /// Follows every interpreter's thread list (see [`Self::follow_thread_list`]) and
    /// remembers the thread states found, for the next sample's first batch. Returns whether
    /// every list was read to its end; a list head that could not be read is counted as a
    /// read error.
    fn read_thread_lists(&mut self, out: &mut ProcessSample, s: &mut Scratch) -> bool {
        let runtime_holder = s
            .heads
            .runtime_gil_holder
            .and_then(|i| s.copies.first.get(i))
            .and_then(|b| b.u64_at(0))
            .unwrap_or(0);
        let mut complete = true;
        for i in 0..self.interps.len() {
            let ic = self.interps[i];
            let slots = s.heads.interps[i];
            let first = &s.copies.first;
            let Some(head) = first.get(slots.threads).and_then(|b| b.u64_at(0)) else {
                self.stats.read_errors += 1;
                complete = false;
                continue;
            };
            let holder = match slots.gil {
                Some((last_holder, locked)) => interp_gil_holder(first, last_holder, locked),
                None => runtime_holder,
            };
            complete &= self.follow_thread_list(ic, head, holder, out, s);
        }
        self.tstates.clear();
        self.tstates
            .extend(out.threads().iter().map(|ts| ts.tstate));
        complete
    }

    /// Follows one interpreter's thread list from `head` through the copies (a thread state
    /// the first batch did not cover, a new thread, is read on its own), adding one
    /// [`ThreadStack`] per thread, up to [`MAX_THREADS`]. A thread state that does not point
    /// back to its interpreter (freed or torn) makes the rest of the list unreliable: the
    /// walk stops there, counted as a drop. Returns whether the list was read to its end.
    fn follow_thread_list(
        &mut self,
        interp: InterpCache,
        head: u64,
        gil_holder: u64,
        out: &mut ProcessSample,
        s: &mut Scratch,
    ) -> bool {
        let l = &self.layout;
        let mut t = head;
        let mut count = 0;
        while t != 0 && count < MAX_THREADS {
            count += 1;
            let data: &[u8] = match s.spec.tstates.get(&t).and_then(|&i| s.copies.first.get(i)) {
                Some(d) => d,
                None => {
                    s.tstate.resize(l.tstate_read_len(), 0);
                    if self.mem.read(t, &mut s.tstate).is_err() {
                        self.stats.read_errors += 1;
                        return false;
                    }
                    &s.tstate
                }
            };
            let field = |off: u64| data.u64_at(off as usize).unwrap_or(0);
            if field(l.tstate_interp) != interp.addr {
                self.stats.dropped += 1;
                return false;
            }
            let ts = out.push();
            ts.tstate = t;
            ts.interp_id = interp.id;
            ts.holds_gil = gil_holder != 0 && gil_holder == t;
            record_thread(ts, l, data);
            t = field(l.tstate_next);
        }
        true
    }

    /// Finds each thread's frame pointer (3.11/3.12: in its `_PyCFrame`) and the used part
    /// of its current chunk: in the first batch when the speculation agrees with the fresh
    /// thread state (same `_PyCFrame`; same chunk, its top within the bytes read), otherwise
    /// in a second batch, read here. That batch is empty in a steady state.
    fn read_frame_sources(
        &mut self,
        out: &ProcessSample,
        s: &mut Scratch,
    ) -> Result<(), ReadError> {
        let cframe_current = cframe_current_frame(&self.layout);
        let Scratch {
            copies,
            spec,
            sources,
            ..
        } = s;
        for ts in out.threads() {
            let thread = spec.threads.get(&ts.tstate).copied().unwrap_or_default();
            let cframe = match cframe_current {
                Some(off) if ts.cframe != 0 => match thread.cframe {
                    Some((addr, i)) if addr == ts.cframe && copies.first.get(i).is_some() => {
                        Some(Slot::First(i))
                    }
                    _ => Some(Slot::Second(
                        copies.second.push(ts.cframe.wrapping_add(off), 8),
                    )),
                },
                _ => None,
            };
            let plausible =
                ts.chunk != 0 && ts.top > ts.chunk && ts.top - ts.chunk <= MAX_CHUNK_BYTES;
            let chunk = if !plausible {
                None
            } else {
                match thread.chunk {
                    Some((addr, len, i))
                        if addr == ts.chunk
                            && ts.top <= addr.saturating_add(len)
                            && copies.first.get(i).is_some() =>
                    {
                        Some(Slot::First(i))
                    }
                    _ => Some(Slot::Second(
                        copies.second.push(ts.chunk, (ts.top - ts.chunk) as usize),
                    )),
                }
            };
            sources.push(FrameSource { cframe, chunk });
        }
        if !copies.second.is_empty() {
            self.mem.read_batch(&mut copies.second)?;
        }
        Ok(())
    }

    /// Walks every thread's frames (see [`Self::walk_thread`]); a lost stack is counted as
    /// dropped. The walk caches of threads not walked in this sample are forgotten.
    fn walk_threads(&mut self, out: &mut ProcessSample, s: &mut Scratch) {
        for c in self.thread_cache.values_mut() {
            c.seen = false;
        }
        for (i, ts) in out.threads_mut().iter_mut().enumerate() {
            let start = s.walked.frames.len();
            let ok = self.walk_thread(ts, s.sources[i], s);
            if !ok {
                self.stats.dropped += 1;
                s.walked.frames.truncate(start);
            }
            ts.ok = ok;
            s.walked.threads.push(start..s.walked.frames.len());
        }
        self.thread_cache.retain(|_, c| c.seen);
    }

    /// Walks one thread's frame chain from the copies, leaf first, appending its (code,
    /// instruction) pairs to the sample's walked frames, skipping the interpreter's shims,
    /// and cutting it at [`MAX_FRAMES`] (counted as truncated). Returns false when the stack
    /// is lost: a read failed, the chain loops (torn data), or a frame is not one. Leaves in
    /// the thread's cache what the next sample should prefetch.
    fn walk_thread(&mut self, ts: &mut ThreadStack, source: FrameSource, s: &mut Scratch) -> bool {
        let Scratch {
            copies,
            spec,
            frame_memory: memory,
            walked,
            ..
        } = s;
        if let Some(slot) = source.cframe {
            match copies.get(slot).and_then(|b| b.u64_at(0)) {
                Some(f) => ts.current_frame = f,
                None => {
                    self.stats.read_errors += 1;
                    return false;
                }
            }
        }
        let mut cache = self.thread_cache.remove(&ts.tstate).unwrap_or_default();
        cache.restart(ts.cframe);
        memory.restart();
        if let Some(slot) = source.chunk {
            match copies.get(slot) {
                Some(bytes) => memory.current_chunk(&self.layout, ts, slot, bytes, &mut cache),
                None => self.stats.read_errors += 1,
            }
        }
        let mut src = Sources {
            mem: &self.mem,
            layout: &self.layout,
            copies,
            spec,
        };
        let mut f = ts.current_frame;
        let mut depth = 0usize;
        let ok = loop {
            if f == 0 {
                break true;
            }
            if depth >= MAX_FRAMES {
                ts.truncated = true;
                self.stats.truncated += 1;
                break true;
            }
            depth += 1;
            let bytes = match memory.find(f, &mut src, &mut cache) {
                Ok(bytes) => bytes,
                Err(lost) => {
                    if lost == Lost::Unreadable {
                        self.stats.read_errors += 1;
                    }
                    break false;
                }
            };
            f = match self.layout.frame(bytes) {
                Frame::Python {
                    code,
                    instr,
                    previous,
                } => {
                    walked.frames.push((code, instr));
                    previous
                }
                Frame::Shim { previous } => previous,
                Frame::Invalid => break false,
            };
        };
        self.thread_cache.insert(ts.tstate, cache);
        ok
    }

    /// Reads, in one batch, the headers of the code objects on this sample's stacks that the
    /// first batch did not prefetch: those new since the previous sample.
    fn read_code_headers(&mut self, s: &mut Scratch) -> Result<(), ReadError> {
        let len = self.layout.code_read_len();
        let Scratch {
            copies,
            walked,
            codes,
            ..
        } = s;
        for &(code, _) in &walked.frames {
            if !codes.distinct.insert(code) {
                continue;
            }
            let prefetched = codes
                .headers
                .get(&code)
                .is_some_and(|&slot| copies.get(slot).is_some());
            if !prefetched {
                let i = copies.codes.push(code, len);
                codes.headers.insert(code, Slot::Code(i));
            }
        }
        if !copies.codes.is_empty() {
            self.mem.read_batch(&mut copies.codes)?;
        }
        Ok(())
    }

    /// Checks the header of every code object on the stacks: it must parse and its type
    /// must be `PyCode_Type` (see [`Self::is_code_type`]); a failure marks it bad (an
    /// unreadable header also counts as a read error). A cached entry is kept while the
    /// header still matches the one it was decoded from (an address reused by another code
    /// object is decoded afresh); the others are decoded.
    fn check_codes(&mut self, s: &mut Scratch) -> Result<(), ReadError> {
        let Scratch { copies, codes, .. } = s;
        for &c in &codes.distinct {
            let header = codes.headers.get(&c).and_then(|&slot| copies.get(slot));
            let Some(key) = header.and_then(|h| CodeKey::parse(&self.layout, h)) else {
                self.stats.read_errors += 1;
                codes.bad.insert(c);
                continue;
            };
            if !self.is_code_type(key.ob_type) {
                codes.bad.insert(c);
                continue;
            }
            match self.codes.get(&c) {
                Some(info) if info.key == key => {}
                _ => codes.new.push((c, key)),
            }
        }
        if !codes.new.is_empty() {
            self.decode_codes(&codes.new, &mut codes.bad, &mut copies.codes)?;
        }
        Ok(())
    }

    /// Whether `ty` is `PyCode_Type`: learned from the first code object whose type is named
    /// "code", compared by address after.
    fn is_code_type(&mut self, ty: u64) -> bool {
        if self.code_type == 0 && self.type_is_code(ty) {
            self.code_type = ty;
        }
        self.code_type != 0 && ty == self.code_type
    }

    /// Whether the type object at `ty` is named "code".
    fn type_is_code(&self, ty: u64) -> bool {
        let Ok(name_ptr) = self.mem.read_u64(ty.wrapping_add(self.layout.type_name)) else {
            return false;
        };
        let mut name = [0u8; 5];
        self.mem.read(name_ptr, &mut name).is_ok() && &name == b"code\0"
    }

    /// Reads the names and line tables of new code objects in one batch (reusing `batch`)
    /// and caches them; one whose strings cannot be read is marked bad and counted.
    fn decode_codes(
        &mut self,
        new_codes: &[(u64, CodeKey)],
        bad: &mut FxHashSet<u64>,
        batch: &mut Batch,
    ) -> Result<(), ReadError> {
        let l = &self.layout;
        batch.clear();
        let mut idx = Vec::with_capacity(new_codes.len());
        for &(_, k) in new_codes {
            idx.push([
                batch.push(k.filename, STR_READ),
                batch.push(k.name, STR_READ),
                batch.push(k.qualname, STR_READ),
                batch.push(k.linetable, BYTES_READ),
            ]);
        }
        self.mem.read_batch(batch)?;
        if self.codes.len() + new_codes.len() > MAX_CODE_CACHE {
            self.codes.clear();
        }
        for (&(addr, key), reqs) in new_codes.iter().zip(&idx) {
            let mem = &self.mem;
            let filename = str_at(mem, l, key.filename, batch.get(reqs[0]));
            let name = str_at(mem, l, key.name, batch.get(reqs[1]));
            let qualname = str_at(mem, l, key.qualname, batch.get(reqs[2]));
            let table = bytes_at(mem, l, key.linetable, batch.get(reqs[3]));
            let (Some(filename), Some(name), Some(qualname), Some(table)) =
                (filename, name, qualname, table)
            else {
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

    /// Turns each walked stack's (code, instruction) pairs into frames with their lines,
    /// leaving out the interpreter's own code ([`CodeKey::is_internal`]). A stack through a
    /// code object that is bad or not cached is dropped and counted.
    fn resolve_lines(&mut self, out: &mut ProcessSample, s: &Scratch) {
        let adaptive = self.layout.code_adaptive;
        for (ts, range) in out.threads_mut().iter_mut().zip(&s.walked.threads) {
            if !ts.ok {
                continue;
            }
            let ok = s.walked.frames[range.clone()].iter().all(|&(code, instr)| {
                match self.codes.get(&code) {
                    Some(info) if info.key.is_internal() => true,
                    Some(info) if !s.codes.bad.contains(&code) => {
                        ts.frames.push(RawFrame {
                            code,
                            serial: info.serial,
                            line: info.line_for(code, adaptive, instr),
                        });
                        true
                    }
                    _ => false,
                }
            });
            if !ok {
                ts.frames.clear();
                ts.ok = false;
                self.stats.dropped += 1;
            }
        }
    }

    /// Remembers the good code objects of this sample (up to [`MAX_CODE_PREFETCH`]), so
    /// that the next sample's first batch reads their headers.
    fn remember_codes(&mut self, s: &Scratch) {
        self.last_codes.clear();
        self.last_codes.extend(
            s.codes
                .distinct
                .iter()
                .filter(|c| !s.codes.bad.contains(c))
                .take(MAX_CODE_PREFETCH),
        );
    }
}

impl FrameMemory {
    /// Forgets the previous thread's chunks and frames.
    fn restart(&mut self) {
        self.regions.clear();
        self.last_region = 0;
        self.older = 0;
        self.chunks_loaded = 0;
        self.off_chunk.clear();
    }

    /// Starts from the thread's current chunk, copied in `bytes` (up to the thread's top),
    /// and sets the next sample's speculative read of it: the used part plus
    /// [`CHUNK_SLACK`], within the chunk, so that a slightly deeper stack is still covered.
    fn current_chunk(
        &mut self,
        l: &Layout,
        ts: &ThreadStack,
        slot: Slot,
        bytes: &[u8],
        cache: &mut ThreadCache,
    ) {
        self.regions.push(Region {
            start: ts.chunk,
            end: ts.top,
            src: slot,
            floor: u64::MAX,
        });
        self.older = bytes.u64_at(l.chunk_previous as usize).unwrap_or(0);
        let size = bytes.u64_at(l.chunk_size as usize).unwrap_or(0);
        let used = ts.top - ts.chunk;
        cache.chunk = ts.chunk;
        cache.chunk_len = (used.saturating_add(CHUNK_SLACK)).min(size.max(used));
    }

    /// The bytes of the frame at `f`: in a chunk loaded so far; else in an older chunk of
    /// the chain, loaded now; else outside any chunk.
    fn find<'c>(
        &mut self,
        f: u64,
        src: &'c mut Sources<'_>,
        cache: &mut ThreadCache,
    ) -> Result<&'c [u8], Lost> {
        let size = src.layout.frame_size;
        let (slot, off) = loop {
            if let Some(found) = self.in_chunks(f, size) {
                break found?;
            }
            if !self.load_older_chunk(src, cache) {
                break (self.off_chunk_frame(f, src, cache)?, 0);
            }
        };
        src.copies
            .get(slot)
            .and_then(|b| b.get(off..off + size as usize))
            .ok_or(Lost::Unreadable)
    }

    /// The frame at `f` in a loaded chunk: where its bytes are, or [`Lost::Torn`] when it
    /// is at or above a frame already visited in that chunk (within a chunk callers sit
    /// below callees, so that is a cycle in torn data); `None` when no chunk holds it.
    fn in_chunks(&mut self, f: u64, size: u64) -> Option<Result<(Slot, usize), Lost>> {
        let inside = |r: &Region| f >= r.start && f.saturating_add(size) <= r.end;
        let i = if self.regions.get(self.last_region).is_some_and(inside) {
            self.last_region
        } else {
            self.regions.iter().position(inside)?
        };
        let r = &mut self.regions[i];
        if f >= r.floor {
            return Some(Err(Lost::Torn));
        }
        r.floor = f;
        self.last_region = i;
        Some(Ok((r.src, (f - r.start) as usize)))
    }

    /// Loads the next older chunk of the chain, up to [`MAX_CHUNKS`]: from the first batch
    /// when it prefetched the chunk with the extent its header now states, else read on its
    /// own (header, then the used part, at most [`MAX_CHUNK_BYTES`]). A chunk that cannot be
    /// read ends the chain. Returns false when there was no chunk left to load.
    fn load_older_chunk(&mut self, src: &mut Sources<'_>, cache: &mut ThreadCache) -> bool {
        if self.older == 0 || self.chunks_loaded >= MAX_CHUNKS {
            return false;
        }
        self.chunks_loaded += 1;
        let c = std::mem::take(&mut self.older);
        let l = src.layout;
        let Some((slot, len)) = prefetched_chunk(src, c).or_else(|| read_chunk(src, c)) else {
            return true;
        };
        self.older = src
            .copies
            .get(slot)
            .and_then(|b| b.u64_at(l.chunk_previous as usize))
            .unwrap_or(0);
        self.regions.push(Region {
            start: c,
            end: c.saturating_add(len),
            src: slot,
            floor: u64::MAX,
        });
        cache.chunks.push((c, len));
        true
    }

    /// The frame at `f` outside any chunk (a generator's or coroutine's, a C-stack shim):
    /// from the first batch when prefetched, else read on its own. Such frames have no
    /// order, so one met twice in a walk is a cycle in torn data. Up to
    /// [`MAX_OFF_CHUNK_PREFETCH`] of them are remembered for the next sample.
    fn off_chunk_frame(
        &mut self,
        f: u64,
        src: &mut Sources<'_>,
        cache: &mut ThreadCache,
    ) -> Result<Slot, Lost> {
        if self.off_chunk.contains(&f) {
            return Err(Lost::Torn);
        }
        self.off_chunk.push(f);
        let slot = match src.spec.frames.get(&f) {
            Some(&slot) if src.copies.get(slot).is_some() => slot,
            _ => src
                .copies
                .read_extra(src.mem, f, src.layout.frame_size as usize)
                .ok_or(Lost::Unreadable)?,
        };
        if cache.off_chunk.len() < MAX_OFF_CHUNK_PREFETCH {
            cache.off_chunk.push(f);
        }
        Ok(slot)
    }
}

/// The chunk at `c` as the first batch prefetched it, when the bytes read are exactly the
/// used part its header now states: (where, length).
fn prefetched_chunk(src: &Sources<'_>, c: u64) -> Option<(Slot, u64)> {
    let l = src.layout;
    let &(len, slot) = src.spec.chunks.get(&c)?;
    let top = src
        .copies
        .get(slot)?
        .u64_at(l.chunk_top as usize)
        .unwrap_or(0);
    (l.chunk_data.saturating_add(top.saturating_mul(8)) == len).then_some((slot, len))
}

/// The chunk at `c` read on its own: its header (previous, size, top as a count of slots),
/// then its used part when that fits in the chunk and in [`MAX_CHUNK_BYTES`].
fn read_chunk(src: &mut Sources<'_>, c: u64) -> Option<(Slot, u64)> {
    let l = src.layout;
    let mut header = [0u8; 24];
    src.mem.read(c, &mut header).ok()?;
    let top = header.u64_at(l.chunk_top as usize).unwrap_or(0);
    let size = header.u64_at(l.chunk_size as usize).unwrap_or(0);
    let len = l.chunk_data.saturating_add(top.saturating_mul(8));
    if len > size || len > MAX_CHUNK_BYTES {
        return None;
    }
    Some((src.copies.read_extra(src.mem, c, len as usize)?, len))
}

/// The offset of `current_frame` in a `_PyCFrame`, on versions that have one (3.11/3.12).
fn cframe_current_frame(l: &Layout) -> Option<u64> {
    match l.tstate_frame {
        CurrentFrame::ViaCFrame { current_frame, .. } => Some(current_frame),
        CurrentFrame::Direct { .. } => None,
    }
}

/// The thread state holding an interpreter's own GIL (3.12+), 0 for none: its last holder,
/// while it is locked.
fn interp_gil_holder(first: &Batch, last_holder: usize, locked: usize) -> u64 {
    if first.get(locked).and_then(|b| b.u32_at(0)).unwrap_or(0) == 0 {
        return 0;
    }
    first
        .get(last_holder)
        .and_then(|b| b.u64_at(0))
        .unwrap_or(0)
}

/// Fills a thread's ids and the start of its walk from its thread state's bytes.
fn record_thread(ts: &mut ThreadStack, l: &Layout, data: &[u8]) {
    let field = |off: u64| data.u64_at(off as usize).unwrap_or(0);
    ts.ident = field(l.tstate_thread_id);
    ts.native_id = field(l.tstate_native_thread_id);
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
}

/// The `str` object at `ptr`, from the [`STR_READ`] bytes a batch read there: decoded from
/// them when they hold it all, else read again at the size it needs. When the batched read
/// failed (an object near the end of a mapping), [`read_str`] reads its header, then its
/// exact size.
fn str_at(mem: &RemoteMemory, l: &Layout, ptr: u64, batched: Option<&[u8]>) -> Option<String> {
    let Some(bytes) = batched else {
        return read_str(mem, l, ptr);
    };
    match decode_str(l, bytes) {
        Ok(s) => s,
        Err(needed) => decode_str(l, &mem.read_vec(ptr, needed).ok()?)
            .ok()
            .flatten(),
    }
}

/// The payload of the `bytes` object at `ptr` (a line table), from the [`BYTES_READ`] bytes
/// a batch read there, as [`str_at`] does for strings, with [`read_bytes`] when the batched
/// read failed.
fn bytes_at(mem: &RemoteMemory, l: &Layout, ptr: u64, batched: Option<&[u8]>) -> Option<Vec<u8>> {
    let Some(bytes) = batched else {
        return read_bytes(mem, l, ptr);
    };
    match decode_bytes(l, bytes) {
        Ok(payload) => payload.map(<[u8]>::to_vec),
        Err(needed) => decode_bytes(l, &mem.read_vec(ptr, needed).ok()?)
            .ok()
            .flatten()
            .map(<[u8]>::to_vec),
    }
}

impl ThreadCache {
    /// Empties the cache for a new walk of its thread, keeping its allocations.
    fn restart(&mut self, cframe: u64) {
        self.seen = true;
        self.cframe = cframe;
        self.chunk = 0;
        self.chunk_len = 0;
        self.chunks.clear();
        self.off_chunk.clear();
    }
}

impl ProcessSample {
    fn threads_mut(&mut self) -> &mut [ThreadStack] {
        &mut self.threads[..self.len]
    }
}
