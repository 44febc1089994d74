use crate::checker::Checker;
use crate::codes::Rule;
use crate::parse::Ranged;
use crate::parse::ast::{self, Expr};
use crate::violation::{Violation, violation};

violation! {
    /// ## What it does
    /// Finds attribute chains on an imported module (`os.path.join`, `math.sqrt`) evaluated
    /// inside a loop in a function, once per loop and chain. The module must be bound by a
    /// plain `import` statement.
    ///
    /// ## Why is this bad?
    /// Each iteration loads the module from globals and then looks each attribute up in the
    /// module's dict (`os.path.join` is a global lookup plus two attribute lookups). Binding
    /// the final object to a local (`join = os.path.join`) or importing it by name does the
    /// lookups once. CPython 3.11 caches these lookups too, so the gain is modest (see the
    /// measured gain) and the rule is off by default.
    ///
    /// ## Example
    /// ```python
    /// import os
    ///
    /// def full_paths(root, names):
    ///     return [os.path.join(root, n) for n in names]
    /// ```
    ///
    /// Use instead:
    /// ```python
    /// from os.path import join
    ///
    /// def full_paths(root, names):
    ///     return [join(root, n) for n in names]
    /// ```
    ///
    /// ## Expected gain
    /// None measurable on CPython 3.11: `os.path.join` 10,000 times 6.53 ms -> 6.52 ms;
    /// `math.sqrt` 491 us -> 489 us (1.00x). Attribute caches make the lookups cheap; the rule
    /// matters on older Pythons.
    /// (`benchmarks/rules/PYR502.py`, CPython 3.11.7, CPU time, on the project's 2-core machine).
    pub struct DottedLookupInLoop {
        chain: String,
        lookups: usize,
    }
}

impl Violation for DottedLookupInLoop {
    const RULE: crate::codes::Rule = crate::codes::Rule::DottedLookupInLoop;

    fn message(&self) -> String {
        format!(
            "`{}` costs {} attribute lookup(s) on a module on every iteration",
            self.chain, self.lookups
        )
    }

    fn fix(&self) -> Option<String> {
        Some(format!(
            "Bind it once before the loop (`name = {}`) or import it by name",
            self.chain
        ))
    }
}

pub(crate) fn check<'a>(checker: &mut Checker<'a>, attr: &'a ast::ExprAttribute) {
    if !checker.in_function() {
        return;
    }
    let mut lookups = 1usize;
    let mut base = &*attr.value;
    while let Expr::Attribute(inner) = base {
        lookups += 1;
        base = &inner.value;
    }
    let Expr::Name(module) = base else {
        return;
    };
    let id = module.id.as_str();
    if !checker.imports.is_module(id) || checker.qualified_name(base).is_none() {
        return;
    }
    let chain = checker.text(attr);
    let Some(ctx) = checker.current_loop() else {
        return;
    };
    let (anchor, cost) = (ctx.start(), ctx.cost());
    if !checker.first_time(Rule::DottedLookupInLoop, anchor, chain) {
        return;
    }
    checker.report(
        DottedLookupInLoop {
            chain: chain.to_string(),
            lookups,
        },
        attr.range(),
        Some(cost),
    );
}
