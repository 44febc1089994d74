//! What every rule's violation struct implements, and the macro that captures its docs.

use crate::codes::Rule;

/// A rule's finding before it has a position: the rule, its message, and a fix suggestion.
pub(crate) trait Violation {
    /// The rule this violation belongs to.
    const RULE: Rule;
    /// The one-line message shown after the code.
    fn message(&self) -> String;
    /// How to fix it, in words (and code where short). `None` when there is nothing to add.
    fn fix(&self) -> Option<String> {
        None
    }
}

/// Declares a violation struct and keeps its doc comment as `EXPLANATION`, so that the rule's
/// documentation is written once, next to its code, and still reaches `--explain` and the docs.
macro_rules! violation {
    ($(#[doc = $doc:literal])* pub struct $name:ident $body:tt) => {
        $(#[doc = $doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name $body

        impl $name {
            /// The rule's documentation, as written above the struct.
            pub const EXPLANATION: &'static str = concat!($($doc, "\n"),*);
        }
    };
}

pub(crate) use violation;
