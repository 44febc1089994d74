use crate::analysis::facts::LoopFacts;
use crate::analysis::helpers::{body_any, single_arg};
use crate::analysis::types::Ty;
use crate::checker::{Checker, CostRange};
use crate::parse::ast::{self, Expr, ExprContext};
use crate::parse::{Ranged, TextRange};
use crate::violation::{Violation, violation};

violation! {
    /// ## What it does
    /// Finds `for i in range(len(x)):` loops whose body uses the index only to read `x[i]`,
    /// where `x` is a name or attribute that the loop does not rebind (numpy arrays are left to
    /// PYR404; dicts are not sequences). Loops that also use `i` itself, in the body or after
    /// the loop, are not reported: `enumerate` is no faster there.
    ///
    /// ## Why is this bad?
    /// Every iteration pays for a `range` step plus an indexing operation to get the item that
    /// iterating `x` directly would hand over for free.
    ///
    /// ## Example
    /// ```python
    /// def total_length(words):
    ///     total = 0
    ///     for i in range(len(words)):
    ///         total += len(words[i])
    ///     return total
    /// ```
    ///
    /// Use instead:
    /// ```python
    /// def total_length(words):
    ///     total = 0
    ///     for word in words:
    ///         total += len(word)
    ///     return total
    /// ```
    ///
    /// ## Expected gain
    /// 1.28x faster over 10,000 items (458 us -> 356 us). When the index is used too,
    /// `enumerate` measured no faster (624 us -> 634 us), so that case is not reported.
    /// (`benchmarks/rules/PYR211.py`, CPython 3.11.7, CPU time, on the project's 2-core machine).
    pub struct RangeLenIndexing {
        sequence: String,
        index: String,
    }
}

impl Violation for RangeLenIndexing {
    const RULE: crate::codes::Rule = crate::codes::Rule::RangeLenIndexing;

    fn message(&self) -> String {
        format!(
            "Loop over `range(len({0}))` indexes `{0}[{1}]` instead of iterating `{0}`",
            self.sequence, self.index
        )
    }

    fn fix(&self) -> Option<String> {
        Some(format!(
            "Iterate the items: `for item in {}:` and use `item` for `{}[{}]`",
            self.sequence, self.sequence, self.index
        ))
    }
}

pub(crate) fn check<'a>(checker: &mut Checker<'a>, stmt: &'a ast::StmtFor) {
    let Expr::Name(index) = &*stmt.target else {
        return;
    };
    let Expr::Call(range_call) = &*stmt.iter else {
        return;
    };
    if !checker.is_builtin(&range_call.func, "range") {
        return;
    }
    let Some(Expr::Call(len_call)) = single_arg(range_call) else {
        return;
    };
    if !checker.is_builtin(&len_call.func, "len") {
        return;
    }
    let Some(sequence) = single_arg(len_call) else {
        return;
    };
    let root = match sequence {
        Expr::Name(name) => name.id.as_str(),
        Expr::Attribute(attr) => match &*attr.value {
            Expr::Name(name) => name.id.as_str(),
            _ => return,
        },
        _ => return,
    };
    if matches!(
        checker.ty_of(sequence),
        Ty::NdArray | Ty::Dict | Ty::DefaultDict | Ty::Counter
    ) {
        return;
    }
    let index = index.id.as_str();
    let sequence_text = checker.text(sequence);
    let mut item_reads = 0usize;
    let mut index_loads = 0usize;
    body_any(&stmt.body, false, |e| {
        match e {
            Expr::Subscript(subscript)
                if subscript.ctx == ExprContext::Load
                    && checker.text(&*subscript.value) == sequence_text
                    && matches!(&*subscript.slice, Expr::Name(n) if n.id.as_str() == index) =>
            {
                item_reads += 1;
            }
            Expr::Name(name) if name.id.as_str() == index => index_loads += 1,
            _ => {}
        }
        false
    });
    // Only when the index serves nothing but `x[i]`: with the index needed too, `enumerate`
    // measures no faster than indexing (see the gain), so there is nothing to report.
    if item_reads == 0 || index_loads > item_reads {
        return;
    }
    let facts = LoopFacts::for_loop(stmt);
    if facts.rebound.contains(root) {
        return;
    }
    // An index kept after the loop (`for i in ...: if ...: break` then `i`) is needed.
    if crate::analysis::helpers::reads_before_rebinding_in(&checker.statements_after(), index) {
        return;
    }
    let reassigns_index = body_any(
        &stmt.body,
        false,
        |e| matches!(e, Expr::Name(n) if n.id.as_str() == index && n.ctx != ExprContext::Load),
    );
    if reassigns_index {
        return;
    }
    checker.report(
        RangeLenIndexing {
            sequence: sequence_text.to_string(),
            index: index.to_string(),
        },
        TextRange::new(stmt.start(), stmt.iter.end()),
        Some(CostRange::for_loop(stmt)),
    );
}
