use crate::checker::{Checker, CostRange};
use crate::parse::Ranged;
use crate::parse::ast::{self, Expr};
use crate::rules::cache_on_method::cache_decorator;
use crate::violation::{Violation, violation};

/// Annotations whose values are unbounded in number.
const UNBOUNDED_ANNOTATIONS: &[&str] = &["str", "bytes", "float", "object", "Any", "tuple"];

violation! {
    /// ## What it does
    /// Finds `@functools.cache` or `@functools.lru_cache(maxsize=None)` on a function (not a
    /// method: see PYR301) that takes unbounded inputs: a parameter annotated `str`, `bytes`,
    /// `float`, `object`, `Any` or `tuple`, or `*args` / `**kwargs`. Unannotated parameters are
    /// not guessed at.
    ///
    /// ## Why is this bad?
    /// An unbounded cache keeps one entry per distinct argument tuple for the life of the
    /// process. With inputs such as user-provided strings or floats, the number of distinct
    /// keys has no bound: memory grows steadily (a leak under load), and lookups in a huge
    /// dict lose cache locality. A bounded `lru_cache(maxsize=N)` keeps the hot entries.
    ///
    /// ## Example
    /// ```python
    /// import functools
    ///
    /// @functools.cache
    /// def normalise(name: str) -> str:
    ///     return unicodedata.normalize("NFKC", name).casefold()
    /// ```
    ///
    /// Use instead:
    /// ```python
    /// import functools
    ///
    /// @functools.lru_cache(maxsize=4096)
    /// def normalise(name: str) -> str:
    ///     return unicodedata.normalize("NFKC", name).casefold()
    /// ```
    ///
    /// ## Expected gain
    /// Memory, not speed: 200,000 distinct 25-character strings leave 22.0 MB in a
    /// `maxsize=None` cache vs 0.73 MB with `maxsize=4096` (30x less). Off by default: the
    /// one stdlib finding (`tomllib` time-zone offsets, annotated `str`) is bounded in
    /// practice, and annotations cannot tell.
    /// (`benchmarks/rules/PYR302.py`, CPython 3.11.7, tracemalloc, on the project's 2-core machine).
    pub struct UnboundedCache {
        function: String,
        parameter: String,
    }
}

impl Violation for UnboundedCache {
    const RULE: crate::codes::Rule = crate::codes::Rule::UnboundedCache;

    fn message(&self) -> String {
        format!(
            "Unbounded cache on `{}`, whose parameter `{}` takes unboundedly many values",
            self.function, self.parameter
        )
    }

    fn fix(&self) -> Option<String> {
        Some("Bound it: `@functools.lru_cache(maxsize=...)`".to_string())
    }
}

fn annotation_name(annotation: &Expr) -> Option<&str> {
    let head = match annotation {
        Expr::Subscript(subscript) => &*subscript.value,
        other => other,
    };
    match head {
        Expr::Name(name) => Some(name.id.as_str()),
        Expr::Attribute(attr) => Some(attr.attr.as_str()),
        _ => None,
    }
}

pub(crate) fn check<'a>(checker: &mut Checker<'a>, function: &'a ast::StmtFunctionDef) {
    if checker.in_class_body() {
        return;
    }
    let Some(decorator) = function
        .decorator_list
        .iter()
        .find(|d| cache_decorator(checker, &d.expression).is_some_and(|c| c.unbounded))
    else {
        return;
    };
    let parameters = &function.parameters;
    let variadic = parameters.vararg.as_deref().or(parameters.kwarg.as_deref());
    let unbounded = match variadic {
        Some(parameter) => Some(parameter.name.as_str()),
        None => parameters.iter_non_variadic_params().find_map(|p| {
            let annotation = p.parameter.annotation.as_deref()?;
            annotation_name(annotation)
                .filter(|name| UNBOUNDED_ANNOTATIONS.contains(name))
                .map(|_| p.parameter.name.as_str())
        }),
    };
    let Some(parameter) = unbounded else {
        return;
    };
    checker.report(
        UnboundedCache {
            function: function.name.as_str().to_string(),
            parameter: parameter.to_string(),
        },
        decorator.range(),
        Some(CostRange::function(function)),
    );
}
