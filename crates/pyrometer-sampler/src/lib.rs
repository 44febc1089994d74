//! pyrometer's stack sampler: reads the Python stacks of every thread of a CPython 3.11–3.13
//! process from its memory (`process_vm_readv`), without stopping or instrumenting it.
//!
//! The same reader works on another process (`pyrometer record --pid`) and on the current one
//! from a plain Rust thread (in-process profiling): it never needs the GIL and never touches
//! the target's memory except through the kernel, so freed structures read as errors, not
//! crashes.
pub mod code;
pub mod cpu;
pub mod discover;
pub mod dump;
pub mod error;
pub mod layout;
pub mod linetable;
pub mod mem;
pub mod process;

pub use error::SamplerError;
pub use layout::PyVersion;
pub use process::{ProcessSample, PythonProcess, RawFrame, ReadStats, ThreadStack};
