//! CPython's own description of its structures (3.13+): `_Py_DebugOffsets`, at the start of
//! `_PyRuntime`.
//!
//! The structure is an 8-byte cookie `"xdebugpy"` followed by `u64`s only: `version`
//! (`PY_VERSION_HEX`), `free_threaded`, then groups of offsets, most starting with the size of
//! their structure. Its shape (which fields, in which order) changes between minor versions
//! and is stable within one, so each minor version states its shape as a list of field names
//! ([`Shape`]) and the values are looked up by name. The few fields the layout needs that a
//! version does not publish come from a table measured on that version's headers.

use crate::layout::{GilLayout, Layout, LayoutError, LongLayout, ManagedDict};
use crate::memory::{Bytes, MemoryReader};
use crate::version::PyVersion;

/// The cookie every `_Py_DebugOffsets` starts with.
pub const COOKIE: &[u8; 8] = b"xdebugpy";

/// One minor version's `_Py_DebugOffsets`.
#[derive(Debug)]
pub struct Shape {
    pub minor: u8,
    /// The `u64` fields after the cookie, in declaration order, as `group.field`.
    pub fields: &'static [&'static str],
    /// The layout measured on this version's headers: the fields the structure does not
    /// publish come from it, and a test checks the rest against live interpreters.
    pub table: fn() -> Layout,
}

impl Shape {
    /// Bytes in the structure.
    pub fn size(&self) -> usize {
        8 + 8 * self.fields.len()
    }

    /// The measured table.
    pub fn table(&self) -> Layout {
        (self.table)()
    }
}

/// A `_Py_DebugOffsets` as read from an interpreter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DebugOffsets {
    shape: &'static [&'static str],
    values: Vec<u64>,
}

impl DebugOffsets {
    /// Parses the structure; `None` if the cookie is wrong or the bytes are short.
    pub fn parse(shape: &Shape, bytes: &[u8]) -> Option<DebugOffsets> {
        if bytes.len() < shape.size() || &bytes[..8] != COOKIE {
            return None;
        }
        let values = (0..shape.fields.len())
            .map(|i| bytes.u64_at(8 + 8 * i))
            .collect::<Option<Vec<u64>>>()?;
        Some(DebugOffsets {
            shape: shape.fields,
            values,
        })
    }

    /// The value of field `name` (`group.field`), if this version has it.
    pub fn get(&self, name: &str) -> Option<u64> {
        let i = self.shape.iter().position(|&f| f == name)?;
        self.values.get(i).copied()
    }

    /// Every field with its value, in order.
    pub fn fields(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        self.shape.iter().copied().zip(self.values.iter().copied())
    }

    pub fn version(&self) -> u64 {
        self.get("version").unwrap_or(0)
    }

    pub fn free_threaded(&self) -> bool {
        self.get("free_threaded").unwrap_or(0) != 0
    }

