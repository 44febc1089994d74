//! CPython 3.15: the layout comes from the interpreter's own `_Py_DebugOffsets`.
//!
//! Shape: `Include/internal/pycore_debug_offsets.h` of 3.15.2 (Debian's python3.15-dev; 110
//! fields after the cookie, 888 bytes). Against 3.14: `base_frame`, `last_profiled_frame`,
//! `last_profiled_frame_seq`, `holds_gil`, `gil_requested`, `current_exception` and
//! `exc_state` in the thread state, the `err_stackitem` group, `tp_basicsize`,
//! `tp_dictoffset`, the `heap_type_object` group, `compactunicodeobject_size`, and three `gc`
//! fields.
//!
//! [`table`]: `offsetof()` on the same headers (with `Py_BUILD_CORE` and the build's own
//! `-D_Py_TIER2=3 -D_Py_JIT`), every value equal to a live interpreter's debug offsets.
//! Fields the structure does not publish: `datastack_top` (right after `datastack_chunk`),
//! the `_PyStackChunk` and dict-keys layouts, `co_flags`, and the frame owners: `_PyStackRef`
//! tags as in 3.14; owner 3 (`FRAME_OWNED_BY_INTERPRETER`) marks the entry frames and the
//! sentinel `base_frame` that ends every thread's chain (3.15 has no owner 4).

use super::debug_offsets::Shape;
use super::{AttrLayout, GilLayout, Layout};

/// This version's `_Py_DebugOffsets`.
pub static VERSION: Shape = Shape {
    minor: 15,
    fields: &FIELDS,
    table,
};

/// The fields after the cookie, in declaration order.
#[rustfmt::skip]
const FIELDS: [&str; 110] = [
    "version", "free_threaded",
    "runtime_state.size", "runtime_state.finalizing", "runtime_state.interpreters_head",
    "interpreter_state.size", "interpreter_state.id", "interpreter_state.next", "interpreter_state.threads_head", "interpreter_state.threads_main", "interpreter_state.gc", "interpreter_state.imports_modules", "interpreter_state.sysdict", "interpreter_state.builtins", "interpreter_state.ceval_gil", "interpreter_state.gil_runtime_state", "interpreter_state.gil_runtime_state_enabled", "interpreter_state.gil_runtime_state_locked", "interpreter_state.gil_runtime_state_holder", "interpreter_state.code_object_generation", "interpreter_state.tlbc_generation",
    "thread_state.size", "thread_state.prev", "thread_state.next", "thread_state.interp", "thread_state.current_frame", "thread_state.base_frame", "thread_state.last_profiled_frame", "thread_state.last_profiled_frame_seq", "thread_state.thread_id", "thread_state.native_thread_id", "thread_state.datastack_chunk", "thread_state.status", "thread_state.holds_gil", "thread_state.gil_requested", "thread_state.current_exception", "thread_state.exc_state",
    "err_stackitem.exc_value",
    "interpreter_frame.size", "interpreter_frame.previous", "interpreter_frame.executable", "interpreter_frame.instr_ptr", "interpreter_frame.localsplus", "interpreter_frame.owner", "interpreter_frame.stackpointer", "interpreter_frame.tlbc_index",
    "code_object.size", "code_object.filename", "code_object.name", "code_object.qualname", "code_object.linetable", "code_object.firstlineno", "code_object.argcount", "code_object.localsplusnames", "code_object.localspluskinds", "code_object.co_code_adaptive", "code_object.co_tlbc",
    "pyobject.size", "pyobject.ob_type",
    "type_object.size", "type_object.tp_name", "type_object.tp_repr", "type_object.tp_flags", "type_object.tp_basicsize", "type_object.tp_dictoffset",
    "heap_type_object.size", "heap_type_object.ht_cached_keys",
    "tuple_object.size", "tuple_object.ob_item", "tuple_object.ob_size",
    "list_object.size", "list_object.ob_item", "list_object.ob_size",
    "set_object.size", "set_object.used", "set_object.table", "set_object.mask",
    "dict_object.size", "dict_object.ma_keys", "dict_object.ma_values",
    "float_object.size", "float_object.ob_fval",
    "long_object.size", "long_object.lv_tag", "long_object.ob_digit",
    "bytes_object.size", "bytes_object.ob_size", "bytes_object.ob_sval",
    "unicode_object.size", "unicode_object.state", "unicode_object.length", "unicode_object.asciiobject_size", "unicode_object.compactunicodeobject_size",
    "gc.size", "gc.collecting", "gc.frame", "gc.generation_stats_size", "gc.generation_stats",
    "gen_object.size", "gen_object.gi_name", "gen_object.gi_iframe", "gen_object.gi_frame_state",
    "llist_node.next", "llist_node.prev",
    "debugger_support.eval_breaker", "debugger_support.remote_debugger_support", "debugger_support.remote_debugging_enabled", "debugger_support.debugger_pending_call", "debugger_support.debugger_script_path", "debugger_support.debugger_script_path_size",
];

/// The layout measured on this version's headers (see the module documentation): what
/// changed since 3.14.
pub fn table() -> Layout {
    let t = super::v3_14::table();
    Layout {
        runtime_interpreters_head: 936,
        gil: GilLayout::InterpInline {
            last_holder: 7744,
            locked: 7752,
        },
        interp_next: 7264,
        interp_id: 7272,
        interp_threads_head: 7336,
        tstate_thread_id: 176,
        tstate_native_thread_id: 184,
        tstate_datastack_chunk: 256,
        tstate_datastack_top: 264,
        // 3 (FRAME_OWNED_BY_INTERPRETER) is the last owner again.
        frame_owner_max: 3,
        attrs: AttrLayout {
            heaptype_cached_keys: 888,
            ..t.attrs
        },
        ..t
    }
}
