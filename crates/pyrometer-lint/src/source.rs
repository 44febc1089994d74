//! Offsets to 1-based line/column positions, and source lines for rendering.

use ruff_source_file::LineIndex;

use crate::parse::{TextRange, TextSize};

/// Line starts of one source text. Columns are counted in Unicode scalar values (characters),
/// 1-based, like ruff's; SARIF output declares `unicodeCodePoints` accordingly.
pub(crate) struct SourceIndex<'a> {
    text: &'a str,
    index: LineIndex,
}

impl<'a> SourceIndex<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Self {
            text,
            index: LineIndex::from_source_text(text),
        }
    }

    /// 1-based (line, column) of a byte offset. Offsets past the end clamp to the end.
    pub(crate) fn position(&self, offset: TextSize) -> crate::Position {
        let len = TextSize::try_from(self.text.len()).unwrap_or(TextSize::new(u32::MAX));
        let offset = offset.min(len);
        let lc = self.index.line_column(offset, self.text);
        crate::Position {
            line: u32::try_from(lc.line.get()).unwrap_or(u32::MAX),
            column: u32::try_from(lc.column.get()).unwrap_or(u32::MAX),
        }
    }

    /// 1-based line of a byte offset.
    pub(crate) fn line(&self, offset: TextSize) -> u32 {
        self.position(offset).line
    }

    pub(crate) fn span(&self, range: TextRange) -> crate::Span {
        crate::Span {
            start: self.position(range.start()),
            end: self.position(range.end()),
        }
    }
}

impl<'a> SourceIndex<'a> {
    /// The text of a 1-based line, without its line ending ("" past the end).
    pub(crate) fn line_text(&self, line: u32) -> &str {
        let Some(zero_based) = (line as usize).checked_sub(1) else {
            return "";
        };
        if zero_based >= self.index.line_count() {
            return "";
        }
        let range = self.index.line_range(
            ruff_source_file::OneIndexed::from_zero_indexed(zero_based),
            self.text,
        );
        self.text
            .get(range.start().to_usize()..range.end().to_usize())
            .unwrap_or("")
            .trim_end_matches(['\n', '\r'])
    }

    /// The text of a range ("" if it is not on character boundaries).
    pub(crate) fn text_of(&self, range: TextRange) -> &'a str {
        self.text
            .get(range.start().to_usize()..range.end().to_usize())
            .unwrap_or("")
    }

    /// The 1-based line of the last character of a range (of its start if it is empty).
    pub(crate) fn last_line(&self, range: TextRange) -> u32 {
        if range.is_empty() {
            self.line(range.start())
        } else {
            self.line(range.end() - TextSize::new(1))
        }
    }
}