    /// The layout: every field the structure gives, the rest from `table`.
    pub fn to_layout(&self, table: Layout) -> Layout {
        let t = table;
        let g = |name: &str, default: u64| self.get(name).unwrap_or(default);
        let chunk = g("thread_state.datastack_chunk", t.tstate_datastack_chunk);
        let ascii_size = g("unicode_object.asciiobject_size", t.unicode_ascii_size);
        let (type_flags, type_basicsize) = match t.attrs.managed {
            ManagedDict::Inline {
                type_flags,
                type_basicsize,
            } => (type_flags, type_basicsize),
            _ => (0, 0),
        };
        let long = match t.long {
            LongLayout::LvTag { lv_tag, ob_digit } => LongLayout::LvTag {
                lv_tag: g("long_object.lv_tag", lv_tag),
                ob_digit: g("long_object.ob_digit", ob_digit),
            },
            other => other,
        };
        Layout {
            runtime_interpreters_head: g(
                "runtime_state.interpreters_head",
                t.runtime_interpreters_head,
            ),
            gil: match t.gil {
                GilLayout::InterpInline {
                    last_holder,
                    locked,
                } => GilLayout::InterpInline {
                    last_holder: g("interpreter_state.gil_runtime_state_holder", last_holder),
                    locked: g("interpreter_state.gil_runtime_state_locked", locked),
                },
                other => other,
            },
            interp_next: g("interpreter_state.next", t.interp_next),
            interp_id: g("interpreter_state.id", t.interp_id),
            interp_threads_head: g("interpreter_state.threads_head", t.interp_threads_head),
            tstate_next: g("thread_state.next", t.tstate_next),
            tstate_interp: g("thread_state.interp", t.tstate_interp),
            tstate_frame: crate::layout::CurrentFrame::Direct {
                current_frame: g(
                    "thread_state.current_frame",
                    match t.tstate_frame {
                        crate::layout::CurrentFrame::Direct { current_frame } => current_frame,
                        crate::layout::CurrentFrame::ViaCFrame { .. } => 0,
                    },
                ),
            },
            tstate_thread_id: g("thread_state.thread_id", t.tstate_thread_id),
            tstate_native_thread_id: g("thread_state.native_thread_id", t.tstate_native_thread_id),
            tstate_datastack_chunk: chunk,
            // `PyObject **datastack_top` directly follows `datastack_chunk`.
            tstate_datastack_top: chunk.saturating_add(8),
            frame_code: g("interpreter_frame.executable", t.frame_code),
            frame_previous: g("interpreter_frame.previous", t.frame_previous),
            frame_instr: g("interpreter_frame.instr_ptr", t.frame_instr),
            frame_owner: g("interpreter_frame.owner", t.frame_owner),
            frame_size: g("interpreter_frame.size", t.frame_size),
            code_firstlineno: g("code_object.firstlineno", t.code_firstlineno),
            code_filename: g("code_object.filename", t.code_filename),
            code_name: g("code_object.name", t.code_name),
            code_qualname: g("code_object.qualname", t.code_qualname),
            code_linetable: g("code_object.linetable", t.code_linetable),
            code_adaptive: g("code_object.co_code_adaptive", t.code_adaptive),
            object_type: g("pyobject.ob_type", t.object_type),
            type_name: g("type_object.tp_name", t.type_name),
            unicode_length: g("unicode_object.length", t.unicode_length),
            unicode_state: g("unicode_object.state", t.unicode_state),
            unicode_ascii_size: ascii_size,
            // `PyCompactUnicodeObject` adds `utf8_length` and `utf8` to `PyASCIIObject`.
            unicode_compact_size: g(
                "unicode_object.compactunicodeobject_size",
                ascii_size.saturating_add(16),
            ),
            bytes_size: g("bytes_object.ob_size", t.bytes_size),
            bytes_sval: g("bytes_object.ob_sval", t.bytes_sval),
            long,
            attrs: crate::layout::AttrLayout {
                managed: match t.attrs.managed {
                    ManagedDict::Inline { .. } => ManagedDict::Inline {
                        type_flags: g("type_object.tp_flags", type_flags),
                        type_basicsize: g("type_object.tp_basicsize", type_basicsize),
                    },
                    other => other,
                },
                frame_localsplus: g("interpreter_frame.localsplus", t.attrs.frame_localsplus),
                heaptype_cached_keys: g(
                    "heap_type_object.ht_cached_keys",
                    t.attrs.heaptype_cached_keys,
                ),
                dict_ma_keys: g("dict_object.ma_keys", t.attrs.dict_ma_keys),
                dict_ma_values: g("dict_object.ma_values", t.attrs.dict_ma_values),
                ..t.attrs
            },
            ..t
        }
    }

    /// Whether every offset the readers use lies inside its structure, and the structures
    /// have plausible sizes; the first failure otherwise.
    pub fn check(&self) -> Result<(), String> {
        // (structure size field, largest plausible size, offsets within it)
        let groups: &[(&str, u64, &[&str])] = &[
            (
                "runtime_state.size",
                1 << 22,
                &["runtime_state.interpreters_head"],
            ),
            (
                "interpreter_state.size",
                1 << 20,
                &[
                    "interpreter_state.id",
                    "interpreter_state.next",
                    "interpreter_state.threads_head",
                    "interpreter_state.gil_runtime_state_locked",
                    "interpreter_state.gil_runtime_state_holder",
                ],
            ),
            (
                "thread_state.size",
                1 << 16,
                &[
                    "thread_state.next",
                    "thread_state.interp",
                    "thread_state.current_frame",
                    "thread_state.thread_id",
                    "thread_state.native_thread_id",
                ],
            ),
            (
                "interpreter_frame.size",
                256,
                &[
                    "interpreter_frame.previous",
                    "interpreter_frame.executable",
                    "interpreter_frame.instr_ptr",
                    "interpreter_frame.localsplus",
                ],
            ),
            (
                "code_object.size",
                1 << 16,
                &[
                    "code_object.filename",
                    "code_object.name",
                    "code_object.qualname",
                    "code_object.linetable",
                ],
            ),
        ];
        for &(size_name, cap, fields) in groups {
            let size = self.get(size_name).unwrap_or(0);
            if size == 0 || size > cap {
                return Err(format!("{size_name} is {size}"));
            }
            for &f in fields {
                let Some(off) = self.get(f) else {
                    return Err(format!("{f} is missing"));
                };
                if off.saturating_add(8) > size {
                    return Err(format!("{f} is {off}, beyond {size_name} {size}"));
                }
            }
        }
        let chunk = self.get("thread_state.datastack_chunk").unwrap_or(u64::MAX);
        if chunk.saturating_add(16) > self.get("thread_state.size").unwrap_or(0) {
            return Err(format!("thread_state.datastack_chunk is {chunk}"));
        }
        let small: &[(&str, u64)] = &[
            ("interpreter_frame.owner", 256),
            ("code_object.firstlineno", 1 << 16),
            ("code_object.co_code_adaptive", 1 << 16),
            ("pyobject.ob_type", 64),
            ("type_object.tp_name", 1024),
            ("type_object.tp_flags", 1024),
            ("unicode_object.state", 256),
            ("unicode_object.length", 256),
            ("unicode_object.asciiobject_size", 256),
            ("bytes_object.ob_size", 256),
            ("bytes_object.ob_sval", 256),
            ("dict_object.ma_keys", 256),
            ("dict_object.ma_values", 256),
        ];
        for &(name, cap) in small {
            match self.get(name) {
                Some(v) if v < cap => {}
                v => return Err(format!("{name} is {v:?}")),
            }
        }
        Ok(())
    }
}

