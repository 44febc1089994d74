//! CPython 3.13: the layout comes from the interpreter's own `_Py_DebugOffsets`.
//!
//! `_PyRuntime` starts with `_Py_DebugOffsets` (3.13: `Include/internal/pycore_runtime.h`,
//! tag v3.13.0): an 8-byte cookie `"xdebugpy"`, `u64 version` (`PY_VERSION_HEX`),
//! `u64 free_threaded`, then groups of `u64` offsets, each group starting with the size of its
//! structure. [`DebugOffsets313`] mirrors that exact struct (the layout changes between minor
//! versions and even between pre-releases, so 3.14 gets its own struct).
//!
//! A few fields the walker needs are not in 3.13's debug offsets; they come from
//! [`table`], measured by `tools/offsets.c` on pyenv's 3.13.0 headers: `datastack_top`
//! (always right after `datastack_chunk`), the `_PyStackChunk` layout, the size of
//! `PyCompactUnicodeObject`, and the `FRAME_OWNED_BY_CSTACK` owner value (3). The table's
//! other fields are checked against the debug offsets at attach (a test asserts they agree).
//!
//! Instance attributes (`attrs`, for thread names): `_PyObject_InlineValues` = `obj +
//! sizeof(PyObject)`, `MANAGED_DICT_OFFSET` = `-3` words (`internal/pycore_object.h`, v3.13.0).

use super::{AttrLayout, CurrentFrame, GilLayout, Layout, ManagedDict, PyVersion};
use crate::error::{Result, SamplerError};
use crate::mem::{Bytes, RemoteMemory};

/// The measured 3.13.0 table (see the module documentation).
pub fn table() -> Layout {
    Layout {
        runtime_interpreters_head: 632,
        gil: GilLayout::InterpInline {
            last_holder: 7760,
            locked: 7768,
        },
        interp_next: 7264,
        interp_id: 7272,
        interp_threads_head: 7344,
        tstate_next: 8,
        tstate_interp: 16,
        tstate_frame: CurrentFrame::Direct { current_frame: 72 },
        tstate_thread_id: 152,
        tstate_native_thread_id: 160,
        tstate_datastack_chunk: 232,
        tstate_datastack_top: 240,
        frame_code: 0,
        frame_previous: 8,
        frame_instr: 56,
        frame_owner: 70,
        frame_size: 80,
        frame_owner_shim: Some(3),
        frame_owner_max: 3,
        code_firstlineno: 68,
        code_filename: 112,
        code_name: 120,
        code_qualname: 128,
        code_linetable: 136,
        code_adaptive: 200,
        object_type: 8,
        type_name: 24,
        unicode_length: 16,
        unicode_state: 32,
        unicode_ascii_size: 40,
        unicode_compact_size: 56,
        bytes_size: 16,
        bytes_sval: 32,
        chunk_previous: 0,
        chunk_size: 8,
        chunk_top: 16,
        chunk_data: 24,
        attrs: AttrLayout {
            managed: ManagedDict::Inline313,
            frame_localsplus: 72,
            heaptype_cached_keys: 880,
            dict_ma_keys: 32,
            dict_ma_values: 40,
            keys_log2_index_bytes: 9,
            keys_kind: 10,
            keys_nentries: 24,
            keys_indices: 32,
        },
    }
}

/// The cookie every `_Py_DebugOffsets` starts with.
pub const COOKIE: &[u8; 8] = b"xdebugpy";

