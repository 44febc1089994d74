//! CPython 3.11 layout (x86_64 Linux, GIL build).
//!
//! Provenance: `offsetof()`/`sizeof()` measured by `tools/offsets.c` against the installed
//! internal headers of pyenv's 3.11.7 (`include/python3.11/internal/*.h`, tag v3.11.7) and
//! Debian's 3.11.2 (`/usr/include/python3.11`, package python3.11-dev); both gave identical
//! numbers. py-spy's hand-written 3.11 constants agree (`interpreters.head` 40,
//! `gilstate.tstate_current` 576). 3.11 keeps these layouts stable across micro releases.
//!
//! 3.11 has no shim frames; `is_entry` (@68) only marks a C-stack boundary. Frame owners:
//! 0 thread, 1 generator, 2 frame object.
//!
//! Instance attributes (`attrs`, for thread names): `_PyObject_ValuesPointer` = `obj - 4` words and
//! `_PyObject_ManagedDictPointer` = `obj - 3` words (`internal/pycore_object.h`, v3.11.7).

use super::{AttrLayout, CurrentFrame, GilLayout, Layout, LongLayout, ManagedDict};

pub fn layout() -> Layout {
    Layout {
        runtime_interpreters_head: 40,
        gil: GilLayout::RuntimeTstateCurrent { offset: 576 },
        interp_next: 0,
        interp_id: 48,
        interp_threads_head: 16,
        tstate_next: 8,
        tstate_interp: 16,
        tstate_frame: CurrentFrame::ViaCFrame {
            cframe: 56,
            current_frame: 8,
        },
        tstate_thread_id: 152,
        tstate_native_thread_id: 160,
        tstate_datastack_chunk: 296,
        tstate_datastack_top: 304,
        frame_code: 32,
        frame_previous: 48,
        frame_instr: 56,
        frame_owner: 69,
        frame_size: 80,
        frame_owner_shim: None,
        frame_owner_max: 2,
        stackref_tag_bits: 0,
        code_flags: 48,
        code_firstlineno: 72,
        code_filename: 112,
        code_name: 120,
        code_qualname: 128,
        code_linetable: 136,
        code_adaptive: 184,
        object_type: 8,
        type_name: 24,
        unicode_length: 16,
        unicode_state: 32,
        unicode_ascii_size: 48,
        unicode_compact_size: 72,
        bytes_size: 16,
        bytes_sval: 32,
        long: LongLayout::ObSize {
            ob_size: 16,
            ob_digit: 24,
        },
        chunk_previous: 0,
        chunk_size: 8,
        chunk_top: 16,
        chunk_data: 24,
        attrs: AttrLayout {
            managed: ManagedDict::Split311,
            frame_localsplus: 72,
            heaptype_cached_keys: 872,
            dict_ma_keys: 32,
            dict_ma_values: 40,
            keys_log2_index_bytes: 9,
            keys_kind: 10,
            keys_nentries: 24,
            keys_indices: 32,
        },
    }
}
