use crate::analysis::helpers::expr_any;
use crate::analysis::types::Ty;
use crate::checker::Checker;
use crate::parse::Ranged;
use crate::parse::ast::{self, Expr};
use crate::violation::{Violation, violation};

/// Builtins that take O(n) in their argument and return a value that is safe to reuse
/// (immutable, or a new object nobody mutates in practice).
const LINEAR_BUILTINS: &[&str] = &[
    "sorted",
    "sum",
    "min",
    "max",
    "any",
    "all",
    "tuple",
    "frozenset",
];

violation! {
    /// ## What it does
    /// Finds calls to `sorted`, `sum`, `min`, `max`, `any`, `all`, `tuple` or `frozenset` inside
    /// a loop (including comprehension conditions and `while` tests) whose single positional
    /// argument is a local name (not used by nested functions) that the loop neither rebinds
    /// nor may mutate, and whose keyword
    /// arguments (`key=`, `default=`, ...) use no name the loop changes. Calls in a block that
    /// leaves the loop (`break`, `return`, `raise`) run once and are not reported.
    ///
    /// ## Why is this bad?
    /// Each call walks the whole collection: recomputing the same result on every iteration
    /// turns an O(n) loop into O(n·m). Computing it once before the loop costs O(m) once.
    ///
    /// ## Example
    /// ```python
    /// def normalise(values):
    ///     return [v / max(values) for v in values]
    /// ```
    ///
    /// Use instead:
    /// ```python
    /// def normalise(values):
    ///     top = max(values)
    ///     return [v / top for v in values]
    /// ```
    ///
    /// ## Expected gain
    /// 607x faster normalising 2,000 values by `max(values)` computed in the loop vs
    /// once (53.6 ms -> 0.088 ms). Quadratic vs linear.
    /// (`benchmarks/rules/PYR108.py`, CPython 3.11.7, CPU time, on the project's 2-core machine).
    pub struct LoopInvariantLinearCall {
        call: String,
        arg: String,
    }
}

impl Violation for LoopInvariantLinearCall {
    const RULE: crate::codes::Rule = crate::codes::Rule::LoopInvariantLinearCall;

    fn message(&self) -> String {
        format!(
            "`{}` is recomputed on every iteration, but `{}` does not change in the loop",
            self.call, self.arg
        )
    }

    fn fix(&self) -> Option<String> {
        Some(format!("Compute `{}` once before the loop", self.call))
    }
}

pub(crate) fn check<'a>(checker: &mut Checker<'a>, expr: &'a Expr, call: &'a ast::ExprCall) {
    let Some(builtin) = checker.builtin_name(&call.func) else {
        return;
    };
    if !LINEAR_BUILTINS.contains(&builtin) {
        return;
    }
    let [Expr::Name(arg)] = &*call.arguments.args else {
        return;
    };
    let id = arg.id.as_str();
    if !checker.is_private_local(id) {
        return;
    }
    if matches!(
        checker.ty(id),
        Ty::Int | Ty::Float | Ty::Bool | Ty::NoneValue | Ty::File
    ) {
        return;
    }
    let Some(ctx) = checker.current_loop() else {
        return;
    };
    let facts = ctx.facts();
    if facts.may_change(id) {
        return;
    }
    let keywords_invariant = call.arguments.keywords.iter().all(|keyword| {
        keyword.arg.is_some()
            && !expr_any(
                &keyword.value,
                |e| matches!(e, Expr::Name(n) if facts.may_change(n.id.as_str())),
            )
    });
    if !keywords_invariant {
        return;
    }
    let cost = ctx.cost();
    checker.report(
        LoopInvariantLinearCall {
            call: checker.snippet(expr, 50),
            arg: id.to_string(),
        },
        expr.range(),
        Some(cost),
    );
}
