use crate::analysis::helpers::{expr_any, expr_uses_name, target_names};
use crate::analysis::types::Ty;
use crate::checker::{Checker, CostRange};
use crate::parse::ast::{self, Expr, Stmt};
use crate::parse::{Ranged, TextRange};
use crate::rules::manual_list_comprehension::{
    element_text, is_empty_constructor, loop_clause, target_used_after,
};
use crate::violation::{Violation, violation};

violation! {
    /// ## What it does
    /// Finds `for` loops whose whole body is `d[key] = value`, optionally under a single
    /// `if condition:`, where `d` is a name bound to a plain dict in the same scope, `key`
    /// depends on the loop variable, `d` is not used in `key`, `value`, the condition or the
    /// iterable, and the loop variable is not used after the loop.
    ///
    /// ## Why is this bad?
    /// Each iteration performs a subscript store through the generic `STORE_SUBSCR` path. A
    /// dict comprehension (or `d.update(...)` with one) stores with a dedicated bytecode
    /// (`MAP_ADD`) and states the intent in one expression.
    ///
    /// ## Example
    /// ```python
    /// def index(users):
    ///     by_id = {}
    ///     for user in users:
    ///         by_id[user.id] = user
    ///     return by_id
    /// ```
    ///
    /// Use instead:
    /// ```python
    /// def index(users):
    ///     return {user.id: user for user in users}
    /// ```
    ///
    /// ## Expected gain
    /// 1.02x (2%, within noise) for 10,000 pairs (736 us -> 719 us): the gain is
    /// mostly clarity on CPython 3.11.
    /// (`benchmarks/rules/PYR203.py`, CPython 3.11.7, CPU time, on the project's 2-core machine).
    pub struct ManualDictComprehension {
        dict: String,
        suggestion: String,
    }
}

impl Violation for ManualDictComprehension {
    const RULE: crate::codes::Rule = crate::codes::Rule::ManualDictComprehension;

    fn message(&self) -> String {
        format!(
            "Loop only stores items into `{}`; a dict comprehension is faster",
            self.dict
        )
    }

    fn fix(&self) -> Option<String> {
        Some(format!("Use `{}`", self.suggestion))
    }
}

pub(crate) fn check<'a>(checker: &mut Checker<'a>, stmt: &'a ast::StmtFor) {
    if stmt.is_async || !stmt.orelse.is_empty() {
        return;
    }
    let (condition, inner) = match stmt.body.as_slice() {
        [Stmt::If(stmt_if)] if stmt_if.elif_else_clauses.is_empty() => {
            (Some(&*stmt_if.test), stmt_if.body.as_slice())
        }
        body => (None, body),
    };
    let [Stmt::Assign(assign)] = inner else {
        return;
    };
    let [Expr::Subscript(subscript)] = assign.targets.as_slice() else {
        return;
    };
    let Expr::Name(dict) = &*subscript.value else {
        return;
    };
    let dict = dict.id.as_str();
    let initialised = match checker.prev_sibling() {
        Some(Stmt::Assign(init)) => {
            matches!(init.targets.as_slice(), [Expr::Name(t)] if t.id.as_str() == dict)
                && is_empty_constructor(checker, &init.value, "dict")
        }
        _ => false,
    };
    if !(checker.ty(dict) == Ty::Dict || initialised) || matches!(&*subscript.slice, Expr::Slice(_))
    {
        return;
    }
    let key = &*subscript.slice;
    let value = &*assign.value;
    let mut targets = Vec::new();
    target_names(&stmt.target, &mut targets);
    let uses_target = |expr: &Expr| {
        expr_any(
            expr,
            |e| matches!(e, Expr::Name(n) if targets.contains(&n.id.as_str())),
        )
    };
    // The key must vary with the item (a constant key keeps only the last value).
    if !uses_target(key) {
        return;
    }
    let uses_dict = expr_uses_name(key, dict)
        || expr_uses_name(value, dict)
        || expr_uses_name(&stmt.iter, dict)
        || condition.is_some_and(|condition| expr_uses_name(condition, dict));
    if uses_dict || target_used_after(checker, stmt) {
        return;
    }
    let condition_text = condition
        .map(|condition| format!(" if {}", checker.snippet(condition, 40)))
        .unwrap_or_default();
    let comprehension = format!(
        "{{{}: {} {}{condition_text}}}",
        element_text(checker, key, 30),
        element_text(checker, value, 30),
        loop_clause(checker, stmt)
    );
    let suggestion = if initialised {
        format!("{dict} = {comprehension}")
    } else {
        format!("{dict}.update({comprehension})")
    };
    checker.report(
        ManualDictComprehension {
            dict: dict.to_string(),
            suggestion,
        },
        TextRange::new(stmt.start(), stmt.iter.end()),
        Some(CostRange::for_loop(stmt)),
    );
}
