//! The walk of one sample: the batched reads, following thread lists and frame chains in the
//! copies, and validating and decoding code objects (see the module documentation of
//! [`super`] for the phases).

use rustc_hash::{FxHashMap, FxHashSet};

use super::{
    BYTES_READ, CHUNK_SLACK, MAX_CHUNK_BYTES, MAX_CHUNKS, MAX_CODE_CACHE, MAX_CODE_PREFETCH,
    MAX_FRAMES, MAX_OFF_CHUNK_PREFETCH, MAX_THREADS, ProcessSample, PythonProcess, RawFrame,
    STR_READ, ThreadCache,
};
use pyrometer_cpython::layout::{CurrentFrame, Frame, GilLayout};
use pyrometer_cpython::linetable::LineTable;
use pyrometer_cpython::memory::{Batch, Bytes, ReadError};
use pyrometer_cpython::objects::{decode_bytes, decode_str, read_bytes, read_str};

use crate::code::{CodeInfo, CodeKey};

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
pub(super) struct Scratch {
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
    pub(super) fn clear(&mut self) {
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
                f = match l.frame(fb) {
                    Frame::Python {
                        code,
                        instr,
                        previous,
                    } => {
                        s.frames.push((code, instr));
                        previous
                    }
                    Frame::Shim { previous } => previous,
                    Frame::Invalid => {
                        ok = false;
                        break;
                    }
                };
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
                    Some(info) if info.key.is_internal() => {}
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
                    // read: read_str reads its header alone and then its exact size.
                    None => read_str(&self.mem, l, ptr),
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
                None => read_bytes(&self.mem, l, key.linetable),
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
