//! Code objects read from the target, cached by address.
//!
//! A cache entry remembers the pointers it was decoded from (`co_filename`, `co_name`,
//! `co_qualname`, `co_linetable`) and `co_firstlineno`. Each sample re-reads the header of
//! every code object on a stack (in the same batched syscall as the frames, for the code
//! objects seen in the previous sample) and uses the entry only when all of them still match,
//! so a code object freed and replaced at the same address is decoded afresh.

use std::sync::Arc;

use rustc_hash::FxHashSet;

use pyrometer_cpython::linetable::LineTable;
pub use pyrometer_cpython::objects::CodeKey;
use pyrometer_cpython::objects::code_unit;

/// A decoded code object.
#[derive(Clone, Debug)]
pub struct CodeInfo {
    /// Unique per decoded entry for the lifetime of the reader (an address can be reused by
    /// another code object; a serial cannot).
    pub serial: u32,
    pub key: CodeKey,
    pub name: Arc<str>,
    pub qualname: Arc<str>,
    pub filename: Arc<str>,
    pub first_line: u32,
    pub lines: LineTable,
}

impl CodeInfo {
    /// The line executing at instruction pointer `instr` (an address in the target), given the
    /// code object's address and the offset of its bytecode.
    pub fn line_for(&self, code_addr: u64, code_adaptive: u64, instr: u64) -> u32 {
        code_unit(code_addr, code_adaptive, instr)
            .and_then(|unit| self.lines.line_at(unit))
            .unwrap_or(self.first_line)
    }
}

/// Shares identical strings (file names repeat across every function of a module).
#[derive(Default, Debug)]
pub struct StringPool {
    strings: FxHashSet<Arc<str>>,
}

impl StringPool {
    pub fn get(&mut self, s: &str) -> Arc<str> {
        if let Some(a) = self.strings.get(s) {
            return a.clone();
        }
        let a: Arc<str> = Arc::from(s);
        if self.strings.len() < 200_000 {
            self.strings.insert(a.clone());
        }
        a
    }
}
