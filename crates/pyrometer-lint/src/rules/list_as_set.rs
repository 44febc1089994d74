use crate::analysis::helpers::{
    NON_MUTATING_METHODS, PURE_BUILTINS, method_call, name_of, single_arg, stmts_any,
};
use crate::analysis::scope::BindingKind;
use crate::analysis::types::Ty;
use crate::checker::{Checker, LoopNode, comprehension_parts};
use crate::parse::ast::visitor::{self, Visitor};
use crate::parse::ast::{self, CmpOp, Expr, ExprContext, Operator, Stmt};
use crate::parse::{Ranged, TextRange};
use crate::violation::{Violation, violation};

violation! {
    /// ## What it does
    /// Finds a list that a loop both searches and grows: `item in seen` / `item not in seen`,
    /// `seen.index(item)` or `seen.count(item)` in a loop that also calls `seen.append(...)`,
    /// `seen.insert(...)`, `seen.extend(...)` or runs `seen += ...`. The list is being used as
    /// a set (order-preserving deduplication) or as the keys of a dict (parallel lists).
    /// `seen` must be a local name of the function (or module) whose every assignment makes a
    /// list (`[]`, `list(...)`, a list comprehension, `sorted(...)`, ...), not a parameter and
    /// not used by nested functions or lambdas; the loop must not rebind it, shrink it (`pop`,
    /// `remove`, `clear`, `del seen[...]`, slice assignment: a bounded window stays short) or
    /// pass it to a function that could. Lists whose items are evidently unhashable (list, dict
    /// or set displays) are left alone, and so are searches in an `except TypeError:` (or
    /// broader) handler, the usual fallback for unhashable items. Reported once per loop and
    /// list, at the first search. (A list the loop leaves unchanged is PYR103.)
    ///
    /// ## Why is this bad?
    /// Each search compares against every item so far, and the loop keeps adding items: n
    /// iterations cost O(n²) comparisons. A `set` kept beside the list answers the membership
    /// test in O(1) on average; a `dict` (which keeps insertion order since Python 3.7) maps
    /// each item to its position or count in O(1); `dict.fromkeys(items)` dedupes in order and
    /// `collections.Counter(items)` counts, both in C. The items must be hashable.
    ///
    /// ## Example
    /// ```python
    /// def unique(words):
    ///     seen = []
    ///     for word in words:
    ///         if word not in seen:
    ///             seen.append(word)
    ///     return seen
    ///
    /// def tally(words):
    ///     seen, counts = [], []
    ///     for word in words:
    ///         if word in seen:
    ///             counts[seen.index(word)] += 1
    ///         else:
    ///             seen.append(word)
    ///             counts.append(1)
    ///     return list(zip(seen, counts))
    /// ```
    ///
    /// Use instead:
    /// ```python
    /// from collections import Counter
    ///
    /// def unique(words):
    ///     return list(dict.fromkeys(words))  # or keep a set beside the list
    ///
    /// def tally(words):
    ///     return list(Counter(words).items())
    /// ```
    ///
    /// ## Expected gain
    /// 146x faster deduplicating 2,000 words with 1,000 distinct (14.1 ms -> 0.096 ms, a set
    /// kept beside the list), 1,003x for 20,000 words with 10,000 distinct (1.83 s -> 1.82 ms);
    /// 186x counting them with parallel lists vs `Counter` (20.8 ms -> 0.112 ms), 1,421x for
    /// 10,000 distinct (2.66 s -> 1.87 ms). Quadratic: the ratio grows with the number of
    /// distinct items.
    /// (`benchmarks/rules/PYR109.py`, CPython 3.11.7, CPU time, on the project's 2-core machine).
    pub struct ListAsSet {
        list: String,
        search: Search,
        keyed: bool,
    }
}

/// How the list is searched at the reported expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Search {
    Membership,
    Index,
    Count,
}

impl Violation for ListAsSet {
    const RULE: crate::codes::Rule = crate::codes::Rule::ListAsSet;

