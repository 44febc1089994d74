//! Reading the calling thread's own Python stack from inside an allocator hook.
//!
//! A hook may not call Python APIs that allocate (it would re-enter itself) and may run
//! without the GIL (the RAW domain), so the stack is read straight from memory with the
//! sampler's per-version layouts (`pyrometer_sampler::layout`, the same tables it uses to read
//! other processes): thread state → current frame → `previous` …, and for each frame its code
//! object and instruction pointer. The thread reads only its *own* frame chain, which no other
//! thread changes, and every object it reads is kept alive by a frame on that chain, so plain
//! loads are safe. The thread state comes from `PyGILState_GetThisThreadState()` (a
//! thread-specific-storage lookup that works with or without the GIL; `PyThreadState_Get`
//! would fail when the GIL is released).
//!
//! Code objects are decoded once (names, file, first line, line table) and cached by address;
//! each use re-checks the cached header fields (type, name, file, line-table pointers), so a
//! code object freed and replaced at the same address is decoded afresh.

use pyrometer_profile::FrameKind;
use pyrometer_sampler::PyVersion;
use pyrometer_sampler::layout::{CurrentFrame, Layout, v3_11, v3_12, v3_13};
use pyrometer_sampler::linetable::LineTable;
use rustc_hash::FxHashMap;

use crate::recorder::{CodeIdx, Function, Recorder};

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
    // SAFETY: `Py_Version` is a constant the interpreter exports.
    let version = PyVersion::from_hex(unsafe { pyo3_ffi::Py_Version } as u32);
    if version.major != 3 || version.minor < 11 {
        return Err(format!(
            "CPython {version} is not supported (3.11 and newer are)"
        ));
    }
    match version.minor {
        11 => Ok(v3_11::layout()),
        12 => Ok(v3_12::layout()),
        13 => {
            // The interpreter describes itself: `_PyRuntime` starts with `_Py_DebugOffsets`.
            // SAFETY: dlsym with a NUL-terminated name; RTLD_DEFAULT searches every loaded
            // object, the interpreter included.
            let runtime = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"_PyRuntime".as_ptr()) };
            if runtime.is_null() {
                return Err("cannot find _PyRuntime in this process".into());
            }
            // SAFETY: `_PyRuntime` is a static structure far larger than its debug offsets.
            let bytes = unsafe {
                std::slice::from_raw_parts(runtime as *const u8, v3_13::DebugOffsets313::SIZE)
            };
            let offsets = v3_13::DebugOffsets313::parse(bytes)
                .ok_or("_PyRuntime does not start with _Py_DebugOffsets")?;
            if offsets.version != version.hex() as u64 {
                return Err(format!(
                    "_Py_DebugOffsets says {:#x}, Py_Version {:#x}",
                    offsets.version,
                    version.hex()
                ));
            }
            if offsets.free_threaded != 0 {
                return Err("free-threaded CPython builds are not supported yet".into());
            }
            Ok(offsets.to_layout())
        }
        _ => Err(format!(
            "no memory layout for CPython {version} yet (3.11 to 3.13 are supported)"
        )),
    }
}

/// The calling thread's Python thread state, or null for a thread Python does not know.
pub fn this_thread_state() -> *const u8 {
    // SAFETY: a TSS lookup, valid on any thread at any time while the runtime exists (the
    // hooks are installed only while it does); it does not allocate or need the GIL.
    unsafe { pyo3_ffi::PyGILState_GetThisThreadState() as *const u8 }
}

/// Reads a word at `base + offset`.
///
/// # Safety
/// `base + offset` must be readable for 8 bytes.
#[inline]
unsafe fn word(base: *const u8, offset: u64) -> usize {
    // SAFETY: the caller guarantees the address is readable; unaligned reads are allowed.
    unsafe { (base.add(offset as usize) as *const usize).read_unaligned() }
}

/// The thread's identity: (`thread_id`, `native_thread_id`).
///
/// # Safety
/// `tstate` must be the calling thread's live thread state.
pub unsafe fn thread_ids(layout: &Layout, tstate: *const u8) -> (u64, u64) {
    // SAFETY: both fields lie inside the thread state (the layout's offsets).
    unsafe {
        (
            word(tstate, layout.tstate_thread_id) as u64,
            word(tstate, layout.tstate_native_thread_id) as u64,
        )
    }
}

