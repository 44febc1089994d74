use crate::analysis::types::Ty;
use crate::checker::Checker;
use crate::parse::Ranged;
use crate::parse::ast::{self, Expr, Operator};
use crate::violation::{Violation, violation};

violation! {
    /// ## What it does
    /// Finds lists grown by `x = x + other` (or `x = other + x`) inside a loop, where `x` is
    /// known to be a list or `other` is a list display or comprehension; and `sum(lists, [])`
    /// anywhere, except over a display of fewer than 8 lists (a fixed number of copies).
    /// A prepend (`x = other + x`) has no in-place form; its fix says so.
    ///
    /// ## Why is this bad?
    /// `x + other` builds a new list and copies both operands, so growing a list this way in a
    /// loop is O(n²). `x += other`, `x.extend(other)` and `x.append(item)` extend in place in
    /// amortised O(len(other)). `sum(lists, [])` concatenates pairwise the same way.
    ///
    /// ## Example
    /// ```python
    /// def flatten(groups):
    ///     out = []
    ///     for group in groups:
    ///         out = out + group
    ///     return out
    /// ```
    ///
    /// Use instead:
    /// ```python
    /// def flatten(groups):
    ///     out = []
    ///     for group in groups:
    ///         out.extend(group)
    ///     return out
    /// ```
    ///
    /// ## Expected gain
    /// 656x faster growing a list from 5,000 groups of 3 with `x = x + group` vs `+=`
    /// (94.9 ms -> 0.14 ms); 251x for `sum(lists, [])` vs `itertools.chain` on 5,000 lists
    /// of 3 (64.2 ms -> 0.26 ms). Quadratic: the ratio grows with the size.
    /// (`benchmarks/rules/PYR104.py`, CPython 3.11.7, CPU time, on the project's 2-core machine).
    pub struct QuadraticListConcat {
        target: String,
        sum_call: bool,
        /// `x = other + x`: there is no in-place prepend.
        prepend: bool,
    }
}

impl Violation for QuadraticListConcat {
    const RULE: crate::codes::Rule = crate::codes::Rule::QuadraticListConcat;

    fn message(&self) -> String {
        if self.sum_call {
            "`sum(..., [])` concatenates lists pairwise (quadratic)".to_string()
        } else if self.prepend {
            format!(
                "List `{}` is rebuilt by prepending with `+` in a loop, copying it every time",
                self.target
            )
        } else {
            format!(
                "List `{}` is rebuilt by `+` in a loop, copying it every time",
                self.target
            )
        }
    }

    fn fix(&self) -> Option<String> {
        Some(if self.sum_call {
            "Use `list(itertools.chain.from_iterable(...))` or a loop with `.extend()`".to_string()
        } else if self.prepend {
            // `x += other` would append, reversing the order.
            format!(
                "Collect the parts in a list and concatenate them once, in reverse order, after \
                 the loop; or make `{}` a `collections.deque` and use \
                 `.extendleft(reversed(...))` if nothing else needs a list",
                self.target
            )
        } else {
            format!(
                "Extend in place: `{0} += ...`, `{0}.extend(...)` or `{0}.append(...)`",
                self.target
            )
        })
    }
}

fn is_list_display(expr: &Expr) -> bool {
    matches!(expr, Expr::List(_) | Expr::ListComp(_))
}

/// `x = x + other` in a loop.
pub(crate) fn check_assign<'a>(checker: &mut Checker<'a>, assign: &'a ast::StmtAssign) {
    let [target] = assign.targets.as_slice() else {
        return;
    };
    let Expr::BinOp(binop) = &*assign.value else {
        return;
    };
    if binop.op != Operator::Add {
        return;
    }
    let target_text = checker.text(target);
    let (other, prepend) = if checker.text(&*binop.left) == target_text {
        (&*binop.right, false)
    } else if checker.text(&*binop.right) == target_text {
        (&*binop.left, true)
    } else {
        return;
    };
    if let Expr::Name(name) = target
        && checker.reset_in_iteration(name.id.as_str())
    {
        return;
    }
    let is_list = match target {
        Expr::Name(name) => match checker.ty(name.id.as_str()) {
            Ty::List => true,
            Ty::Unknown => is_list_display(other),
            _ => false,
        },
        Expr::Attribute(_) | Expr::Subscript(_) => is_list_display(other),
        _ => false,
    };
    if !is_list {
        return;
    }
    let cost = checker.current_loop().map(|ctx| ctx.cost());
    checker.report(
        QuadraticListConcat {
            target: checker.snippet(target, 40),
            sum_call: false,
            prepend,
        },
        assign.range,
        cost,
    );
}

/// `sum(lists, [])`, `sum(lists, start=[])`.
pub(crate) fn check_sum<'a>(checker: &mut Checker<'a>, expr: &'a Expr, call: &'a ast::ExprCall) {
    if !checker.is_builtin(&call.func, "sum") {
        return;
    }
    let start = match (&*call.arguments.args, call.arguments.keywords.as_slice()) {
        ([_, start], []) => start,
        ([_], [keyword])
            if keyword
                .arg
                .as_ref()
                .is_some_and(|arg| arg.as_str() == "start") =>
        {
            &keyword.value
        }
        _ => return,
    };
    if !matches!(start, Expr::List(list) if list.elts.is_empty()) {
        return;
    }
    // `sum([a, b, c], [])` over a short display makes a fixed, small number of copies.
    if call.arguments.args.first().is_some_and(|lists| {
        crate::analysis::helpers::is_short_iteration(lists)
            && !matches!(lists, Expr::List(ast::ExprList { elts, .. }) | Expr::Tuple(ast::ExprTuple { elts, .. }) if elts.iter().any(Expr::is_starred_expr))
    }) {
        return;
    }
    let cost = checker.enclosing_cost();
    checker.report(
        QuadraticListConcat {
            target: String::new(),
            sum_call: true,
            prepend: false,
        },
        expr.range(),
        cost,
    );
}
