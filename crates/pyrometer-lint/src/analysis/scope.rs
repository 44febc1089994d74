//! The names a scope binds, how, and (when every binding agrees) their type.
//!
//! A scope is a module, class or function body. Its bindings are found by walking its statements
//! (through compound statements, not into nested functions or classes, whose names are bound but
//! whose bodies are other scopes). Walrus targets and `match` captures are not tracked: a rule
//! that asks about such a name sees "not bound here", and every rule that relies on that answer
//! is off by default.

use rustc_hash::FxHashMap;

use crate::analysis::imports::ImportMap;
use crate::analysis::types::{InferCtx, Ty};
use crate::parse::ast::{self, Expr, Stmt};

/// How a name got bound in a scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BindingKind {
    /// A function parameter.
    Parameter,
    /// `import`/`from ... import`.
    Import,
    /// `x = ...`, `x: T = ...`, `x += ...`.
    Assignment,
    /// `def`, `class`, loop targets, `with ... as`, `except ... as`, unpacking, `del`.
    Other,
    /// Declared `global` or `nonlocal`: not a local of this scope.
    Declared,
}

/// One name's bindings in one scope.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Binding<'a> {
    pub(crate) kind: BindingKind,
    pub(crate) ty: Ty,
    /// How many statements bind it.
    pub(crate) count: u32,
    /// The assigned value, when the name is bound by exactly one plain assignment.
    pub(crate) value: Option<&'a Expr>,
    /// Every known type any binding gave it (bits of [`Ty::bit`]; `Unknown` is not recorded).
    pub(crate) seen: u32,
}

impl Binding<'_> {
    /// Whether some binding gives the name a known type other than these.
    pub(crate) fn ever_other_than(&self, allowed: &[Ty]) -> bool {
        let allowed = allowed.iter().fold(0, |bits, ty| bits | ty.bit());
        self.seen & !allowed != 0
    }
}

/// All bindings of one scope.
#[derive(Debug, Default)]
pub(crate) struct Bindings<'a> {
    map: FxHashMap<&'a str, Binding<'a>>,
}

impl<'a> Bindings<'a> {
    /// Collects the bindings of a function (with its parameters) or module/class body.
    pub(crate) fn collect(
        body: &'a [Stmt],
        parameters: Option<&'a ast::Parameters>,
        imports: &ImportMap<'a>,
    ) -> Self {
        let mut bindings = Bindings::default();
        if let Some(parameters) = parameters {
            for parameter in parameters.iter() {
                let parameter = parameter.as_parameter();
                let ty = parameter.annotation().map_or(Ty::Unknown, |annotation| {
                    InferCtx {
                        imports,
                        bindings: &bindings,
                    }
                    .annotation(annotation)
                });
                bindings.bind(parameter.name.as_str(), BindingKind::Parameter, ty, None);
            }
        }
        bindings.walk(body, imports);
        bindings
    }

