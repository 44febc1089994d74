//! Reading the calling thread's own Python stack from inside an allocator hook.
//!
//! A hook may not call Python APIs that allocate (it would re-enter itself) and may run
//! without the GIL (the RAW domain), so the stack is read straight from memory with
//! `pyrometer-cpython`'s layout of the running interpreter, through its in-process reader
//! ([`LocalMemory`]): thread state → current frame → `previous` …, and for each frame its code
//! object and instruction pointer. The thread reads only its *own* frame chain, which no other
//! thread changes, and every object it reads is kept alive by a frame on that chain, so plain
//! loads are safe. The thread state comes from `PyGILState_GetThisThreadState()` (a
//! thread-specific-storage lookup that works with or without the GIL; `PyThreadState_Get`
//! would fail when the GIL is released).
//!
//! Code objects are decoded once (names, file, first line, line table) and cached by address;
//! each use re-checks the cached header fields (type, name, file, line-table pointers), so a
//! code object freed and replaced at the same address is decoded afresh.

use pyrometer_cpython::layout::{Frame, Layout};
use pyrometer_cpython::linetable::LineTable;
use pyrometer_cpython::memory::{LocalMemory, MemoryReader, RemoteMemory};
use pyrometer_cpython::objects::{CO_NO_MONITORING_EVENTS, Code, CodeKey, code_unit};
use pyrometer_profile::FrameKind;
use rustc_hash::FxHashMap;

use crate::recorder::{CodeIdx, Function, Recorder};

/// The calling thread's own frame chain and the objects it keeps alive, read with plain loads.
// SAFETY: only used on the calling thread's own frame chain and what it keeps alive (see the
// module documentation).
static LOCAL: LocalMemory = unsafe { LocalMemory::new() };

/// The deepest stack recorded; deeper frames are cut (the outermost ones) and a
/// `<deeper frames>` marker takes their place.
pub const MAX_FRAMES: usize = 256;

/// One frame as read: code object address and instruction pointer.
#[derive(Clone, Copy, Debug, Default)]
pub struct RawFrame {
    pub code: usize,
    pub instr: usize,
    /// The `_PyInterpreterFrame` itself.
    pub frame: usize,
}

/// The layout of the running interpreter, or why there is none.
pub fn layout_for_this_process() -> Result<Layout, String> {
    pyrometer_cpython::this_process::layout().map_err(|e| e.to_string())
}

/// The calling thread's Python thread state, or null for a thread Python does not know.
pub fn this_thread_state() -> *const u8 {
    // SAFETY: a TSS lookup, valid on any thread at any time while the runtime exists (the
    // hooks are installed only while it does); it does not allocate or need the GIL.
    unsafe { pyo3_ffi::PyGILState_GetThisThreadState() as *const u8 }
}

/// The thread's identity: (`thread_id`, `native_thread_id`).
///
/// # Safety
/// `tstate` must be the calling thread's live thread state.
pub unsafe fn thread_ids(layout: &Layout, tstate: *const u8) -> (u64, u64) {
    let t = tstate as u64;
    (
        LOCAL
            .read_u64(t.wrapping_add(layout.tstate_thread_id))
            .unwrap_or(0),
        LOCAL
            .read_u64(t.wrapping_add(layout.tstate_native_thread_id))
            .unwrap_or(0),
    )
}

/// The innermost frame of a thread, 0 when it runs no Python code.
///
/// # Safety
/// `tstate` must be the calling thread's live thread state, and `layout` the interpreter's.
pub unsafe fn current_frame(layout: &Layout, tstate: *const u8) -> usize {
    layout.current_frame(&LOCAL, tstate as u64).unwrap_or(0) as usize
}

