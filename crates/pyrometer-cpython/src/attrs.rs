//! Reading a string attribute of an instance (a thread's `threading` name), through a
//! [`MemoryReader`].
//!
//! An instance of a heap type keeps its attributes in a "managed dict" (3.11+): values in the
//! instance, keyed by the keys its class's instances share (`ht_cached_keys`), or, once the
//! dict has been materialized, a dict behind the object. Where the values live differs by
//! version ([`ManagedDict`]). Everything read is bounded; garbage gives `None`.

use crate::layout::{Layout, ManagedDict};
use crate::memory::{Bytes, MemoryReader};
use crate::objects::read_str;

/// The most dict entries scanned for the attribute.
const MAX_ENTRIES: u64 = 128;

/// `Py_TPFLAGS_INLINE_VALUES` (3.13+): the type's instances keep their values inline.
const TPFLAGS_INLINE_VALUES: u64 = 1 << 2;

/// The entries of a `PyDictKeysObject`: (key, value) pointers; the value is NULL for the
/// shared keys of split dicts.
fn keys_entries(
    mem: &(impl MemoryReader + ?Sized),
    l: &Layout,
    keys: u64,
) -> Option<Vec<(u64, u64)>> {
    let a = &l.attrs;
    let mut hdr = [0u8; 32];
    mem.read(keys, &mut hdr).ok()?;
    let log2_index_bytes = hdr.u8_at(a.keys_log2_index_bytes as usize)? as u64;
    let kind = hdr.u8_at(a.keys_kind as usize)?;
    let n = hdr.u64_at(a.keys_nentries as usize)?.min(MAX_ENTRIES);
    if log2_index_bytes > 20 {
        return None;
    }
    // DICT_KEYS_GENERAL (0) entries are {hash, key, value}; unicode ones {key, value}.
    let (size, key_off) = if kind == 0 { (24, 8) } else { (16, 0) };
    let start = keys
        .wrapping_add(a.keys_indices)
        .wrapping_add(1 << log2_index_bytes);
    let bytes = mem.read_vec(start, (n * size) as usize).ok()?;
    Some(
        bytes
            .chunks_exact(size as usize)
            .filter_map(|e| Some((e.u64_at(key_off)?, e.u64_at(key_off + 8)?)))
            .collect(),
    )
}

/// The index of the string key `name` among `entries`.
fn find_key(
    mem: &(impl MemoryReader + ?Sized),
    l: &Layout,
    entries: &[(u64, u64)],
    name: &str,
) -> Option<usize> {
    entries
        .iter()
        .position(|&(k, _)| k != 0 && read_str(mem, l, k).as_deref() == Some(name))
}

/// A string attribute of the instance at `obj`.
pub fn str_attr(
    mem: &(impl MemoryReader + ?Sized),
    l: &Layout,
    obj: u64,
    name: &str,
) -> Option<String> {
    let a = &l.attrs;
    let ty = mem.read_u64(obj.wrapping_add(l.object_type)).ok()?;
    let shared = mem.read_u64(ty.wrapping_add(a.heaptype_cached_keys)).ok()?;
    let word = |off: i64| mem.read_u64(obj.wrapping_add_signed(off)).ok();
    // Values in the instance (split dict with the class's shared keys)?
    let values = match a.managed {
        ManagedDict::Split311 => word(-32).filter(|&v| v != 0),
        ManagedDict::Tagged312 => word(-24).filter(|v| v & 1 == 1).map(|v| v.wrapping_add(1)),
        ManagedDict::Inline {
            type_flags,
            type_basicsize,
        } => {
            // At `obj + tp_basicsize` when the type keeps values inline (a class with
            // `__slots__` has its slots first); byte 3 of their header says they are valid.
            let flags = mem.read_u64(ty.wrapping_add(type_flags)).ok()?;
            let basicsize = mem.read_u64(ty.wrapping_add(type_basicsize)).ok()?;
            let values = obj.wrapping_add(basicsize);
            (flags & TPFLAGS_INLINE_VALUES != 0 && basicsize < 4096)
                .then(|| mem.read_u8(values.wrapping_add(3)).ok())
                .flatten()
                .filter(|&valid| valid != 0)
                .map(|_| values.wrapping_add(8))
        }
    };
    if let Some(values) = values
        && shared != 0
    {
        let entries = keys_entries(mem, l, shared)?;
        let i = find_key(mem, l, &entries, name)?;
        let v = mem.read_u64(values.wrapping_add(8 * i as u64)).ok()?;
        return read_str(mem, l, v);
    }
    // A materialized dict.
    let dict = match a.managed {
        ManagedDict::Tagged312 => word(-24).filter(|v| v & 1 == 0),
        _ => word(-24),
    }
    .filter(|&d| d != 0)?;
    let keys = mem.read_u64(dict.wrapping_add(a.dict_ma_keys)).ok()?;
    let dict_values = mem.read_u64(dict.wrapping_add(a.dict_ma_values)).ok()?;
    let entries = keys_entries(mem, l, keys)?;
    let i = find_key(mem, l, &entries, name)?;
    let v = if dict_values != 0 {
        // 3.13+ `PyDictValues` start with an 8-byte header.
        let base = match a.managed {
            ManagedDict::Inline { .. } => dict_values.wrapping_add(8),
            _ => dict_values,
        };
        mem.read_u64(base.wrapping_add(8 * i as u64)).ok()?
    } else {
        entries[i].1
    };
    read_str(mem, l, v)
}
