//! The one place that talks to `ruff_python_parser`.
//!
//! The rest of the crate sees a parsed module (ruff's AST, re-exported as [`ast`]) plus the
//! comment ranges it needs for `# noqa`, or a [`SyntaxFailure`] with a message and an offset.
//! Swapping or upgrading the parser should only touch this file (and the AST shapes the rules
//! match, which are ruff's `ruff_python_ast` types).

pub(crate) use ruff_python_ast as ast;
pub(crate) use ruff_text_size::{Ranged, TextRange, TextSize};

use ruff_python_ast::PySourceType;
use ruff_python_ast::token::TokenKind;

/// A module that parsed without syntax errors.
pub(crate) struct ParsedModule {
    suite: ast::Suite,
    comments: Vec<TextRange>,
}

impl ParsedModule {
    /// The module's top-level statements.
    pub(crate) fn suite(&self) -> &[ast::Stmt] {
        &self.suite
    }

    /// Ranges of every `#` comment, in source order.
    pub(crate) fn comment_ranges(&self) -> &[TextRange] {
        &self.comments
    }
}

/// Why a source file could not be parsed: the parser's first error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxFailure {
    pub(crate) message: String,
    pub(crate) range: TextRange,
}

/// Parses `source` as a Python module. Never panics on any input that the parser accepts as
/// text; a module with any syntax error is refused (the rules expect a complete tree).
pub(crate) fn parse_module(source: &str) -> Result<ParsedModule, SyntaxFailure> {
    let parsed = ruff_python_parser::parse_unchecked_source(source, PySourceType::Python);
    if let Some(error) = parsed.errors().first() {
        return Err(SyntaxFailure {
            message: error.error.to_string(),
            range: error.location,
        });
    }
    let comments = parsed
        .tokens()
        .iter()
        .filter(|token| token.kind() == TokenKind::Comment)
        .map(Ranged::range)
        .collect();
    Ok(ParsedModule {
        suite: parsed.into_syntax().body,
        comments,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_collects_comments() {
        let parsed = parse_module("x = 1  # noqa\n# two\n").unwrap();
        assert_eq!(parsed.suite().len(), 1);
        assert_eq!(parsed.comment_ranges().len(), 2);
    }

    #[test]
    fn reports_first_syntax_error() {
        let err = parse_module("def f(:\n    pass\n").err().unwrap();
        assert!(!err.message.is_empty());
    }
}
