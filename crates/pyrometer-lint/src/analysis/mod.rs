//! Cheap static facts the rules share: AST helpers, import resolution, per-scope bindings with a
//! little type inference, and what a loop body rebinds or may mutate.
//!
//! Everything here is deliberately conservative: when unsure, a fact says "unknown" and the rules
//! stay quiet.

pub(crate) mod facts;
pub(crate) mod helpers;
pub(crate) mod imports;
pub(crate) mod scope;
pub(crate) mod types;
