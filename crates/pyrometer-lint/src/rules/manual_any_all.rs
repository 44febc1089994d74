use crate::checker::{Checker, CostRange};
use crate::parse::ast::{self, Expr, Stmt};
use crate::parse::{Ranged, TextRange};
use crate::rules::manual_list_comprehension::loop_clause;
use crate::violation::{Violation, violation};

violation! {
    /// ## What it does
    /// Finds `for` loops whose whole body is `if condition: return True` (or `False`),
    /// immediately followed by `return False` (or `True`): a hand-written `any` (or `all`).
    ///
    /// ## Why is this bad?
    /// It is not, for speed, on CPython 3.11: the generator expression that `any(...)` needs
    /// resumes a frame per item, which costs about as much as the loop's own bytecodes (see the
    /// measured gain). The rewrite is shorter and says what it means, and it is faster when the
    /// predicate is a C function (`any(map(str.isdigit, items))`). The rule is off by default
    /// because this is a readability rule, not a performance one.
    ///
    /// ## Example
    /// ```python
    /// def has_negative(values):
    ///     for v in values:
    ///         if v < 0:
    ///             return True
    ///     return False
    /// ```
    ///
    /// Use instead:
    /// ```python
    /// def has_negative(values):
    ///     return any(v < 0 for v in values)
    /// ```
    ///
    /// ## Expected gain
    /// None: `any(generator)` is 2.2x *slower* than the loop over 10,000 items
    /// (143 us -> 319 us), and 2.7x slower with `any(map(...))` (143 us -> 378 us). Off by
    /// default; enable it for readability only.
    /// (`benchmarks/rules/PYR206.py`, CPython 3.11.7, CPU time, on the project's 2-core machine).
    pub struct ManualAnyAll {
        function: &'static str,
        suggestion: String,
    }
}

impl Violation for ManualAnyAll {
    const RULE: crate::codes::Rule = crate::codes::Rule::ManualAnyAll;

    fn message(&self) -> String {
        format!("Loop computes `{}` by hand", self.function)
    }

    fn fix(&self) -> Option<String> {
        Some(format!("Use `{}`", self.suggestion))
    }
}

fn returned_bool(stmt: &Stmt) -> Option<bool> {
    match stmt {
        Stmt::Return(ret) => match ret.value.as_deref() {
            Some(Expr::BooleanLiteral(value)) => Some(value.value),
            _ => None,
        },
        _ => None,
    }
}

pub(crate) fn check<'a>(checker: &mut Checker<'a>, stmt: &'a ast::StmtFor) {
    if stmt.is_async || !stmt.orelse.is_empty() {
        return;
    }
    let [Stmt::If(stmt_if)] = stmt.body.as_slice() else {
        return;
    };
    if !stmt_if.elif_else_clauses.is_empty() {
        return;
    }
    let [inner] = stmt_if.body.as_slice() else {
        return;
    };
    let Some(inside) = returned_bool(inner) else {
        return;
    };
    let Some(after) = checker.following_siblings().first().and_then(returned_bool) else {
        return;
    };
    if inside == after {
        return;
    }
    let condition = checker.snippet(&*stmt_if.test, 40);
    let clause = loop_clause(checker, stmt);
    let (function, suggestion) = if inside {
        ("any", format!("return any({condition} {clause})"))
    } else {
        let negated = match &*stmt_if.test {
            Expr::UnaryOp(unary) if unary.op == ast::UnaryOp::Not => {
                checker.snippet(&*unary.operand, 40)
            }
            _ => format!("not ({condition})"),
        };
        ("all", format!("return all({negated} {clause})"))
    };
    checker.report(
        ManualAnyAll {
            function,
            suggestion,
        },
        TextRange::new(stmt.start(), stmt.iter.end()),
        Some(CostRange::for_loop(stmt)),
    );
}
