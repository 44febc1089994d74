use crate::analysis::helpers::{is_bytes_expr, is_str_expr};
use crate::analysis::types::Ty;
use crate::checker::Checker;
use crate::parse::TextRange;
use crate::parse::ast::{self, Expr, Operator};
use crate::violation::{Violation, violation};

violation! {
    /// ## What it does
    /// Finds strings (and `bytes`) built by repeated concatenation inside a loop:
    /// `s += piece` or `s = s + piece`, where `s` is known to be a `str` (assigned a string
    /// literal, an f-string or `str(...)` in the same scope, or annotated `str`, or assigned a
    /// string literal right before the loop), or where the
    /// added piece is evidently a string and `s`'s type is not known to be something else.
    /// `s` must accumulate across iterations: it is not the loop variable, is not reset
    /// (assigned a value that does not use it) or drained (`s = s[n:]`) anywhere in the loop
    /// (a line or I/O buffer, bounded by what the loop consumes), and is not tested by a
    /// `while` loop's condition (`while len(data) < n:`, which bounds it). One finding per
    /// string and loop.
    ///
    /// ## Why is this bad?
    /// Strings are immutable: each concatenation may copy everything built so far, which makes
    /// the loop quadratic in the length of the result. CPython resizes a *local variable's*
    /// string in place when nothing else refers to it, which hides most of the cost for plain
    /// locals, but the optimisation does not apply to attributes (`self.buf += s`), globals,
    /// items, `bytes`, or a string that is also referenced elsewhere; and collecting the pieces
    /// and joining them once is still faster.
    ///
    /// ## Example
    /// ```python
    /// def render(rows):
    ///     out = ""
    ///     for row in rows:
    ///         out += f"{row}\n"
    ///     return out
    /// ```
    ///
    /// Use instead:
    /// ```python
    /// def render(rows):
    ///     parts = []
    ///     for row in rows:
    ///         parts.append(f"{row}\n")
    ///     return "".join(parts)
    /// ```
    ///
    /// ## Expected gain
    /// 1.4x faster for a local `str` built from 100,000 pieces of 8 characters
    /// (3.91 ms -> 2.88 ms); 378x for an attribute built from 20,000 pieces
    /// (37.5 ms -> 0.10 ms), where the cost is quadratic.
    /// (`benchmarks/rules/PYR101.py`, CPython 3.11.7, CPU time, on the project's 2-core machine).
    pub struct StringConcatInLoop {
        target: String,
        kind: ConcatKind,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConcatKind {
    LocalStr,
    NonLocalStr,
    Bytes,
}

impl Violation for StringConcatInLoop {
    const RULE: crate::codes::Rule = crate::codes::Rule::StringConcatInLoop;

    fn message(&self) -> String {
        match self.kind {
            ConcatKind::LocalStr => format!(
                "String `{}` is built by concatenation in a loop",
                self.target
            ),
            ConcatKind::NonLocalStr => format!(
                "String `{}` is built by concatenation in a loop; quadratic, as it is not a \
                 plain local variable",
                self.target
            ),
            ConcatKind::Bytes => format!(
                "Bytes `{}` are built by concatenation in a loop (quadratic)",
                self.target
            ),
        }
    }

    fn fix(&self) -> Option<String> {
        Some(match self.kind {
            ConcatKind::Bytes => {
                "Append the pieces to a list and `b\"\".join(...)` them after the loop, or use a \
                 `bytearray`"
                    .to_string()
            }
            _ => "Append the pieces to a list and `\"\".join(...)` them after the loop (or write \
                  them to an `io.StringIO`)"
                .to_string(),
        })
    }
}

/// `s += piece`.
pub(crate) fn check_aug_assign<'a>(checker: &mut Checker<'a>, assign: &'a ast::StmtAugAssign) {
    if assign.op != Operator::Add {
        return;
    }
    check_target(checker, &assign.target, &assign.value, assign.range);
}

/// `s = s + piece` (or `s = piece + s`).
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
    let piece = if checker.text(&*binop.left) == target_text {
        &binop.right
    } else if checker.text(&*binop.right) == target_text {
        &binop.left
    } else {
        return;
    };
    check_target(checker, target, piece, assign.range);
}