/// CPython 3.13's `_Py_DebugOffsets`, field for field (groups flattened, in order).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DebugOffsets313 {
    pub version: u64,
    pub free_threaded: u64,
    // runtime_state
    pub runtime_size: u64,
    pub runtime_finalizing: u64,
    pub runtime_interpreters_head: u64,
    // interpreter_state
    pub interp_size: u64,
    pub interp_id: u64,
    pub interp_next: u64,
    pub interp_threads_head: u64,
    pub interp_gc: u64,
    pub interp_imports_modules: u64,
    pub interp_sysdict: u64,
    pub interp_builtins: u64,
    pub interp_ceval_gil: u64,
    pub interp_gil_runtime_state: u64,
    pub interp_gil_runtime_state_enabled: u64,
    pub interp_gil_runtime_state_locked: u64,
    pub interp_gil_runtime_state_holder: u64,
    // thread_state
    pub tstate_size: u64,
    pub tstate_prev: u64,
    pub tstate_next: u64,
    pub tstate_interp: u64,
    pub tstate_current_frame: u64,
    pub tstate_thread_id: u64,
    pub tstate_native_thread_id: u64,
    pub tstate_datastack_chunk: u64,
    pub tstate_status: u64,
    // interpreter_frame
    pub frame_size: u64,
    pub frame_previous: u64,
    pub frame_executable: u64,
    pub frame_instr_ptr: u64,
    pub frame_localsplus: u64,
    pub frame_owner: u64,
    // code_object
    pub code_size: u64,
    pub code_filename: u64,
    pub code_name: u64,
    pub code_qualname: u64,
    pub code_linetable: u64,
    pub code_firstlineno: u64,
    pub code_argcount: u64,
    pub code_localsplusnames: u64,
    pub code_localspluskinds: u64,
    pub code_co_code_adaptive: u64,
    // pyobject
    pub object_size: u64,
    pub object_ob_type: u64,
    // type_object
    pub type_size: u64,
    pub type_tp_name: u64,
    pub type_tp_repr: u64,
    pub type_tp_flags: u64,
    // tuple_object
    pub tuple_size: u64,
    pub tuple_ob_item: u64,
    pub tuple_ob_size: u64,
    // list_object
    pub list_size: u64,
    pub list_ob_item: u64,
    pub list_ob_size: u64,
    // dict_object
    pub dict_size: u64,
    pub dict_ma_keys: u64,
    pub dict_ma_values: u64,
    // float_object
    pub float_size: u64,
    pub float_ob_fval: u64,
    // long_object
    pub long_size: u64,
    pub long_lv_tag: u64,
    pub long_ob_digit: u64,
    // bytes_object
    pub bytes_size: u64,
    pub bytes_ob_size: u64,
    pub bytes_ob_sval: u64,
    // unicode_object
    pub unicode_size: u64,
    pub unicode_state: u64,
    pub unicode_length: u64,
    pub unicode_asciiobject_size: u64,
    // gc
    pub gc_size: u64,
    pub gc_collecting: u64,
}

impl DebugOffsets313 {
    /// Bytes in the structure: the cookie plus 72 `u64`s.
    pub const SIZE: usize = 8 + 72 * 8;

    /// Parses the structure; `None` if the cookie is wrong or the bytes are short.
    pub fn parse(bytes: &[u8]) -> Option<DebugOffsets313> {
        if bytes.len() < Self::SIZE || &bytes[..8] != COOKIE {
            return None;
        }
        let mut words = (0..72).map(|i| bytes.u64_at(8 + 8 * i).unwrap_or(0));
        let mut w = || words.next().unwrap_or(0);
        Some(DebugOffsets313 {
            version: w(),
            free_threaded: w(),
            runtime_size: w(),
            runtime_finalizing: w(),
            runtime_interpreters_head: w(),
            interp_size: w(),
            interp_id: w(),
            interp_next: w(),
            interp_threads_head: w(),
            interp_gc: w(),
            interp_imports_modules: w(),
            interp_sysdict: w(),
            interp_builtins: w(),
            interp_ceval_gil: w(),
            interp_gil_runtime_state: w(),
            interp_gil_runtime_state_enabled: w(),
            interp_gil_runtime_state_locked: w(),
            interp_gil_runtime_state_holder: w(),
            tstate_size: w(),
            tstate_prev: w(),
            tstate_next: w(),
            tstate_interp: w(),
            tstate_current_frame: w(),
            tstate_thread_id: w(),
            tstate_native_thread_id: w(),
            tstate_datastack_chunk: w(),
            tstate_status: w(),
            frame_size: w(),
            frame_previous: w(),
            frame_executable: w(),
            frame_instr_ptr: w(),
            frame_localsplus: w(),
            frame_owner: w(),
            code_size: w(),
            code_filename: w(),
            code_name: w(),
            code_qualname: w(),
            code_linetable: w(),
            code_firstlineno: w(),
            code_argcount: w(),
            code_localsplusnames: w(),
            code_localspluskinds: w(),
            code_co_code_adaptive: w(),
            object_size: w(),
            object_ob_type: w(),
            type_size: w(),
            type_tp_name: w(),
            type_tp_repr: w(),
            type_tp_flags: w(),
            tuple_size: w(),
            tuple_ob_item: w(),
            tuple_ob_size: w(),
            list_size: w(),
            list_ob_item: w(),
            list_ob_size: w(),
            dict_size: w(),
            dict_ma_keys: w(),
            dict_ma_values: w(),
            float_size: w(),
            float_ob_fval: w(),
            long_size: w(),
            long_lv_tag: w(),
            long_ob_digit: w(),
            bytes_size: w(),
            bytes_ob_size: w(),
            bytes_ob_sval: w(),
            unicode_size: w(),
            unicode_state: w(),
            unicode_length: w(),
            unicode_asciiobject_size: w(),
            gc_size: w(),
            gc_collecting: w(),
        })
    }

