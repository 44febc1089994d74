use crate::analysis::types::Ty;
use crate::checker::Checker;
use crate::parse::Ranged;
use crate::parse::ast::{self, CmpOp, Expr};
use crate::violation::{Violation, violation};

/// Literals shorter than this are scanned about as fast as a set is hashed.
const MIN_LITERAL_LEN: usize = 8;

violation! {
    /// ## What it does
    /// Finds `item in x` / `item not in x` inside a loop (including comprehension conditions
    /// and `while` tests), where `x` is a local name bound to a list or tuple in the same scope
    /// (not used by nested functions, which could change it), and the
    /// loop neither rebinds nor may mutate `x` (no method calls on it, no item assignment, not
    /// passed to a function that could change it). Names bound once to a short non-empty literal
    /// (fewer than 8 items) are left alone.
    ///
    /// ## Why is this bad?
    /// Membership in a list or tuple compares against every item: O(n) per test, so O(n·m)
    /// for the loop. A `set` (or `frozenset`) built once before the loop answers in O(1) on
    /// average. The items must be hashable.
    ///
    /// ## Example
    /// ```python
    /// def known(words, vocabulary_list):
    ///     vocabulary = list(vocabulary_list)
    ///     return [w for w in words if w in vocabulary]
    /// ```
    ///
    /// Use instead:
    /// ```python
    /// def known(words, vocabulary_list):
    ///     vocabulary = set(vocabulary_list)
    ///     return [w for w in words if w in vocabulary]
    /// ```
    ///
    /// ## Expected gain
    /// 177x faster for 1,000 membership tests against a 1,000-item list
    /// (7.36 ms -> 0.041 ms, set construction included). The gain grows with the list length.
    /// (`benchmarks/rules/PYR103.py`, CPython 3.11.7, CPU time, on the project's 2-core machine).
    pub struct ListMembershipInLoop {
        container: String,
        kind: &'static str,
    }
}

impl Violation for ListMembershipInLoop {
    const RULE: crate::codes::Rule = crate::codes::Rule::ListMembershipInLoop;

    fn message(&self) -> String {
        format!(
            "Membership test on {} `{}` inside a loop scans it every time",
            self.kind, self.container
        )
    }

    fn fix(&self) -> Option<String> {
        Some(format!(
            "Build `set({})` once before the loop and test against the set (items must be \
             hashable)",
            self.container
        ))
    }
}

pub(crate) fn check<'a>(checker: &mut Checker<'a>, compare: &'a ast::ExprCompare) {
    for (op, comparator) in compare.ops.iter().zip(compare.comparators.iter()) {
        if !matches!(op, CmpOp::In | CmpOp::NotIn) {
            continue;
        }
        let Expr::Name(name) = comparator else {
            continue;
        };
        let id = name.id.as_str();
        if !checker.is_private_local(id) {
            continue;
        }
        let Some(binding) = checker.lookup(id) else {
            continue;
        };
        let kind = match binding.ty {
            Ty::List => "list",
            Ty::Tuple => "tuple",
            _ => continue,
        };
        if let Some(value) = binding.value {
            let len = match value {
                Expr::List(list) => Some(list.elts.len()),
                Expr::Tuple(tuple) => Some(tuple.elts.len()),
                // `"a b c".split()`
                Expr::Call(call) => match &*call.func {
                    Expr::Attribute(attr) if attr.attr.as_str() == "split" => match &*attr.value {
                        Expr::StringLiteral(text) => {
                            Some(text.value.to_str().split_whitespace().count())
                        }
                        _ => None,
                    },
                    _ => None,
                },
                _ => None,
            };
            if len.is_some_and(|len| len > 0 && len < MIN_LITERAL_LEN) {
                continue;
            }
        }
        let Some(ctx) = checker.current_loop() else {
            return;
        };
        if ctx.facts().may_change(id) {
            continue;
        }
        let cost = ctx.cost();
        checker.report(
            ListMembershipInLoop {
                container: id.to_string(),
                kind,
            },
            compare.range(),
            Some(cost),
        );
    }
}
