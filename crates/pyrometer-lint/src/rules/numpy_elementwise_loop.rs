use crate::analysis::helpers::{body_any, single_arg};
use crate::analysis::types::Ty;
use crate::checker::{Checker, CostRange};
use crate::parse::ast::{self, Expr, Stmt};
use crate::parse::{Ranged, TextRange};
use crate::violation::{Violation, violation};

violation! {
    /// ## What it does
    /// Finds Python `for` loops that walk a numpy array element by element: the loop iterates
    /// the array itself, or `range(len(a))` / `range(a.size)` / `range(a.shape[0])` and indexes
    /// `a[i]`, where `a` is known to be an `ndarray` (created by `np.array`, `np.zeros`,
    /// `np.arange`, ..., or annotated `np.ndarray`); and the body is only assignments whose
    /// calls are numpy functions, `math` functions or numeric builtins (so the loop is plain
    /// arithmetic that whole-array operations can express).
    ///
    /// ## Why is this bad?
    /// Each element crosses from C to a Python object and back, and every operation is
    /// interpreted: typically 50-100x slower than the same arithmetic done by numpy's compiled
    /// loops on the whole array at once.
    ///
    /// ## Example
    /// ```python
    /// import numpy as np
    ///
    /// def scale(n):
    ///     a = np.arange(n, dtype=float)
    ///     out = np.empty(n)
    ///     for i in range(len(a)):
    ///         out[i] = a[i] * 2.0 + 1.0
    ///     return out
    /// ```
    ///
    /// Use instead:
    /// ```python
    /// import numpy as np
    ///
    /// def scale(n):
    ///     a = np.arange(n, dtype=float)
    ///     return a * 2.0 + 1.0
    /// ```
    ///
    /// ## Expected gain
    /// 15x faster for `out[i] = a[i] * 2.0 + 1.0` over 100,000 float64 elements
    /// (21.4 ms -> 1.47 ms; numpy 2.x), and the gap widens with cheaper element work.
    /// (`benchmarks/rules/PYR404.py`, CPython 3.11.7, CPU time, on the project's 2-core machine).
    pub struct NumpyElementwiseLoop {
        array: String,
    }
}

impl Violation for NumpyElementwiseLoop {
    const RULE: crate::codes::Rule = crate::codes::Rule::NumpyElementwiseLoop;

    fn message(&self) -> String {
        format!(
            "Python loop over numpy array `{}` element by element",
            self.array
        )
    }

    fn fix(&self) -> Option<String> {
        Some(
            "Vectorise: express the body as whole-array operations (`a * 2 + b`, `np.where`, \
             `np.cumsum`, ...)"
                .to_string(),
        )
    }
}

/// The array behind `len(a)`, `a.size`, `a.shape[0]`.
fn sized_array(expr: &Expr) -> Option<&Expr> {
    match expr {
        Expr::Call(call) => match &*call.func {
            Expr::Name(name) if name.id.as_str() == "len" => single_arg(call),
            _ => None,
        },
        Expr::Attribute(attr) if attr.attr.as_str() == "size" => Some(&attr.value),
        Expr::Subscript(subscript) => match &*subscript.value {
            Expr::Attribute(attr) if attr.attr.as_str() == "shape" => Some(&attr.value),
            _ => None,
        },
        _ => None,
    }
}

fn allowed_call(checker: &Checker<'_>, call: &ast::ExprCall) -> bool {
    if let Some(builtin) = checker.builtin_name(&call.func) {
        return matches!(
            builtin,
            "abs" | "min" | "max" | "float" | "int" | "round" | "pow"
        );
    }
    checker
        .qualified_name(&call.func)
        .is_some_and(|name| name.starts_with("numpy.") || name.starts_with("math."))
}

pub(crate) fn check<'a>(checker: &mut Checker<'a>, stmt: &'a ast::StmtFor) {
    if stmt.is_async || !stmt.orelse.is_empty() || stmt.body.is_empty() {
        return;
    }
    let array = match &*stmt.iter {
        Expr::Name(name) if checker.ty(name.id.as_str()) == Ty::NdArray => &*stmt.iter,
        Expr::Call(call) if checker.is_builtin(&call.func, "range") => {
            let Some(array) = single_arg(call).and_then(sized_array) else {
                return;
            };
            if checker.ty_of(array) != Ty::NdArray {
                return;
            }
            let Expr::Name(index) = &*stmt.target else {
                return;
            };
            let array_text = checker.text(array);
            let indexes = body_any(&stmt.body, false, |e| match e {
                Expr::Subscript(subscript) => {
                    checker.text(&*subscript.value) == array_text
                        && matches!(&*subscript.slice, Expr::Name(n) if n.id == index.id)
                }
                _ => false,
            });
            if !indexes {
                return;
            }
            array
        }
        _ => return,
    };
    let simple = stmt
        .body
        .iter()
        .all(|s| matches!(s, Stmt::Assign(_) | Stmt::AugAssign(_) | Stmt::AnnAssign(_)));
    if !simple {
        return;
    }
    let disallowed = body_any(&stmt.body, true, |e| match e {
        Expr::Call(call) => !allowed_call(checker, call),
        Expr::Lambda(_) | Expr::Yield(_) | Expr::Await(_) => true,
        _ => false,
    });
    if disallowed {
        return;
    }
    checker.report(
        NumpyElementwiseLoop {
            array: checker.snippet(array, 40),
        },
        TextRange::new(stmt.start(), stmt.iter.end()),
        Some(CostRange::for_loop(stmt)),
    );
}
