//! `# noqa` and `# noqa: PYR101, PYR102` comments, per line.
//!
//! A bare `# noqa` silences every finding that starts on its line; `# noqa: CODES` only those
//! codes (codes of other tools are ignored). Matching is case-insensitive, and a comment may
//! hold other text before the directive (`# type: ignore  # noqa: PYR101`).

use rustc_hash::FxHashMap;

use crate::codes::Rule;
use crate::parse::TextRange;
use crate::source::SourceIndex;

/// The suppression on one line.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Directive {
    All,
    Codes(Vec<String>),
}

/// Suppressions of one file, by 1-based line.
#[derive(Debug, Default)]
pub(crate) struct NoqaMap {
    lines: FxHashMap<u32, Directive>,
}

impl NoqaMap {
    pub(crate) fn from_comments(
        source: &str,
        comments: &[TextRange],
        index: &SourceIndex<'_>,
    ) -> Self {
        let mut lines = FxHashMap::default();
        for range in comments {
            let Some(text) = source.get(range.start().to_usize()..range.end().to_usize()) else {
                continue;
            };
            if let Some(directive) = parse_directive(text) {
                lines.insert(index.line(range.start()), directive);
            }
        }
        Self { lines }
    }

    /// Whether a finding of `rule` starting on `line` is suppressed.
    pub(crate) fn suppresses(&self, line: u32, rule: Rule) -> bool {
        match self.lines.get(&line) {
            Some(Directive::All) => true,
            Some(Directive::Codes(codes)) => codes.iter().any(|code| code == rule.code()),
            None => false,
        }
    }
}

/// Finds a noqa directive in one comment's text (starting with `#`).
fn parse_directive(comment: &str) -> Option<Directive> {
    let lower = comment.to_ascii_lowercase();
    let mut search_from = 0;
    while let Some(found) = lower[search_from..].find("noqa") {
        let start = search_from + found;
        search_from = start + 4;
        // Must be `#` followed by optional spaces, then `noqa`.
        let before = lower[..start].trim_end();
        if !before.ends_with('#') {
            continue;
        }
        let rest = &comment[start + 4..];
        let rest_trimmed = rest.trim_start();
        let Some(list) = rest_trimmed.strip_prefix(':') else {
            // `# noqa` alone, or followed by a space and other text: blanket.
            if rest.is_empty() || rest.starts_with(char::is_whitespace) || rest.starts_with('#') {
                return Some(Directive::All);
            }
            continue;
        };
        let codes: Vec<String> = list
            .split(|c: char| c == ',' || c.is_whitespace())
            .map(str::trim)
            .take_while(|code| code.is_empty() || looks_like_code(code))
            .filter(|code| !code.is_empty())
            .map(str::to_ascii_uppercase)
            .collect();
        return Some(if codes.is_empty() {
            Directive::All
        } else {
            Directive::Codes(codes)
        });
    }
    None
}

/// `PYR101`, `E501`, `RUF100`: letters then digits.
fn looks_like_code(word: &str) -> bool {
    let letters = word.chars().take_while(char::is_ascii_alphabetic).count();
    let digits = word[letters..].chars().all(|c| c.is_ascii_digit());
    letters > 0 && letters < word.len() && digits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_directives() {
        assert_eq!(parse_directive("# noqa"), Some(Directive::All));
        assert_eq!(parse_directive("#noqa"), Some(Directive::All));
        assert_eq!(parse_directive("# NOQA  because"), Some(Directive::All));
        assert_eq!(
            parse_directive("# noqa: PYR101,pyr102"),
            Some(Directive::Codes(vec!["PYR101".into(), "PYR102".into()]))
        );
        assert_eq!(
            parse_directive("# noqa:PYR101 PYR202 some reason"),
            Some(Directive::Codes(vec!["PYR101".into(), "PYR202".into()]))
        );
        assert_eq!(
            parse_directive("# type: ignore  # noqa: E501"),
            Some(Directive::Codes(vec!["E501".into()]))
        );
        assert_eq!(parse_directive("# noqaxyz"), None);
        assert_eq!(parse_directive("# see the noqa docs"), None);
        assert_eq!(parse_directive("# plain comment"), None);
    }
}
