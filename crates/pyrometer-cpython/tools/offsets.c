/* Prints the struct offsets pyrometer's per-version layout tables use, measured with
 * offsetof() against an interpreter's installed internal headers. Provenance tool for
 * src/layout/v3_1x.rs and src/v3_11.rs; run by tools/offsets.sh.
 *
 *   gcc -DPy_BUILD_CORE -I$PREFIX/include/python3.X -I$PREFIX/include/python3.X/internal \
 *       tools/offsets.c -o /tmp/offsets && /tmp/offsets
 */
#define Py_BUILD_CORE 1
#include <Python.h>
#include <stddef.h>
#include <stdio.h>
#include "internal/pycore_runtime.h"
#include "internal/pycore_interp.h"
#include "internal/pycore_frame.h"
#include "internal/pycore_code.h"
#include "internal/pycore_dict.h"

#define P(name, value) printf("%-40s %zu\n", name, (size_t)(value))

int main(void) {
    printf("PY_VERSION %s\n", PY_VERSION);
    P("runtime.interpreters.head", offsetof(_PyRuntimeState, interpreters.head));
#if PY_VERSION_HEX < 0x030C0000
    P("runtime.gilstate.tstate_current", offsetof(_PyRuntimeState, gilstate.tstate_current));
    P("runtime.ceval.gil.last_holder", offsetof(_PyRuntimeState, ceval.gil.last_holder));
    P("runtime.ceval.gil.locked", offsetof(_PyRuntimeState, ceval.gil.locked));
#endif
    P("interp.next", offsetof(PyInterpreterState, next));
    P("interp.id", offsetof(PyInterpreterState, id));
    P("interp.threads.head", offsetof(PyInterpreterState, threads.head));
#if PY_VERSION_HEX >= 0x030C0000 && PY_VERSION_HEX < 0x030D0000
    P("interp.ceval.gil", offsetof(PyInterpreterState, ceval.gil));
    P("gil.last_holder", offsetof(struct _gil_runtime_state, last_holder));
    P("gil.locked", offsetof(struct _gil_runtime_state, locked));
#endif
#if PY_VERSION_HEX >= 0x030D0000
    P("interp._gil.last_holder", offsetof(PyInterpreterState, _gil.last_holder));
    P("interp._gil.locked", offsetof(PyInterpreterState, _gil.locked));
    P("tstate._status", offsetof(PyThreadState, _status));
    P("tstate.current_frame", offsetof(PyThreadState, current_frame));
#else
    P("tstate.cframe", offsetof(PyThreadState, cframe));
    P("cframe.current_frame", offsetof(_PyCFrame, current_frame));
#endif
    P("tstate.next", offsetof(PyThreadState, next));
    P("tstate.interp", offsetof(PyThreadState, interp));
    P("tstate.thread_id", offsetof(PyThreadState, thread_id));
    P("tstate.native_thread_id", offsetof(PyThreadState, native_thread_id));
    P("tstate.datastack_chunk", offsetof(PyThreadState, datastack_chunk));
    P("tstate.datastack_top", offsetof(PyThreadState, datastack_top));
    P("sizeof(PyThreadState)", sizeof(PyThreadState));
#if PY_VERSION_HEX >= 0x030D0000
    P("frame.f_executable", offsetof(_PyInterpreterFrame, f_executable));
    P("frame.instr_ptr", offsetof(_PyInterpreterFrame, instr_ptr));
#else
    P("frame.f_code", offsetof(_PyInterpreterFrame, f_code));
    P("frame.prev_instr", offsetof(_PyInterpreterFrame, prev_instr));
#endif
#if PY_VERSION_HEX < 0x030C0000
    P("frame.is_entry", offsetof(_PyInterpreterFrame, is_entry));
#endif
    P("frame.previous", offsetof(_PyInterpreterFrame, previous));
    P("frame.owner", offsetof(_PyInterpreterFrame, owner));
    P("frame.localsplus", offsetof(_PyInterpreterFrame, localsplus));
    P("sizeof(_PyInterpreterFrame)", sizeof(_PyInterpreterFrame));
    P("code.co_firstlineno", offsetof(PyCodeObject, co_firstlineno));
    P("code.co_filename", offsetof(PyCodeObject, co_filename));
    P("code.co_name", offsetof(PyCodeObject, co_name));
    P("code.co_qualname", offsetof(PyCodeObject, co_qualname));
    P("code.co_linetable", offsetof(PyCodeObject, co_linetable));
    P("code.co_code_adaptive", offsetof(PyCodeObject, co_code_adaptive));
    P("object.ob_type", offsetof(PyObject, ob_type));
    P("type.tp_name", offsetof(PyTypeObject, tp_name));
    P("unicode.length", offsetof(PyASCIIObject, length));
    P("unicode.state", offsetof(PyASCIIObject, state));
    P("sizeof(PyASCIIObject)", sizeof(PyASCIIObject));
    P("sizeof(PyCompactUnicodeObject)", sizeof(PyCompactUnicodeObject));
    P("bytes.ob_size", offsetof(PyVarObject, ob_size));
    P("bytes.ob_sval", offsetof(PyBytesObject, ob_sval));
    /* Thread names: `self._name` of the Thread whose `_bootstrap` frame is on the stack. */
    P("type.tp_basicsize", offsetof(PyTypeObject, tp_basicsize));
    P("heaptype.ht_cached_keys", offsetof(PyHeapTypeObject, ht_cached_keys));
    P("dict.ma_keys", offsetof(PyDictObject, ma_keys));
    P("dict.ma_values", offsetof(PyDictObject, ma_values));
    P("keys.dk_log2_size", offsetof(PyDictKeysObject, dk_log2_size));
    P("keys.dk_log2_index_bytes", offsetof(PyDictKeysObject, dk_log2_index_bytes));
    P("keys.dk_kind", offsetof(PyDictKeysObject, dk_kind));
    P("keys.dk_nentries", offsetof(PyDictKeysObject, dk_nentries));
    P("keys.dk_indices", offsetof(PyDictKeysObject, dk_indices));
    P("sizeof(PyDictKeyEntry)", sizeof(PyDictKeyEntry));
    P("sizeof(PyDictUnicodeEntry)", sizeof(PyDictUnicodeEntry));
#if PY_VERSION_HEX >= 0x030D0000
    P("values.values", offsetof(PyDictValues, values));
    P("values.valid", offsetof(PyDictValues, valid));
#endif
    P("chunk.previous", offsetof(_PyStackChunk, previous));
    P("chunk.size", offsetof(_PyStackChunk, size));
    P("chunk.top", offsetof(_PyStackChunk, top));
    P("chunk.data", offsetof(_PyStackChunk, data));
    P("code.co_flags", offsetof(PyCodeObject, co_flags));
    P("type.tp_flags", offsetof(PyTypeObject, tp_flags));
#if PY_VERSION_HEX < 0x030C0000
    P("long.ob_digit", offsetof(PyLongObject, ob_digit));
    /* The fields only the 3.11 hooks use (src/v3_11.rs). */
    P("frameobject.f_frame", offsetof(PyFrameObject, f_frame));
    P("frameobject.f_trace_lines", offsetof(PyFrameObject, f_trace_lines));
    P("tstate.tracing", offsetof(PyThreadState, tracing));
    P("tstate.c_profilefunc", offsetof(PyThreadState, c_profilefunc));
    P("tstate.c_tracefunc", offsetof(PyThreadState, c_tracefunc));
    P("cframe.use_tracing", offsetof(_PyCFrame, use_tracing));
#else
    P("long.ob_digit", offsetof(PyLongObject, long_value.ob_digit));
    P("long.lv_tag", offsetof(PyLongObject, long_value.lv_tag));
#endif
    return 0;
}
