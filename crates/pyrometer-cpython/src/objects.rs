//! Readers of CPython objects: `str`, `bytes`, `int` and the header of a code object, from
//! bytes copied out of the process ([`decode_str`], [`decode_bytes`], [`CodeKey::parse`]) or
//! through a [`MemoryReader`] ([`read_str`], [`read_bytes`], [`read_int`], [`Code::read`]).
//! Every size is bounded, so a torn or garbage object gives `None`, never a huge read.

use crate::layout::{Layout, LongLayout};
use crate::linetable::LineTable;
use crate::memory::{Bytes, MemoryReader};

/// The fields of a code object's header that identify it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct CodeKey {
    pub ob_type: u64,
    pub filename: u64,
    pub name: u64,
    pub qualname: u64,
    pub linetable: u64,
    pub first_line: i32,
    pub flags: u32,
}

/// `CO_NO_MONITORING_EVENTS` (3.13+): code the interpreter runs for itself, such as the
/// `_Py_InitCleanup` frame a specialized class call pushes between the caller and
/// `__init__`. Its frames are not the program's.
pub const CO_NO_MONITORING_EVENTS: u32 = 0x0200_0000;

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
            flags: header.u32_at(layout.code_flags as usize)?,
        })
    }

    /// Reads the header fields of the code object at `addr` one by one (cheaper than a
    /// copy of the whole header through [`crate::memory::LocalMemory`]).
    #[inline]
    pub fn read(mem: &(impl MemoryReader + ?Sized), layout: &Layout, addr: u64) -> Option<CodeKey> {
        let at = |off: u64| addr.wrapping_add(off);
        Some(CodeKey {
            ob_type: mem.read_u64(at(layout.object_type)).ok()?,
            filename: mem.read_u64(at(layout.code_filename)).ok()?,
            name: mem.read_u64(at(layout.code_name)).ok()?,
            qualname: mem.read_u64(at(layout.code_qualname)).ok()?,
            linetable: mem.read_u64(at(layout.code_linetable)).ok()?,
            first_line: mem.read_u32(at(layout.code_firstlineno)).ok()? as i32,
            flags: mem.read_u32(at(layout.code_flags)).ok()?,
        })
    }

    /// Whether the code is the interpreter's own rather than the program's (see
    /// [`CO_NO_MONITORING_EVENTS`]): profiles leave its frames out.
    pub fn is_internal(&self) -> bool {
        self.flags & CO_NO_MONITORING_EVENTS != 0
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

/// A `str` object at `addr`: `None` when it cannot be read or is not a compact string.
/// Reads its fixed header first, then exactly the bytes its length needs, so nothing past
/// the object is touched.
pub fn read_str(mem: &(impl MemoryReader + ?Sized), layout: &Layout, addr: u64) -> Option<String> {
    let header = mem
        .read_vec(addr, layout.unicode_ascii_size as usize)
        .ok()?;
    match decode_str(layout, &header) {
        Ok(s) => s,
        Err(needed) => {
            let b = mem.read_vec(addr, needed).ok()?;
            decode_str(layout, &b).ok().flatten()
        }
    }
}

/// The payload of a `bytes` object at `addr`: `None` when it cannot be read or its size is
/// implausible (see [`decode_bytes`]). Reads its fixed header first, then exactly the bytes
/// its size needs.
pub fn read_bytes(
    mem: &(impl MemoryReader + ?Sized),
    layout: &Layout,
    addr: u64,
) -> Option<Vec<u8>> {
    let header = mem.read_vec(addr, layout.bytes_sval as usize).ok()?;
    match decode_bytes(layout, &header) {
        Ok(payload) => payload.map(<[u8]>::to_vec),
        Err(needed) => {
            let b = mem.read_vec(addr, needed).ok()?;
            decode_bytes(layout, &b).ok().flatten().map(<[u8]>::to_vec)
        }
    }
}

/// The most 30-bit digits of an `int` read: values that fit in an `i64`.
const MAX_INT_DIGITS: u64 = 3;

/// The value of an `int` object at `addr` that fits in an `i64`.
pub fn read_int(mem: &(impl MemoryReader + ?Sized), layout: &Layout, addr: u64) -> Option<i64> {
    let (ndigits, negative, digits) = match layout.long {
        LongLayout::ObSize { ob_size, ob_digit } => {
            let size = mem.read_u64(addr.wrapping_add(ob_size)).ok()? as i64;
            (size.unsigned_abs(), size < 0, ob_digit)
        }
        LongLayout::LvTag { lv_tag, ob_digit } => {
            let tag = mem.read_u64(addr.wrapping_add(lv_tag)).ok()?;
            // Bits 0-1: the sign (0 positive, 1 zero, 2 negative); bit 2 reserved; the rest
            // the number of digits.
            (tag >> 3, tag & 3 == 2, ob_digit)
        }
    };
    if ndigits > MAX_INT_DIGITS {
        return None;
    }
    let mut value: i128 = 0;
    for i in (0..ndigits).rev() {
        let digit = mem.read_u32(addr.wrapping_add(digits + 4 * i)).ok()? & ((1 << 30) - 1);
        value = (value << 30) | digit as i128;
    }
    i64::try_from(if negative { -value } else { value }).ok()
}

/// A code object's identity and what a profile shows of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Code {
    pub key: CodeKey,
    pub name: String,
    pub qualname: String,
    pub filename: String,
    pub first_line: u32,
    pub lines: LineTable,
}

