//! Small AST utilities shared by the rules.

use crate::parse::ast::visitor::{self, Visitor};
use crate::parse::ast::{self, Expr, ExprContext, Number, Operator, Stmt, UnaryOp};

/// The identifier of a bare name expression.
pub(crate) fn name_of(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::Name(name) => Some(name.id.as_str()),
        _ => None,
    }
}

/// The integer value of a literal like `0`, `-1`.
pub(crate) fn int_value(expr: &Expr) -> Option<i64> {
    match expr {
        Expr::NumberLiteral(ast::ExprNumberLiteral {
            value: Number::Int(int),
            ..
        }) => int.as_i64(),
        Expr::UnaryOp(ast::ExprUnaryOp {
            op: UnaryOp::USub,
            operand,
            ..
        }) => int_value(operand).and_then(i64::checked_neg),
        _ => None,
    }
}

/// Whether the expression is evidently a `str`: a literal, an f-string, `"..." % x`, or a
/// concatenation that involves one.
pub(crate) fn is_str_expr(expr: &Expr) -> bool {
    match expr {
        Expr::StringLiteral(_) | Expr::FString(_) => true,
        Expr::BinOp(binop) => match binop.op {
            Operator::Add => is_str_expr(&binop.left) || is_str_expr(&binop.right),
            Operator::Mod => matches!(*binop.left, Expr::StringLiteral(_) | Expr::FString(_)),
            _ => false,
        },
        Expr::Call(call) => match &*call.func {
            Expr::Attribute(attr) => {
                matches!(*attr.value, Expr::StringLiteral(_))
                    && matches!(attr.attr.as_str(), "join" | "format")
            }
            _ => false,
        },
        _ => false,
    }
}

/// Whether the expression is evidently `bytes`.
pub(crate) fn is_bytes_expr(expr: &Expr) -> bool {
    match expr {
        Expr::BytesLiteral(_) => true,
        Expr::BinOp(binop) if binop.op == Operator::Add => {
            is_bytes_expr(&binop.left) || is_bytes_expr(&binop.right)
        }
        _ => false,
    }
}

/// Whether the expression is a literal constant (or a tuple of them).
pub(crate) fn is_constant(expr: &Expr) -> bool {
    match expr {
        Expr::StringLiteral(_)
        | Expr::BytesLiteral(_)
        | Expr::NumberLiteral(_)
        | Expr::BooleanLiteral(_)
        | Expr::NoneLiteral(_)
        | Expr::EllipsisLiteral(_) => true,
        Expr::Tuple(tuple) => tuple.elts.iter().all(is_constant),
        Expr::UnaryOp(unary) => {
            matches!(unary.op, UnaryOp::USub | UnaryOp::UAdd) && is_constant(&unary.operand)
        }
        _ => false,
    }
}

/// `receiver.method(...)`: the receiver, the method name and the call.
pub(crate) fn method_call(expr: &Expr) -> Option<(&Expr, &str, &ast::ExprCall)> {
    let Expr::Call(call) = expr else {
        return None;
    };
    let Expr::Attribute(attr) = &*call.func else {
        return None;
    };
    Some((&attr.value, attr.attr.as_str(), call))
}

/// The single positional argument of a call with no keywords, if that is its shape.
pub(crate) fn single_arg(call: &ast::ExprCall) -> Option<&Expr> {
    match (&*call.arguments.args, call.arguments.keywords.is_empty()) {
        ([arg], true) if !arg.is_starred_expr() => Some(arg),
        _ => None,
    }
}

/// Whether a statement leaves the enclosing loop or function.
pub(crate) fn is_exit(stmt: &Stmt) -> bool {
    matches!(stmt, Stmt::Break(_) | Stmt::Return(_) | Stmt::Raise(_))
}

/// Visits an expression tree and reports whether any sub-expression matches.
struct ExprAny<F> {
    predicate: F,
    found: bool,
    enter_scopes: bool,
}

impl<'a, F: FnMut(&'a Expr) -> bool> Visitor<'a> for ExprAny<F> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        if self.found {
            return;
        }
        if !self.enter_scopes && matches!(stmt, Stmt::FunctionDef(_) | Stmt::ClassDef(_)) {
            return;
        }
        visitor::walk_stmt(self, stmt);
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        if self.found {
            return;
        }
        if (self.predicate)(expr) {
            self.found = true;
            return;
        }
        if !self.enter_scopes && matches!(expr, Expr::Lambda(_)) {
            return;
        }
        visitor::walk_expr(self, expr);
    }
}

/// Whether any sub-expression of `expr` (itself included) satisfies `predicate`.
pub(crate) fn expr_any<'a>(expr: &'a Expr, predicate: impl FnMut(&'a Expr) -> bool) -> bool {
    let mut finder = ExprAny {
        predicate,
        found: false,
        enter_scopes: true,
    };
    finder.visit_expr(expr);
    finder.found
}