/// The innermost frame of a thread, 0 when it runs no Python code.
///
/// # Safety
/// `tstate` must be the calling thread's live thread state, and `layout` the interpreter's.
pub unsafe fn current_frame(layout: &Layout, tstate: *const u8) -> usize {
    // SAFETY: the thread state is alive; its `cframe` (3.11/3.12) is too while it runs.
    unsafe {
        match layout.tstate_frame {
            CurrentFrame::ViaCFrame {
                cframe,
                current_frame,
            } => {
                let cf = word(tstate, cframe);
                if cf == 0 {
                    0
                } else {
                    word(cf as *const u8, current_frame)
                }
            }
            CurrentFrame::Direct { current_frame } => word(tstate, current_frame),
        }
    }
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
    let code_type = &raw const pyo3_ffi::PyCode_Type as usize;
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
        let f = frame as *const u8;
        // SAFETY: see above.
        let (owner, code, instr, previous) = unsafe {
            (
                *f.add(layout.frame_owner as usize),
                word(f, layout.frame_code),
                word(f, layout.frame_instr),
                word(f, layout.frame_previous),
            )
        };
        frame = previous;
        if Some(owner) == layout.frame_owner_shim || owner > layout.frame_owner_max {
            continue;
        }
        // SAFETY: a non-null `f_code`/`f_executable` points to an object header.
        if code == 0 || unsafe { word(code as *const u8, layout.object_type) } != code_type {
            continue;
        }
        if n == out.len() {
            return (n, true);
        }
        out[n] = RawFrame {
            code,
            instr,
            frame: f as usize,
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
    let mem = pyrometer_sampler::mem::RemoteMemory::new(std::process::id());
    let this = mem
        .read_u64((frames[i].frame as u64).wrapping_add(layout.attrs.frame_localsplus))
        .ok()?;
    pyrometer_sampler::names::str_attr(&mem, layout, this, "_name")
}

/// A code object's fields that identify it (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct CodeKey {
    filename: usize,
    name: usize,
    qualname: usize,
    linetable: usize,
    first_line: i32,
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

/// Decodes a `str` object in place.
///
/// # Safety
/// `s` must be a live `str` object.
unsafe fn read_str(layout: &Layout, s: usize) -> String {
    if s == 0 {
        return "?".into();
    }
    let p = s as *const u8;
    // SAFETY: the header fields lie inside every str object; the data lies inside it when
    // the state bits say the string is compact (names and file names always are).
    unsafe {
        let state = (p.add(layout.unicode_state as usize) as *const u32).read_unaligned();
        let length = word(p, layout.unicode_length).min(4096);
        let kind = (state >> 2) & 7;
        let compact = state & (1 << 5) != 0;
        let ascii = state & (1 << 6) != 0;
        if !compact {
            return "?".into();
        }
        if ascii {
            let data =
                std::slice::from_raw_parts(p.add(layout.unicode_ascii_size as usize), length);
            return String::from_utf8_lossy(data).into_owned();
        }
        let data = p.add(layout.unicode_compact_size as usize);
        (0..length)
            .map(|i| {
                let c = match kind {
                    1 => *data.add(i) as u32,
                    2 => (data.add(2 * i) as *const u16).read_unaligned() as u32,
                    4 => (data.add(4 * i) as *const u32).read_unaligned(),
                    _ => '?' as u32,
                };
                char::from_u32(c).unwrap_or('?')
            })
            .collect()
    }
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
        let c = frame.code as *const u8;
        // SAFETY: a live code object (checked by type in `capture`); these fields are in it.
        let key = unsafe {
            CodeKey {
                filename: word(c, layout.code_filename),
                name: word(c, layout.code_name),
                qualname: word(c, layout.code_qualname),
                linetable: word(c, layout.code_linetable),
                first_line: (c.add(layout.code_firstlineno as usize) as *const i32)
                    .read_unaligned(),
            }
        };
        let cached = match self.codes.get(&frame.code) {
            Some(cached) if cached.key == key => cached,
            _ => {
                // SAFETY: the code object keeps its name, file and line table alive.
                let (name, qualname, file, table) = unsafe {
                    let table = if key.linetable == 0 {
                        &[][..]
                    } else {
                        let b = key.linetable as *const u8;
                        let size = word(b, layout.bytes_size).min(1 << 20);
                        std::slice::from_raw_parts(b.add(layout.bytes_sval as usize), size)
                    };
                    (
                        read_str(layout, key.name),
                        read_str(layout, key.qualname),
                        read_str(layout, key.filename),
                        table,
                    )
                };
                let first_line = key.first_line.max(0) as u32;
                let idx = rec.add_function(Function {
                    name,
                    qualname,
                    file,
                    first_line,
                    kind: FrameKind::Python,
                });
                let lines = LineTable::decode(table, first_line);
                self.codes.insert(
                    frame.code,
                    CachedCode {
                        key,
                        idx,
                        first_line,
                        lines,
                    },
                );
                &self.codes[&frame.code]
            }
        };
        let base = frame.code + layout.code_adaptive as usize;
        let line = if frame.instr < base {
            // 3.11/3.12: `prev_instr` is one unit before the start until the first
            // instruction runs.
            cached.first_line
        } else {
            let addrq = ((frame.instr - base) / 2).min(u32::MAX as usize) as u32;
            cached.lines.line_at(addrq).unwrap_or(cached.first_line)
        };
        (cached.idx, line)
    }
}