    fn message(&self) -> String {
        let list = &self.list;
        match self.search {
            Search::Membership => {
                format!("Membership test on list `{list}`, which this loop grows (quadratic)")
            }
            Search::Index => format!("`{list}.index()` on a list this loop grows (quadratic)"),
            Search::Count => format!("`{list}.count()` on a list this loop grows (quadratic)"),
        }
    }

    fn fix(&self) -> Option<String> {
        Some(if self.keyed {
            "Map each item to its position or value in a `dict` (insertion-ordered since Python \
             3.7), or count with `collections.Counter`; items must be hashable"
                .to_string()
        } else {
            format!(
                "Keep a `set` beside `{}` for the test, or dedupe in order with \
                 `list(dict.fromkeys(items))` (dicts keep insertion order since Python 3.7); \
                 items must be hashable",
                self.list
            )
        })
    }
}

/// `item in seen` / `item not in seen`.
pub(crate) fn check_compare<'a>(checker: &mut Checker<'a>, compare: &'a ast::ExprCompare) {
    let mut left = &*compare.left;
    for (op, comparator) in compare.ops.iter().zip(compare.comparators.iter()) {
        if matches!(op, CmpOp::In | CmpOp::NotIn)
            && let Expr::Name(name) = comparator
        {
            check_search(
                checker,
                name.id.as_str(),
                left,
                Search::Membership,
                compare.range(),
            );
        }
        left = comparator;
    }
}

/// `seen.index(item)` / `seen.count(item)`.
pub(crate) fn check_call<'a>(checker: &mut Checker<'a>, call: &'a ast::ExprCall) {
    let Expr::Attribute(attr) = &*call.func else {
        return;
    };
    let search = match attr.attr.as_str() {
        "index" => Search::Index,
        "count" => Search::Count,
        _ => return,
    };
    let (Expr::Name(name), Some(item)) = (&*attr.value, single_arg(call)) else {
        return;
    };
    check_search(checker, name.id.as_str(), item, search, call.range());
}

fn check_search<'a>(
    checker: &mut Checker<'a>,
    id: &'a str,
    item: &Expr,
    search: Search,
    range: TextRange,
) {
    if checker.in_class_body() || !checker.is_private_local(id) {
        return;
    }
    let Some(binding) = checker.lookup(id) else {
        return;
    };
    if binding.kind != BindingKind::Assignment || binding.ty != Ty::List {
        return;
    }
    if unhashable(checker, item) {
        return;
    }
    let Some(ctx) = checker.current_loop() else {
        return;
    };
    let uses = ListUses::of_loop(&ctx.node, id);
    if uses.grows.is_empty() || uses.rebound || uses.shrunk || uses.escapes {
        return;
    }
    if uses.grows.iter().any(|grow| grow.unhashable(checker))
        || in_type_error_handler(checker.scope_body(), range)
    {
        return;
    }
    let (anchor, cost) = (ctx.start(), ctx.cost());
    if !checker.first_time(crate::codes::Rule::ListAsSet, anchor, id) {
        return;
    }
    checker.report(
        ListAsSet {
            list: id.to_string(),
            search,
            keyed: uses.keyed,
        },
        range,
        Some(cost),
    );
}

/// Whether an expression evidently evaluates to an unhashable object.
fn unhashable(checker: &Checker<'_>, expr: &Expr) -> bool {
    match expr {
        Expr::List(_)
        | Expr::ListComp(_)
        | Expr::Dict(_)
        | Expr::DictComp(_)
        | Expr::Set(_)
        | Expr::SetComp(_) => true,
        Expr::Tuple(tuple) => tuple.elts.iter().any(|elt| unhashable(checker, elt)),
        Expr::Call(call) => ["list", "dict", "set", "bytearray"]
            .iter()
            .any(|name| checker.is_builtin(&call.func, name)),
        Expr::Name(name) => matches!(
            checker.ty(name.id.as_str()),
            Ty::List
                | Ty::Dict
                | Ty::Set
                | Ty::DefaultDict
                | Ty::Counter
                | Ty::Deque
                | Ty::ByteArray
                | Ty::NdArray
        ),
        _ => false,
    }
}

