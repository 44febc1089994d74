//! Per-version memory layouts of CPython's runtime structures, as data.
//!
//! [`Layout`] is everything pyrometer reads, as byte offsets (x86-64 and AArch64 Linux, GIL
//! builds). 3.11 and 3.12 publish nothing about themselves, so their layouts are tables
//! measured on their headers (`v3_11`, `v3_12`, provenance at the top of each). From 3.13 on,
//! `_PyRuntime` starts with CPython's own `_Py_DebugOffsets`, whose shape changes with each
//! minor version: each version's module lists its shape (the fields in order) and measures the
//! few fields it does not publish; [`debug_offsets`] reads the structure, checks it and builds
//! the layout from it. A new patch release therefore needs no change, and a new minor version
//! one module with its shape. [`for_version`] is the one place that dispatches on the version.

pub mod debug_offsets;
pub mod v3_11;
pub mod v3_12;
pub mod v3_13;
pub mod v3_14;
pub mod v3_15;

use crate::memory::{Bytes, MemoryReader};
use crate::version::PyVersion;

/// Why there is no layout for an interpreter.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    /// A version (or a kind of build) pyrometer does not read.
    #[error("{reason}")]
    Unsupported { reason: String },
    /// A free-threaded build (`Py_GIL_DISABLED`).
    #[error("free-threaded builds are not supported yet (only GIL builds are)")]
    FreeThreaded,
    /// What the interpreter says about itself fails a check.
    #[error("{check}")]
    Mismatch { check: String },
}

/// The versions pyrometer reads, for messages.
pub const SUPPORTED: &str = "CPython 3.11 to 3.15 (final releases, GIL builds)";

/// How to find the thread holding the GIL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GilLayout {
    /// 3.11: `_PyRuntime.gilstate.tstate_current` is the holder's tstate (NULL when released).
    RuntimeTstateCurrent { offset: u64 },
    /// 3.12: `interp->ceval.gil` points to a `_gil_runtime_state`; the holder is
    /// `last_holder` while `locked` (an `int`).
    InterpPointer {
        gil_ptr: u64,
        last_holder: u64,
        locked: u64,
    },
    /// 3.13+: `interp->_gil` is inline in the interpreter state.
    InterpInline { last_holder: u64, locked: u64 },
}

/// Where a thread's innermost frame pointer lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CurrentFrame {
    /// 3.11/3.12: `tstate->cframe->current_frame`.
    ViaCFrame { cframe: u64, current_frame: u64 },
    /// 3.13+: `tstate->current_frame`.
    Direct { current_frame: u64 },
}

/// How an `int` keeps its size and sign.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LongLayout {
    /// 3.11: a signed digit count in `ob_size`.
    ObSize { ob_size: u64, ob_digit: u64 },
    /// 3.12+: `lv_tag` (digit count << 3 | sign).
    LvTag { lv_tag: u64, ob_digit: u64 },
}

/// Everything the readers use, as byte offsets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// `_PyRuntime.interpreters.head`
    pub runtime_interpreters_head: u64,
    pub gil: GilLayout,
    pub interp_next: u64,
    pub interp_id: u64,
    pub interp_threads_head: u64,
    pub tstate_next: u64,
    pub tstate_interp: u64,
    pub tstate_frame: CurrentFrame,
    pub tstate_thread_id: u64,
    pub tstate_native_thread_id: u64,
    pub tstate_datastack_chunk: u64,
    pub tstate_datastack_top: u64,
    /// `_PyInterpreterFrame.f_code` (3.11/3.12) or `f_executable` (3.13+).
    pub frame_code: u64,
    pub frame_previous: u64,
    /// `prev_instr` (3.11/3.12: the last executed code unit) or `instr_ptr` (3.13+).
    pub frame_instr: u64,
    pub frame_owner: u64,
    pub frame_size: u64,
    /// Frames with an owner from this value to [`Layout::frame_owner_max`] belong to the
    /// interpreter itself (C-stack entries, 3.15's base frame) and are skipped.
    pub frame_owner_shim: Option<u8>,
    /// The largest valid owner value.
    pub frame_owner_max: u8,
    /// Tag bits of a `_PyStackRef` (3.14+: `f_executable` and `localsplus` entries), cleared
    /// to get the object's address; 0 where these are plain pointers.
    pub stackref_tag_bits: u64,
    pub code_flags: u64,
    pub code_firstlineno: u64,
    pub code_filename: u64,
    pub code_name: u64,
    pub code_qualname: u64,
    pub code_linetable: u64,
    pub code_adaptive: u64,
    pub object_type: u64,
    pub type_name: u64,
    pub unicode_length: u64,
    pub unicode_state: u64,
    pub unicode_ascii_size: u64,
    pub unicode_compact_size: u64,
    pub bytes_size: u64,
    pub bytes_sval: u64,
    pub long: LongLayout,
    pub chunk_previous: u64,
    pub chunk_size: u64,
    pub chunk_top: u64,
    pub chunk_data: u64,
    /// For thread names: instance attributes of the `Thread` object (see `attrs.rs`).
    pub attrs: AttrLayout,
}

