use crate::analysis::helpers::is_exit;
use crate::checker::{Checker, CostRange};
use crate::parse::ast::{self, Stmt};
use crate::parse::{Ranged, TextRange, TextSize};
use crate::violation::{Violation, violation};

violation! {
    /// ## What it does
    /// Finds a `try`/`except` statement directly in a loop body whose every `except` handler
    /// ends by leaving the loop (`break`, `return` or `raise`), so that wrapping the whole loop
    /// in the `try` would behave the same.
    ///
    /// ## Why is this bad?
    /// Before CPython 3.11, entering a `try` block executed a `SETUP_FINALLY` instruction on
    /// every iteration. Since 3.11 exceptions are "zero-cost" when not raised: there is nothing
    /// to gain (see the measured gain), so the rule is off by default and only worth enabling
    /// for code that must run fast on 3.10 and older.
    ///
    /// ## Example
    /// ```python
    /// def parse_all(items):
    ///     out = []
    ///     for item in items:
    ///         try:
    ///             out.append(int(item))
    ///         except ValueError:
    ///             raise BadInput(item)
    ///     return out
    /// ```
    ///
    /// Use instead:
    /// ```python
    /// def parse_all(items):
    ///     out = []
    ///     try:
    ///         for item in items:
    ///             out.append(int(item))
    ///     except ValueError as e:
    ///         raise BadInput(e)
    ///     return out
    /// ```
    ///
    /// ## Expected gain
    /// None on CPython 3.11 (100,000 iterations: 13.2 ms -> 13.6 ms, within noise). On
    /// CPython 3.10.13 the same benchmark gives 1.05x (19.1 ms -> 18.2 ms).
    /// (`benchmarks/rules/PYR506.py`, CPython 3.11.7, CPU time, on the project's 2-core machine).
    pub struct TryExceptInLoop {}
}

impl Violation for TryExceptInLoop {
    const RULE: crate::codes::Rule = crate::codes::Rule::TryExceptInLoop;

    fn message(&self) -> String {
        "`try`/`except` inside a loop whose handlers all leave the loop".to_string()
    }

    fn fix(&self) -> Option<String> {
        Some("Wrap the whole loop in the `try` (matters before CPython 3.11 only)".to_string())
    }
}

pub(crate) fn check<'a>(checker: &mut Checker<'a>, body: &'a [Stmt], cost: CostRange) {
    for stmt in body {
        let Stmt::Try(stmt_try) = stmt else {
            continue;
        };
        if stmt_try.handlers.is_empty() || stmt_try.is_star {
            continue;
        }
        let all_exit = stmt_try.handlers.iter().all(|handler| {
            let ast::ExceptHandler::ExceptHandler(handler) = handler;
            handler.body.last().is_some_and(is_exit)
        });
        if !all_exit {
            continue;
        }
        let start = stmt_try.start();
        checker.report(
            TryExceptInLoop {},
            TextRange::new(start, start + TextSize::new(3)),
            Some(cost),
        );
    }
}