/// Whether `range` is inside an `except` handler of this scope that catches `TypeError`
/// (`except TypeError`, `except (TypeError, ...)`, `except Exception`, bare `except`).
fn in_type_error_handler(body: &[Stmt], range: TextRange) -> bool {
    let catches = |kind: &Expr| match kind {
        Expr::Tuple(tuple) => tuple.elts.iter().any(|elt| {
            matches!(
                name_of(elt),
                Some("TypeError" | "Exception" | "BaseException")
            )
        }),
        other => matches!(
            name_of(other),
            Some("TypeError" | "Exception" | "BaseException")
        ),
    };
    stmts_any(body, &mut |stmt| match stmt {
        Stmt::Try(stmt_try) => stmt_try.handlers.iter().any(|handler| {
            let ast::ExceptHandler::ExceptHandler(handler) = handler;
            handler.range.contains_range(range) && handler.type_.as_deref().is_none_or(catches)
        }),
        _ => false,
    })
}

/// What the loop adds to the list.
enum Grow<'a> {
    /// `append(x)`, `insert(i, x)`.
    Item(&'a Expr),
    /// `extend(xs)`, `+= xs`.
    Items(&'a Expr),
}

impl Grow<'_> {
    fn unhashable(&self, checker: &Checker<'_>) -> bool {
        match self {
            Grow::Item(item) => unhashable(checker, item),
            Grow::Items(items) => match items {
                Expr::List(ast::ExprList { elts, .. })
                | Expr::Tuple(ast::ExprTuple { elts, .. })
                | Expr::Set(ast::ExprSet { elts, .. }) => {
                    elts.iter().any(|elt| unhashable(checker, elt))
                }
                Expr::ListComp(comp) => unhashable(checker, &comp.elt),
                Expr::Generator(comp) => unhashable(checker, &comp.elt),
                _ => false,
            },
        }
    }
}

/// How one loop's repeated part (not nested functions or classes) uses one list name.
#[derive(Default)]
struct ListUses<'a> {
    name: &'a str,
    grows: Vec<Grow<'a>>,
    /// Assigned, deleted, or bound as a target (other than `name += ...`).
    rebound: bool,
    /// `pop`, `remove`, `clear`, `del name[...]`, `name[a:b] = ...`.
    shrunk: bool,
    /// Passed to a call that could change it, or aliased by an assignment.
    escapes: bool,
    /// `name.index(...)` or `name.count(...)`: positions or counts, the job of a dict.
    keyed: bool,
}

impl<'a> ListUses<'a> {
    fn of_loop(node: &LoopNode<'a>, name: &'a str) -> Self {
        let mut uses = ListUses {
            name,
            ..ListUses::default()
        };
        match node {
            LoopNode::For(stmt) => {
                uses.visit_expr(&stmt.target);
                uses.visit_body(&stmt.body);
            }
            LoopNode::While(stmt) => {
                uses.visit_expr(&stmt.test);
                uses.visit_body(&stmt.body);
            }
            LoopNode::Comprehension(expr) => {
                let (generators, elements) = comprehension_parts(expr);
                for (index, generator) in generators.iter().enumerate() {
                    uses.visit_expr(&generator.target);
                    if index > 0 {
                        uses.visit_expr(&generator.iter);
                    }
                    for condition in &generator.ifs {
                        uses.visit_expr(condition);
                    }
                }
                for element in elements {
                    uses.visit_expr(element);
                }
            }
        }
        uses
    }

    fn is_name(&self, expr: &Expr) -> bool {
        matches!(expr, Expr::Name(name) if name.id.as_str() == self.name)
    }

    fn binds(&mut self, name: &str) {
        if name == self.name {
            self.rebound = true;
        }
    }

