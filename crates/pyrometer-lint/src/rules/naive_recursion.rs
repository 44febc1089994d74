use crate::analysis::helpers::{body_any, is_constant, stmts_any};
use crate::checker::{Checker, CostRange};
use crate::parse::Ranged;
use crate::parse::ast::{self, Expr, Operator, Stmt};
use crate::violation::{Violation, violation};

violation! {
    /// ## What it does
    /// Finds recursive functions with overlapping subproblems and no memo: a function that
    /// calls itself at least twice in the same straight-line block (not in exclusive branches
    /// of an `if`), where every recursive call passes its parameters either
    /// unchanged (in the same position) or shifted by a constant (`n - 1`, `i + 1`, `n // 2`),
    /// at least one shifted; that returns a value; and that has no side-effect statements
    /// (bare calls), no `yield`, no subscript or attribute stores, no `global`/`nonlocal`, no
    /// parameter with a default (a memo dict is often passed that way), no name mentioning
    /// "memo" or "cache", and no caching decorator.
    ///
    /// ## Why is this bad?
    /// Calls such as `f(n - 1) + f(n - 2)` recompute the same subproblems again and again: the
    /// number of calls grows exponentially with `n` (about 1.6ⁿ for Fibonacci), although there
    /// are only n distinct subproblems. A memo (`functools.cache`) or a bottom-up loop makes it
    /// linear in the number of subproblems.
    ///
    /// ## Example
    /// ```python
    /// def fib(n):
    ///     if n < 2:
    ///         return n
    ///     return fib(n - 1) + fib(n - 2)
    /// ```
    ///
    /// Use instead:
    /// ```python
    /// import functools
    ///
    /// @functools.cache
    /// def fib(n):
    ///     if n < 2:
    ///         return n
    ///     return fib(n - 1) + fib(n - 2)
    /// ```
    ///
    /// ## Expected gain
    /// 1,206x faster for `fib(25)` with a fresh cache per call (11.5 ms -> 9.5 us).
    /// Exponential vs linear: the ratio explodes with `n`.
    /// (`benchmarks/rules/PYR107.py`, CPython 3.11.7, CPU time, on the project's 2-core machine).
    pub struct NaiveRecursion {
        function: String,
        calls: usize,
    }
}

impl Violation for NaiveRecursion {
    const RULE: crate::codes::Rule = crate::codes::Rule::NaiveRecursion;

    fn message(&self) -> String {
        format!(
            "`{}` makes {} recursive calls on overlapping subproblems without a memo \
             (exponential time)",
            self.function, self.calls
        )
    }

    fn fix(&self) -> Option<String> {
        Some(
            "Decorate it with `@functools.cache` (arguments must be hashable) or compute it \
             bottom-up in a loop"
                .to_string(),
        )
    }
}

/// Whether a recursive call's argument at `position` is the parameter at that position
/// (`Some(false)`), that parameter shifted by a constant (`Some(true)`), or anything else.
fn classify_arg(arg: &Expr, position: usize, params: &[&str]) -> Option<bool> {
    let param = |expr: &Expr| match expr {
        Expr::Name(name) => params.iter().position(|p| *p == name.id.as_str()),
        _ => None,
    };
    match arg {
        Expr::Name(_) => (param(arg) == Some(position)).then_some(false),
        Expr::BinOp(binop)
            if matches!(
                binop.op,
                Operator::Sub | Operator::Add | Operator::FloorDiv | Operator::RShift
            ) =>
        {
            (param(&binop.left) == Some(position) && is_constant(&binop.right)).then_some(true)
        }
        _ => None,
    }
}

