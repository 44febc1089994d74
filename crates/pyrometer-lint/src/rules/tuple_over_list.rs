use crate::analysis::helpers::{body_any, is_constant};
use crate::checker::{Checker, CostRange};
use crate::parse::Ranged;
use crate::parse::ast::visitor::{self, Visitor};
use crate::parse::ast::{self, CmpOp, Expr, ExprContext, Stmt};
use crate::violation::{Violation, violation};

/// Builtins that only read their argument.
const READERS: &[&str] = &[
    "len",
    "sum",
    "min",
    "max",
    "sorted",
    "tuple",
    "set",
    "frozenset",
    "enumerate",
    "zip",
    "reversed",
    "any",
    "all",
    "list",
    "iter",
    "dict",
];

violation! {
    /// ## What it does
    /// Finds a list display of constants assigned once to a local name in a function
    /// (`names = ["a", "b", "c"]`) where every use of the name only reads it: iterating it,
    /// `in` tests, indexing, unpacking with `*`, or passing it to read-only builtins (`len`,
    /// `sorted`, `enumerate`, ...).
    ///
    /// ## Why is this bad?
    /// A tuple of constants is a single constant of the code object, loaded in one step; a list
    /// display builds a new list object on every call of the function. The gain per call is
    /// small (see the measured gain), so the rule is off by default.
    ///
    /// ## Example
    /// ```python
    /// def is_weekend(day):
    ///     weekend = ["sat", "sun"]
    ///     return day in weekend
    /// ```
    ///
    /// Use instead:
    /// ```python
    /// def is_weekend(day):
    ///     weekend = ("sat", "sun")
    ///     return day in weekend
    /// ```
    ///
    /// ## Expected gain
    /// 1.47x faster for a tiny function called 1,000 times (`day in ["sat", "sun"]`:
    /// 203 us -> 138 us for all calls).
    /// (`benchmarks/rules/PYR505.py`, CPython 3.11.7, CPU time, on the project's 2-core machine).
    pub struct TupleOverList {
        name: String,
    }
}

impl Violation for TupleOverList {
    const RULE: crate::codes::Rule = crate::codes::Rule::TupleOverList;

    fn message(&self) -> String {
        format!(
            "Constant list `{}` is never mutated; a tuple would be built once",
            self.name
        )
    }

    fn fix(&self) -> Option<String> {
        Some("Use a tuple display `(...)` instead of `[...]`".to_string())
    }
}

/// Finds uses of `name` that might mutate or leak the list.
struct UseChecker<'n> {
    name: &'n str,
    unsafe_use: bool,
}

impl UseChecker<'_> {
    fn is_name(&self, expr: &Expr) -> bool {
        matches!(expr, Expr::Name(n) if n.id.as_str() == self.name)
    }
}

impl<'a> Visitor<'a> for UseChecker<'_> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        if self.unsafe_use {
            return;
        }
        match stmt {
            Stmt::For(stmt_for) if self.is_name(&stmt_for.iter) => {
                self.visit_expr(&stmt_for.target);
                self.visit_body(&stmt_for.body);
                self.visit_body(&stmt_for.orelse);
            }
            Stmt::Assign(assign) if assign.targets.iter().any(|t| self.is_name(t)) => {
                // The one binding (checked by the caller); look at the value only.
                self.visit_expr(&assign.value);
            }
            _ => visitor::walk_stmt(self, stmt),
        }
    }

    fn visit_comprehension(&mut self, comprehension: &'a ast::Comprehension) {
        if !self.is_name(&comprehension.iter) {
            self.visit_expr(&comprehension.iter);
        }
        self.visit_expr(&comprehension.target);
        for condition in &comprehension.ifs {
            self.visit_expr(condition);
        }
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        if self.unsafe_use {
            return;
        }
        match expr {
            Expr::Name(name) if name.id.as_str() == self.name => {
                self.unsafe_use = true;
            }
            Expr::Compare(compare) => {
                self.visit_expr(&compare.left);
                for (op, comparator) in compare.ops.iter().zip(compare.comparators.iter()) {
                    let reads = matches!(op, CmpOp::In | CmpOp::NotIn) && self.is_name(comparator);
                    if !reads {
                        self.visit_expr(comparator);
                    }
                }
            }
            Expr::Subscript(subscript)
                if subscript.ctx == ExprContext::Load && self.is_name(&subscript.value) =>
            {
                self.visit_expr(&subscript.slice);
            }
            Expr::Starred(starred)
                if starred.ctx == ExprContext::Load && self.is_name(&starred.value) => {}
            Expr::Call(call) => {
                let reader =
                    matches!(&*call.func, Expr::Name(f) if READERS.contains(&f.id.as_str()));
                self.visit_expr(&call.func);
                for arg in &call.arguments.args {
                    if !(reader && self.is_name(arg)) {
                        self.visit_expr(arg);
                    }
                }
                for keyword in &call.arguments.keywords {
                    self.visit_expr(&keyword.value);
                }
            }
            _ => visitor::walk_expr(self, expr),
        }
    }
}

pub(crate) fn check<'a>(checker: &mut Checker<'a>, function: &'a ast::StmtFunctionDef) {
    for stmt in &function.body {
        let Stmt::Assign(assign) = stmt else {
            continue;
        };
        let [Expr::Name(target)] = assign.targets.as_slice() else {
            continue;
        };
        let Expr::List(list) = &*assign.value else {
            continue;
        };
        if list.elts.is_empty() || !list.elts.iter().all(is_constant) {
            continue;
        }
        let name = target.id.as_str();
        let mut stores = 0usize;
        body_any(&function.body, true, |e| {
            if let Expr::Name(n) = e
                && n.id.as_str() == name
                && n.ctx != ExprContext::Load
            {
                stores += 1;
            }
            false
        });
        let nonlocal_use = function
            .body
            .iter()
            .any(|s| matches!(s, Stmt::Global(_) | Stmt::Nonlocal(_)));
        if stores != 1 || nonlocal_use {
            continue;
        }
        let mut uses = UseChecker {
            name,
            unsafe_use: false,
        };
        uses.visit_body(&function.body);
        // A nested function or lambda that captures the name could do anything with it.
        let captured = body_any(&function.body, true, |e| matches!(e, Expr::Lambda(_)))
            || function
                .body
                .iter()
                .any(|s| matches!(s, Stmt::FunctionDef(_) | Stmt::ClassDef(_)));
        if uses.unsafe_use || captured {
            continue;
        }
        checker.report(
            TupleOverList {
                name: name.to_string(),
            },
            list.range(),
            Some(CostRange::function(function)),
        );
    }
}