impl Code {
    /// Reads the code object at `addr`: `None` when it cannot be read or its type is not
    /// `code_type` (the address of `PyCode_Type` in the process, when known).
    pub fn read(
        mem: &(impl MemoryReader + ?Sized),
        layout: &Layout,
        addr: u64,
        code_type: Option<u64>,
    ) -> Option<Code> {
        let header = mem.read_vec(addr, layout.code_read_len()).ok()?;
        let key = CodeKey::parse(layout, &header)?;
        if code_type.is_some_and(|t| t != key.ob_type) {
            return None;
        }
        let first_line = u32::try_from(key.first_line).unwrap_or(0);
        // A line table that cannot be read leaves the function known, its lines not.
        let table = read_bytes(mem, layout, key.linetable).unwrap_or_default();
        Some(Code {
            name: read_str(mem, layout, key.name)?,
            qualname: read_str(mem, layout, key.qualname)?,
            filename: read_str(mem, layout, key.filename)?,
            first_line,
            lines: LineTable::decode(&table, first_line),
            key,
        })
    }
}

/// The index of the code unit at instruction pointer `instr` of the code object at
/// `code_addr` (its bytecode starts `code_adaptive` bytes in); `None` before the first unit
/// (3.11/3.12 `prev_instr` points one unit before it until the first instruction runs) or
/// past any plausible end.
pub fn code_unit(code_addr: u64, code_adaptive: u64, instr: u64) -> Option<u32> {
    let base = code_addr.wrapping_add(code_adaptive);
    let addrq = instr.checked_sub(base)? / 2;
    u32::try_from(addrq).ok()
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

    #[test]
    fn read_bytes_refuses_an_implausible_size() {
        let l = v3_12::layout();
        let mem = crate::memory::RemoteMemory::new(std::process::id());
        let object = |size: u64, payload: &[u8]| {
            let mut b = vec![0u8; l.bytes_sval as usize];
            b[l.bytes_size as usize..][..8].copy_from_slice(&size.to_le_bytes());
            b.extend_from_slice(payload);
            b
        };
        let read = |b: &Vec<u8>| read_bytes(&mem, &l, b.as_ptr() as u64);
        assert_eq!(read(&object(3, &[1, 2, 3, 0])), Some(vec![1, 2, 3]));
        assert_eq!(read(&object(0, &[0])), Some(Vec::new()));
        assert_eq!(read(&object(MAX_LINETABLE_BYTES + 1, &[0])), None);
    }
}