    /// The walker's layout: every field the debug offsets give, the rest from [`table`].
    pub fn to_layout(&self) -> Layout {
        let t = table();
        Layout {
            runtime_interpreters_head: self.runtime_interpreters_head,
            gil: GilLayout::InterpInline {
                last_holder: self.interp_gil_runtime_state_holder,
                locked: self.interp_gil_runtime_state_locked,
            },
            interp_next: self.interp_next,
            interp_id: self.interp_id,
            interp_threads_head: self.interp_threads_head,
            tstate_next: self.tstate_next,
            tstate_interp: self.tstate_interp,
            tstate_frame: CurrentFrame::Direct {
                current_frame: self.tstate_current_frame,
            },
            tstate_thread_id: self.tstate_thread_id,
            tstate_native_thread_id: self.tstate_native_thread_id,
            tstate_datastack_chunk: self.tstate_datastack_chunk,
            // `PyObject **datastack_top` directly follows `datastack_chunk`.
            tstate_datastack_top: self.tstate_datastack_chunk.saturating_add(8),
            frame_code: self.frame_executable,
            frame_previous: self.frame_previous,
            frame_instr: self.frame_instr_ptr,
            frame_owner: self.frame_owner,
            frame_size: self.frame_size,
            code_firstlineno: self.code_firstlineno,
            code_filename: self.code_filename,
            code_name: self.code_name,
            code_qualname: self.code_qualname,
            code_linetable: self.code_linetable,
            code_adaptive: self.code_co_code_adaptive,
            object_type: self.object_ob_type,
            type_name: self.type_tp_name,
            unicode_length: self.unicode_length,
            unicode_state: self.unicode_state,
            unicode_ascii_size: self.unicode_asciiobject_size,
            // `PyCompactUnicodeObject` adds `utf8_length` and `utf8` to `PyASCIIObject`.
            unicode_compact_size: self.unicode_asciiobject_size.saturating_add(16),
            bytes_size: self.bytes_ob_size,
            bytes_sval: self.bytes_ob_sval,
            ..t
        }
    }
}

/// Reads and checks `_Py_DebugOffsets` at `runtime` and derives the layout from it.
pub fn layout_from_debug_offsets(
    pid: u32,
    version: PyVersion,
    mem: &RemoteMemory,
    runtime: u64,
) -> Result<Layout> {
    let mismatch = |check: String| SamplerError::LayoutMismatch {
        pid,
        version: version.to_string(),
        check,
    };
    let bytes = mem
        .read_vec(runtime, DebugOffsets313::SIZE)
        .map_err(|e| mismatch(format!("cannot read _Py_DebugOffsets: {e:?}")))?;
    let offsets = DebugOffsets313::parse(&bytes)
        .ok_or_else(|| mismatch("_PyRuntime does not start with the cookie \"xdebugpy\"".into()))?;
    if offsets.version != version.hex() as u64 {
        return Err(mismatch(format!(
            "_Py_DebugOffsets.version is {:#x}, Py_Version is {:#x}",
            offsets.version,
            version.hex()
        )));
    }
    if offsets.free_threaded != 0 {
        return Err(SamplerError::UnsupportedVersion {
            pid,
            version: format!("{version}t"),
            reason: "free-threaded builds are not supported yet".into(),
        });
    }
    // Sanity: every offset the walker uses lies inside its structure, and the structures have
    // plausible sizes, before anything is read through them.
    let o = &offsets;
    let inside = |size: u64, cap: u64, fields: &[u64]| {
        size > 0 && size <= cap && fields.iter().all(|&f| f.saturating_add(8) <= size)
    };
    let plausible = inside(o.runtime_size, 1 << 22, &[o.runtime_interpreters_head])
        && inside(
            o.interp_size,
            1 << 20,
            &[
                o.interp_id,
                o.interp_next,
                o.interp_threads_head,
                o.interp_gil_runtime_state_locked,
                o.interp_gil_runtime_state_holder,
            ],
        )
        && inside(
            o.tstate_size,
            1 << 16,
            &[
                o.tstate_next,
                o.tstate_interp,
                o.tstate_current_frame,
                o.tstate_thread_id,
                o.tstate_native_thread_id,
                o.tstate_datastack_chunk.saturating_add(8),
            ],
        )
        && inside(
            o.frame_size,
            1 << 12,
            &[
                o.frame_previous,
                o.frame_executable,
                o.frame_instr_ptr,
                o.frame_owner,
            ],
        )
        && inside(
            o.code_size,
            1 << 16,
            &[
                o.code_filename,
                o.code_name,
                o.code_qualname,
                o.code_linetable,
                o.code_firstlineno,
            ],
        )
        && o.code_co_code_adaptive <= o.code_size
        && o.object_ob_type < 64
        && o.type_tp_name < 1024
        && o.unicode_state < 256
        && o.unicode_length < 256
        && o.unicode_asciiobject_size < 256
        && o.bytes_ob_size < 256
        && o.bytes_ob_sval < 256;
    if !plausible {
        return Err(mismatch(format!(
            "implausible offsets in _Py_DebugOffsets: {offsets:?}"
        )));
    }
    Ok(offsets.to_layout())
}
