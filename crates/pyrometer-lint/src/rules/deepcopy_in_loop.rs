use crate::checker::Checker;
use crate::parse::Ranged;
use crate::parse::ast;
use crate::violation::{Violation, violation};

violation! {
    /// ## What it does
    /// Finds `copy.deepcopy(x)` inside a loop where `x` (a name or attribute) is the same
    /// object on every iteration: the loop does not rebind it. (Deep-copying a different item
    /// each time, as a container's `__deepcopy__` does, is not reported.)
    ///
    /// ## Why is this bad?
    /// `deepcopy` is a generic, recursive, pure-Python walk of the whole object graph with a
    /// memo dict to handle cycles: typically tens of times slower than copying the structure
    /// with a type-specific expression. Inside a loop that cost is paid on every iteration.
    /// Often only part of the object changes, or one copy made before the loop would do.
    ///
    /// ## Example
    /// ```python
    /// import copy
    ///
    /// def variants(grid, moves):
    ///     out = []
    ///     for row, col, value in moves:
    ///         g = copy.deepcopy(grid)
    ///         g[row][col] = value
    ///         out.append(g)
    ///     return out
    /// ```
    ///
    /// Use instead:
    /// ```python
    /// def variants(grid, moves):
    ///     out = []
    ///     for row, col, value in moves:
    ///         g = [r[:] for r in grid]
    ///         g[row][col] = value
    ///         out.append(g)
    ///     return out
    /// ```
    ///
    /// ## Expected gain
    /// 30x faster making 100 copies of a 20x20 int grid with `[row[:] for row in grid]`
    /// (10.2 ms -> 0.34 ms).
    /// (`benchmarks/rules/PYR403.py`, CPython 3.11.7, CPU time, on the project's 2-core machine).
    pub struct DeepcopyInLoop {}
}

impl Violation for DeepcopyInLoop {
    const RULE: crate::codes::Rule = crate::codes::Rule::DeepcopyInLoop;

    fn message(&self) -> String {
        "`copy.deepcopy` inside a loop walks the whole object graph on every iteration".to_string()
    }

    fn fix(&self) -> Option<String> {
        Some(
            "Copy only what changes with a type-specific copy (`[row[:] for row in grid]`, \
             `dict(d)`), or copy once outside the loop"
                .to_string(),
        )
    }
}

pub(crate) fn check<'a>(checker: &mut Checker<'a>, call: &'a ast::ExprCall) {
    if checker.qualified_name(&call.func).as_deref() != Some("copy.deepcopy") {
        return;
    }
    // Copying a different object each iteration (`deepcopy(item)`, as container `__deepcopy__`
    // methods do) is the work itself; copying the same object again and again is the waste.
    let Some(ctx) = checker.current_loop() else {
        return;
    };
    let Some(arg) = call.arguments.args.first() else {
        return;
    };
    let facts = ctx.facts();
    let varies = crate::analysis::helpers::expr_any(
        arg,
        |e| matches!(e, ast::Expr::Name(n) if facts.rebound.contains(n.id.as_str())),
    ) || !matches!(arg, ast::Expr::Name(_) | ast::Expr::Attribute(_));
    if varies {
        return;
    }
    let cost = Some(ctx.cost());
    checker.report(DeepcopyInLoop {}, call.range(), cost);
}
