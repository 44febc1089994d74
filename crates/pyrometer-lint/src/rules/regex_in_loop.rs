use crate::checker::Checker;
use crate::parse::Ranged;
use crate::parse::ast::{self, Expr};
use crate::violation::{Violation, violation};

/// `re` functions that take the pattern first.
const RE_FUNCTIONS: &[&str] = &[
    "compile",
    "match",
    "search",
    "fullmatch",
    "findall",
    "finditer",
    "sub",
    "subn",
    "split",
];

violation! {
    /// ## What it does
    /// Finds `re.compile(...)`, `re.search(...)`, `re.match(...)`, `re.sub(...)` and the other
    /// `re` functions that take a pattern, called inside a loop with a constant (string or
    /// bytes literal) pattern.
    ///
    /// ## Why is this bad?
    /// Each call looks the pattern and flags up in `re`'s internal cache (hashing the pattern
    /// string and going through several Python-level function calls) before matching; if more
    /// distinct patterns are in use than the cache holds, it recompiles. A pattern compiled once
    /// outside the loop (often a module-level constant) skips all of that.
    ///
    /// ## Example
    /// ```python
    /// import re
    ///
    /// def numbers(lines):
    ///     return [m.group() for line in lines if (m := re.search(r"\d+", line))]
    /// ```
    ///
    /// Use instead:
    /// ```python
    /// import re
    ///
    /// NUMBER = re.compile(r"\d+")
    ///
    /// def numbers(lines):
    ///     return [m.group() for line in lines if (m := NUMBER.search(line))]
    /// ```
    ///
    /// ## Expected gain
    /// 2.2x faster searching 10,000 short lines (7.76 ms -> 3.55 ms).
    /// (`benchmarks/rules/PYR402.py`, CPython 3.11.7, CPU time, on the project's 2-core machine).
    pub struct RegexInLoop {
        function: String,
    }
}

impl Violation for RegexInLoop {
    const RULE: crate::codes::Rule = crate::codes::Rule::RegexInLoop;

    fn message(&self) -> String {
        format!(
            "`re.{}` with a constant pattern inside a loop looks the pattern up on every \
             iteration",
            self.function
        )
    }

    fn fix(&self) -> Option<String> {
        Some(
            "Compile the pattern once outside the loop (`PATTERN = re.compile(...)`) and call \
             its methods"
                .to_string(),
        )
    }
}

pub(crate) fn check<'a>(checker: &mut Checker<'a>, call: &'a ast::ExprCall) {
    let Some(qualified) = checker.qualified_name(&call.func) else {
        return;
    };
    let Some(function) = qualified.strip_prefix("re.") else {
        return;
    };
    if !RE_FUNCTIONS.contains(&function) {
        return;
    }
    let pattern = call.arguments.find_argument_value("pattern", 0);
    if !matches!(
        pattern,
        Some(Expr::StringLiteral(_) | Expr::BytesLiteral(_))
    ) {
        return;
    }
    let cost = checker.current_loop().map(|ctx| ctx.cost());
    checker.report(
        RegexInLoop {
            function: function.to_string(),
        },
        call.range(),
        cost,
    );
}