    pub(crate) fn get(&self, name: &str) -> Option<&Binding<'a>> {
        self.map.get(name)
    }

    /// Whether the name is bound in this scope (declared `global`/`nonlocal` names are not).
    pub(crate) fn contains(&self, name: &str) -> bool {
        self.map
            .get(name)
            .is_some_and(|binding| binding.kind != BindingKind::Declared)
    }

    pub(crate) fn is_import(&self, name: &str) -> bool {
        self.map
            .get(name)
            .is_some_and(|binding| binding.kind == BindingKind::Import)
    }

    /// The inferred type of a local name, `Unknown` if unbound or ambiguous.
    pub(crate) fn ty(&self, name: &str) -> Ty {
        match self.map.get(name) {
            Some(binding) if binding.kind != BindingKind::Declared => binding.ty,
            _ => Ty::Unknown,
        }
    }

    fn bind(&mut self, name: &'a str, kind: BindingKind, ty: Ty, value: Option<&'a Expr>) {
        match self.map.get_mut(name) {
            Some(existing) => {
                if existing.kind == BindingKind::Declared {
                    return;
                }
                existing.ty = existing.ty.join(ty);
                if ty != Ty::Unknown {
                    existing.seen |= ty.bit();
                }
                existing.count += 1;
                existing.value = None;
                if existing.kind != kind && existing.kind != BindingKind::Import {
                    existing.kind = if kind == BindingKind::Import {
                        BindingKind::Import
                    } else {
                        BindingKind::Other
                    };
                }
            }
            None => {
                self.map.insert(
                    name,
                    Binding {
                        kind,
                        ty,
                        count: 1,
                        value,
                        seen: if ty == Ty::Unknown { 0 } else { ty.bit() },
                    },
                );
            }
        }
    }

    fn declare(&mut self, name: &'a str) {
        self.map.insert(
            name,
            Binding {
                kind: BindingKind::Declared,
                ty: Ty::Unknown,
                count: 0,
                value: None,
                seen: 0,
            },
        );
    }

    fn infer(&self, imports: &ImportMap<'a>, expr: &Expr) -> Ty {
        InferCtx {
            imports,
            bindings: self,
        }
        .infer(expr)
    }

    fn bind_target(&mut self, target: &'a Expr, value: Option<&'a Expr>, imports: &ImportMap<'a>) {
        match target {
            Expr::Name(name) => {
                let ty = value.map_or(Ty::Unknown, |value| self.infer(imports, value));
                let kind = if value.is_some() {
                    BindingKind::Assignment
                } else {
                    BindingKind::Other
                };
                self.bind(name.id.as_str(), kind, ty, value);
            }
            Expr::Tuple(ast::ExprTuple { elts, .. }) | Expr::List(ast::ExprList { elts, .. }) => {
                // `a, b = [], {}` binds each name to its own value; any other unpacking binds
                // values that are not in the source.
                let values = match value {
                    Some(
                        Expr::Tuple(ast::ExprTuple { elts: values, .. })
                        | Expr::List(ast::ExprList { elts: values, .. }),
                    ) if values.len() == elts.len()
                        && !values.iter().chain(elts).any(Expr::is_starred_expr) =>
                    {
                        Some(values)
                    }
                    _ => None,
                };
                for (index, elt) in elts.iter().enumerate() {
                    let value = values.and_then(|values| values.get(index));
                    self.bind_target(elt, value, imports);
                }
            }
            Expr::Starred(starred) => self.bind_target(&starred.value, None, imports),
            _ => {}
        }
    }

    fn walk(&mut self, body: &'a [Stmt], imports: &ImportMap<'a>) {
        for stmt in body {
            match stmt {
                Stmt::Assign(assign) => {
                    for target in &assign.targets {
                        self.bind_target(target, Some(&assign.value), imports);
                    }
                }
                Stmt::AnnAssign(assign) => {
                    if let Expr::Name(name) = &*assign.target {
                        let declared = InferCtx {
                            imports,
                            bindings: self,
                        }
                        .annotation(&assign.annotation);
                        let ty = match (&assign.value, declared) {
                            (_, ty) if ty != Ty::Unknown => ty,
                            (Some(value), _) => self.infer(imports, value),
                            (None, _) => Ty::Unknown,
                        };
                        if assign.value.is_some() || declared != Ty::Unknown {
                            self.bind(
                                name.id.as_str(),
                                BindingKind::Assignment,
                                ty,
                                assign.value.as_deref(),
                            );
                        }
                    }
                }
                Stmt::AugAssign(assign) => {
                    if let Expr::Name(name) = &*assign.target {
                        let id = name.id.as_str();
                        // `x += y` keeps x's type (or fails at run time).
                        let ty = self.map.get(id).map_or(Ty::Unknown, |b| b.ty);
                        self.bind(id, BindingKind::Assignment, ty, None);
                    }
                }
                Stmt::For(stmt_for) => {
                    self.bind_target(&stmt_for.target, None, imports);
                    self.walk(&stmt_for.body, imports);
                    self.walk(&stmt_for.orelse, imports);
                }
                Stmt::While(stmt_while) => {
                    self.walk(&stmt_while.body, imports);
                    self.walk(&stmt_while.orelse, imports);
                }
                Stmt::If(stmt_if) => {
                    self.walk(&stmt_if.body, imports);
                    for clause in &stmt_if.elif_else_clauses {
                        self.walk(&clause.body, imports);
                    }
                }
                Stmt::With(with) => {
                    for item in &with.items {
                        if let Some(vars) = &item.optional_vars {
                            if let Expr::Name(name) = &**vars {
                                // `with open(...) as f` binds a file; keep only types that a
                                // context manager returns as itself.
                                let ty = match self.infer(imports, &item.context_expr) {
                                    ty @ (Ty::File | Ty::ThreadPool) => ty,
                                    _ => Ty::Unknown,
                                };
                                self.bind(name.id.as_str(), BindingKind::Other, ty, None);
                            } else {
                                self.bind_target(vars, None, imports);
                            }
                        }
                    }
                    self.walk(&with.body, imports);
                }
                Stmt::Try(stmt_try) => {
                    self.walk(&stmt_try.body, imports);
                    for handler in &stmt_try.handlers {
                        let ast::ExceptHandler::ExceptHandler(handler) = handler;
                        if let Some(name) = &handler.name {
                            self.bind(name.as_str(), BindingKind::Other, Ty::Unknown, None);
                        }
                        self.walk(&handler.body, imports);
                    }
                    self.walk(&stmt_try.orelse, imports);
                    self.walk(&stmt_try.finalbody, imports);
                }
                Stmt::Match(stmt_match) => {
                    for case in &stmt_match.cases {
                        self.walk(&case.body, imports);
                    }
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
                        self.bind(local, BindingKind::Import, Ty::Unknown, None);
                    }
                }
                Stmt::ImportFrom(import) => {
                    for alias in &import.names {
                        let local = alias.asname.as_ref().unwrap_or(&alias.name).as_str();
                        if local != "*" {
                            self.bind(local, BindingKind::Import, Ty::Unknown, None);
                        }
                    }
                }
                Stmt::FunctionDef(function) => {
                    self.bind(
                        function.name.as_str(),
                        BindingKind::Other,
                        Ty::Unknown,
                        None,
                    );
                }
                Stmt::ClassDef(class) => {
                    self.bind(class.name.as_str(), BindingKind::Other, Ty::Unknown, None);
                }
                Stmt::Delete(delete) => {
                    for target in &delete.targets {
                        if let Expr::Name(name) = target {
                            self.bind(name.id.as_str(), BindingKind::Other, Ty::Unknown, None);
                        }
                    }
                }
                Stmt::Global(ast::StmtGlobal { names, .. })
                | Stmt::Nonlocal(ast::StmtNonlocal { names, .. }) => {
                    for name in names {
                        self.declare(name.as_str());
                    }
                }
                Stmt::TypeAlias(alias) => {
                    self.bind_target(&alias.name, None, imports);
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse_module;

    fn types(source: &str) -> Vec<(String, Ty)> {
        let parsed = parse_module(source).unwrap();
        let imports = ImportMap::from_suite(parsed.suite());
        let bindings = Bindings::collect(parsed.suite(), None, &imports);
        let mut out: Vec<_> = bindings
            .map
            .iter()
            .map(|(name, binding)| ((*name).to_string(), binding.ty))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    #[test]
    fn infers_from_literals_calls_and_annotations() {
        let got = types(
            "import numpy as np\nfrom collections import deque\n\
             a = ''\nb = f'{a}'\nc = str(1)\nd = []\ne = deque()\nf = np.zeros(3)\n\
             g: list[int] = make()\nh = a.strip()\ni = ', '.join(d)\n",
        );
        let get = |name: &str| got.iter().find(|(n, _)| n == name).unwrap().1;
        assert_eq!(get("a"), Ty::Str);
        assert_eq!(get("b"), Ty::Str);
        assert_eq!(get("c"), Ty::Str);
        assert_eq!(get("d"), Ty::List);
        assert_eq!(get("e"), Ty::Deque);
        assert_eq!(get("f"), Ty::NdArray);
        assert_eq!(get("g"), Ty::List);
        assert_eq!(get("h"), Ty::Str);
        assert_eq!(get("i"), Ty::Str);
    }

    #[test]
    fn conflicting_bindings_are_unknown() {
        let got = types("x = ''\nx = []\nfor y in z:\n    pass\ny = 1\nw = 1\nw += 2\n");
        let get = |name: &str| got.iter().find(|(n, _)| n == name).unwrap().1;
        assert_eq!(get("x"), Ty::Unknown);
        assert_eq!(get("y"), Ty::Unknown);
        assert_eq!(get("w"), Ty::Int);
    }

    #[test]
    fn parallel_assignment_binds_each_value() {
        let got =
            types("a, b = [], {}\n[c, d] = '', 1\ne, f = g = [], []\nh, *i = [], []\nj, k = z\n");
        let get = |name: &str| got.iter().find(|(n, _)| n == name).unwrap().1;
        assert_eq!(get("a"), Ty::List);
        assert_eq!(get("b"), Ty::Dict);
        assert_eq!(get("c"), Ty::Str);
        assert_eq!(get("d"), Ty::Int);
        assert_eq!(get("e"), Ty::List);
        assert_eq!(get("f"), Ty::List);
        assert_eq!(get("g"), Ty::Tuple);
        assert_eq!(get("h"), Ty::Unknown);
        assert_eq!(get("i"), Ty::Unknown);
        assert_eq!(get("j"), Ty::Unknown);
    }

    #[test]
    fn shadowed_builtin_is_not_a_constructor() {
        let got = types("def list():\n    pass\nx = list()\n");
        let get = |name: &str| got.iter().find(|(n, _)| n == name).unwrap().1;
        assert_eq!(get("x"), Ty::Unknown);
    }
}
