//! Everything pyrometer knows about CPython's internals, in one place, for every collector:
//! the out-of-process sampler, the in-process memory collector and the tracer.
//!
//! - [`layout`]: per-version layouts of the runtime's structures, as data (tables measured on
//!   3.11 and 3.12, and from 3.13 on the interpreter's own `_Py_DebugOffsets`);
//! - [`linetable`]: the `co_linetable` decoder;
//! - [`objects`]: readers of `str`, `bytes`, `int` and code objects;
//! - [`attrs`]: an instance's string attribute (thread names);
//! - [`memory`]: the [`memory::MemoryReader`] trait, with a remote implementation
//!   (`process_vm_readv`) and an in-process one;
//! - [`this_process`]: the layout of the interpreter this code runs in;
//! - [`v3_11`]: the private 3.11 fields the tracer's hooks use.
//!
//! No other crate hard-codes an offset or dispatches on the Python version.

pub mod attrs;
pub mod layout;
pub mod linetable;
pub mod memory;
pub mod objects;
pub mod this_process;
pub mod v3_11;
pub mod version;

pub use layout::{Layout, LayoutError};
pub use version::PyVersion;
