use crate::analysis::helpers::expr_any;
use crate::checker::{Checker, CostRange};
use crate::codes::Rule;
use crate::parse::Ranged;
use crate::parse::ast::{self, CmpOp, Expr, Stmt};
use crate::violation::{Violation, violation};

violation! {
    /// ## What it does
    /// Finds hand-written exchange sorts: a loop containing a nested loop that compares two
    /// items of the same sequence with `<`, `>`, `<=` or `>=` (`a[j] > a[j + 1]`), where the
    /// outer loop swaps two items of that sequence (`a[i], a[j] = a[j], a[i]`). This covers
    /// bubble sort, selection sort, gnome-style and exchange sorts.
    ///
    /// ## Why is this bad?
    /// These sorts make O(n²) comparisons and swaps, each a handful of bytecodes. `list.sort()`
    /// and `sorted()` are O(n log n) Timsort in C, and near O(n) on already-ordered data.
    ///
    /// ## Example
    /// ```python
    /// def bubble(a):
    ///     n = len(a)
    ///     for i in range(n):
    ///         for j in range(n - i - 1):
    ///             if a[j] > a[j + 1]:
    ///                 a[j], a[j + 1] = a[j + 1], a[j]
    /// ```
    ///
    /// Use instead:
    /// ```python
    /// def bubble(a):
    ///     a.sort()
    /// ```
    ///
    /// ## Expected gain
    /// 1,087x faster sorting 1,000 random floats (bubble sort 33.3 ms -> `list.sort`
    /// 0.031 ms).
    /// (`benchmarks/rules/PYR106.py`, CPython 3.11.7, CPU time, on the project's 2-core machine).
    pub struct ExchangeSort {
        sequence: String,
    }
}

impl Violation for ExchangeSort {
    const RULE: Rule = Rule::ExchangeSort;

    fn message(&self) -> String {
        format!(
            "Hand-written exchange sort of `{}` (O(n²) comparisons and swaps)",
            self.sequence
        )
    }

    fn fix(&self) -> Option<String> {
        Some(format!(
            "Use `{0}.sort()` or `sorted({0})` (with `key=`/`reverse=` as needed)",
            self.sequence
        ))
    }
}

/// Calls `f` on each statement of `body`, descending through `if`/`with`/`try`/`match` but not
/// into loops, functions or classes; loops are passed to `f` and not entered.
fn for_each_flat<'a>(body: &'a [Stmt], f: &mut impl FnMut(&'a Stmt)) {
    for stmt in body {
        f(stmt);
        match stmt {
            Stmt::If(stmt_if) => {
                for_each_flat(&stmt_if.body, f);
                for clause in &stmt_if.elif_else_clauses {
                    for_each_flat(&clause.body, f);
                }
            }
            Stmt::With(with) => for_each_flat(&with.body, f),
            Stmt::Try(stmt_try) => {
                for_each_flat(&stmt_try.body, f);
                for handler in &stmt_try.handlers {
                    let ast::ExceptHandler::ExceptHandler(handler) = handler;
                    for_each_flat(&handler.body, f);
                }
                for_each_flat(&stmt_try.orelse, f);
                for_each_flat(&stmt_try.finalbody, f);
            }
            Stmt::Match(stmt_match) => {
                for case in &stmt_match.cases {
                    for_each_flat(&case.body, f);
                }
            }
            _ => {}
        }
    }
}

/// Like `for_each_flat`, but also enters loops (not functions or classes).
fn for_each_deep<'a>(body: &'a [Stmt], f: &mut impl FnMut(&'a Stmt)) {
    for_each_flat(body, &mut |stmt| {
        f(stmt);
        if let Stmt::For(ast::StmtFor { body, orelse, .. })
        | Stmt::While(ast::StmtWhile { body, orelse, .. }) = stmt
        {
            for_each_deep(body, f);
            for_each_deep(orelse, f);
        }
    });
}

