//! CPython 3.14: the layout comes from the interpreter's own `_Py_DebugOffsets`.
//!
//! Shape: `Include/internal/pycore_debug_offsets.h` of 3.14.10 (Debian's python3.14-dev; 94
//! fields after the cookie, 760 bytes). Against 3.13: `threads_main`, `code_object_generation`
//! and `tlbc_generation` in the interpreter state, `stackpointer` and `tlbc_index` in the
//! frame, `co_tlbc`, and the `set_object`, `gen_object`, `llist_node` and
//! `debugger_support` groups.
//!
//! [`table`]: `offsetof()` on the same headers (with `Py_BUILD_CORE` and the build's own
//! `-D_Py_TIER2=3 -D_Py_JIT`), every value equal to a live interpreter's debug offsets.
//! Fields the structure does not publish: `datastack_top` (right after `datastack_chunk`),
//! the `_PyStackChunk` and dict-keys layouts, `co_flags`, the offset of `tp_basicsize` in a type
//! (32), `ht_cached_keys` (880), and
//! the frame owners: `f_executable` and `localsplus` hold `_PyStackRef`s whose two low bits
//! are tags; owner 3 (`FRAME_OWNED_BY_INTERPRETER`, the entry frames every call from C
//! pushes) and 4 (`FRAME_OWNED_BY_CSTACK`) are the interpreter's own frames.
//!
//! Instance attributes: `_PyObject_InlineValues` = `obj + tp_basicsize` (a class with
//! `__slots__` can keep inline values after its slots), `MANAGED_DICT_OFFSET` = `-3` words.

use super::debug_offsets::Shape;
use super::{AttrLayout, GilLayout, Layout};

/// This version's `_Py_DebugOffsets`.
pub static VERSION: Shape = Shape {
    minor: 14,
    fields: &FIELDS,
    table,
};

/// The fields after the cookie, in declaration order.
#[rustfmt::skip]
const FIELDS: [&str; 94] = [
    "version", "free_threaded",
    "runtime_state.size", "runtime_state.finalizing", "runtime_state.interpreters_head",
    "interpreter_state.size", "interpreter_state.id", "interpreter_state.next", "interpreter_state.threads_head", "interpreter_state.threads_main", "interpreter_state.gc", "interpreter_state.imports_modules", "interpreter_state.sysdict", "interpreter_state.builtins", "interpreter_state.ceval_gil", "interpreter_state.gil_runtime_state", "interpreter_state.gil_runtime_state_enabled", "interpreter_state.gil_runtime_state_locked", "interpreter_state.gil_runtime_state_holder", "interpreter_state.code_object_generation", "interpreter_state.tlbc_generation",
    "thread_state.size", "thread_state.prev", "thread_state.next", "thread_state.interp", "thread_state.current_frame", "thread_state.thread_id", "thread_state.native_thread_id", "thread_state.datastack_chunk", "thread_state.status",
    "interpreter_frame.size", "interpreter_frame.previous", "interpreter_frame.executable", "interpreter_frame.instr_ptr", "interpreter_frame.localsplus", "interpreter_frame.owner", "interpreter_frame.stackpointer", "interpreter_frame.tlbc_index",
    "code_object.size", "code_object.filename", "code_object.name", "code_object.qualname", "code_object.linetable", "code_object.firstlineno", "code_object.argcount", "code_object.localsplusnames", "code_object.localspluskinds", "code_object.co_code_adaptive", "code_object.co_tlbc",
    "pyobject.size", "pyobject.ob_type",
    "type_object.size", "type_object.tp_name", "type_object.tp_repr", "type_object.tp_flags",
    "tuple_object.size", "tuple_object.ob_item", "tuple_object.ob_size",
    "list_object.size", "list_object.ob_item", "list_object.ob_size",
    "set_object.size", "set_object.used", "set_object.table", "set_object.mask",
    "dict_object.size", "dict_object.ma_keys", "dict_object.ma_values",
    "float_object.size", "float_object.ob_fval",
    "long_object.size", "long_object.lv_tag", "long_object.ob_digit",
    "bytes_object.size", "bytes_object.ob_size", "bytes_object.ob_sval",
    "unicode_object.size", "unicode_object.state", "unicode_object.length", "unicode_object.asciiobject_size",
    "gc.size", "gc.collecting",
    "gen_object.size", "gen_object.gi_name", "gen_object.gi_iframe", "gen_object.gi_frame_state",
    "llist_node.next", "llist_node.prev",
    "debugger_support.eval_breaker", "debugger_support.remote_debugger_support", "debugger_support.remote_debugging_enabled", "debugger_support.debugger_pending_call", "debugger_support.debugger_script_path", "debugger_support.debugger_script_path_size",
];

/// The layout measured on this version's headers (see the module documentation): what
/// changed since 3.13.
pub fn table() -> Layout {
    let t = super::v3_13::table();
    Layout {
        runtime_interpreters_head: 808,
        gil: GilLayout::InterpInline {
            last_holder: 7792,
            locked: 7800,
        },
        interp_next: 7272,
        interp_id: 7280,
        frame_owner: 74,
        frame_size: 88,
        // 3 is now FRAME_OWNED_BY_INTERPRETER and 4 FRAME_OWNED_BY_CSTACK: both skipped.
        frame_owner_max: 4,
        stackref_tag_bits: 3,
        code_adaptive: 208,
        attrs: AttrLayout {
            frame_localsplus: 80,
            ..t.attrs
        },
        ..t
    }
}
