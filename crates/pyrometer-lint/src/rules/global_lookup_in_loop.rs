use crate::analysis::helpers::BUILTINS;
use crate::analysis::scope::BindingKind;
use crate::checker::Checker;
use crate::codes::Rule;
use crate::parse::Ranged;
use crate::parse::ast;
use crate::violation::{Violation, violation};

violation! {
    /// ## What it does
    /// Finds module-level names (variables, functions, classes; not imported modules, see
    /// PYR502) and builtins read inside a loop in a function, once per loop and name. Exception
    /// classes and dunder names are skipped, and so are a comprehension's own targets (which
    /// shadow a global of the same name) and the annotations of local variables (which CPython
    /// never evaluates).
    ///
    /// ## Why is this bad?
    /// A local variable is read by index from the frame (`LOAD_FAST`); a global or builtin goes
    /// through `LOAD_GLOBAL`. CPython 3.11 specialises `LOAD_GLOBAL` with a version-checked
    /// cache, so the difference is now small (see the measured gain), which is why the rule is
    /// off by default; it still adds up in the hottest loops, and on older Pythons.
    ///
    /// ## Example
    /// ```python
    /// SCALE = 2.5
    ///
    /// def scaled(values):
    ///     return [v * SCALE for v in values]
    /// ```
    ///
    /// Use instead:
    /// ```python
    /// SCALE = 2.5
    ///
    /// def scaled(values, scale=SCALE):
    ///     return [v * scale for v in values]
    /// ```
    ///
    /// ## Expected gain
    /// 1.16x faster reading a module global 100,000 times in a loop via a local
    /// (3.44 ms -> 2.95 ms); 1.10x for a builtin call (3.53 ms -> 3.21 ms). Small on 3.11.
    /// (`benchmarks/rules/PYR501.py`, CPython 3.11.7, CPU time, on the project's 2-core machine).
    pub struct GlobalLookupInLoop {
        name: String,
        builtin: bool,
    }
}

impl Violation for GlobalLookupInLoop {
    const RULE: crate::codes::Rule = crate::codes::Rule::GlobalLookupInLoop;

    fn message(&self) -> String {
        let kind = if self.builtin { "Builtin" } else { "Global" };
        format!(
            "{kind} `{}` is looked up on every iteration of the loop",
            self.name
        )
    }

    fn fix(&self) -> Option<String> {
        // Not `{0} = {0}`: an assignment makes the name local to the whole function, so the
        // right-hand side would raise `UnboundLocalError`.
        // `_x` for `x`; `x_` for `_x` (`__x` would be name-mangled in a class).
        let local = if self.name.starts_with('_') {
            format!("{}_", self.name)
        } else {
            format!("_{}", self.name)
        };
        Some(format!(
            "Bind it to a local under another name before the loop (`{local} = {0}`, then use \
             `{local}` in the loop), or pass it as a default argument (`{0}={0}`)",
            self.name
        ))
    }
}

pub(crate) fn check<'a>(checker: &mut Checker<'a>, name: &'a ast::ExprName) {
    if !checker.in_function() {
        return;
    }
    let id = name.id.as_str();
    if id.starts_with("__")
        || id.ends_with("Error")
        || id.ends_with("Exception")
        || id.ends_with("Warning")
        || checker.is_bound_in_functions(id)
        || checker.is_comprehension_target(id)
    {
        return;
    }
    let builtin = match checker.module_binding(id) {
        Some(binding) => match binding.kind {
            BindingKind::Assignment | BindingKind::Other => false,
            _ => return,
        },
        None if BUILTINS.contains(&id) => true,
        None => return,
    };
    let Some(ctx) = checker.current_loop() else {
        return;
    };
    let (anchor, cost) = (ctx.start(), ctx.cost());
    if !checker.first_time(Rule::GlobalLookupInLoop, anchor, id) {
        return;
    }
    checker.report(
        GlobalLookupInLoop {
            name: id.to_string(),
            builtin,
        },
        name.range(),
        Some(cost),
    );
}
