//! The interpreter this code runs in: its version and layout, for the in-process collectors.
//!
//! `Py_Version` and `_PyRuntime` are exported by every CPython 3.11+ (from the executable of a
//! static build or from `libpython`), so `dlsym` over every loaded object finds them without
//! linking against Python.

use crate::layout::{self, Layout, LayoutError};
use crate::memory::LocalMemory;
use crate::version::PyVersion;

/// Symbols only a build with `Py_REF_DEBUG` (every `Py_DEBUG` build) exports.
pub const DEBUG_BUILD_SYMBOLS: [&str; 2] = ["_Py_NegativeRefcount", "_Py_RefTotal"];

fn symbol(name: &str) -> Option<usize> {
    let name = std::ffi::CString::new(name).ok()?;
    // SAFETY: dlsym with a NUL-terminated name; RTLD_DEFAULT searches every loaded object.
    let p = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
    (!p.is_null()).then_some(p as usize)
}

/// The version of the interpreter in this process, if there is one.
pub fn version() -> Option<PyVersion> {
    let p = symbol("Py_Version")?;
    // SAFETY: `Py_Version` is a constant (`const unsigned long`, at least 4 bytes) the
    // interpreter exports; its low 32 bits are `PY_VERSION_HEX` on little-endian machines.
    Some(PyVersion::from_hex(unsafe {
        (p as *const u32).read_unaligned()
    }))
}

/// Whether the interpreter is a debug build (`Py_DEBUG`), whose private structures differ
/// from the release build's.
pub fn is_debug_build() -> bool {
    DEBUG_BUILD_SYMBOLS.iter().any(|s| symbol(s).is_some())
}

/// The layout of the interpreter in this process, or why there is none.
pub fn layout() -> Result<Layout, LayoutError> {
    let version = version().ok_or_else(|| LayoutError::Unsupported {
        reason: "no CPython interpreter (Py_Version) in this process".into(),
    })?;
    if is_debug_build() {
        return Err(LayoutError::Unsupported {
            reason: format!(
                "CPython {version} is a debug build (Py_DEBUG), whose structures differ from a \
                 release build's"
            ),
        });
    }
    let runtime = symbol("_PyRuntime").ok_or_else(|| LayoutError::Unsupported {
        reason: "cannot find _PyRuntime in this process".into(),
    })?;
    // SAFETY: `_PyRuntime` is a static structure, readable for as long as the process runs and
    // far larger than the debug offsets read from its start.
    let mem = unsafe { LocalMemory::new() };
    layout::for_version(version, &mem, runtime as u64, None)
}
