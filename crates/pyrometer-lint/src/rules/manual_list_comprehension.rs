use crate::analysis::helpers::{expr_uses_name, method_call, single_arg};
use crate::analysis::types::Ty;
use crate::checker::{Checker, CostRange};
use crate::parse::ast::{self, Expr, Stmt};
use crate::parse::{Ranged, TextRange};
use crate::violation::{Violation, violation};

violation! {
    /// ## What it does
    /// Finds `for` (and `async for`) loops whose whole body is `result.append(value)`,
    /// optionally under a single `if condition:`, where `result` is assigned `[]` right before
    /// the loop and is not
    /// used in `value`, `condition` or the iterable, and the loop variable is not used after the
    /// loop (a comprehension's variable does not leak). (A plain copy, appending the loop
    /// variable unchanged with no condition, is PYR202.) A list that already has items is not
    /// reported: `result.extend([...])` builds a temporary list and was measured no faster
    /// than the loop at any size.
    ///
    /// ## Why is this bad?
    /// Each iteration looks up and calls the `append` method. A list comprehension builds the
    /// list with a dedicated bytecode (`LIST_APPEND`) and no method call, and states the intent
    /// in one expression.
    ///
    /// ## Example
    /// ```python
    /// def squares(values):
    ///     result = []
    ///     for v in values:
    ///         if v % 2:
    ///             result.append(v * v)
    ///     return result
    /// ```
    ///
    /// Use instead:
    /// ```python
    /// def squares(values):
    ///     return [v * v for v in values if v % 2]
    /// ```
    ///
    /// ## Expected gain
    /// 1.08x faster (8%) for a filter + transform over 10,000 items (356 us -> 330 us).
    /// A micro-optimisation, as ruff's PERF401 says too: on CPython 3.11 a comprehension
    /// creates a function and a frame, so it is *slower* below about 10-30 items
    /// (0.23 us -> 0.32 us for 3 items, 0.53 us -> 0.62 us for 10; 4.60 us -> 4.46 us for 100),
    /// and `existing.extend([...])` was slower than the loop at 3-100 items (0.24 us -> 0.41 us
    /// for 3), even at 1,000 (43.0 us -> 42.0 us); medians of 11-15 runs in the stdlib review.
    /// (`benchmarks/rules/PYR201.py`, CPython 3.11.7, CPU time, on the project's 2-core machine).
    pub struct ManualListComprehension {
        list: String,
        suggestion: String,
    }
}

impl Violation for ManualListComprehension {
    const RULE: crate::codes::Rule = crate::codes::Rule::ManualListComprehension;

    fn message(&self) -> String {
        format!(
            "Loop only appends to `{}`; a list comprehension says so in one expression (faster \
             only on long loops)",
            self.list
        )
    }

    fn fix(&self) -> Option<String> {
        Some(format!("Use `{}`", self.suggestion))
    }
}

/// The shape `[if cond:] receiver.append(value)` as a loop's entire body.
pub(crate) struct AppendLoop<'a> {
    pub(crate) condition: Option<&'a Expr>,
    pub(crate) receiver: &'a str,
    pub(crate) value: &'a Expr,
}

pub(crate) fn append_loop(stmt: &ast::StmtFor) -> Option<AppendLoop<'_>> {
    if !stmt.orelse.is_empty() {
        return None;
    }
    let (condition, inner) = match stmt.body.as_slice() {
        [Stmt::If(stmt_if)] if stmt_if.elif_else_clauses.is_empty() => {
            (Some(&*stmt_if.test), stmt_if.body.as_slice())
        }
        body => (None, body),
    };
    let [Stmt::Expr(expr)] = inner else {
        return None;
    };
    let (receiver, method, call) = method_call(&expr.value)?;
    let Expr::Name(receiver) = receiver else {
        return None;
    };
    if method != "append" {
        return None;
    }
    let value = single_arg(call)?;
    Some(AppendLoop {
        condition,
        receiver: receiver.id.as_str(),
        value,
    })
}

