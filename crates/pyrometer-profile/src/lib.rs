//! pyrometer's profile data model and file format.
//!
//! Every collector (sampler, tracer, line tracer, memory) produces a [`Profile`] through a
//! [`ProfileBuilder`]; every renderer reads a [`Profile`] and nothing else. A profile saved as
//! a `.pyro` file ([`pyro`]) renders later exactly as it did when it was recorded.
//!
//! This crate is pure Rust: no Python, no FFI.

pub mod analysis;
pub mod builder;
pub mod json;
pub mod model;
pub mod pyro;

pub use builder::ProfileBuilder;
pub use model::*;
pub use pyro::FileError;
