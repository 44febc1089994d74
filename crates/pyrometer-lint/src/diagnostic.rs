//! Positions, findings and file errors: the public result types.

use std::fmt;
use std::path::PathBuf;

use crate::codes::Rule;

/// A 1-based line and column (columns count Unicode characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    /// 1-based line.
    pub line: u32,
    /// 1-based column, in characters.
    pub column: u32,
}

/// A source range; `end` is exclusive (the position just after the last character).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span {
    /// First character.
    pub start: Position,
    /// Just past the last character.
    pub end: Position,
}

/// What kind of code a finding charges its cost to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CostKind {
    /// A `for` or `while` loop.
    Loop,
    /// A comprehension or generator expression.
    Comprehension,
    /// A whole function.
    Function,
}

impl CostKind {
    /// `loop`, `comprehension` or `function`.
    pub fn as_str(self) -> &'static str {
        match self {
            CostKind::Loop => "loop",
            CostKind::Comprehension => "comprehension",
            CostKind::Function => "function",
        }
    }
}

/// The code whose runtime a finding affects: a profile-guided join charges the measured time of
/// `lines` to the finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cost {
    /// Loop, comprehension or function.
    pub kind: CostKind,
    /// The whole statement or expression (for a loop: from `for`/`while` to the end of its body).
    pub span: Span,
    /// First and last line (inclusive) whose time the finding costs: a loop's header and body
    /// (not its `else`), a comprehension's lines, or a function's body.
    pub lines: (u32, u32),
}

impl Cost {
    /// Whether `line` is one of the lines this cost covers.
    pub fn covers_line(&self, line: u32) -> bool {
        (self.lines.0..=self.lines.1).contains(&line)
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The rule that found it.
    pub rule: Rule,
    /// One line.
    pub message: String,
    /// How to fix it, in words, when the rule can say more than the message.
    pub fix: Option<String>,
    /// Where it is.
    pub span: Span,
    /// The loop or function whose runtime it affects, when there is one.
    pub cost: Option<Cost>,
    /// The text of the first line of `span` (for renderers).
    pub source_line: String,
}

/// Why a file has no findings list: it could not be read or parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileErrorKind {
    /// The file could not be read (or is not in a supported encoding: UTF-8, or a PEP 263 cookie's).
    Io,
    /// The file is not valid Python.
    Parse,
    /// A bug in pyrometer (a caught panic). Reported so that one bad file never stops a run.
    Internal,
}

impl FileErrorKind {
    /// `io`, `parse` or `internal`.
    pub fn as_str(&self) -> &'static str {
        match self {
            FileErrorKind::Io => "io",
            FileErrorKind::Parse => "parse",
            FileErrorKind::Internal => "internal",
        }
    }
}

/// A file that could not be checked. Never fatal: the rest of the run goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileError {
    /// Read or parse failure.
    pub kind: FileErrorKind,
    /// What went wrong.
    pub message: String,
    /// Where, for parse errors.
    pub position: Option<Position>,
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            FileErrorKind::Io => write!(f, "cannot read file: {}", self.message),
            FileErrorKind::Parse => write!(f, "parse error: {}", self.message),
            FileErrorKind::Internal => f.write_str(&self.message),
        }
    }
}

/// The result of checking one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileReport {
    /// The path as given or found by the walk.
    pub path: PathBuf,
    /// Findings, sorted by position then code.
    pub diagnostics: Vec<Diagnostic>,
    /// Set when the file could not be read or parsed (then `diagnostics` is empty).
    pub error: Option<FileError>,
}
