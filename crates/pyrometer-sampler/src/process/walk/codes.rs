//! The code objects on a sample's stacks: their headers checked against the cache (type,
//! pointers, first line), new ones decoded (names and line tables, batched), and each
//! stack's lines resolved.

use rustc_hash::{FxHashMap, FxHashSet};

use super::super::{
    BYTES_READ, MAX_CODE_CACHE, MAX_CODE_PREFETCH, ProcessSample, PythonProcess, RawFrame, STR_READ,
};
use super::{Scratch, Slot};
use pyrometer_cpython::layout::Layout;
use pyrometer_cpython::linetable::LineTable;
use pyrometer_cpython::memory::{Batch, ReadError, RemoteMemory};
use pyrometer_cpython::objects::{decode_bytes, decode_str, read_bytes, read_str};

use crate::code::{CodeInfo, CodeKey};

/// The code objects on this sample's stacks.
#[derive(Debug, Default)]
pub(super) struct CodeCheck {
    /// Where each one's header is: prefetched in the first batch or read in the code batch.
    headers: FxHashMap<u64, Slot>,
    /// Each one once.
    distinct: FxHashSet<u64>,
    /// Those whose header, type or strings failed: a stack through one is dropped.
    bad: FxHashSet<u64>,
    /// Those to decode: not cached, or cached from a different header.
    new: Vec<(u64, CodeKey)>,
}

impl CodeCheck {
    pub(super) fn clear(&mut self) {
        self.headers.clear();
        self.distinct.clear();
        self.bad.clear();
        self.new.clear();
    }
}

impl PythonProcess {
    /// Queues in the first batch the headers of the code objects the previous sample met:
    /// most stacks run through the same code from one sample to the next.
    pub(super) fn queue_code_headers(&self, s: &mut Scratch) {
        let len = self.layout.code_read_len();
        for &c in &self.last_codes {
            let i = s.copies.first.push(c, len);
            s.codes.headers.insert(c, Slot::First(i));
        }
    }

    /// Reads, in one batch, the headers of the code objects on this sample's stacks that the
    /// first batch did not prefetch: those new since the previous sample.
    pub(super) fn read_code_headers(&mut self, s: &mut Scratch) -> Result<(), ReadError> {
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
    pub(super) fn check_codes(&mut self, s: &mut Scratch) -> Result<(), ReadError> {
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
    /// and caches them; one whose names or line table cannot be read is marked bad and
    /// counted.
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
    pub(super) fn resolve_lines(&mut self, out: &mut ProcessSample, s: &Scratch) {
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
    pub(super) fn remember_codes(&mut self, s: &Scratch) {
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
