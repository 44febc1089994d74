use crate::checker::{Checker, CostRange};
use crate::parse::Ranged;
use crate::parse::ast::{self, Expr};
use crate::violation::{Violation, violation};

violation! {
    /// ## What it does
    /// Finds `functools.lru_cache` / `functools.cache` applied to a method (a function defined
    /// in a class body, not a `staticmethod` or `classmethod`, not `__new__`, whose first
    /// parameter is not named `cls`).
    ///
    /// ## Why is this bad?
    /// The cache belongs to the function, which lives as long as the class; its keys include
    /// `self`. Every instance the method was ever called on is kept alive by the cache (up to
    /// `maxsize` entries, or forever with `cache`), with everything it references: a memory
    /// leak that also keeps `__del__` and weak-reference callbacks from running. The instances'
    /// `__hash__`/`__eq__` also run on every call.
    ///
    /// ## Example
    /// ```python
    /// import functools
    ///
    /// class Model:
    ///     @functools.cache
    ///     def score(self, x):
    ///         return expensive(self.weights, x)
    /// ```
    ///
    /// Use instead:
    /// ```python
    /// import functools
    ///
    /// class Model:
    ///     def __init__(self, weights):
    ///         self.weights = weights
    ///         self.score = functools.lru_cache(maxsize=1024)(self._score)
    ///
    ///     def _score(self, x):
    ///         return expensive(self.weights, x)
    /// ```
    /// (a per-instance cache that dies with the instance), or `functools.cached_property` for
    /// argument-less methods, or a module-level cached function keyed by the values it needs.
    ///
    /// ## Expected gain
    /// Memory, not speed: 10,000 instances holding 10 kB each, dropped after one call,
    /// keep 103.6 MB alive through a method cache (all 10,000 instances) vs 0.9 MB with a
    /// per-instance cache (none alive): 117x less memory retained.
    /// (`benchmarks/rules/PYR301.py`, CPython 3.11.7, tracemalloc, on the project's 2-core machine).
    pub struct CacheOnMethod {
        method: String,
        decorator: &'static str,
        /// `lru_cache()` with a finite `maxsize` keeps at most that many calls' instances.
        bounded: bool,
    }
}

impl Violation for CacheOnMethod {
    const RULE: crate::codes::Rule = crate::codes::Rule::CacheOnMethod;

    fn message(&self) -> String {
        if self.bounded {
            format!(
                "`{}` on method `{}` keeps up to `maxsize` (128 by default) of the instances \
                 it was called on alive",
                self.decorator, self.method
            )
        } else {
            format!(
                "`{}` on method `{}` keeps every instance it was called on alive",
                self.decorator, self.method
            )
        }
    }

    fn fix(&self) -> Option<String> {
        Some(
            "Cache per instance (wrap the bound method in `__init__`), use \
             `functools.cached_property` (it needs an instance `__dict__`: not on a class with \
             `__slots__` alone), or cache a module-level function of the needed values"
                .to_string(),
        )
    }
}

/// A caching decorator and whether its cache is unbounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CacheDecorator {
    pub(crate) name: &'static str,
    pub(crate) unbounded: bool,
}

/// Recognises `@functools.cache`, `@lru_cache`, `@lru_cache(maxsize=None)`, `@lru_cache(None)`.
pub(crate) fn cache_decorator(checker: &Checker<'_>, decorator: &Expr) -> Option<CacheDecorator> {
    let (func, call) = match decorator {
        Expr::Call(call) => (&*call.func, Some(call)),
        other => (other, None),
    };
    let qualified = checker.qualified_name(func)?;
    match (qualified.as_str(), call) {
        ("functools.cache", None) => Some(CacheDecorator {
            name: "functools.cache",
            unbounded: true,
        }),
        ("functools.lru_cache", None) => Some(CacheDecorator {
            name: "functools.lru_cache",
            unbounded: false,
        }),
        ("functools.lru_cache", Some(call)) => {
            let maxsize = call.arguments.find_argument_value("maxsize", 0);
            let unbounded = matches!(maxsize, Some(Expr::NoneLiteral(_)));
            Some(CacheDecorator {
                name: "functools.lru_cache",
                unbounded,
            })
        }
        _ => None,
    }
}

pub(crate) fn check<'a>(checker: &mut Checker<'a>, function: &'a ast::StmtFunctionDef) {
    if !checker.in_class_body() {
        return;
    }
    let mut found = None;
    for decorator in &function.decorator_list {
        let expression = &decorator.expression;
        if let Expr::Name(name) = expression
            && matches!(name.id.as_str(), "staticmethod" | "classmethod")
        {
            return;
        }
        if let Some(cache) = cache_decorator(checker, expression) {
            found = Some((cache, decorator.range()));
        }
    }
    let Some((cache, range)) = found else {
        return;
    };
    // `__new__` and friends receive the class, as do methods whose first parameter says so
    // (metaclass methods): classes live as long as the cache anyway.
    if matches!(
        function.name.as_str(),
        "__new__" | "__init_subclass__" | "__class_getitem__"
    ) {
        return;
    }
    let first = function
        .parameters
        .posonlyargs
        .iter()
        .chain(&function.parameters.args)
        .next();
    match first.map(|p| p.parameter.name.as_str()) {
        None | Some("cls" | "mcs" | "mcls" | "metacls") => return,
        Some(_) => {}
    }
    checker.report(
        CacheOnMethod {
            method: function.name.as_str().to_string(),
            decorator: cache.name,
            bounded: !cache.unbounded,
        },
        range,
        Some(CostRange::function(function)),
    );
}
