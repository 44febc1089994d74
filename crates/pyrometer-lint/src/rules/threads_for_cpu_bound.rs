use crate::analysis::helpers::{body_any, stmts_any};
use crate::analysis::types::Ty;
use crate::checker::{Checker, CostRange};
use crate::parse::Ranged;
use crate::parse::ast::{self, Expr, Stmt};
use crate::violation::{Violation, violation};

/// Builtins that compute without I/O and without releasing the GIL.
const CPU_BUILTINS: &[&str] = &[
    "abs",
    "all",
    "any",
    "bool",
    "chr",
    "dict",
    "divmod",
    "enumerate",
    "filter",
    "float",
    "hash",
    "int",
    "isinstance",
    "len",
    "list",
    "map",
    "max",
    "min",
    "ord",
    "pow",
    "range",
    "reversed",
    "round",
    "set",
    "sorted",
    "str",
    "sum",
    "tuple",
    "zip",
];

/// Methods of builtin containers and strings (no I/O, GIL held).
/// (`get`, `pop`, `update` and the like are left out: too many non-container objects have them.)
const CPU_METHODS: &[&str] = &[
    "append",
    "extend",
    "add",
    "items",
    "keys",
    "values",
    "split",
    "join",
    "strip",
    "lower",
    "upper",
    "replace",
    "startswith",
    "endswith",
    "count",
    "index",
    "setdefault",
    "sort",
    "format",
    "copy",
    "insert",
    "remove",
    "discard",
];

violation! {
    /// ## What it does
    /// Finds threads started on pure-Python CPU-bound work: `threading.Thread(target=f)`, or
    /// `executor.submit(f, ...)` / `executor.map(f, ...)` on a `ThreadPoolExecutor` (or
    /// `multiprocessing.pool.ThreadPool`), where `f` is a function of the same module that
    /// contains a loop and calls nothing but numeric builtins, `math` functions, methods of
    /// builtin containers and strings, and other such functions of the module.
    ///
    /// ## Why is this bad?
    /// On CPython (with the GIL) only one thread runs Python bytecode at a time. CPU-bound
    /// Python code in N threads takes as long as running it serially, plus switching overhead.
    /// Processes (`ProcessPoolExecutor`, `multiprocessing`) run on separate cores; or the work
    /// can move into code that releases the GIL (numpy, hashlib, zlib, ...).
    ///
    /// ## Example
    /// ```python
    /// from concurrent.futures import ThreadPoolExecutor
    ///
    /// def count_primes(limit):
    ///     return sum(1 for n in range(2, limit) if all(n % d for d in range(2, int(n**0.5) + 1)))
    ///
    /// with ThreadPoolExecutor() as pool:
    ///     results = list(pool.map(count_primes, [50_000] * 4))
    /// ```
    ///
    /// Use instead:
    /// ```python
    /// from concurrent.futures import ProcessPoolExecutor
    ///
    /// if __name__ == "__main__":
    ///     with ProcessPoolExecutor() as pool:
    ///         results = list(pool.map(count_primes, [50_000] * 4))
    /// ```
    ///
    /// ## Expected gain
    /// Wall time of 4 prime-counting tasks on 2 workers (pool start-up included), measured
    /// while other jobs kept the 2-core machine at a load average of 4.5: serial 557 ms,
    /// 2 threads 803 ms (slower than serial: the GIL plus contention), 2 processes 667 ms
    /// (1.20x faster than threads). On idle cores processes approach a 2x speed-up over
    /// serial; threads never do.
    /// (`benchmarks/rules/PYR405.py`, CPython 3.11.7, wall time, on the project's 2-core machine).
    pub struct ThreadsForCpuBound {
        function: String,
    }
}

impl Violation for ThreadsForCpuBound {
    const RULE: crate::codes::Rule = crate::codes::Rule::ThreadsForCpuBound;

    fn message(&self) -> String {
        format!(
            "Threads run `{}`, which is pure-Python CPU-bound work: the GIL serialises them",
            self.function
        )
    }

    fn fix(&self) -> Option<String> {
        Some(
            "Use processes (`concurrent.futures.ProcessPoolExecutor`, `multiprocessing`) or move \
             the work into a library that releases the GIL"
                .to_string(),
        )
    }
}

fn is_cpu_bound(checker: &Checker<'_>, function: &ast::StmtFunctionDef, depth: u32) -> bool {
    if function.is_async || depth > 2 {
        return false;
    }
    let body = &function.body;
    let has_loop = stmts_any(body, &mut |s| matches!(s, Stmt::For(_) | Stmt::While(_)))
        || body_any(body, false, |e| {
            matches!(
                e,
                Expr::ListComp(_) | Expr::SetComp(_) | Expr::DictComp(_) | Expr::Generator(_)
            )
        });
    if !has_loop {
        return false;
    }
    let blocking_statement = stmts_any(body, &mut |s| {
        matches!(
            s,
            Stmt::With(_) | Stmt::Import(_) | Stmt::ImportFrom(_) | Stmt::FunctionDef(_)
        )
    });
    if blocking_statement {
        return false;
    }
    let name = function.name.as_str();
    let other_call = body_any(body, false, |e| match e {
        Expr::Call(call) => !allowed_call(checker, call, name, depth),
        Expr::Await(_) | Expr::Yield(_) | Expr::YieldFrom(_) | Expr::Lambda(_) => true,
        _ => false,
    });
    !other_call
}

fn allowed_call(checker: &Checker<'_>, call: &ast::ExprCall, current: &str, depth: u32) -> bool {
    match &*call.func {
        Expr::Name(func) => {
            let id = func.id.as_str();
            if id == current {
                return true;
            }
            if CPU_BUILTINS.contains(&id) && checker.module_binding(id).is_none() {
                return true;
            }
            checker
                .module_functions
                .get(id)
                .is_some_and(|callee| is_cpu_bound(checker, callee, depth + 1))
        }
        Expr::Attribute(attr) => {
            if let Expr::Name(base) = &*attr.value {
                if checker.imports.get(base.id.as_str()) == Some("math") {
                    return true;
                }
                if checker.imports.get(base.id.as_str()).is_some() {
                    return false;
                }
            }
            CPU_METHODS.contains(&attr.attr.as_str())
        }
        _ => false,
    }
}

pub(crate) fn check<'a>(checker: &mut Checker<'a>, call: &'a ast::ExprCall) {
    let target = match &*call.func {
        Expr::Attribute(attr) if matches!(attr.attr.as_str(), "submit" | "map") => {
            let Expr::Name(receiver) = &*attr.value else {
                return;
            };
            if checker.ty(receiver.id.as_str()) != Ty::ThreadPool {
                return;
            }
            call.arguments.args.first()
        }
        func => {
            if checker.qualified_name(func).as_deref() != Some("threading.Thread") {
                return;
            }
            call.arguments.find_keyword("target").map(|k| &k.value)
        }
    };
    let Some(Expr::Name(target)) = target else {
        return;
    };
    let id = target.id.as_str();
    if checker.is_bound_in_functions(id) {
        return;
    }
    let Some(function) = checker.module_functions.get(id).copied() else {
        return;
    };
    if !is_cpu_bound(checker, function, 0) {
        return;
    }
    checker.report(
        ThreadsForCpuBound {
            function: id.to_string(),
        },
        call.range(),
        Some(CostRange::function(function)),
    );
}
