use crate::analysis::helpers::{expr_any, is_constant, target_names};
use crate::checker::{Checker, CostRange};
use crate::parse::ast::{self, BoolOp, CmpOp, Expr, Stmt};
use crate::parse::{Ranged, TextRange};
use crate::violation::{Violation, violation};

violation! {
    /// ## What it does
    /// Finds two nested loops (statements or comprehension clauses) that pair items of two
    /// collections by an equality test: the inner loop's body starts with
    /// `if key(outer_item) == key(inner_item):`, the inner collection does not depend on the
    /// outer item, and it is not a short literal.
    ///
    /// It stays quiet where a dict index is impossible or changes the result: a self-join of a
    /// collection with itself (which checks every pair on purpose, e.g. that `a == b` implies
    /// `hash(a) == hash(b)`); an inner collection the outer loop may mutate (it grows or is
    /// overwritten while being joined); a search loop (`for ...: if eq: break` / `else:`, a
    /// find-or-create that the index would have to follow, often over unhashable keys).
    ///
    /// ## Why is this bad?
    /// The nested loops compare every pair: O(len(a) · len(b)) equality tests, although only
    /// the equal pairs are wanted. Indexing one side by its key in a dict (or a dict of lists,
    /// for repeated keys) once makes the join O(len(a) + len(b)), like a database hash join.
    ///
    /// ## Example
    /// ```python
    /// def attach(orders, customers):
    ///     for order in orders:
    ///         for customer in customers:
    ///             if order.customer_id == customer.id:
    ///                 order.customer = customer
    /// ```
    ///
    /// Use instead:
    /// ```python
    /// def attach(orders, customers):
    ///     by_id = {customer.id: customer for customer in customers}
    ///     for order in orders:
    ///         customer = by_id.get(order.customer_id)
    ///         if customer is not None:
    ///             order.customer = customer
    /// ```
    ///
    /// ## Expected gain
    /// 143x faster joining 1,000 orders with 1,000 customers (17.2 ms -> 0.12 ms,
    /// index construction included). O(n·m) vs O(n + m).
    /// (`benchmarks/rules/PYR105.py`, CPython 3.11.7, CPU time, on the project's 2-core machine).
    pub struct NestedLoopJoin {
        outer: String,
        inner: String,
    }
}

impl Violation for NestedLoopJoin {
    const RULE: crate::codes::Rule = crate::codes::Rule::NestedLoopJoin;

    fn message(&self) -> String {
        format!(
            "Nested loops join `{}` and `{}` by equality, comparing every pair",
            self.outer, self.inner
        )
    }

    fn fix(&self) -> Option<String> {
        Some(format!(
            "Index `{}` once in a dict keyed by the join key, then look each item of `{}` up",
            self.inner, self.outer
        ))
    }
}

/// The names an expression reads (`t` and `enumerate` in `enumerate(t)`).
fn names_in(expr: &Expr) -> Vec<&str> {
    let mut names = Vec::new();
    expr_any(expr, |e| {
        if let Expr::Name(n) = e {
            names.push(n.id.as_str());
        }
        false
    });
    names
}

/// Whether a loop body leaves the loop early (`break` at its own level, not in a nested loop):
/// a search, not a join of every pair.
fn breaks(body: &[Stmt]) -> bool {
    body.iter().any(|stmt| match stmt {
        Stmt::Break(_) => true,
        Stmt::If(stmt_if) => {
            breaks(&stmt_if.body)
                || stmt_if
                    .elif_else_clauses
                    .iter()
                    .any(|clause| breaks(&clause.body))
        }
        Stmt::With(with) => breaks(&with.body),
        Stmt::Try(stmt_try) => {
            breaks(&stmt_try.body)
                || stmt_try.handlers.iter().any(|handler| {
                    let ast::ExceptHandler::ExceptHandler(handler) = handler;
                    breaks(&handler.body)
                })
                || breaks(&stmt_try.orelse)
                || breaks(&stmt_try.finalbody)
        }
        _ => false,
    })
}

fn uses_any(expr: &Expr, names: &[&str]) -> bool {
    expr_any(
        expr,
        |e| matches!(e, Expr::Name(n) if names.contains(&n.id.as_str())),
    )
}

