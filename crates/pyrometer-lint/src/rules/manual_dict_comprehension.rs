use crate::analysis::helpers::{expr_any, expr_uses_name, target_names};
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
    /// `if condition:`, where `d` is assigned an empty dict right before the loop, `key`
    /// depends on the loop variable, `d` is not used in `key`, `value`, the condition or the
    /// iterable, and the loop variable is not used after the loop.
    ///
    /// ## Why is this bad?
    /// Each iteration performs a subscript store through the generic `STORE_SUBSCR` path. A
    /// dict comprehension stores with a dedicated bytecode (`MAP_ADD`) and states the intent
    /// in one expression. On CPython 3.11 that is a matter of clarity, not speed (see below),
    /// so the rule is off by default. A dict that already has items is not reported:
    /// `d.update({...})` builds a temporary dict and was measured slower than the loop.
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
    /// clarity on CPython 3.11. Below about 30 items the comprehension is *slower*
    /// (0.21 us -> 0.34 us for 3 items, 0.49 us -> 0.60 us for 10, 4.46 us -> 4.27 us for 100),
    /// and `d.update({...})` was slower than the loop at every size from 3 to 1,000 items
    /// (0.20 us -> 0.87 us for 3, 43.7 us -> 44.6 us for 1,000); medians of 11-15 runs in the
    /// stdlib review.
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
            "Loop only stores items into `{}`; a dict comprehension says so in one expression \
             (no faster on CPython 3.11)",
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
    // Only a fresh dict: `d.update({...})` is slower than the loop.
    if !initialised || matches!(&*subscript.slice, Expr::Slice(_)) {
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
    let suggestion = format!("{dict} = {comprehension}");
    checker.report(
        ManualDictComprehension {
            dict: dict.to_string(),
            suggestion,
        },
        TextRange::new(stmt.start(), stmt.iter.end()),
        Some(CostRange::for_loop(stmt)),
    );
}
