//! One sample, as the steps [`PythonProcess::sample_with`] takes: the first batch
//! (interpreter heads, GIL state, thread states and the speculative prefetches), the thread
//! lists, the second batch (what the speculation missed), each thread's frame chain
//! ([`frames`]), and the code objects on the stacks ([`codes`]: checked, new ones decoded,
//! lines resolved). The module documentation of [`super`] says why a sample is read this
//! way.

use std::collections::hash_map::Entry;
use std::ops::Range;

use rustc_hash::FxHashMap;

use super::{InterpCache, MAX_CHUNK_BYTES, MAX_THREADS, ProcessSample, PythonProcess, ThreadStack};
use pyrometer_cpython::layout::{CurrentFrame, GilLayout, Layout};
use pyrometer_cpython::memory::{Batch, Bytes, ReadError, RemoteMemory};

mod codes;
mod frames;

use codes::CodeCheck;
use frames::FrameMemory;

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

/// The frames every thread's walk found, before their code objects are checked.
#[derive(Debug, Default)]
struct Walked {
    /// (code object, instruction pointer) pairs, leaf first, one thread after the other.
    frames: Vec<(u64, u64)>,
    /// Per thread, its part of `frames`.
    threads: Vec<Range<usize>>,
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
        self.codes.clear();
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
            // The interpreter's own GIL state: behind a pointer (3.12) or inline (3.13+).
            let gil_state = match l.gil {
                GilLayout::RuntimeTstateCurrent { .. } => None,
                GilLayout::InterpPointer {
                    last_holder,
                    locked,
                    ..
                } => Some((ic.gil, last_holder, locked)),
                GilLayout::InterpInline {
                    last_holder,
                    locked,
                } => Some((ic.addr, last_holder, locked)),
            };
            let gil = gil_state.map(|(base, last_holder, locked)| {
                (
                    batch.push(base.wrapping_add(last_holder), 8),
                    batch.push(base.wrapping_add(locked), 4),
                )
            });
            heads.interps.push(InterpSlots { next, threads, gil });
        }
        let len = l.tstate_read_len();
        for &t in &self.tstates {
            s.spec.tstates.insert(t, batch.push(t, len));
        }
    }

    /// Queues in the first batch, speculatively, what each known thread's previous walk
    /// needed after its thread state: the `_PyCFrame` (3.11/3.12), the used part of the
    /// current chunk plus [`super::CHUNK_SLACK`], the older chunks and the off-chunk frames; then the
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
        self.queue_code_headers(s);
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
            sources.push(FrameSource {
                cframe: cframe_source(ts, thread, cframe_current, copies),
                chunk: chunk_source(ts, thread, copies),
            });
        }
        if !copies.second.is_empty() {
            self.mem.read_batch(&mut copies.second)?;
        }
        Ok(())
    }
}

/// The offset of `current_frame` in a `_PyCFrame`, on versions that have one (3.11/3.12).
fn cframe_current_frame(l: &Layout) -> Option<u64> {
    match l.tstate_frame {
        CurrentFrame::ViaCFrame { current_frame, .. } => Some(current_frame),
        CurrentFrame::Direct { .. } => None,
    }
}

/// Where the `current_frame` field of a thread's `_PyCFrame` is (3.11/3.12, given its
/// offset): in the first batch when it read that `_PyCFrame`, else queued in the second.
fn cframe_source(
    ts: &ThreadStack,
    thread: ThreadSpec,
    cframe_current: Option<u64>,
    copies: &mut Copies,
) -> Option<Slot> {
    let off = cframe_current?;
    if ts.cframe == 0 {
        return None;
    }
    match thread.cframe {
        Some((addr, i)) if addr == ts.cframe && copies.first.get(i).is_some() => {
            Some(Slot::First(i))
        }
        _ => Some(Slot::Second(
            copies.second.push(ts.cframe.wrapping_add(off), 8),
        )),
    }
}

/// Where the used part of a thread's current chunk (up to its top) is: in the first batch
/// when it read that chunk at least that far, else queued in the second. `None` when the
/// thread state's chunk and top are not a plausible extent.
fn chunk_source(ts: &ThreadStack, thread: ThreadSpec, copies: &mut Copies) -> Option<Slot> {
    if ts.chunk == 0 || ts.top <= ts.chunk || ts.top - ts.chunk > MAX_CHUNK_BYTES {
        return None;
    }
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