    /// A method call on the list.
    fn method(&mut self, method: &str, call: &'a ast::ExprCall) {
        let args = &*call.arguments.args;
        match (method, args) {
            ("append", [item]) | ("insert", [_, item]) if !item.is_starred_expr() => {
                self.grows.push(Grow::Item(item));
            }
            ("extend", [items]) if !items.is_starred_expr() => {
                self.grows.push(Grow::Items(items));
            }
            ("pop" | "remove" | "clear", _) => self.shrunk = true,
            ("index" | "count", _) => self.keyed = true,
            _ => {}
        }
    }

    /// A call that receives the list itself as an argument.
    fn escapes_into(&mut self, call: &ast::ExprCall) {
        let pure = match &*call.func {
            Expr::Name(func) => PURE_BUILTINS.contains(&func.id.as_str()),
            Expr::Attribute(attr) => NON_MUTATING_METHODS.contains(&attr.attr.as_str()),
            _ => false,
        };
        let passed = call.arguments.args.iter().any(|arg| self.is_name(arg))
            || call
                .arguments
                .keywords
                .iter()
                .any(|keyword| self.is_name(&keyword.value));
        if passed && !pure {
            self.escapes = true;
        }
    }
}

impl<'a> Visitor<'a> for ListUses<'a> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        match stmt {
            // Their bodies run when called, not necessarily in the loop; a name they use is
            // captured, which the rule already rejects.
            Stmt::FunctionDef(function) => {
                self.binds(function.name.as_str());
                return;
            }
            Stmt::ClassDef(class) => {
                self.binds(class.name.as_str());
                return;
            }
            Stmt::AugAssign(assign) if self.is_name(&assign.target) => {
                if assign.op == Operator::Add {
                    self.grows.push(Grow::Items(&assign.value));
                } else {
                    self.rebound = true;
                }
                self.visit_expr(&assign.value);
                return;
            }
            // `alias = seen`: the alias could shrink it.
            Stmt::Assign(assign) if self.is_name(&assign.value) => self.escapes = true,
            Stmt::Import(import) => {
                for alias in &import.names {
                    let full = alias.name.as_str();
                    let local = alias.asname.as_ref().map_or_else(
                        || full.split('.').next().unwrap_or(full),
                        |asname| asname.as_str(),
                    );
                    self.binds(local);
                }
            }
            Stmt::ImportFrom(import) => {
                for alias in &import.names {
                    self.binds(alias.asname.as_ref().unwrap_or(&alias.name).as_str());
                }
            }
            Stmt::Global(ast::StmtGlobal { names, .. })
            | Stmt::Nonlocal(ast::StmtNonlocal { names, .. }) => {
                for name in names {
                    self.binds(name.as_str());
                }
            }
            Stmt::Try(stmt_try) => {
                for handler in &stmt_try.handlers {
                    let ast::ExceptHandler::ExceptHandler(handler) = handler;
                    if let Some(name) = &handler.name {
                        self.binds(name.as_str());
                    }
                }
            }
            _ => {}
        }
        visitor::walk_stmt(self, stmt);
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        match expr {
            Expr::Name(name) if name.ctx != ExprContext::Load => self.binds(name.id.as_str()),
            // `seen[i] = x` keeps the length; `del seen[i]` and `seen[a:b] = xs` may not.
            Expr::Subscript(subscript)
                if subscript.ctx != ExprContext::Load
                    && self.is_name(&subscript.value)
                    && (subscript.ctx == ExprContext::Del
                        || matches!(*subscript.slice, Expr::Slice(_))) =>
            {
                self.shrunk = true;
            }
            Expr::Call(call) => {
                if let Some((receiver, method, call)) = method_call(expr)
                    && self.is_name(receiver)
                {
                    self.method(method, call);
                }
                self.escapes_into(call);
            }
            Expr::Lambda(_) => return,
            _ => {}
        }
        visitor::walk_expr(self, expr);
    }
}