/// Whether the collection is too small for the pairing to matter: a short literal or
/// `range(<constant>)`.
fn is_small_literal(expr: &Expr) -> bool {
    match expr {
        Expr::List(ast::ExprList { elts, .. })
        | Expr::Tuple(ast::ExprTuple { elts, .. })
        | Expr::Set(ast::ExprSet { elts, .. }) => elts.len() < 16,
        Expr::Call(call) => {
            matches!(&*call.func, Expr::Name(n) if n.id.as_str() == "range")
                && call.arguments.args.iter().all(is_constant)
        }
        Expr::StringLiteral(_) => true,
        _ => false,
    }
}

/// The `a == b` in `test` (alone or in an `and`) whose sides each depend on exactly one of the
/// two loops' targets.
fn join_condition<'e>(test: &'e Expr, outer: &[&str], inner: &[&str]) -> Option<&'e Expr> {
    match test {
        Expr::Compare(compare) => {
            let ([CmpOp::Eq], [right]) = (&*compare.ops, &*compare.comparators) else {
                return None;
            };
            let left = &*compare.left;
            let one_sided = |side: &Expr, mine: &[&str], theirs: &[&str]| {
                uses_any(side, mine) && !uses_any(side, theirs)
            };
            let joins = (one_sided(left, outer, inner) && one_sided(right, inner, outer))
                || (one_sided(left, inner, outer) && one_sided(right, outer, inner));
            joins.then_some(test)
        }
        Expr::BoolOp(boolop) if boolop.op == BoolOp::And => boolop
            .values
            .iter()
            .find_map(|value| join_condition(value, outer, inner)),
        _ => None,
    }
}

pub(crate) fn check_for<'a>(checker: &mut Checker<'a>, outer: &'a ast::StmtFor) {
    let mut outer_names = Vec::new();
    target_names(&outer.target, &mut outer_names);
    if outer_names.is_empty() {
        return;
    }
    for stmt in &outer.body {
        let Stmt::For(inner) = stmt else {
            continue;
        };
        if uses_any(&inner.iter, &outer_names)
            || is_small_literal(&inner.iter)
            || checker.text(&*inner.iter) == checker.text(&*outer.iter)
            || !inner.orelse.is_empty()
            || breaks(&inner.body)
        {
            continue;
        }
        let facts = crate::analysis::facts::LoopFacts::for_loop(outer);
        if names_in(&inner.iter)
            .iter()
            .any(|name| facts.may_change(name))
        {
            continue;
        }
        let mut inner_names = Vec::new();
        target_names(&inner.target, &mut inner_names);
        let Some(Stmt::If(stmt_if)) = inner.body.first() else {
            continue;
        };
        let Some(condition) = join_condition(&stmt_if.test, &outer_names, &inner_names) else {
            continue;
        };

        report(
            checker,
            &outer.iter,
            &inner.iter,
            condition.range(),
            CostRange::for_loop(outer),
        );
    }
}

pub(crate) fn check_comprehension<'a>(checker: &mut Checker<'a>, expr: &'a Expr) {
    let (generators, _) = crate::checker::comprehension_parts(expr);
    let mut earlier: Vec<(&[&str], &Expr)> = Vec::new();
    let mut names_per_generator: Vec<Vec<&str>> = Vec::with_capacity(generators.len());
    for generator in generators {
        let mut names = Vec::new();
        target_names(&generator.target, &mut names);
        names_per_generator.push(names);
    }
    for (index, generator) in generators.iter().enumerate() {
        let names = &names_per_generator[index];
        if index > 0 {
            let depends = earlier
                .iter()
                .any(|(prev, _)| uses_any(&generator.iter, prev));
            if !depends && !is_small_literal(&generator.iter) {
                for condition in &generator.ifs {
                    for (prev, prev_iter) in &earlier {
                        if checker.text(*prev_iter) == checker.text(&generator.iter) {
                            continue;
                        }
                        if let Some(found) = join_condition(condition, prev, names) {
                            report(
                                checker,
                                prev_iter,
                                &generator.iter,
                                found.range(),
                                CostRange::comprehension(expr),
                            );
                            return;
                        }
                    }
                }
            }
        }
        earlier.push((names, &generator.iter));
    }
}

fn report(
    checker: &mut Checker<'_>,
    outer_iter: &Expr,
    inner_iter: &Expr,
    range: TextRange,
    cost: CostRange,
) {
    checker.report(
        NestedLoopJoin {
            outer: checker.snippet(outer_iter, 30),
            inner: checker.snippet(inner_iter, 30),
        },
        range,
        Some(cost),
    );
}
