//! Per-version memory layouts of CPython's runtime structures, as data.
//!
//! One module per CPython minor version holds that version's table, with where it came from
//! written at its top. [`select`] is the one place that dispatches on the version. From 3.13
//! on, CPython publishes its own offsets in `_Py_DebugOffsets` at the start of `_PyRuntime`;
//! each exact layout of that structure gets its own Rust struct (see [`v3_13`]), so adding
//! 3.14 or 3.15 is one new module plus one arm in [`select`].

pub mod v3_11;
pub mod v3_12;
pub mod v3_13;

use std::fmt;

use crate::error::{Result, SamplerError};
use crate::mem::RemoteMemory;

/// A CPython version, decoded from `PY_VERSION_HEX` (`Py_Version`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PyVersion {
    pub major: u8,
    pub minor: u8,
    pub micro: u8,
    /// 0xA alpha, 0xB beta, 0xC release candidate, 0xF final.
    pub level: u8,
    pub serial: u8,
}

impl PyVersion {
    pub fn from_hex(hex: u32) -> PyVersion {
        PyVersion {
            major: (hex >> 24) as u8,
            minor: (hex >> 16) as u8,
            micro: (hex >> 8) as u8,
            level: ((hex >> 4) & 0xf) as u8,
            serial: (hex & 0xf) as u8,
        }
    }

    pub fn hex(self) -> u32 {
        (self.major as u32) << 24
            | (self.minor as u32) << 16
            | (self.micro as u32) << 8
            | (self.level as u32 & 0xf) << 4
            | (self.serial as u32 & 0xf)
    }

    pub fn is_final(self) -> bool {
        self.level == 0xf
    }
}

impl fmt::Display for PyVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.micro)?;
        match self.level {
            0xa => write!(f, "a{}", self.serial),
            0xb => write!(f, "b{}", self.serial),
            0xc => write!(f, "rc{}", self.serial),
            _ => Ok(()),
        }
    }
}

/// How to find the thread holding the GIL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GilLayout {
    /// 3.11: `_PyRuntime.gilstate.tstate_current` is the holder's tstate (NULL when released).
    RuntimeTstateCurrent { offset: u64 },
    /// 3.12: `interp->ceval.gil` points to a `_gil_runtime_state`; the holder is
    /// `last_holder` while `locked`.
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

/// Everything the walker reads, as byte offsets (x86_64 / aarch64 Linux, GIL builds).
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
    /// `_PyInterpreterFrame.f_code` (3.11/3.12) or `f_executable` (3.13).
    pub frame_code: u64,
    pub frame_previous: u64,
    /// `prev_instr` (3.11/3.12: the last executed code unit) or `instr_ptr` (3.13+).
    pub frame_instr: u64,
    pub frame_owner: u64,
    pub frame_size: u64,
    /// Frames with this owner are shims to skip (`FRAME_OWNED_BY_CSTACK`, 3.12/3.13).
    pub frame_owner_shim: Option<u8>,
    /// The largest valid owner value.
    pub frame_owner_max: u8,
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
    pub chunk_previous: u64,
    pub chunk_size: u64,
    pub chunk_top: u64,
    pub chunk_data: u64,
    /// For thread names: instance attributes of the `Thread` object (see `names.rs`).
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
    /// 3.13: values inline after the object header (`obj + 16`: `capacity, size, embedded,
    /// valid` bytes then the values), the dict (if materialized) at `obj - 24`.
    Inline313,
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
}

/// The layout of the process's interpreter, checked against what CPython says about itself
/// where it says something (3.13+: `_Py_DebugOffsets`).
pub fn select(pid: u32, version: PyVersion, mem: &RemoteMemory, runtime: u64) -> Result<Layout> {
    let unsupported = |reason: &str| SamplerError::UnsupportedVersion {
        pid,
        version: version.to_string(),
        reason: reason.to_owned(),
    };
    if version.major != 3 || version.minor < 11 {
        return Err(unsupported(
            "only CPython 3.11 and later keep frames the way this sampler reads them",
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
        13 => v3_13::layout_from_debug_offsets(pid, version, mem, runtime),
        _ => Err(unsupported(
            "no layout for this version yet (add its _Py_DebugOffsets struct in layout/)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_decode_and_print() {
        let v = PyVersion::from_hex(0x030c01f0);
        assert_eq!((v.major, v.minor, v.micro), (3, 12, 1));
        assert!(v.is_final());
        assert_eq!(v.to_string(), "3.12.1");
        assert_eq!(v.hex(), 0x030c01f0);
        assert_eq!(PyVersion::from_hex(0x030f00b4).to_string(), "3.15.0b4");
        assert_eq!(PyVersion::from_hex(0x030d00c1).to_string(), "3.13.0rc1");
    }

    #[test]
    fn refuses_old_new_and_prerelease_versions() {
        let mem = RemoteMemory::new(std::process::id());
        for hex in [0x030a0df0, 0x030e00f0, 0x030d00b1, 0x020712f0] {
            match select(1, PyVersion::from_hex(hex), &mem, 0) {
                Err(SamplerError::UnsupportedVersion { .. }) => {}
                other => panic!("{hex:x}: expected UnsupportedVersion, got {other:?}"),
            }
        }
    }

    #[test]
    fn read_lengths_cover_the_fields() {
        for l in [v3_11::layout(), v3_12::layout(), v3_13::table()] {
            assert!(l.tstate_read_len() as u64 > l.tstate_datastack_top);
            assert!(l.code_read_len() as u64 > l.code_linetable);
            assert!(l.code_read_len() as u64 <= l.code_adaptive);
        }
    }
}
