//! Thread names from `threading`, read out of process.
//!
//! A thread started by `threading` has `Thread._bootstrap(self)` as its outermost frame, so
//! `self` is that frame's `localsplus[0]`, and the name is the instance attribute `_name`.
//! Reading an attribute means finding `"_name"` in the keys shared by the class's instances
//! (`ht_cached_keys`) and taking the value at that index from the instance's values (3.11+
//! "managed dicts", a different place in each version, see [`ManagedDict`]), or, when the
//! instance's dict has been materialized, looking the key up in that dict.
//!
//! This runs once per new thread (a few dozen small reads), not per sample.

use crate::code::decode_str;
use crate::layout::{CurrentFrame, Layout, ManagedDict};
use crate::mem::{Bytes, RemoteMemory};
use crate::process::{MAX_FRAMES, PythonProcess};

/// The most dict entries scanned for the attribute.
const MAX_ENTRIES: u64 = 128;

fn read_str(mem: &RemoteMemory, l: &Layout, ptr: u64) -> Option<String> {
    let mut buf = vec![0u8; 192];
    mem.read(ptr, &mut buf).ok()?;
    match decode_str(l, &buf) {
        Ok(s) => s,
        Err(needed) => {
            let b = mem.read_vec(ptr, needed).ok()?;
            decode_str(l, &b).ok().flatten()
        }
    }
}

/// The entries of a `PyDictKeysObject`: (key, value) pointers; the value is NULL for the
/// shared keys of split dicts.
fn keys_entries(mem: &RemoteMemory, l: &Layout, keys: u64) -> Option<Vec<(u64, u64)>> {
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
fn find_key(mem: &RemoteMemory, l: &Layout, entries: &[(u64, u64)], name: &str) -> Option<usize> {
    entries
        .iter()
        .position(|&(k, _)| k != 0 && read_str(mem, l, k).as_deref() == Some(name))
}

/// A string attribute of the instance at `obj`.
pub fn str_attr(mem: &RemoteMemory, l: &Layout, obj: u64, name: &str) -> Option<String> {
    let a = &l.attrs;
    let ty = mem.read_u64(obj.wrapping_add(l.object_type)).ok()?;
    let shared = mem.read_u64(ty.wrapping_add(a.heaptype_cached_keys)).ok()?;
    let word = |off: i64| mem.read_u64(obj.wrapping_add_signed(off)).ok();
    // Values in the instance (split dict with the class's shared keys)?
    let values = match a.managed {
        ManagedDict::Split311 => word(-32).filter(|&v| v != 0),
        ManagedDict::Tagged312 => word(-24).filter(|v| v & 1 == 1).map(|v| v.wrapping_add(1)),
        ManagedDict::Inline313 => {
            let mut valid = [0u8; 1];
            mem.read(obj.wrapping_add(16 + 3), &mut valid)
                .ok()
                .filter(|_| valid[0] != 0)
                .map(|_| obj.wrapping_add(16 + 8))
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
        let base = match a.managed {
            ManagedDict::Inline313 => dict_values.wrapping_add(8),
            _ => dict_values,
        };
        mem.read_u64(base.wrapping_add(8 * i as u64)).ok()?
    } else {
        entries[i].1
    };
    read_str(mem, l, v)
}

impl PythonProcess {
    /// The `threading` name of the thread whose state is at `tstate`: `self._name` of the
    /// `Thread` in its outermost `Thread._bootstrap` frame. `None` for threads not started by
    /// `threading` (or when anything along the way cannot be read). The code objects on the
    /// stack must have been seen by a sample before.
    pub fn thread_name(&self, tstate: u64) -> Option<String> {
        let l = self.layout();
        let mem = self.memory();
        let mut f = match l.tstate_frame {
            CurrentFrame::ViaCFrame {
                cframe,
                current_frame,
            } => {
                let cf = mem.read_u64(tstate.wrapping_add(cframe)).ok()?;
                mem.read_u64(cf.wrapping_add(current_frame)).ok()?
            }
            CurrentFrame::Direct { current_frame } => {
                mem.read_u64(tstate.wrapping_add(current_frame)).ok()?
            }
        };
        let mut bootstrap_self = None;
        let mut frame = vec![0u8; l.frame_size as usize];
        for _ in 0..MAX_FRAMES {
            if f == 0 {
                break;
            }
            mem.read(f, &mut frame).ok()?;
            let owner = frame.u8_at(l.frame_owner as usize)?;
            if l.frame_owner_shim != Some(owner) {
                let code = frame.u64_at(l.frame_code as usize)?;
                if let Some(info) = self.code(code)
                    && matches!(
                        &*info.qualname,
                        "Thread._bootstrap" | "Thread._bootstrap_inner"
                    )
                {
                    bootstrap_self = mem.read_u64(f.wrapping_add(l.attrs.frame_localsplus)).ok();
                }
            }
            f = frame.u64_at(l.frame_previous as usize)?;
        }
        str_attr(mem, l, bootstrap_self?, "_name")
    }
}