/// Where a heap type's instance keeps its attributes (3.11+ "managed dicts").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ManagedDict {
    /// 3.11: `PyDictValues*` at `obj - 32`, `PyDictObject*` at `obj - 24`.
    Split311,
    /// 3.12: a tagged `PyDictOrValues` at `obj - 24`: values (pointer + 1 stored with the low
    /// bit set) or a dict.
    Tagged312,
    /// 3.13+: when the type has `Py_TPFLAGS_INLINE_VALUES`, values inline at `obj +
    /// tp_basicsize` (`capacity, size, embedded, valid` bytes, then the values); the dict, if
    /// materialized, at `obj - 24`.
    Inline {
        type_flags: u64,
        type_basicsize: u64,
    },
}

/// Offsets for reading one string attribute of an instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttrLayout {
    pub managed: ManagedDict,
    /// `_PyInterpreterFrame.localsplus` (the first argument, `self`, is `localsplus[0]`).
    pub frame_localsplus: u64,
    /// `PyHeapTypeObject.ht_cached_keys` (the shared keys of instances' split dicts).
    pub heaptype_cached_keys: u64,
    pub dict_ma_keys: u64,
    pub dict_ma_values: u64,
    /// `PyDictKeysObject.dk_log2_index_bytes` / `dk_kind` / `dk_nentries` / `dk_indices`.
    pub keys_log2_index_bytes: u64,
    pub keys_kind: u64,
    pub keys_nentries: u64,
    pub keys_indices: u64,
}

/// One `_PyInterpreterFrame`, as read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame {
    /// A frame of Python code: its code object, instruction pointer and the frame below.
    Python {
        code: u64,
        instr: u64,
        previous: u64,
    },
    /// A frame the interpreter pushes for itself, to skip.
    Shim { previous: u64 },
    /// Not a frame (a torn read, or garbage).
    Invalid,
}

impl Layout {
    /// How many bytes of a thread state the walker needs.
    pub fn tstate_read_len(&self) -> usize {
        let frame = match self.tstate_frame {
            CurrentFrame::ViaCFrame { cframe, .. } => cframe,
            CurrentFrame::Direct { current_frame } => current_frame,
        };
        [
            self.tstate_next,
            self.tstate_interp,
            frame,
            self.tstate_thread_id,
            self.tstate_native_thread_id,
            self.tstate_datastack_chunk,
            self.tstate_datastack_top,
        ]
        .into_iter()
        .max()
        .unwrap_or(0) as usize
            + 8
    }

    /// How many bytes of a code object the walker needs (its header up to the bytecode).
    pub fn code_read_len(&self) -> usize {
        [
            self.object_type + 8,
            self.code_flags + 4,
            self.code_firstlineno + 4,
            self.code_filename + 8,
            self.code_name + 8,
            self.code_qualname + 8,
            self.code_linetable + 8,
        ]
        .into_iter()
        .max()
        .unwrap_or(0) as usize
    }

    /// The object a `_PyStackRef` (or, before 3.14, a plain pointer) refers to.
    #[inline]
    pub fn stackref(&self, raw: u64) -> u64 {
        raw & !self.stackref_tag_bits
    }

    /// Parses the first [`Layout::frame_size`] bytes of a `_PyInterpreterFrame`.
    #[inline]
    pub fn frame(&self, bytes: &[u8]) -> Frame {
        let (Some(owner), Some(code), Some(previous), Some(instr)) = (
            bytes.u8_at(self.frame_owner as usize),
            bytes.u64_at(self.frame_code as usize),
            bytes.u64_at(self.frame_previous as usize),
            bytes.u64_at(self.frame_instr as usize),
        ) else {
            return Frame::Invalid;
        };
        if owner > self.frame_owner_max {
            return Frame::Invalid;
        }
        if self.frame_owner_shim.is_some_and(|shim| owner >= shim) {
            return Frame::Shim { previous };
        }
        match self.stackref(code) {
            0 => Frame::Invalid,
            code => Frame::Python {
                code,
                instr,
                previous,
            },
        }
    }