/// Reads and checks the `_Py_DebugOffsets` of the interpreter whose `_PyRuntime` is at
/// `runtime` (of `runtime_size` bytes, when known) and builds its layout.
pub fn layout(
    shape: &Shape,
    version: PyVersion,
    mem: &(impl MemoryReader + ?Sized),
    runtime: u64,
    runtime_size: Option<u64>,
) -> Result<Layout, LayoutError> {
    let mismatch = |check: String| LayoutError::Mismatch { check };
    let bytes = mem
        .read_vec(runtime, shape.size())
        .map_err(|e| mismatch(format!("cannot read _Py_DebugOffsets: {e:?}")))?;
    let offsets = DebugOffsets::parse(shape, &bytes)
        .ok_or_else(|| mismatch("_PyRuntime does not start with the cookie \"xdebugpy\"".into()))?;
    if offsets.version() != version.hex() as u64 {
        return Err(mismatch(format!(
            "_Py_DebugOffsets.version is {:#x}, Py_Version is {:#x}",
            offsets.version(),
            version.hex()
        )));
    }
    if offsets.free_threaded() {
        return Err(LayoutError::FreeThreaded);
    }
    offsets
        .check()
        .map_err(|e| mismatch(format!("implausible _Py_DebugOffsets: {e}")))?;
    let said = offsets.get("runtime_state.size");
    if let Some(size) = runtime_size
        && said != Some(size)
    {
        return Err(mismatch(format!(
            "_Py_DebugOffsets gives _PyRuntime {said:?} bytes, its section has {size}"
        )));
    }
    Ok(offsets.to_layout(shape.table()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::{v3_13, v3_14, v3_15};

    /// A `_Py_DebugOffsets` image that describes `table` in `shape`'s order.
    pub(crate) fn image(shape: &Shape, version: u64) -> Vec<u8> {
        let t = shape.table();
        let value = |name: &str| -> u64 {
            let gil = match t.gil {
                GilLayout::InterpInline {
                    last_holder,
                    locked,
                } => (last_holder, locked),
                _ => (0, 0),
            };
            let (flags, basicsize) = match t.attrs.managed {
                ManagedDict::Inline {
                    type_flags,
                    type_basicsize,
                } => (type_flags, type_basicsize),
                _ => (0, 0),
            };
            match name {
                "version" => version,
                "runtime_state.size" => 1 << 18,
                "runtime_state.interpreters_head" => t.runtime_interpreters_head,
                "interpreter_state.size" => 1 << 18,
                "interpreter_state.id" => t.interp_id,
                "interpreter_state.next" => t.interp_next,
                "interpreter_state.threads_head" => t.interp_threads_head,
                "interpreter_state.gil_runtime_state_holder" => gil.0,
                "interpreter_state.gil_runtime_state_locked" => gil.1,
                "thread_state.size" => 1024,
                "thread_state.next" => t.tstate_next,
                "thread_state.interp" => t.tstate_interp,
                "thread_state.current_frame" => 72,
                "thread_state.thread_id" => t.tstate_thread_id,
                "thread_state.native_thread_id" => t.tstate_native_thread_id,
                "thread_state.datastack_chunk" => t.tstate_datastack_chunk,
                "interpreter_frame.size" => t.frame_size,
                "interpreter_frame.previous" => t.frame_previous,
                "interpreter_frame.executable" => t.frame_code,
                "interpreter_frame.instr_ptr" => t.frame_instr,
                "interpreter_frame.localsplus" => t.attrs.frame_localsplus,
                "interpreter_frame.owner" => t.frame_owner,
                "code_object.size" => t.code_adaptive + 8,
                "code_object.filename" => t.code_filename,
                "code_object.name" => t.code_name,
                "code_object.qualname" => t.code_qualname,
                "code_object.linetable" => t.code_linetable,
                "code_object.firstlineno" => t.code_firstlineno,
                "code_object.co_code_adaptive" => t.code_adaptive,
                "pyobject.ob_type" => t.object_type,
                "type_object.tp_name" => t.type_name,
                "type_object.tp_flags" => flags,
                "type_object.tp_basicsize" => basicsize,
                "heap_type_object.ht_cached_keys" => t.attrs.heaptype_cached_keys,
                "dict_object.ma_keys" => t.attrs.dict_ma_keys,
                "dict_object.ma_values" => t.attrs.dict_ma_values,
                "bytes_object.ob_size" => t.bytes_size,
                "bytes_object.ob_sval" => t.bytes_sval,
                "unicode_object.state" => t.unicode_state,
                "unicode_object.length" => t.unicode_length,
                "unicode_object.asciiobject_size" => t.unicode_ascii_size,
                "unicode_object.compactunicodeobject_size" => t.unicode_compact_size,
                "long_object.lv_tag" => 16,
                "long_object.ob_digit" => 24,
                _ => 0,
            }
        };
        let mut b = COOKIE.to_vec();
        for f in shape.fields {
            b.extend_from_slice(&value(f).to_le_bytes());
        }
        b
    }

    #[test]
    fn every_shape_reads_back_its_table() {
        for (shape, hex) in [
            (&v3_13::VERSION, 0x030d00f0u64),
            (&v3_14::VERSION, 0x030e0af0),
            (&v3_15::VERSION, 0x030f02f0),
        ] {
            let bytes = image(shape, hex);
            assert_eq!(bytes.len(), shape.size());
            let offsets = DebugOffsets::parse(shape, &bytes).unwrap();
            assert_eq!(offsets.version(), hex);
            assert!(!offsets.free_threaded());
            offsets.check().unwrap();
            assert_eq!(
                offsets.to_layout(shape.table()),
                shape.table(),
                "3.{}",
                shape.minor
            );
            // A field name appears once.
            let mut names: Vec<_> = shape.fields.to_vec();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), shape.fields.len(), "3.{}", shape.minor);
        }
    }

    #[test]
    fn a_bad_cookie_or_short_bytes_are_refused() {
        let shape = &v3_14::VERSION;
        let mut bytes = image(shape, 0x030e0af0);
        assert!(DebugOffsets::parse(shape, &bytes[..bytes.len() - 1]).is_none());
        bytes[0] = b'X';
        assert!(DebugOffsets::parse(shape, &bytes).is_none());
    }

    #[test]
    fn the_runtime_size_must_match_and_free_threaded_builds_are_refused() {
        use crate::memory::LocalMemory;
        let shape = &v3_14::VERSION;
        let version = PyVersion::from_hex(0x030e0af0);
        let mut bytes = image(shape, 0x030e0af0);
        // SAFETY: `bytes` is alive and long enough for every read below.
        let mem = unsafe { LocalMemory::new() };
        let addr = bytes.as_ptr() as u64;
        assert!(layout(shape, version, &mem, addr, Some(1 << 18)).is_ok());
        match layout(shape, version, &mem, addr, Some(4096)) {
            Err(LayoutError::Mismatch { check }) => assert!(check.contains("section"), "{check}"),
            other => panic!("{other:?}"),
        }
        let wrong = PyVersion::from_hex(0x030e09f0);
        assert!(matches!(
            layout(shape, wrong, &mem, addr, None),
            Err(LayoutError::Mismatch { .. })
        ));
        bytes[16] = 1;
        let addr = bytes.as_ptr() as u64;
        assert_eq!(
            layout(shape, version, &mem, addr, None),
            Err(LayoutError::FreeThreaded)
        );
    }

    #[test]
    fn implausible_offsets_are_refused() {
        let shape = &v3_15::VERSION;
        let mut bytes = image(shape, 0x030f02f0);
        let i = shape
            .fields
            .iter()
            .position(|&f| f == "interpreter_frame.owner")
            .unwrap();
        bytes[8 + 8 * i..][..8].copy_from_slice(&100_000u64.to_le_bytes());
        let offsets = DebugOffsets::parse(shape, &bytes).unwrap();
        assert!(offsets.check().unwrap_err().contains("owner"));
    }
}
