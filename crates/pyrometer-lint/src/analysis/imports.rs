//! Which local names refer to which imported modules or objects, file-wide.
//!
//! Imports anywhere in the file (module level or inside functions) are collected into one map,
//! `local name -> qualified name`. A name imported as two different things is dropped: the rules
//! then do not recognise it, which is the safe direction.

use rustc_hash::{FxHashMap, FxHashSet};

use crate::parse::ast::{self, Stmt};

/// `local name -> qualified name` for every `import` and `from ... import` in a file.
#[derive(Debug, Default)]
pub(crate) struct ImportMap<'a> {
    names: FxHashMap<&'a str, Box<str>>,
    /// Names bound by a plain `import a.b` (so `a` is a module object).
    modules: FxHashSet<&'a str>,
    ambiguous: FxHashSet<&'a str>,
}

impl<'a> ImportMap<'a> {
    pub(crate) fn from_suite(suite: &'a [Stmt]) -> Self {
        let mut map = ImportMap::default();
        map.walk(suite);
        map
    }

    /// The qualified name `local` was imported as, e.g. `np -> numpy`, `deepcopy -> copy.deepcopy`.
    pub(crate) fn get(&self, local: &str) -> Option<&str> {
        self.names.get(local).map(AsRef::as_ref)
    }

    /// Whether `local` was bound by `import module` (not `from ... import`).
    pub(crate) fn is_module(&self, local: &str) -> bool {
        self.modules.contains(local)
    }

    fn insert(&mut self, local: &'a str, qualified: String, is_module: bool) {
        if self.ambiguous.contains(local) {
            return;
        }
        match self.names.get(local) {
            Some(existing) if **existing != *qualified => {
                self.names.remove(local);
                self.modules.remove(local);
                self.ambiguous.insert(local);
            }
            _ => {
                self.names.insert(local, qualified.into_boxed_str());
                if is_module {
                    self.modules.insert(local);
                }
            }
        }
    }

    fn walk(&mut self, suite: &'a [Stmt]) {
        for stmt in suite {
            match stmt {
                Stmt::Import(import) => {
                    for alias in &import.names {
                        let full = alias.name.as_str();
                        match &alias.asname {
                            Some(asname) => self.insert(asname.as_str(), full.to_string(), true),
                            None => {
                                // `import a.b.c` binds `a`.
                                let head = full.split('.').next().unwrap_or(full);
                                self.insert(head, head.to_string(), true);
                            }
                        }
                    }
                }
                Stmt::ImportFrom(import) => {
                    if import.level > 0 {
                        // Relative imports name project modules we cannot resolve.
                        continue;
                    }
                    let Some(module) = &import.module else {
                        continue;
                    };
                    for alias in &import.names {
                        let name = alias.name.as_str();
                        if name == "*" {
                            continue;
                        }
                        let local = alias.asname.as_ref().unwrap_or(&alias.name).as_str();
                        self.insert(local, format!("{}.{name}", module.as_str()), false);
                    }
                }
                _ => self.walk_children(stmt),
            }
        }
    }

    fn walk_children(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::FunctionDef(function) => self.walk(&function.body),
            Stmt::ClassDef(class) => self.walk(&class.body),
            Stmt::For(ast::StmtFor { body, orelse, .. })
            | Stmt::While(ast::StmtWhile { body, orelse, .. }) => {
                self.walk(body);
                self.walk(orelse);
            }
            Stmt::If(stmt_if) => {
                self.walk(&stmt_if.body);
                for clause in &stmt_if.elif_else_clauses {
                    self.walk(&clause.body);
                }
            }
            Stmt::With(with) => self.walk(&with.body),
            Stmt::Try(stmt_try) => {
                self.walk(&stmt_try.body);
                for handler in &stmt_try.handlers {
                    let ast::ExceptHandler::ExceptHandler(handler) = handler;
                    self.walk(&handler.body);
                }
                self.walk(&stmt_try.orelse);
                self.walk(&stmt_try.finalbody);
            }
            Stmt::Match(stmt_match) => {
                for case in &stmt_match.cases {
                    self.walk(&case.body);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse_module;

    #[test]
    fn resolves_and_drops_ambiguous() {
        let parsed = parse_module(
            "import numpy as np\nimport os.path\nfrom copy import deepcopy\n\
             def f():\n    import re\n    from a import x\n    from b import x\n",
        )
        .unwrap();
        let map = ImportMap::from_suite(parsed.suite());
        assert_eq!(map.get("np"), Some("numpy"));
        assert_eq!(map.get("os"), Some("os"));
        assert!(map.is_module("os"));
        assert_eq!(map.get("deepcopy"), Some("copy.deepcopy"));
        assert!(!map.is_module("deepcopy"));
        assert_eq!(map.get("re"), Some("re"));
        assert_eq!(map.get("x"), None);
    }
}