/// The base of an ordering comparison between two items of one sequence, as source text.
fn compared_sequence<'a>(checker: &Checker<'a>, expr: &'a Expr) -> Option<&'a str> {
    let mut found = None;
    expr_any(expr, |e| {
        let Expr::Compare(compare) = e else {
            return false;
        };
        let ([op], [right]) = (&*compare.ops, &*compare.comparators) else {
            return false;
        };
        if !matches!(op, CmpOp::Lt | CmpOp::Gt | CmpOp::LtE | CmpOp::GtE) {
            return false;
        }
        let (Expr::Subscript(left), Expr::Subscript(right)) = (&*compare.left, right) else {
            return false;
        };
        let base = checker.text(&*left.value);
        if base.is_empty() || base != checker.text(&*right.value) {
            return false;
        }
        found = Some(base);
        true
    });
    found
}

/// `s[i], s[j] = s[j], s[i]`: the sequence text.
fn swapped_sequence<'a>(checker: &Checker<'a>, stmt: &'a Stmt) -> Option<&'a str> {
    let Stmt::Assign(assign) = stmt else {
        return None;
    };
    let [Expr::Tuple(target)] = assign.targets.as_slice() else {
        return None;
    };
    let Expr::Tuple(value) = &*assign.value else {
        return None;
    };
    let ([Expr::Subscript(t0), Expr::Subscript(t1)], [v0, v1]) =
        (target.elts.as_slice(), value.elts.as_slice())
    else {
        return None;
    };
    let base = checker.text(&*t0.value);
    if base.is_empty() || base != checker.text(&*t1.value) {
        return None;
    }
    (checker.text(t0) == checker.text(v1) && checker.text(t1) == checker.text(v0)).then_some(base)
}

fn exprs_of(stmt: &Stmt) -> Vec<&Expr> {
    match stmt {
        Stmt::If(stmt_if) => {
            let mut exprs = vec![&*stmt_if.test];
            exprs.extend(
                stmt_if
                    .elif_else_clauses
                    .iter()
                    .filter_map(|clause| clause.test.as_ref()),
            );
            exprs
        }
        Stmt::Assign(assign) => vec![&*assign.value],
        Stmt::AugAssign(assign) => vec![&*assign.value],
        Stmt::Expr(expr) => vec![&*expr.value],
        Stmt::While(stmt_while) => vec![&*stmt_while.test],
        _ => Vec::new(),
    }
}

pub(crate) fn check<'a>(checker: &mut Checker<'a>, body: &'a [Stmt], cost: CostRange) {
    // Sequences compared in a loop nested directly in this one.
    let mut compared: Vec<&'a str> = Vec::new();
    for_each_flat(body, &mut |stmt| {
        let (inner_test, inner_body) = match stmt {
            Stmt::For(inner) => (None, &inner.body),
            Stmt::While(inner) => (Some(&*inner.test), &inner.body),
            _ => return,
        };
        if let Some(base) = inner_test.and_then(|test| compared_sequence(checker, test)) {
            compared.push(base);
        }
        for_each_flat(inner_body, &mut |inner_stmt| {
            for expr in exprs_of(inner_stmt) {
                if let Some(base) = compared_sequence(checker, expr) {
                    compared.push(base);
                }
            }
        });
    });
    if compared.is_empty() {
        return;
    }
    let mut swaps: Vec<(&'a Stmt, &'a str)> = Vec::new();
    for_each_deep(body, &mut |stmt| {
        if let Some(base) = swapped_sequence(checker, stmt)
            && compared.contains(&base)
        {
            swaps.push((stmt, base));
        }
    });
    if let Some((swap, base)) = swaps.first()
        && checker.first_time(Rule::ExchangeSort, swap.start(), "")
    {
        checker.report(
            ExchangeSort {
                sequence: (*base).to_string(),
            },
            swap.range(),
            Some(cost),
        );
    }
}