/// Reads the calling thread's frames, innermost first, into `out`, stopping before the frame
/// at `stop_at` (a launcher's frame; 0 for none). Returns how many were read and whether the
/// stack was deeper than `out`.
///
/// # Safety
/// `tstate` must be the calling thread's live thread state, and `layout` the interpreter's.
pub unsafe fn capture(
    layout: &Layout,
    tstate: *const u8,
    stop_at: usize,
    out: &mut [RawFrame],
) -> (usize, bool) {
    let code_type = &raw const pyo3_ffi::PyCode_Type as u64;
    // The thread state is ours and alive; every frame on its chain is alive while this thread
    // is inside the allocator (only this thread pushes or pops them), and the offsets are the
    // running interpreter's.
    // SAFETY: as just said.
    let mut frame = unsafe { current_frame(layout, tstate) };
    let mut n = 0;
    // A bound on the walk itself, against a corrupt chain.
    let mut steps = 0;
    while frame != 0 && frame != stop_at && steps < 4 * MAX_FRAMES {
        steps += 1;
        let f = frame;
        let (code, instr) = match layout.read_frame(&LOCAL, f as u64) {
            Frame::Python {
                code,
                instr,
                previous,
            } => {
                frame = previous as usize;
                (code, instr)
            }
            Frame::Shim { previous } => {
                frame = previous as usize;
                continue;
            }
            Frame::Invalid => break,
        };
        // A code object of this interpreter, and the program's rather than its own.
        if LOCAL.read_u64(code.wrapping_add(layout.object_type)) != Ok(code_type)
            || LOCAL
                .read_u32(code.wrapping_add(layout.code_flags))
                .is_ok_and(|flags| flags & CO_NO_MONITORING_EVENTS != 0)
        {
            continue;
        }
        if n == out.len() {
            return (n, true);
        }
        out[n] = RawFrame {
            code: code as usize,
            instr: instr as usize,
            frame: f,
        };
        n += 1;
    }
    (n, false)
}

/// The `threading` name of the calling thread, when `frames` (innermost first, resolved to
/// `codes`) include `Thread._bootstrap`: its `self._name`, read with the sampler's attribute
/// reader through `process_vm_readv` on this process (so a surprise in the object's layout
/// reads as an error, never a crash). Once per thread.
pub fn thread_name(
    layout: &Layout,
    frames: &[RawFrame],
    codes: &[CodeIdx],
    rec: &Recorder,
) -> Option<String> {
    let i = codes.iter().rposition(|&c| {
        matches!(
            rec.functions[c as usize].qualname.as_str(),
            "Thread._bootstrap" | "Thread._bootstrap_inner"
        )
    })?;
    let mem = RemoteMemory::new(std::process::id());
    let this = mem
        .read_u64((frames[i].frame as u64).wrapping_add(layout.attrs.frame_localsplus))
        .ok()?;
    pyrometer_cpython::attrs::str_attr(&mem, layout, layout.stackref(this), "_name")
}

#[derive(Debug)]
struct CachedCode {
    key: CodeKey,
    idx: CodeIdx,
    first_line: u32,
    lines: LineTable,
}

/// Decoded code objects by address.
#[derive(Debug, Default)]
pub struct CodeCache {
    codes: FxHashMap<usize, CachedCode>,
}

impl CodeCache {
    /// The function and line of a frame, decoding its code object on first sight.
    ///
    /// # Safety
    /// `frame` must come from [`capture`] on the calling thread, whose stack has not changed
    /// since.
    pub unsafe fn resolve(
        &mut self,
        layout: &Layout,
        rec: &mut Recorder,
        frame: RawFrame,
    ) -> (CodeIdx, u32) {
        let key = CodeKey::read(&LOCAL, layout, frame.code as u64);
        let cached = match (self.codes.get(&frame.code), key) {
            (Some(cached), Some(key)) if cached.key == key => cached,
            _ => {
                // SAFETY (of the reads): the code object keeps its name, file and line table
                // alive.
                let code = Code::read(&LOCAL, layout, frame.code as u64, None);
                let unknown = || Code {
                    key: key.unwrap_or_default(),
                    name: "?".into(),
                    qualname: "?".into(),
                    filename: "?".into(),
                    first_line: 0,
                    lines: LineTable::default(),
                };
                let code = code.unwrap_or_else(unknown);
                let idx = rec.add_function(Function {
                    name: code.name,
                    qualname: code.qualname,
                    file: code.filename,
                    first_line: code.first_line,
                    kind: FrameKind::Python,
                });
                self.codes.insert(
                    frame.code,
                    CachedCode {
                        key: code.key,
                        idx,
                        first_line: code.first_line,
                        lines: code.lines,
                    },
                );
                &self.codes[&frame.code]
            }
        };
        let line = code_unit(frame.code as u64, layout.code_adaptive, frame.instr as u64)
            .and_then(|unit| cached.lines.line_at(unit))
            .unwrap_or(cached.first_line);
        (cached.idx, line)
    }
}
