//! pyrometer's stack sampler: reads the Python stacks of every thread of a CPython 3.11–3.15
//! process from its memory (`process_vm_readv`), without stopping or instrumenting it, with
//! the layouts and readers of `pyrometer-cpython`.
//!
//! The same reader works on another process (`pyrometer record --pid`) and on the current one
//! from a plain Rust thread (in-process profiling): it never needs the GIL and never touches
//! the target's memory except through the kernel, so freed structures read as errors, not
//! crashes.
//!
//! Entry points:
//! - [`Sampler`]: attach, [`Sampler::run`] (or [`Sampler::run_with`] for a live view), then
//!   [`Sampler::finish`] gives a [`pyrometer_profile::Profile`] in `Mode::Sample`;
//! - [`dump()`]: every thread's stack now;
//! - [`PythonProcess`]: the reader itself (one sample at a time);
//! - [`children::descendants`]: the processes under a pid, for `--subprocesses`.

pub mod aggregate;
pub mod blocking;
pub mod children;
pub mod code;
pub mod cpu;
pub mod discover;
pub mod dump;
pub mod error;
pub mod names;
pub mod process;
pub mod sampler;
pub mod timing;

pub use cpu::ThreadState;
pub use dump::{DumpFrame, ThreadDump, dump, thread_name};
pub use error::SamplerError;
pub use process::{ProcessSample, PythonProcess, RawFrame, ReadStats, ThreadStack};
pub use pyrometer_cpython::PyVersion;
pub use sampler::{Counters, RunEnd, Sampler, SamplerConfig};