/// Whether any expression in the statements satisfies `predicate`. Nested function and class
/// bodies are skipped unless `enter_scopes`.
pub(crate) fn body_any<'a>(
    body: &'a [Stmt],
    enter_scopes: bool,
    predicate: impl FnMut(&'a Expr) -> bool,
) -> bool {
    let mut finder = ExprAny {
        predicate,
        found: false,
        enter_scopes,
    };
    finder.visit_body(body);
    finder.found
}

/// Whether `expr` loads the name `name` anywhere.
pub(crate) fn expr_uses_name(expr: &Expr, name: &str) -> bool {
    expr_any(
        expr,
        |e| matches!(e, Expr::Name(n) if n.id.as_str() == name),
    )
}

/// Whether the statements mention the name `name` anywhere (load or store).
pub(crate) fn body_uses_name(body: &[Stmt], name: &str) -> bool {
    body_any(
        body,
        true,
        |e| matches!(e, Expr::Name(n) if n.id.as_str() == name),
    )
}

/// Whether the first mention of `name` in `body` (in evaluation order) reads it: the value it
/// had before `body` is used. A first mention that rebinds it (a later loop over the same name)
/// is not a use.
pub(crate) fn reads_before_rebinding(body: &[Stmt], name: &str) -> bool {
    let mut first = None;
    body_any(body, true, |e| match e {
        Expr::Name(n) if n.id.as_str() == name => {
            first = Some(n.ctx == ExprContext::Load);
            true
        }
        _ => false,
    });
    first.unwrap_or(false)
}

/// `reads_before_rebinding` over blocks that run one after another (as from
/// `Checker::statements_after`): the first mention of `name` in them reads it.
pub(crate) fn reads_before_rebinding_in(blocks: &[&[Stmt]], name: &str) -> bool {
    for block in blocks {
        if reads_before_rebinding(block, name) {
            return true;
        }
        if body_uses_name(block, name) {
            return false;
        }
    }
    false
}

/// Whether any of the blocks mentions `name`.
pub(crate) fn blocks_use_name(blocks: &[&[Stmt]], name: &str) -> bool {
    blocks.iter().any(|block| body_uses_name(block, name))
}

/// The names bound by an assignment or loop target (`a`, `a, b`, `(a, *b)`).
pub(crate) fn target_names<'a>(target: &'a Expr, out: &mut Vec<&'a str>) {
    match target {
        Expr::Name(name) => out.push(name.id.as_str()),
        Expr::Tuple(ast::ExprTuple { elts, .. }) | Expr::List(ast::ExprList { elts, .. }) => {
            for elt in elts {
                target_names(elt, out);
            }
        }
        Expr::Starred(starred) => target_names(&starred.value, out),
        _ => {}
    }
}

/// Whether the statements contain a statement (at any depth, not in nested scopes) matching.
pub(crate) fn stmts_any(body: &[Stmt], predicate: &mut impl FnMut(&Stmt) -> bool) -> bool {
    body.iter().any(|stmt| {
        predicate(stmt)
            || match stmt {
                Stmt::For(ast::StmtFor { body, orelse, .. })
                | Stmt::While(ast::StmtWhile { body, orelse, .. }) => {
                    stmts_any(body, predicate) || stmts_any(orelse, predicate)
                }
                Stmt::If(stmt_if) => {
                    stmts_any(&stmt_if.body, predicate)
                        || stmt_if
                            .elif_else_clauses
                            .iter()
                            .any(|clause| stmts_any(&clause.body, predicate))
                }
                Stmt::With(with) => stmts_any(&with.body, predicate),
                Stmt::Try(stmt_try) => {
                    stmts_any(&stmt_try.body, predicate)
                        || stmt_try.handlers.iter().any(|handler| {
                            let ast::ExceptHandler::ExceptHandler(handler) = handler;
                            stmts_any(&handler.body, predicate)
                        })
                        || stmts_any(&stmt_try.orelse, predicate)
                        || stmts_any(&stmt_try.finalbody, predicate)
                }
                Stmt::Match(stmt_match) => stmt_match
                    .cases
                    .iter()
                    .any(|case| stmts_any(&case.body, predicate)),
                _ => false,
            }
    })
}

/// Whether a loop over `iter` runs only a few constant times: a display or string literal of
/// fewer than 8 items, or `range` of constants spanning fewer than 8 values.
pub(crate) fn is_short_iteration(iter: &Expr) -> bool {
    const SHORT: usize = 8;
    match iter {
        Expr::List(ast::ExprList { elts, .. })
        | Expr::Tuple(ast::ExprTuple { elts, .. })
        | Expr::Set(ast::ExprSet { elts, .. }) => elts.len() < SHORT,
        Expr::StringLiteral(string) => string.value.chars().count() < SHORT,
        Expr::Call(call) => {
            let Expr::Name(func) = &*call.func else {
                return false;
            };
            if func.id.as_str() != "range" || !call.arguments.keywords.is_empty() {
                return false;
            }
            let values: Option<Vec<i64>> = call.arguments.args.iter().map(int_value).collect();
            match values.as_deref() {
                Some([stop]) => *stop < SHORT as i64,
                Some([start, stop]) => stop.saturating_sub(*start) < SHORT as i64,
                Some([start, stop, step]) if *step > 0 => {
                    stop.saturating_sub(*start) / step < SHORT as i64
                }
                _ => false,
            }
        }
        _ => false,
    }
}

