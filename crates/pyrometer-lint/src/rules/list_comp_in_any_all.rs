use crate::checker::Checker;
use crate::parse::Ranged;
use crate::parse::ast::{self, Expr};
use crate::violation::{Violation, violation};

violation! {
    /// ## What it does
    /// Finds `any([...])` and `all([...])` whose only argument is a list comprehension.
    ///
    /// ## Why is this bad?
    /// The list comprehension evaluates the condition for every item and stores all results
    /// before `any`/`all` looks at the first one. With a generator expression, `any` stops at
    /// the first true item and `all` at the first false one, and no list is built.
    ///
    /// ## Example
    /// ```python
    /// def has_error(lines):
    ///     return any(["ERROR" in line for line in lines])
    /// ```
    ///
    /// Use instead:
    /// ```python
    /// def has_error(lines):
    ///     return any("ERROR" in line for line in lines)
    /// ```
    ///
    /// ## Expected gain
    /// 200x faster when the first match is the 11th of 10,000 lines (163 us -> 0.8 us);
    /// but 1.4x *slower* when nothing matches (208 us -> 297 us), since the generator
    /// then runs to the end.
    /// (`benchmarks/rules/PYR208.py`, CPython 3.11.7, CPU time, on the project's 2-core machine).
    pub struct ListCompInAnyAll {
        function: &'static str,
    }
}

impl Violation for ListCompInAnyAll {
    const RULE: crate::codes::Rule = crate::codes::Rule::ListCompInAnyAll;

    fn message(&self) -> String {
        format!(
            "List comprehension passed to `{}()` evaluates every item and cannot stop early",
            self.function
        )
    }

    fn fix(&self) -> Option<String> {
        Some(format!(
            "Drop the brackets: `{}(... for ... in ...)`",
            self.function
        ))
    }
}

pub(crate) fn check<'a>(checker: &mut Checker<'a>, call: &'a ast::ExprCall) {
    let function = match checker.builtin_name(&call.func) {
        Some("any") => "any",
        Some("all") => "all",
        _ => return,
    };
    let ([Expr::ListComp(comp)], true) =
        (&*call.arguments.args, call.arguments.keywords.is_empty())
    else {
        return;
    };
    let cost = checker.enclosing_cost();
    checker.report(ListCompInAnyAll { function }, comp.range(), cost);
}
