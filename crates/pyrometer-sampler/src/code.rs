//! Code objects read from the target, cached by address.
//!
//! A cache entry remembers the pointers it was decoded from (`co_filename`, `co_name`,
//! `co_qualname`, `co_linetable`) and `co_firstlineno`. Each sample re-reads the header of
//! every code object on a stack (in the same batched syscall as the frames, for the code
//! objects seen in the previous sample) and uses the entry only when all of them still match,
//! so a code object freed and replaced at the same address is decoded afresh.

use std::sync::Arc;

use rustc_hash::FxHashSet;

use crate::layout::Layout;
use crate::linetable::LineTable;
use crate::mem::Bytes;

/// The fields of a code object's header that identify it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CodeKey {
    pub ob_type: u64,
    pub filename: u64,
    pub name: u64,
    pub qualname: u64,
    pub linetable: u64,
    pub first_line: i32,
}

impl CodeKey {
    /// Parses the header bytes of a code object (`Layout::code_read_len` bytes).
    pub fn parse(layout: &Layout, header: &[u8]) -> Option<CodeKey> {
        Some(CodeKey {
            ob_type: header.u64_at(layout.object_type as usize)?,
            filename: header.u64_at(layout.code_filename as usize)?,
            name: header.u64_at(layout.code_name as usize)?,
            qualname: header.u64_at(layout.code_qualname as usize)?,
            linetable: header.u64_at(layout.code_linetable as usize)?,
            first_line: header.i32_at(layout.code_firstlineno as usize)?,
        })
    }
}

/// A decoded code object.
#[derive(Clone, Debug)]
pub struct CodeInfo {
    /// Unique per decoded entry for the lifetime of the reader (an address can be reused by
    /// another code object; a serial cannot).
    pub serial: u32,
    pub key: CodeKey,
    pub name: Arc<str>,
    pub qualname: Arc<str>,
    pub filename: Arc<str>,
    pub first_line: u32,
    pub lines: LineTable,
}

impl CodeInfo {
    /// The line executing at instruction pointer `instr` (an address in the target), given the
    /// code object's address and the offset of its bytecode.
    pub fn line_for(&self, code_addr: u64, code_adaptive: u64, instr: u64) -> u32 {
        let base = code_addr.wrapping_add(code_adaptive);
        if instr < base {
            // 3.11/3.12 `prev_instr` points one unit before the start until the first
            // instruction runs.
            return self.first_line;
        }
        let addrq = (instr - base) / 2;
        if addrq > u32::MAX as u64 {
            return self.first_line;
        }
        self.lines.line_at(addrq as u32).unwrap_or(self.first_line)
    }
}

/// Shares identical strings (file names repeat across every function of a module).
#[derive(Default, Debug)]
pub struct StringPool {
    strings: FxHashSet<Arc<str>>,
}

impl StringPool {
    pub fn get(&mut self, s: &str) -> Arc<str> {
        if let Some(a) = self.strings.get(s) {
            return a.clone();
        }
        let a: Arc<str> = Arc::from(s);
        if self.strings.len() < 200_000 {
            self.strings.insert(a.clone());
        }
        a
    }
}

/// The most characters read from a name or file name.
pub const MAX_STR_CHARS: u64 = 4096;

