//! CPython 3.13: the layout comes from the interpreter's own `_Py_DebugOffsets`.
//!
//! Shape: `Include/internal/pycore_runtime.h`, tag v3.13.0 (72 fields after the cookie).
//! Fields the structure does not publish come from [`table`], measured by `tools/offsets.c`
//! on pyenv's 3.13.0 headers: `datastack_top` (right after `datastack_chunk`), the
//! `_PyStackChunk` layout, `co_flags`, the offset of `tp_basicsize` in a type (the readers take
//! each type's own size from it), `ht_cached_keys`, the dict-keys
//! layout, and the `FRAME_OWNED_BY_CSTACK` owner value (3). The table's other fields are
//! checked against live interpreters' debug offsets in a test.
//!
//! Instance attributes: `_PyObject_InlineValues` = `obj + sizeof(PyObject)` when the type has
//! `Py_TPFLAGS_INLINE_VALUES`, `MANAGED_DICT_OFFSET` = `-3` words (`internal/pycore_object.h`,
//! v3.13.0).

use super::debug_offsets::Shape;
use super::{AttrLayout, CurrentFrame, GilLayout, Layout, LongLayout, ManagedDict};

/// This version's `_Py_DebugOffsets`.
pub static VERSION: Shape = Shape {
    minor: 13,
    fields: &FIELDS,
    table,
};

/// The fields after the cookie, in declaration order.
#[rustfmt::skip]
const FIELDS: [&str; 72] = [
    "version", "free_threaded",
    "runtime_state.size", "runtime_state.finalizing", "runtime_state.interpreters_head",
    "interpreter_state.size", "interpreter_state.id", "interpreter_state.next", "interpreter_state.threads_head", "interpreter_state.gc", "interpreter_state.imports_modules", "interpreter_state.sysdict", "interpreter_state.builtins", "interpreter_state.ceval_gil", "interpreter_state.gil_runtime_state", "interpreter_state.gil_runtime_state_enabled", "interpreter_state.gil_runtime_state_locked", "interpreter_state.gil_runtime_state_holder",
    "thread_state.size", "thread_state.prev", "thread_state.next", "thread_state.interp", "thread_state.current_frame", "thread_state.thread_id", "thread_state.native_thread_id", "thread_state.datastack_chunk", "thread_state.status",
    "interpreter_frame.size", "interpreter_frame.previous", "interpreter_frame.executable", "interpreter_frame.instr_ptr", "interpreter_frame.localsplus", "interpreter_frame.owner",
    "code_object.size", "code_object.filename", "code_object.name", "code_object.qualname", "code_object.linetable", "code_object.firstlineno", "code_object.argcount", "code_object.localsplusnames", "code_object.localspluskinds", "code_object.co_code_adaptive",
    "pyobject.size", "pyobject.ob_type",
    "type_object.size", "type_object.tp_name", "type_object.tp_repr", "type_object.tp_flags",
    "tuple_object.size", "tuple_object.ob_item", "tuple_object.ob_size",
    "list_object.size", "list_object.ob_item", "list_object.ob_size",
    "dict_object.size", "dict_object.ma_keys", "dict_object.ma_values",
    "float_object.size", "float_object.ob_fval",
    "long_object.size", "long_object.lv_tag", "long_object.ob_digit",
    "bytes_object.size", "bytes_object.ob_size", "bytes_object.ob_sval",
    "unicode_object.size", "unicode_object.state", "unicode_object.length", "unicode_object.asciiobject_size",
    "gc.size", "gc.collecting",
];

/// The layout measured on this version's headers (see the module documentation).
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
        stackref_tag_bits: 0,
        code_flags: 48,
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
        long: LongLayout::LvTag {
            lv_tag: 16,
            ob_digit: 24,
        },
        chunk_previous: 0,
        chunk_size: 8,
        chunk_top: 16,
        chunk_data: 24,
        attrs: AttrLayout {
            managed: ManagedDict::Inline {
                type_flags: 168,
                type_basicsize: 32,
            },
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
