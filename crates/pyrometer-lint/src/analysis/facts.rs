//! What a loop body rebinds and what it may mutate.
//!
//! "Mutated" is conservative: a name counts as possibly mutated when it is rebound, when a method
//! is called on it (unless the method is known not to mutate), when it is the object of a
//! subscript or attribute store or `del`, or when it is passed to any call that is not a known
//! pure builtin (the callee could mutate it). Nested functions and lambdas in the loop are walked
//! too: they may be called in the loop.

use rustc_hash::FxHashSet;

use crate::analysis::helpers::{NON_MUTATING_METHODS, PURE_BUILTINS, target_names};
use crate::parse::ast::visitor::{self, Visitor};
use crate::parse::ast::{self, Expr, ExprContext, Stmt};

/// Facts about one loop's repeated part (target, test, body, comprehension clauses).
#[derive(Debug, Default)]
pub(crate) struct LoopFacts<'a> {
    /// Names bound anywhere in the repeated part.
    pub(crate) rebound: FxHashSet<&'a str>,
    /// `rebound` plus names whose object may be mutated.
    pub(crate) mutated: FxHashSet<&'a str>,
}

impl<'a> LoopFacts<'a> {
    pub(crate) fn for_loop(stmt: &'a ast::StmtFor) -> Self {
        let mut collector = Collector::default();
        collector.bind_target(&stmt.target);
        collector.visit_body(&stmt.body);
        collector.finish()
    }

    pub(crate) fn while_loop(stmt: &'a ast::StmtWhile) -> Self {
        let mut collector = Collector::default();
        collector.visit_expr(&stmt.test);
        collector.visit_body(&stmt.body);
        collector.finish()
    }

    /// A comprehension: every clause but the first iterable is repeated.
    pub(crate) fn comprehension(
        generators: &'a [ast::Comprehension],
        elements: &[&'a Expr],
    ) -> Self {
        let mut collector = Collector::default();
        for (index, generator) in generators.iter().enumerate() {
            collector.bind_target(&generator.target);
            if index > 0 {
                collector.visit_expr(&generator.iter);
            }
            for condition in &generator.ifs {
                collector.visit_expr(condition);
            }
        }
        for element in elements {
            collector.visit_expr(element);
        }
        collector.finish()
    }

    /// Whether the name may change (be rebound or mutated) during the loop.
    pub(crate) fn may_change(&self, name: &str) -> bool {
        self.mutated.contains(name)
    }
}

#[derive(Default)]
struct Collector<'a> {
    rebound: FxHashSet<&'a str>,
    mutated: FxHashSet<&'a str>,
}

impl<'a> Collector<'a> {
    fn finish(self) -> LoopFacts<'a> {
        let mut mutated = self.mutated;
        mutated.extend(self.rebound.iter().copied());
        LoopFacts {
            rebound: self.rebound,
            mutated,
        }
    }

    fn bind_target(&mut self, target: &'a Expr) {
        let mut names = Vec::new();
        target_names(target, &mut names);
        self.rebound.extend(names);
        self.visit_expr(target);
    }

    /// The name at the root of `x`, `x.a`, `x[i]`, `x.a[i].b`.
    fn root_name(expr: &'a Expr) -> Option<&'a str> {
        match expr {
            Expr::Name(name) => Some(name.id.as_str()),
            Expr::Attribute(attr) => Self::root_name(&attr.value),
            Expr::Subscript(subscript) => Self::root_name(&subscript.value),
            _ => None,
        }
    }
}

impl<'a> Visitor<'a> for Collector<'a> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::FunctionDef(function) => {
                self.rebound.insert(function.name.as_str());
            }
            Stmt::ClassDef(class) => {
                self.rebound.insert(class.name.as_str());
            }
            Stmt::Import(import) => {
                for alias in &import.names {
                    let local = match &alias.asname {
                        Some(asname) => asname.as_str(),
                        None => {
                            let full = alias.name.as_str();
                            full.split('.').next().unwrap_or(full)
                        }
                    };
                    self.rebound.insert(local);
                }
            }
            Stmt::ImportFrom(import) => {
                for alias in &import.names {
                    self.rebound
                        .insert(alias.asname.as_ref().unwrap_or(&alias.name).as_str());
                }
            }
            Stmt::Global(ast::StmtGlobal { names, .. })
            | Stmt::Nonlocal(ast::StmtNonlocal { names, .. }) => {
                for name in names {
                    self.rebound.insert(name.as_str());
                }
            }
            Stmt::Try(stmt_try) => {
                for handler in &stmt_try.handlers {
                    let ast::ExceptHandler::ExceptHandler(handler) = handler;
                    if let Some(name) = &handler.name {
                        self.rebound.insert(name.as_str());
                    }
                }
            }
            _ => {}
        }
        visitor::walk_stmt(self, stmt);
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        match expr {
            Expr::Name(name) if name.ctx != ExprContext::Load => {
                self.rebound.insert(name.id.as_str());
            }
            Expr::Subscript(ast::ExprSubscript { value, ctx, .. })
            | Expr::Attribute(ast::ExprAttribute { value, ctx, .. })
                if *ctx != ExprContext::Load =>
            {
                if let Some(root) = Self::root_name(value) {
                    self.mutated.insert(root);
                }
            }
            Expr::Call(call) => {
                let pure = match &*call.func {
                    Expr::Name(func) => PURE_BUILTINS.contains(&func.id.as_str()),
                    Expr::Attribute(attr) => {
                        let method = attr.attr.as_str();
                        if !NON_MUTATING_METHODS.contains(&method)
                            && let Some(root) = Self::root_name(&attr.value)
                        {
                            self.mutated.insert(root);
                        }
                        false
                    }
                    _ => false,
                };
                if !pure {
                    for arg in &call.arguments.args {
                        let arg = match arg {
                            Expr::Starred(starred) => &*starred.value,
                            other => other,
                        };
                        if let Some(root) = Self::root_name(arg) {
                            self.mutated.insert(root);
                        }
                    }
                    for keyword in &call.arguments.keywords {
                        if let Some(root) = Self::root_name(&keyword.value) {
                            self.mutated.insert(root);
                        }
                    }
                }
            }
            _ => {}
        }
        visitor::walk_expr(self, expr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse_module;

    fn facts_of_first_loop(source: &str) -> (Vec<String>, Vec<String>) {
        let parsed = parse_module(source).unwrap();
        let Stmt::For(stmt) = &parsed.suite()[0] else {
            panic!("expected a for loop");
        };
        let facts = LoopFacts::for_loop(stmt);
        let mut rebound: Vec<_> = facts.rebound.iter().map(ToString::to_string).collect();
        let mut mutated: Vec<_> = facts.mutated.iter().map(ToString::to_string).collect();
        rebound.sort();
        mutated.sort();
        (rebound, mutated)
    }

    #[test]
    fn collects_rebinding_and_mutation() {
        let (rebound, mutated) = facts_of_first_loop(
            "for i, x in items:\n    a.append(x)\n    b[i] = 1\n    c = 2\n    len(d)\n    \
             e.count(1)\n    f(g)\n    h.attr.method()\n",
        );
        assert_eq!(rebound, ["c", "i", "x"]);
        assert_eq!(mutated, ["a", "b", "c", "g", "h", "i", "x"]);
    }
}
