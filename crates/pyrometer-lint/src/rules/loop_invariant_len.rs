use crate::checker::Checker;
use crate::codes::Rule;
use crate::parse::Ranged;
use crate::parse::ast::{self, Expr};
use crate::violation::{Violation, violation};

violation! {
    /// ## What it does
    /// Finds `len(x)` inside a loop (body, `while` test or comprehension clause) where `x` is
    /// a local name (not used by nested functions) that the loop neither rebinds nor may
    /// mutate; once per loop and name.
    ///
    /// ## Why is this bad?
    /// The length cannot change, yet each iteration pays for a builtin lookup and a call.
    /// `len` itself is O(1), so the gain is small (see the measured gain) and the rule is off
    /// by default; it matters in tight `while i < len(x):` loops.
    ///
    /// ## Example
    /// ```python
    /// def count_pairs(data):
    ///     i = 0
    ///     pairs = 0
    ///     while i < len(data) - 1:
    ///         pairs += data[i] == data[i + 1]
    ///         i += 1
    ///     return pairs
    /// ```
    ///
    /// Use instead:
    /// ```python
    /// def count_pairs(data):
    ///     i = 0
    ///     pairs = 0
    ///     n = len(data)
    ///     while i < n - 1:
    ///         pairs += data[i] == data[i + 1]
    ///         i += 1
    ///     return pairs
    /// ```
    ///
    /// ## Expected gain
    /// 1.33x faster for a 100,000-iteration `while i < len(data) - 1` loop
    /// (18.7 ms -> 14.1 ms).
    /// (`benchmarks/rules/PYR503.py`, CPython 3.11.7, CPU time, on the project's 2-core machine).
    pub struct LoopInvariantLen {
        name: String,
    }
}

impl Violation for LoopInvariantLen {
    const RULE: crate::codes::Rule = crate::codes::Rule::LoopInvariantLen;

    fn message(&self) -> String {
        format!(
            "`len({})` is recomputed on every iteration, but `{}` does not change in the loop",
            self.name, self.name
        )
    }

    fn fix(&self) -> Option<String> {
        Some(format!(
            "Compute `n = len({})` once before the loop",
            self.name
        ))
    }
}

pub(crate) fn check<'a>(checker: &mut Checker<'a>, call: &'a ast::ExprCall) {
    if !checker.is_builtin(&call.func, "len") {
        return;
    }
    let ([Expr::Name(arg)], true) = (&*call.arguments.args, call.arguments.keywords.is_empty())
    else {
        return;
    };
    let id = arg.id.as_str();
    if !checker.is_private_local(id) {
        return;
    }
    let Some(ctx) = checker.current_loop() else {
        return;
    };
    if ctx.facts().may_change(id) {
        return;
    }
    let (anchor, cost) = (ctx.start(), ctx.cost());
    if !checker.first_time(Rule::LoopInvariantLen, anchor, id) {
        return;
    }
    checker.report(
        LoopInvariantLen {
            name: id.to_string(),
        },
        call.range(),
        Some(cost),
    );
}