fn check_target<'a>(
    checker: &mut Checker<'a>,
    target: &'a Expr,
    piece: &'a Expr,
    range: TextRange,
) {
    let kind = match target {
        Expr::Name(name) => {
            let id = name.id.as_str();
            if checker.reset_in_iteration(id) {
                // A per-iteration value, not an accumulator.
                return;
            }
            // A name that is sometimes something else (a `bytearray`, a list) is not judged
            // by the piece added to it.
            if checker
                .lookup(id)
                .is_some_and(|binding| binding.ever_other_than(&[Ty::Str, Ty::Bytes]))
            {
                return;
            }
            let ty = match checker.ty(id) {
                Ty::Unknown if str_initialised_before_loop(checker, id) => Ty::Str,
                ty => ty,
            };
            match ty {
                Ty::Str => local_or_not(checker, id),
                Ty::Bytes => ConcatKind::Bytes,
                Ty::Unknown if is_str_expr(piece) => local_or_not(checker, id),
                Ty::Unknown if is_bytes_expr(piece) => ConcatKind::Bytes,
                _ => return,
            }
        }
        Expr::Attribute(_) => {
            if is_str_expr(piece) {
                ConcatKind::NonLocalStr
            } else if is_bytes_expr(piece) {
                ConcatKind::Bytes
            } else {
                return;
            }
        }
        _ => return,
    };
    if is_buffer(checker, target) {
        return;
    }
    let Some(anchor) = checker.current_loop().map(crate::checker::LoopCtx::start) else {
        return;
    };
    if !checker.first_time(
        crate::codes::Rule::StringConcatInLoop,
        anchor,
        checker.text(target),
    ) {
        return;
    }
    let cost = checker.current_loop().map(|ctx| ctx.cost());
    checker.report(
        StringConcatInLoop {
            target: checker.snippet(target, 40),
            kind,
        },
        range,
        cost,
    );
}

/// `name = "..."` (or an f-string) right before the loop.
fn str_initialised_before_loop(checker: &Checker<'_>, name: &str) -> bool {
    match checker.loop_prev_sibling() {
        Some(ast::Stmt::Assign(assign)) => {
            matches!(assign.targets.as_slice(), [Expr::Name(t)] if t.id.as_str() == name)
                && matches!(*assign.value, Expr::StringLiteral(_) | Expr::FString(_))
        }
        _ => false,
    }
}

/// CPython's in-place resize applies to function locals only.
fn local_or_not(checker: &Checker<'_>, name: &str) -> ConcatKind {
    if checker.in_function() && checker.is_local(name) {
        ConcatKind::LocalStr
    } else {
        ConcatKind::NonLocalStr
    }
}

/// Whether the string is a buffer rather than an accumulator: the loop resets it (assigns it a
/// value that does not use it) or drains it (`s = s[n:]`) somewhere, or a `while` loop's
/// condition reads it (`while len(data) < n:`).
fn is_buffer(checker: &Checker<'_>, target: &Expr) -> bool {
    use crate::checker::LoopNode;
    let text = checker.text(target);
    let mentions = |expr: &Expr| {
        crate::analysis::helpers::expr_any(expr, |e| {
            std::mem::discriminant(e) == std::mem::discriminant(target) && checker.text(e) == text
        })
    };
    let body = match checker.current_loop().map(|ctx| &ctx.node) {
        Some(LoopNode::For(stmt)) => &stmt.body,
        Some(LoopNode::While(stmt)) => {
            if mentions(&stmt.test) {
                return true;
            }
            &stmt.body
        }
        _ => return false,
    };
    crate::analysis::helpers::stmts_any(body, &mut |stmt| {
        let ast::Stmt::Assign(assign) = stmt else {
            return false;
        };
        let [assigned] = assign.targets.as_slice() else {
            return false;
        };
        if checker.text(assigned) != text {
            return false;
        }
        match &*assign.value {
            Expr::Subscript(subscript) => {
                subscript.slice.is_slice_expr() && checker.text(&*subscript.value) == text
            }
            value => !mentions(value),
        }
    })
}
