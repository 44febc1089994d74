use crate::analysis::helpers::int_value;
use crate::analysis::scope::BindingKind;
use crate::analysis::types::Ty;
use crate::checker::Checker;
use crate::parse::Ranged;
use crate::parse::ast::{self, Expr};
use crate::violation::{Violation, violation};

violation! {
    /// ## What it does
    /// Finds `x.pop(0)` and `x.insert(0, item)` inside a loop, where `x` is known to be a list,
    /// or is an attribute (not of a module, like `sys.path`), a global, or an unannotated
    /// parameter (of unknown type, where this call shape is list usage). Names bound to
    /// results of other calls are left alone.
    ///
    /// It stays quiet when the list is created afresh earlier in the same iteration (one front
    /// operation per list is not quadratic); when the call sets a flag (`stop = True`) that the
    /// loop tests to `break` (it runs once); and when the function slices the list or uses it
    /// with `+` (`x[0:n]`, `del x[0:n]`, `new + x`), which a deque cannot do.
    ///
    /// ## Why is this bad?
    /// A list stores its items contiguously. Removing or inserting at the front moves every
    /// other item, so each call is O(n) and a loop that drains or fills a list from the front is
    /// O(n²). `collections.deque` removes and adds at both ends in O(1).
    ///
    /// ## Example
    /// ```python
    /// def bfs(start, graph):
    ///     queue = [start]
    ///     while queue:
    ///         node = queue.pop(0)
    ///         queue.extend(graph[node])
    /// ```
    ///
    /// Use instead:
    /// ```python
    /// from collections import deque
    ///
    /// def bfs(start, graph):
    ///     queue = deque([start])
    ///     while queue:
    ///         node = queue.popleft()
    ///         queue.extend(graph[node])
    /// ```
    ///
    /// ## Expected gain
    /// 75x faster draining a 50,000-item queue with `pop(0)` (172 ms -> 2.3 ms);
    /// 233x filling one with `insert(0, x)` (404 ms -> 1.7 ms). Quadratic: the ratio grows
    /// with the length.
    /// (`benchmarks/rules/PYR102.py`, CPython 3.11.7, CPU time, on the project's 2-core machine).
    pub struct ListFrontOpInLoop {
        receiver: String,
        pop: bool,
    }
}

impl Violation for ListFrontOpInLoop {
    const RULE: crate::codes::Rule = crate::codes::Rule::ListFrontOpInLoop;

    fn message(&self) -> String {
        let call = if self.pop { "pop(0)" } else { "insert(0, ...)" };
        format!(
            "`{}.{call}` in a loop moves every item of the list each time",
            self.receiver
        )
    }

    fn fix(&self) -> Option<String> {
        let method = if self.pop {
            "popleft()"
        } else {
            "appendleft(...)"
        };
        Some(format!(
            "Make `{}` a `collections.deque` and call `{method}`",
            self.receiver
        ))
    }
}

pub(crate) fn check<'a>(checker: &mut Checker<'a>, call: &'a ast::ExprCall) {
    let Expr::Attribute(attr) = &*call.func else {
        return;
    };
    if !call.arguments.keywords.is_empty() {
        return;
    }
    let pop = match (attr.attr.as_str(), &*call.arguments.args) {
        ("pop", [index]) if int_value(index) == Some(0) => true,
        ("insert", [index, item]) if int_value(index) == Some(0) && !item.is_starred_expr() => {
            false
        }
        _ => return,
    };
    match &*attr.value {
        Expr::Name(name) => {
            if let Some(binding) = checker.lookup(name.id.as_str()) {
                let plausible = match binding.ty {
                    Ty::List => true,
                    // An unannotated parameter could be anything, but `pop(0)` / `insert(0, x)`
                    // on it is list usage; any other unknown binding (a call result, a loop
                    // target, unpacking) is too often some other sequence type.
                    Ty::Unknown => binding.kind == BindingKind::Parameter,
                    _ => false,
                };
                if !plausible {
                    return;
                }
            }
        }
        // `sys.path.insert(0, p)`: an attribute of a module is not ours to turn into a deque.
        Expr::Attribute(attr) => {
            if let Expr::Name(base) = &*attr.value
                && checker.imports.is_module(base.id.as_str())
            {
                return;
            }
        }
        _ => return,
    }
    if let Expr::Name(name) = &*attr.value
        && checker.reset_in_iteration(name.id.as_str())
    {
        return;
    }
    if sets_break_flag(checker) || sliced_or_added(checker, checker.text(&*attr.value)) {
        return;
    }
    let cost = checker.current_loop().map(|ctx| ctx.cost());
    checker.report(
        ListFrontOpInLoop {
            receiver: checker.snippet(&*attr.value, 40),
            pop,
        },
        call.range(),
        cost,
    );
}

/// Whether a block around the call (inside the loop) sets a flag `name = True` that the loop
/// body tests to leave the loop (`if name: break`): the call then runs at most once per loop.
fn sets_break_flag(checker: &Checker<'_>) -> bool {
    use crate::checker::LoopNode;
    use crate::parse::ast::Stmt;
    let body = match checker.current_loop().map(|ctx| &ctx.node) {
        Some(LoopNode::For(stmt)) => &stmt.body,
        Some(LoopNode::While(stmt)) => &stmt.body,
        _ => return false,
    };
    let flags: Vec<&str> = checker
        .blocks_in_loop()
        .flat_map(|(suite, _)| suite.iter())
        .filter_map(|stmt| match stmt {
            Stmt::Assign(assign) if matches!(&*assign.value, Expr::BooleanLiteral(b) if b.value) => {
                match assign.targets.as_slice() {
                    [Expr::Name(name)] => Some(name.id.as_str()),
                    _ => None,
                }
            }
            _ => None,
        })
        .collect();
    body.iter().any(|stmt| {
        matches!(stmt, Stmt::If(stmt_if)
            if matches!(&*stmt_if.test, Expr::Name(test) if flags.contains(&test.id.as_str()))
                && stmt_if.body.iter().any(crate::analysis::helpers::is_exit))
    })
}

/// Whether the current scope slices the list or uses it as an operand of `+`: a deque supports
/// neither, so the suggested fix would raise `TypeError`.
fn sliced_or_added(checker: &Checker<'_>, receiver: &str) -> bool {
    crate::analysis::helpers::body_any(checker.scope_body(), false, |e| match e {
        Expr::Subscript(subscript) => {
            subscript.slice.is_slice_expr() && checker.text(&*subscript.value) == receiver
        }
        Expr::BinOp(binop) => {
            binop.op == ast::Operator::Add
                && (checker.text(&*binop.left) == receiver
                    || checker.text(&*binop.right) == receiver)
        }
        _ => false,
    })
}