pub(crate) fn check<'a>(checker: &mut Checker<'a>, function: &'a ast::StmtFunctionDef) {
    let name = function.name.as_str();
    if !function.decorator_list.is_empty() {
        // Any decorator may memoize (`cache`, `lru_cache`, project-specific ones) or change
        // what the name refers to.
        return;
    }
    let parameters = &function.parameters;
    if parameters.vararg.is_some() || parameters.kwarg.is_some() {
        return;
    }
    let all: Vec<&ast::ParameterWithDefault> = parameters
        .posonlyargs
        .iter()
        .chain(&parameters.args)
        .collect();
    if all.is_empty()
        || all.iter().any(|p| p.default.is_some())
        || !parameters.kwonlyargs.is_empty()
    {
        return;
    }
    let params: Vec<&str> = all.iter().map(|p| p.parameter.name.as_str()).collect();
    let is_method = checker.in_class_body();
    // For methods, recursive calls are `self.name(...)` and `self` is not an argument.
    let (receiver, params) = if is_method {
        match params.split_first() {
            Some((first, rest)) if !rest.is_empty() => (Some(*first), rest.to_vec()),
            _ => return,
        }
    } else {
        (None, params)
    };

    // Side effects or an explicit memo disqualify the function.
    let body = &function.body;
    let mut has_return_value = false;
    let disqualified = stmts_any(body, &mut |stmt| match stmt {
        Stmt::Return(ret) => {
            has_return_value |= ret.value.is_some();
            false
        }
        Stmt::Expr(expr) => !matches!(*expr.value, Expr::StringLiteral(_)),
        Stmt::Global(_) | Stmt::Nonlocal(_) | Stmt::Delete(_) => true,
        Stmt::Assign(assign) => assign
            .targets
            .iter()
            .any(|t| matches!(t, Expr::Subscript(_) | Expr::Attribute(_))),
        Stmt::AugAssign(assign) => {
            matches!(*assign.target, Expr::Subscript(_) | Expr::Attribute(_))
        }
        _ => false,
    });
    if disqualified || !has_return_value {
        return;
    }
    let mentions_memo = body_any(body, false, |e| match e {
        Expr::Name(n) => {
            let id = n.id.as_str().to_ascii_lowercase();
            id.contains("memo") || id.contains("cache")
        }
        Expr::Yield(_) | Expr::YieldFrom(_) | Expr::Await(_) => true,
        _ => false,
    });
    if mentions_memo {
        return;
    }

    let is_self_call = |call: &ast::ExprCall| match (&*call.func, receiver) {
        (Expr::Name(func), None) => func.id.as_str() == name,
        (Expr::Attribute(attr), Some(receiver)) => {
            attr.attr.as_str() == name
                && matches!(&*attr.value, Expr::Name(n) if n.id.as_str() == receiver)
        }
        _ => false,
    };
    // Every recursive call must have the "same or shifted parameters" shape.
    let bad_call = body_any(body, false, |e| {
        let Expr::Call(call) = e else {
            return false;
        };
        if !is_self_call(call) {
            return false;
        }
        let args = &call.arguments.args;
        if !call.arguments.keywords.is_empty() || args.len() != params.len() {
            return true;
        }
        let shifts: Option<Vec<bool>> = args
            .iter()
            .enumerate()
            .map(|(position, arg)| classify_arg(arg, position, &params))
            .collect();
        !shifts.is_some_and(|shifts| shifts.iter().any(|shifted| *shifted))
    });
    if bad_call {
        return;
    }
    // At least two recursive calls must run in the same invocation: count them per block of
    // straight-line code (calls in different branches of an `if` do not multiply).
    let calls = max_calls_per_block(body, &|call| is_self_call(call));
    if calls < 2 {
        return;
    }
    checker.report(
        NaiveRecursion {
            function: name.to_string(),
            calls,
        },
        function.name.range(),
        Some(CostRange::function(function)),
    );
}

/// The largest number of matching calls in one block's own statements (not counting nested
/// blocks, which are measured separately).
fn max_calls_per_block(body: &[Stmt], is_match: &dyn Fn(&ast::ExprCall) -> bool) -> usize {
    let mut here = 0usize;
    let mut nested = 0usize;
    let count = |expr: &Expr| {
        let mut n = 0usize;
        crate::analysis::helpers::expr_any(expr, |e| {
            if let Expr::Call(call) = e
                && is_match(call)
            {
                n += 1;
            }
            false
        });
        n
    };
    for stmt in body {
        match stmt {
            Stmt::Return(ret) => here += ret.value.as_deref().map_or(0, count),
            Stmt::Assign(assign) => here += count(&assign.value),
            Stmt::AugAssign(assign) => here += count(&assign.value),
            Stmt::AnnAssign(assign) => here += assign.value.as_deref().map_or(0, count),
            Stmt::Expr(expr) => here += count(&expr.value),
            Stmt::If(stmt_if) => {
                here += count(&stmt_if.test);
                nested = nested.max(max_calls_per_block(&stmt_if.body, is_match));
                for clause in &stmt_if.elif_else_clauses {
                    nested = nested.max(max_calls_per_block(&clause.body, is_match));
                }
            }
            Stmt::For(ast::StmtFor { body, orelse, .. })
            | Stmt::While(ast::StmtWhile { body, orelse, .. }) => {
                nested = nested
                    .max(max_calls_per_block(body, is_match))
                    .max(max_calls_per_block(orelse, is_match));
            }
            Stmt::With(with) => nested = nested.max(max_calls_per_block(&with.body, is_match)),
            Stmt::Try(stmt_try) => {
                nested = nested
                    .max(max_calls_per_block(&stmt_try.body, is_match))
                    .max(max_calls_per_block(&stmt_try.orelse, is_match));
            }
            _ => {}
        }
    }
    here.max(nested)
}