/// Whether `name` is a list where the loop starts: its bindings in the scope all make a list,
/// or the statement right before the loop assigns it an empty list.
pub(crate) fn is_list_here(checker: &Checker<'_>, name: &str) -> bool {
    checker.ty(name) == Ty::List || initialised_empty_before(checker, name)
}

/// Whether the statement before the loop is `name = []`.
pub(crate) fn initialised_empty_before(checker: &Checker<'_>, name: &str) -> bool {
    match checker.prev_sibling() {
        Some(Stmt::Assign(assign)) => {
            matches!(assign.targets.as_slice(), [Expr::Name(target)] if target.id.as_str() == name)
                && is_empty_constructor(checker, &assign.value, "list")
        }
        _ => false,
    }
}

/// `[]`/`list()` (or `{}`/`dict()` for `"dict"`).
pub(crate) fn is_empty_constructor(checker: &Checker<'_>, value: &Expr, kind: &str) -> bool {
    match value {
        Expr::List(list) => kind == "list" && list.elts.is_empty(),
        Expr::Dict(dict) => kind == "dict" && dict.items.is_empty(),
        Expr::Call(call) => checker.is_builtin(&call.func, kind) && call.arguments.is_empty(),
        _ => false,
    }
}

/// Whether a name bound by the loop's target is read after the loop, anywhere in the code that
/// may run after it in the function (a comprehension's variables do not leak, so the rewrite
/// would change that code).
pub(crate) fn target_used_after(checker: &Checker<'_>, stmt: &ast::StmtFor) -> bool {
    let mut names = Vec::new();
    crate::analysis::helpers::target_names(&stmt.target, &mut names);
    let after = checker.statements_after();
    names
        .iter()
        .any(|name| crate::analysis::helpers::reads_before_rebinding_in(&after, name))
}

/// Source text of an expression for use inside a comprehension: bare tuples get parentheses.
pub(crate) fn element_text(checker: &Checker<'_>, expr: &Expr, max: usize) -> String {
    let text = checker.snippet(expr, max);
    match expr {
        Expr::Tuple(tuple) if !tuple.parenthesized => format!("({text})"),
        _ => text,
    }
}

/// `target in iter` as source text.
pub(crate) fn loop_clause(checker: &Checker<'_>, stmt: &ast::StmtFor) -> String {
    format!(
        "{}for {} in {}",
        if stmt.is_async { "async " } else { "" },
        checker.snippet(&*stmt.target, 30),
        checker.snippet(&*stmt.iter, 40)
    )
}

pub(crate) fn check<'a>(checker: &mut Checker<'a>, stmt: &'a ast::StmtFor) {
    let Some(shape) = append_loop(stmt) else {
        return;
    };
    let is_plain_copy =
        shape.condition.is_none() && checker.text(shape.value) == checker.text(&*stmt.target);
    if is_plain_copy {
        return;
    }
    // Only a fresh list: `existing.extend([...])` is not faster than the loop.
    if !initialised_empty_before(checker, shape.receiver) || target_used_after(checker, stmt) {
        return;
    }
    let uses_list = expr_uses_name(shape.value, shape.receiver)
        || expr_uses_name(&stmt.iter, shape.receiver)
        || shape
            .condition
            .is_some_and(|condition| expr_uses_name(condition, shape.receiver));
    if uses_list {
        return;
    }
    let condition = shape
        .condition
        .map(|condition| format!(" if {}", checker.snippet(condition, 40)))
        .unwrap_or_default();
    let comprehension = format!(
        "[{} {}{condition}]",
        element_text(checker, shape.value, 40),
        loop_clause(checker, stmt)
    );
    let suggestion = format!("{} = {comprehension}", shape.receiver);
    let range = TextRange::new(stmt.start(), stmt.iter.end());
    checker.report(
        ManualListComprehension {
            list: shape.receiver.to_string(),
            suggestion,
        },
        range,
        Some(CostRange::for_loop(stmt)),
    );
}
