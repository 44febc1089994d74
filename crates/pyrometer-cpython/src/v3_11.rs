//! The private CPython 3.11 fields the in-process hooks use directly (the tracer's PEP 523
//! frame evaluator and its trace function): `offsetof()` on v3.11.7's internal headers
//! (`tools/offsets.c`), the same in every 3.11 release build (debug builds, whose objects
//! carry two more pointers, are refused before any hook is installed).
//!
//! [`Layout`](crate::layout::Layout) holds what the readers need; these are the few fields
//! only the 3.11 hooks touch, some of which they write.

/// `_PyInterpreterFrame.f_code`.
pub const INTERPRETER_FRAME_CODE: usize = 32;
/// `_PyInterpreterFrame.prev_instr`: the last code unit executed (one before the first until
/// the first instruction runs).
pub const INTERPRETER_FRAME_PREV_INSTR: usize = 56;
/// `PyFrameObject.f_frame`: the `_PyInterpreterFrame` a frame object stands for.
pub const FRAME_OBJECT_F_FRAME: usize = 24;
/// `PyFrameObject.f_trace_lines` (a `char`).
pub const FRAME_OBJECT_F_TRACE_LINES: usize = 44;
/// `PyCodeObject.co_flags` (an `int`).
pub const CODE_FLAGS: usize = 48;
/// `PyCodeObject.co_code_adaptive`: where the bytecode starts.
pub const CODE_ADAPTIVE: usize = 184;
/// `PyThreadState.tracing` (an `int`).
pub const TSTATE_TRACING: usize = 44;
/// `PyThreadState.cframe`, a `_PyCFrame*`, whose first byte is `use_tracing`.
pub const TSTATE_CFRAME: usize = 56;
/// `PyThreadState.c_profilefunc`.
pub const TSTATE_PROFILEFUNC: usize = 64;
/// `PyThreadState.c_tracefunc`.
pub const TSTATE_TRACEFUNC: usize = 72;
/// `_PyCFrame.use_tracing` when on (it is or-ed into the opcode to reach the tracing path).
pub const USE_TRACING_ON: u8 = 255;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::v3_11::layout;

    #[test]
    fn agrees_with_the_readers_layout() {
        let l = layout();
        assert_eq!(INTERPRETER_FRAME_CODE as u64, l.frame_code);
        assert_eq!(INTERPRETER_FRAME_PREV_INSTR as u64, l.frame_instr);
        assert_eq!(CODE_FLAGS as u64, l.code_flags);
        assert_eq!(CODE_ADAPTIVE as u64, l.code_adaptive);
    }
}