/// Every name mentioned (loaded or stored) inside functions, lambdas and classes nested in
/// `body`, at any depth.
pub(crate) fn names_in_nested_scopes(body: &[Stmt]) -> rustc_hash::FxHashSet<&str> {
    struct Collector<'a> {
        depth: u32,
        names: rustc_hash::FxHashSet<&'a str>,
    }
    impl<'a> Visitor<'a> for Collector<'a> {
        fn visit_stmt(&mut self, stmt: &'a Stmt) {
            let nested = matches!(stmt, Stmt::FunctionDef(_) | Stmt::ClassDef(_));
            if self.depth > 0
                && let Stmt::Global(ast::StmtGlobal { names, .. })
                | Stmt::Nonlocal(ast::StmtNonlocal { names, .. }) = stmt
            {
                self.names.extend(names.iter().map(|n| n.as_str()));
            }
            self.depth += u32::from(nested);
            visitor::walk_stmt(self, stmt);
            self.depth -= u32::from(nested);
        }

        fn visit_expr(&mut self, expr: &'a Expr) {
            match expr {
                Expr::Name(name) if self.depth > 0 => {
                    self.names.insert(name.id.as_str());
                }
                Expr::Lambda(_) => {
                    self.depth += 1;
                    visitor::walk_expr(self, expr);
                    self.depth -= 1;
                    return;
                }
                _ => {}
            }
            visitor::walk_expr(self, expr);
        }
    }
    let mut collector = Collector {
        depth: 0,
        names: rustc_hash::FxHashSet::default(),
    };
    collector.visit_body(body);
    collector.names
}

/// Builtins whose call does not mutate its arguments and does not run arbitrary user code in a
/// way the rules care about.
pub(crate) const PURE_BUILTINS: &[&str] = &[
    "abs",
    "all",
    "any",
    "ascii",
    "bin",
    "bool",
    "callable",
    "chr",
    "divmod",
    "enumerate",
    "filter",
    "float",
    "format",
    "frozenset",
    "getattr",
    "hasattr",
    "hash",
    "hex",
    "id",
    "int",
    "isinstance",
    "issubclass",
    "iter",
    "len",
    "list",
    "map",
    "max",
    "min",
    "oct",
    "ord",
    "pow",
    "print",
    "range",
    "repr",
    "reversed",
    "round",
    "set",
    "sorted",
    "str",
    "sum",
    "tuple",
    "type",
    "zip",
    "dict",
    "bytes",
];

/// Every name in `builtins` that code commonly calls or reads.
pub(crate) const BUILTINS: &[&str] = &[
    "abs",
    "aiter",
    "all",
    "anext",
    "any",
    "ascii",
    "bin",
    "bool",
    "breakpoint",
    "bytearray",
    "bytes",
    "callable",
    "chr",
    "classmethod",
    "compile",
    "complex",
    "delattr",
    "dict",
    "dir",
    "divmod",
    "enumerate",
    "eval",
    "exec",
    "filter",
    "float",
    "format",
    "frozenset",
    "getattr",
    "globals",
    "hasattr",
    "hash",
    "help",
    "hex",
    "id",
    "input",
    "int",
    "isinstance",
    "issubclass",
    "iter",
    "len",
    "list",
    "locals",
    "map",
    "max",
    "memoryview",
    "min",
    "next",
    "object",
    "oct",
    "open",
    "ord",
    "pow",
    "print",
    "property",
    "range",
    "repr",
    "reversed",
    "round",
    "set",
    "setattr",
    "slice",
    "sorted",
    "staticmethod",
    "str",
    "sum",
    "super",
    "tuple",
    "type",
    "vars",
    "zip",
];

/// Methods that never mutate their receiver (on the builtin types that have them).
pub(crate) const NON_MUTATING_METHODS: &[&str] = &[
    "copy",
    "count",
    "index",
    "get",
    "keys",
    "values",
    "items",
    "startswith",
    "endswith",
    "find",
    "rfind",
    "format",
    "split",
    "rsplit",
    "splitlines",
    "strip",
    "lstrip",
    "rstrip",
    "lower",
    "upper",
    "join",
    "encode",
    "decode",
    "issubset",
    "issuperset",
    "isdisjoint",
    "union",
    "intersection",
    "difference",
    "symmetric_difference",
    "replace",
    "isdigit",
    "isalpha",
    "isalnum",
    "isspace",
];
