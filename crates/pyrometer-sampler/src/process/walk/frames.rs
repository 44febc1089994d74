//! One thread's frame chain, walked from the copies: frames live in the thread's chunks
//! (the current one from the batches, older ones loaded as the chain reaches them) or outside
//! them (generators, C-stack shims); a chain that loops is torn data.

use super::super::{
    CHUNK_SLACK, MAX_CHUNK_BYTES, MAX_CHUNKS, MAX_FRAMES, MAX_OFF_CHUNK_PREFETCH, ProcessSample,
    PythonProcess, ThreadCache, ThreadStack,
};
use super::{Copies, FrameSource, Scratch, Slot, Speculation};
use pyrometer_cpython::layout::{Frame, Layout};
use pyrometer_cpython::memory::{Bytes, RemoteMemory};

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
    /// The chain loops (torn data): the stack is dropped, though no read failed.
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
pub(super) struct FrameMemory {
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

impl PythonProcess {
    /// Walks every thread's frames (see [`Self::walk_thread`]); a lost stack is counted as
    /// dropped. The walk caches of threads not walked in this sample are forgotten.
    pub(super) fn walk_threads(&mut self, out: &mut ProcessSample, s: &mut Scratch) {
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