/// Decodes a `str` object from bytes read at its address. `bytes` must start at the object;
/// returns `Err(needed)` with the byte count required when `bytes` is too short, and
/// `Ok(None)` when the object is not a compact string.
pub fn decode_str(layout: &Layout, bytes: &[u8]) -> Result<Option<String>, usize> {
    let state = match bytes.u32_at(layout.unicode_state as usize) {
        Some(s) => s,
        None => return Err(layout.unicode_compact_size as usize),
    };
    let length = bytes.u64_at(layout.unicode_length as usize).unwrap_or(0);
    let kind = (state >> 2) & 7;
    let compact = state & (1 << 5) != 0;
    let ascii = state & (1 << 6) != 0;
    if !compact || length > MAX_STR_CHARS {
        return Ok(None);
    }
    let length = length as usize;
    if ascii {
        let start = layout.unicode_ascii_size as usize;
        let Some(data) = bytes.get(start..start + length) else {
            return Err(start + length);
        };
        return Ok(Some(String::from_utf8_lossy(data).into_owned()));
    }
    let start = layout.unicode_compact_size as usize;
    let width = match kind {
        1 | 2 | 4 => kind as usize,
        _ => return Ok(None),
    };
    let Some(data) = bytes.get(start..start + length * width) else {
        return Err(start + length * width);
    };
    let s = match width {
        1 => data.iter().map(|&b| b as char).collect(),
        2 => data
            .chunks_exact(2)
            .map(|c| char::from_u32(u16::from_le_bytes([c[0], c[1]]) as u32).unwrap_or('?'))
            .collect(),
        _ => data
            .chunks_exact(4)
            .map(|c| char::from_u32(u32::from_le_bytes([c[0], c[1], c[2], c[3]])).unwrap_or('?'))
            .collect(),
    };
    Ok(Some(s))
}

/// The most bytes read from a line table.
pub const MAX_LINETABLE_BYTES: u64 = 1 << 20;

/// The payload of a `bytes` object read at its address: `Err(needed)` when `bytes` is short,
/// `Ok(None)` when the size is implausible.
pub fn decode_bytes<'a>(layout: &Layout, bytes: &'a [u8]) -> Result<Option<&'a [u8]>, usize> {
    let Some(size) = bytes.u64_at(layout.bytes_size as usize) else {
        return Err(layout.bytes_sval as usize);
    };
    if size > MAX_LINETABLE_BYTES {
        return Ok(None);
    }
    let start = layout.bytes_sval as usize;
    let end = start + size as usize;
    match bytes.get(start..end) {
        Some(d) => Ok(Some(d)),
        None => Err(end),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::v3_12;

    fn ascii_object(layout: &Layout, s: &str) -> Vec<u8> {
        let mut b = vec![0u8; layout.unicode_ascii_size as usize];
        b[layout.unicode_length as usize..][..8].copy_from_slice(&(s.len() as u64).to_le_bytes());
        let state: u32 = (1 << 2) | (1 << 5) | (1 << 6);
        b[layout.unicode_state as usize..][..4].copy_from_slice(&state.to_le_bytes());
        b.extend_from_slice(s.as_bytes());
        b.push(0);
        b
    }

    #[test]
    fn decodes_ascii_and_wide_strings() {
        let l = v3_12::layout();
        let obj = ascii_object(&l, "fibonacci");
        assert_eq!(decode_str(&l, &obj), Ok(Some("fibonacci".into())));
        assert_eq!(decode_str(&l, &obj[..45]), Err(49));
        // A UCS-2 string "été→" (kind 2, compact, not ascii).
        let text: Vec<u16> = "été→".encode_utf16().collect();
        let mut b = vec![0u8; l.unicode_compact_size as usize];
        b[16..24].copy_from_slice(&(text.len() as u64).to_le_bytes());
        let state: u32 = (2 << 2) | (1 << 5);
        b[32..36].copy_from_slice(&state.to_le_bytes());
        for u in text {
            b.extend_from_slice(&u.to_le_bytes());
        }
        assert_eq!(decode_str(&l, &b), Ok(Some("été→".into())));
    }

    #[test]
    fn decodes_bytes_objects() {
        let l = v3_12::layout();
        let mut b = vec![0u8; 32];
        b[16..24].copy_from_slice(&3u64.to_le_bytes());
        b.extend_from_slice(&[1, 2, 3, 0]);
        assert_eq!(decode_bytes(&l, &b), Ok(Some(&[1u8, 2, 3][..])));
        assert_eq!(decode_bytes(&l, &b[..33]), Err(35));
    }
}
