//! CPython 3.12 layout (x86_64 Linux, GIL build).
//!
//! Provenance: `offsetof()`/`sizeof()` measured by `tools/offsets.c` against the installed
//! internal headers of pyenv's 3.12.1 (`include/python3.12/internal/*.h`, tag v3.12.1).
//! 3.12 keeps these layouts stable across micro releases.
//!
//! Changes from 3.11: the GIL moved behind `interp->ceval.gil` (a pointer, since each
//! interpreter may own one), `f_code` moved to the start of the frame, and every C-level entry
//! into the eval loop pushes a shim frame owned by `FRAME_OWNED_BY_CSTACK` (3), skipped.
//!
//! Instance attributes (`attrs`, for thread names): `_PyObject_DictOrValuesPointer` = `obj - 3`
//! words, values tagged with the low bit (`internal/pycore_object.h`, v3.12.1).

use super::{AttrLayout, CurrentFrame, GilLayout, Layout, LongLayout, ManagedDict};

pub fn layout() -> Layout {
    Layout {
        runtime_interpreters_head: 40,
        gil: GilLayout::InterpPointer {
            gil_ptr: 384,
            last_holder: 8,
            locked: 16,
        },
        interp_next: 0,
        interp_id: 8,
        interp_threads_head: 72,
        tstate_next: 8,
        tstate_interp: 16,
        tstate_frame: CurrentFrame::ViaCFrame {
            cframe: 56,
            current_frame: 0,
        },
        tstate_thread_id: 136,
        tstate_native_thread_id: 144,
        tstate_datastack_chunk: 232,
        tstate_datastack_top: 240,
        frame_code: 0,
        frame_previous: 8,
        frame_instr: 56,
        frame_owner: 70,
        frame_size: 80,
        frame_owner_shim: Some(3),
        frame_owner_max: 3,
        stackref_tag_bits: 0,
        code_flags: 48,
        code_firstlineno: 68,
        code_filename: 112,
        code_name: 120,
        code_qualname: 128,
        code_linetable: 136,
        code_adaptive: 192,
        object_type: 8,
        type_name: 24,
        unicode_length: 16,
        unicode_state: 32,
        unicode_ascii_size: 40,
        unicode_compact_size: 56,
        bytes_size: 16,
        bytes_sval: 32,
        long: LongLayout::LvTag {
            lv_tag: 16,
            ob_digit: 24,
        },
        chunk_previous: 0,
        chunk_size: 8,
        chunk_top: 16,
        chunk_data: 24,
        attrs: AttrLayout {
            managed: ManagedDict::Tagged312,
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