    /// Reads the frame at `addr` through `mem`.
    pub fn read_frame(&self, mem: &(impl MemoryReader + ?Sized), addr: u64) -> Frame {
        let mut buf = [0u8; 256];
        let Some(buf) = buf.get_mut(..self.frame_size as usize) else {
            return Frame::Invalid;
        };
        match mem.read(addr, buf) {
            Ok(()) => self.frame(buf),
            Err(_) => Frame::Invalid,
        }
    }

    /// The innermost frame of the thread whose state is at `tstate`, 0 when it runs no Python
    /// code; `None` when it cannot be read.
    pub fn current_frame(&self, mem: &(impl MemoryReader + ?Sized), tstate: u64) -> Option<u64> {
        match self.tstate_frame {
            CurrentFrame::ViaCFrame {
                cframe,
                current_frame,
            } => {
                let cf = mem.read_u64(tstate.wrapping_add(cframe)).ok()?;
                if cf == 0 {
                    return Some(0);
                }
                mem.read_u64(cf.wrapping_add(current_frame)).ok()
            }
            CurrentFrame::Direct { current_frame } => {
                mem.read_u64(tstate.wrapping_add(current_frame)).ok()
            }
        }
    }
}

/// The layout of an interpreter of `version` whose `_PyRuntime` is at `runtime` in `mem`,
/// checked against what the interpreter says about itself where it says something (3.13+).
/// `runtime_size`, the size of `_PyRuntime` when known (its ELF section's), must then equal
/// the size the debug offsets give it: a check that the structure was read in the right shape.
pub fn for_version(
    version: PyVersion,
    mem: &(impl MemoryReader + ?Sized),
    runtime: u64,
    runtime_size: Option<u64>,
) -> Result<Layout, LayoutError> {
    let unsupported = |reason: &str| LayoutError::Unsupported {
        reason: reason.to_owned(),
    };
    if version.major != 3 || version.minor < 11 {
        return Err(unsupported(
            "only CPython 3.11 and later keep frames the way pyrometer reads them",
        ));
    }
    if !version.is_final() {
        return Err(unsupported(
            "pre-releases change their layouts without notice; only final releases are supported",
        ));
    }
    match version.minor {
        11 => Ok(v3_11::layout()),
        12 => Ok(v3_12::layout()),
        13 => debug_offsets::layout(&v3_13::VERSION, version, mem, runtime, runtime_size),
        14 => debug_offsets::layout(&v3_14::VERSION, version, mem, runtime, runtime_size),
        15 => debug_offsets::layout(&v3_15::VERSION, version, mem, runtime, runtime_size),
        _ => Err(unsupported(
            "no layout for this version yet (its _Py_DebugOffsets shape goes in layout/)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::RemoteMemory;

    #[test]
    fn refuses_old_new_and_prerelease_versions() {
        let mem = RemoteMemory::new(std::process::id());
        for hex in [0x030a0df0, 0x031000f0, 0x030d00b1, 0x020712f0] {
            match for_version(PyVersion::from_hex(hex), &mem, 0, None) {
                Err(LayoutError::Unsupported { .. }) => {}
                other => panic!("{hex:x}: expected Unsupported, got {other:?}"),
            }
        }
    }

    #[test]
    fn read_lengths_cover_the_fields() {
        for l in [
            v3_11::layout(),
            v3_12::layout(),
            v3_13::VERSION.table(),
            v3_14::VERSION.table(),
            v3_15::VERSION.table(),
        ] {
            assert!(l.tstate_read_len() as u64 > l.tstate_datastack_top);
            assert!(l.code_read_len() as u64 > l.code_linetable);
            assert!(l.code_read_len() as u64 <= l.code_adaptive);
            assert!(l.frame_size <= 256);
        }
    }

    #[test]
    fn frames_parse_with_tags_cleared_and_shims_skipped() {
        let l = v3_14::VERSION.table();
        let mut f = vec![0u8; l.frame_size as usize];
        let put = |f: &mut Vec<u8>, off: u64, v: u64| {
            f[off as usize..][..8].copy_from_slice(&v.to_le_bytes())
        };
        put(&mut f, l.frame_code, 0x1000 | 1);
        put(&mut f, l.frame_previous, 0x2000);
        put(&mut f, l.frame_instr, 0x1100);
        assert_eq!(
            l.frame(&f),
            Frame::Python {
                code: 0x1000,
                instr: 0x1100,
                previous: 0x2000
            }
        );
        f[l.frame_owner as usize] = 3;
        assert_eq!(l.frame(&f), Frame::Shim { previous: 0x2000 });
        f[l.frame_owner as usize] = 9;
        assert_eq!(l.frame(&f), Frame::Invalid);
        assert_eq!(l.frame(&f[..8]), Frame::Invalid);
    }
}
