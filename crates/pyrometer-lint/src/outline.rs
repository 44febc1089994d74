//! A module's outline: its functions and classes with their line ranges, and the few facts the
//! profile-guided advisor (`pyrometer-advisor`) joins with a profile:
//!
//! * functions, named as CPython names their code objects (`__qualname__`: `C.m`,
//!   `f.<locals>.g`) with `co_firstlineno` (the first decorator's line, else the `def` line),
//!   so that a profile's frames can be matched to them, and the line range they span;
//! * whether a function *looks pure*: nothing in its body writes outside its own locals, does
//!   I/O, reads the clock or draws random numbers (a heuristic over the syntax: callees are not
//!   followed);
//! * classes: whether they declare `__slots__` (directly, or through
//!   `@dataclass(slots=True)` / `attrs.define`), their bases, and their `__init__`'s lines;
//! * constructor calls: `Name(...)` where `Name` is a class defined in the file or a name
//!   imported with `from … import`, with the lines of the call.
//!
//! Like the rules, the outline is built from ruff's parser; a source that does not parse has no
//! outline.

use rustc_hash::FxHashSet;

use crate::analysis::imports::ImportMap;
use crate::parse::ast::visitor::{self, Visitor};
use crate::parse::ast::{self, Expr, Stmt};
use crate::parse::{Ranged, parse_module};
use crate::source::SourceIndex;

/// The functions, classes and constructor calls of one module.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outline {
    /// Every `def` (nested ones too), in source order.
    pub functions: Vec<FunctionOutline>,
    /// Every `class`, in source order.
    pub classes: Vec<ClassOutline>,
    /// Calls of a class of this file, or of a name imported with `from … import`, by bare name.
    pub constructor_calls: Vec<ConstructorCall>,
}

/// One `def`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionOutline {
    /// `co_name`.
    pub name: String,
    /// `co_qualname`: `C.m`, `f.<locals>.g`.
    pub qualname: String,
    /// `co_firstlineno`: the line of the first decorator, else of `def`.
    pub first_line: u32,
    /// The line of the `def` keyword's name.
    pub def_line: u32,
    /// The last line of the body.
    pub last_line: u32,
    /// Defined directly in a class body.
    pub is_method: bool,
    /// Whether the body looks free of side effects.
    pub purity: Purity,
}

impl FunctionOutline {
    /// Whether `line` is inside the function (decorators included).
    pub fn contains_line(&self, line: u32) -> bool {
        (self.first_line..=self.last_line).contains(&line)
    }
}

/// What the syntax says about a function's side effects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purity {
    /// Nothing in the body writes outside its locals, does I/O, reads the clock or draws random
    /// numbers, as far as the syntax shows (the functions it calls are not followed).
    PureLooking,
    /// Why not (one reason, the first found): "stores into an attribute or item", "calls
    /// print", "a generator", "a method", …
    Impure(&'static str),
}

/// One `class`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassOutline {
    /// The class's `__name__`.
    pub name: String,
    /// The class's `__qualname__`.
    pub qualname: String,
    /// The line of the first decorator, else of `class`.
    pub first_line: u32,
    /// The line of the class's name.
    pub def_line: u32,
    /// The last line of the body.
    pub last_line: u32,
    /// The base classes and keywords as written (`Base`, `metaclass=M`).
    pub bases: Vec<String>,
    /// Whether instances have `__slots__`.
    pub slots: Slots,
    /// The lines of `__init__` (from its first decorator or `def` to its last line), if the
    /// class defines one.
    pub init_lines: Option<(u32, u32)>,
    /// The attributes `__init__` assigns on its instance (`self.x = …`), in order.
    pub attributes: Vec<String>,
}

/// Whether a class's instances carry a `__dict__`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slots {
    /// The body assigns `__slots__`, or a decorator creates them (`@dataclass(slots=True)`,
    /// `@attrs.define`, `@attr.s(slots=True)`).
    Declared,
    /// No `__slots__`: every instance has a `__dict__` (or, on 3.11+, inline values that become
    /// one).
    Missing,
    /// A kind of class where slots are beside the point or come another way (`NamedTuple`,
    /// `Enum`, `TypedDict`, `Protocol`, exceptions, subclasses of built-in value types).
    NotApplicable,
}

/// `Name(...)`: a call that constructs a class by name (when `Name` is a class).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConstructorCall {
    /// The name called.
    pub name: String,
    /// Whether `name` is a class defined in this file (else it was imported with `from`).
    pub local_class: bool,
    /// First and last line of the call expression.
    pub lines: (u32, u32),
}

/// The outline of a source text, or `None` if it does not parse.
pub fn outline_source(source: &str) -> Option<Outline> {
    let source = source.strip_prefix('\u{feff}').unwrap_or(source);
    let parsed = parse_module(source).ok()?;
    let index = SourceIndex::new(source);
    Some(outline_suite(parsed.suite(), &index))
}

pub(crate) fn outline_suite(suite: &[Stmt], index: &SourceIndex<'_>) -> Outline {
    let imports = ImportMap::from_suite(suite);
    let mut class_names = ClassNames::default();
    class_names.visit_body(suite);
    let mut walker = Walker {
        index,
        imports: &imports,
        class_names: &class_names.names,
        scopes: Vec::new(),
        outline: Outline::default(),
    };
    walker.visit_body(suite);
    walker.outline
}

#[derive(Default)]
struct ClassNames<'a> {
    names: FxHashSet<&'a str>,
}

impl<'a> Visitor<'a> for ClassNames<'a> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        if let Stmt::ClassDef(class) = stmt {
            self.names.insert(class.name.as_str());
        }
        visitor::walk_stmt(self, stmt);
    }
}

enum ScopeName<'a> {
    Function(&'a str),
    Class(&'a str),
}

struct Walker<'s, 'a> {
    index: &'s SourceIndex<'s>,
    imports: &'s ImportMap<'a>,
    class_names: &'s FxHashSet<&'a str>,
    scopes: Vec<ScopeName<'a>>,
    outline: Outline,
}

impl<'a> Walker<'_, 'a> {
    /// CPython's `__qualname__` for `name` defined in the current scope.
    fn qualname(&self, name: &str) -> String {
        let mut out = String::new();
        for scope in &self.scopes {
            match scope {
                ScopeName::Function(f) => {
                    out.push_str(f);
                    out.push_str(".<locals>.");
                }
                ScopeName::Class(c) => {
                    out.push_str(c);
                    out.push('.');
                }
            }
        }
        out.push_str(name);
        out
    }

    fn first_line(&self, decorators: &[ast::Decorator], fallback: u32) -> u32 {
        decorators
            .first()
            .map_or(fallback, |decorator| self.index.line(decorator.start()))
    }

    fn function(&mut self, function: &'a ast::StmtFunctionDef) {
        let def_line = self.index.line(function.name.start());
        let is_method = matches!(self.scopes.last(), Some(ScopeName::Class(_)));
        self.outline.functions.push(FunctionOutline {
            name: function.name.to_string(),
            qualname: self.qualname(function.name.as_str()),
            first_line: self.first_line(&function.decorator_list, def_line),
            def_line,
            last_line: self.index.last_line(function.range),
            is_method,
            purity: purity(function, is_method, self.imports),
        });
    }

    fn class(&mut self, class: &'a ast::StmtClassDef) {
        let def_line = self.index.line(class.name.start());
        let mut bases = Vec::new();
        if let Some(arguments) = &class.arguments {
            for base in &arguments.args {
                bases.push(self.index.text_of(base.range()).to_string());
            }
            for keyword in &arguments.keywords {
                bases.push(self.index.text_of(keyword.range()).to_string());
            }
        }
        let init = class.body.iter().find_map(|stmt| match stmt {
            Stmt::FunctionDef(function) if function.name.as_str() == "__init__" => Some(function),
            _ => None,
        });
        let init_lines = init.map(|function| {
            let def_line = self.index.line(function.name.start());
            (
                self.first_line(&function.decorator_list, def_line),
                self.index.last_line(function.range),
            )
        });
        let attributes = init.map(instance_attributes).unwrap_or_default();
        self.outline.classes.push(ClassOutline {
            name: class.name.to_string(),
            qualname: self.qualname(class.name.as_str()),
            first_line: self.first_line(&class.decorator_list, def_line),
            def_line,
            last_line: self.index.last_line(class.range),
            slots: slots(class, &bases),
            bases,
            init_lines,
            attributes,
        });
    }
}

impl<'a> Visitor<'a> for Walker<'_, 'a> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::FunctionDef(function) => {
                self.function(function);
                // Decorators, defaults and annotations run in the enclosing scope.
                for decorator in &function.decorator_list {
                    self.visit_decorator(decorator);
                }
                self.visit_parameters(&function.parameters);
                self.scopes
                    .push(ScopeName::Function(function.name.as_str()));
                self.visit_body(&function.body);
                self.scopes.pop();
            }
            Stmt::ClassDef(class) => {
                self.class(class);
                for decorator in &class.decorator_list {
                    self.visit_decorator(decorator);
                }
                if let Some(arguments) = &class.arguments {
                    self.visit_arguments(arguments);
                }
                self.scopes.push(ScopeName::Class(class.name.as_str()));
                self.visit_body(&class.body);
                self.scopes.pop();
            }
            _ => visitor::walk_stmt(self, stmt),
        }
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        if let Expr::Call(call) = expr
            && let Expr::Name(name) = &*call.func
        {
            let id = name.id.as_str();
            let local_class = self.class_names.contains(id);
            let imported = !local_class
                && self
                    .imports
                    .get(id)
                    .is_some_and(|_| !self.imports.is_module(id));
            if local_class || imported {
                self.outline.constructor_calls.push(ConstructorCall {
                    name: id.to_string(),
                    local_class,
                    lines: (
                        self.index.line(call.start()),
                        self.index.last_line(call.range()),
                    ),
                });
            }
        }
        visitor::walk_expr(self, expr);
    }
}

/// `self.x = …` targets of an `__init__`, in order, without repeats.
fn instance_attributes(init: &ast::StmtFunctionDef) -> Vec<String> {
    struct Stores<'a> {
        receiver: &'a str,
        names: Vec<String>,
    }
    impl<'a> Visitor<'a> for Stores<'a> {
        fn visit_stmt(&mut self, stmt: &'a Stmt) {
            let targets: &[Expr] = match stmt {
                Stmt::Assign(assign) => &assign.targets,
                Stmt::AnnAssign(assign) => std::slice::from_ref(&*assign.target),
                Stmt::AugAssign(assign) => std::slice::from_ref(&*assign.target),
                Stmt::FunctionDef(_) | Stmt::ClassDef(_) => return,
                _ => &[],
            };
            for target in targets {
                if let Expr::Attribute(attr) = target
                    && matches!(&*attr.value, Expr::Name(n) if n.id.as_str() == self.receiver)
                    && !self.names.iter().any(|n| n == attr.attr.as_str())
                {
                    self.names.push(attr.attr.to_string());
                }
            }
            visitor::walk_stmt(self, stmt);
        }
    }
    let Some(receiver) = init
        .parameters
        .posonlyargs
        .iter()
        .chain(&init.parameters.args)
        .next()
    else {
        return Vec::new();
    };
    let mut stores = Stores {
        receiver: receiver.parameter.name.as_str(),
        names: Vec::new(),
    };
    stores.visit_body(&init.body);
    stores.names
}

/// Base classes (last dotted component) whose instances need no `__slots__` advice.
const NOT_APPLICABLE_BASES: &[&str] = &[
    "NamedTuple",
    "TypedDict",
    "Protocol",
    "Enum",
    "IntEnum",
    "StrEnum",
    "Flag",
    "IntFlag",
    "Exception",
    "BaseException",
    "tuple",
    "int",
    "float",
    "str",
    "bytes",
    "type",
    "ABCMeta",
];

fn slots(class: &ast::StmtClassDef, bases: &[String]) -> Slots {
    let declares = class.body.iter().any(|stmt| {
        let targets: &[Expr] = match stmt {
            Stmt::Assign(assign) => &assign.targets,
            Stmt::AnnAssign(assign) => std::slice::from_ref(&*assign.target),
            _ => return false,
        };
        targets
            .iter()
            .any(|target| matches!(target, Expr::Name(name) if name.id.as_str() == "__slots__"))
    });
    if declares || class.decorator_list.iter().any(decorator_makes_slots) {
        return Slots::Declared;
    }
    let not_applicable = bases.iter().any(|base| {
        let last = base.rsplit('.').next().unwrap_or(base);
        NOT_APPLICABLE_BASES.contains(&last)
            || last.ends_with("Error")
            || last.ends_with("Exception")
            || last.ends_with("Warning")
            || base.starts_with("metaclass=")
    });
    if not_applicable {
        Slots::NotApplicable
    } else {
        Slots::Missing
    }
}

/// `@dataclass(slots=True)`, `@dataclasses.dataclass(..., slots=True)`, `@attr.s(slots=True)`,
/// `@attrs.define` / `@define` / `@frozen` (slotted by default).
fn decorator_makes_slots(decorator: &ast::Decorator) -> bool {
    let (func, call) = match &decorator.expression {
        Expr::Call(call) => (&*call.func, Some(call)),
        other => (other, None),
    };
    let name = match func {
        Expr::Name(name) => name.id.as_str(),
        Expr::Attribute(attr) => attr.attr.as_str(),
        _ => return false,
    };
    let slots_keyword = call.and_then(|call| {
        call.arguments
            .keywords
            .iter()
            .find(|k| k.arg.as_ref().is_some_and(|a| a.as_str() == "slots"))
            .map(|k| {
                matches!(
                    k.value,
                    Expr::BooleanLiteral(ast::ExprBooleanLiteral { value: true, .. })
                )
            })
    });
    match name {
        "define" | "frozen" | "mutable" => slots_keyword.unwrap_or(true),
        _ => slots_keyword.unwrap_or(false),
    }
}

/// Calls of these names (builtins) have effects beyond returning a value.
const IMPURE_BUILTINS: &[&str] = &[
    "print",
    "open",
    "input",
    "exec",
    "eval",
    "compile",
    "setattr",
    "delattr",
    "next",
    "breakpoint",
    "globals",
    "vars",
    "__import__",
];

/// Method names that mutate their receiver or do I/O.
const MUTATING_METHODS: &[&str] = &[
    "append",
    "appendleft",
    "extend",
    "extendleft",
    "insert",
    "pop",
    "popleft",
    "popitem",
    "remove",
    "discard",
    "clear",
    "update",
    "add",
    "setdefault",
    "sort",
    "reverse",
    "rotate",
    "write",
    "writelines",
    "read",
    "readline",
    "readlines",
    "seek",
    "flush",
    "close",
    "send",
    "sendall",
    "recv",
    "put",
    "put_nowait",
    "get_nowait",
    "acquire",
    "release",
    "set",
    "wait",
    "notify",
];

/// Modules whose functions do I/O, read clocks or draw random numbers.
const IMPURE_MODULES: &[&str] = &[
    "random",
    "secrets",
    "time",
    "datetime",
    "os",
    "sys",
    "io",
    "socket",
    "subprocess",
    "shutil",
    "logging",
    "uuid",
    "urllib",
    "http",
    "requests",
    "pathlib",
    "tempfile",
    "threading",
    "asyncio",
    "select",
    "signal",
];

fn purity(function: &ast::StmtFunctionDef, is_method: bool, imports: &ImportMap<'_>) -> Purity {
    if function.is_async {
        return Purity::Impure("a coroutine");
    }
    if is_method {
        return Purity::Impure("a method");
    }
    let parameters = &function.parameters;
    let has_parameters = !(parameters.posonlyargs.is_empty()
        && parameters.args.is_empty()
        && parameters.kwonlyargs.is_empty()
        && parameters.vararg.is_none()
        && parameters.kwarg.is_none());
    if !has_parameters {
        return Purity::Impure("takes no arguments");
    }
    let cached = function.decorator_list.iter().any(|decorator| {
        let func = match &decorator.expression {
            Expr::Call(call) => &*call.func,
            other => other,
        };
        let name = match func {
            Expr::Name(name) => name.id.as_str(),
            Expr::Attribute(attr) => attr.attr.as_str(),
            _ => "",
        };
        matches!(name, "cache" | "lru_cache" | "cached" | "memoize")
    });
    if cached {
        return Purity::Impure("already cached");
    }
    let mut locals: FxHashSet<&str> = FxHashSet::default();
    let mut assigned = LocalAssignments {
        names: &mut locals,
        depth: 0,
    };
    assigned.visit_body(&function.body);
    let mut check = PurityCheck {
        locals: &locals,
        imports,
        reason: None,
    };
    check.visit_body(&function.body);
    match check.reason {
        Some(reason) => Purity::Impure(reason),
        None => Purity::PureLooking,
    }
}

/// Names assigned in a function's own body (not its parameters): objects they hold were made
/// here, so mutating them is not a side effect visible to the caller (unless returned, which is
/// still pure).
struct LocalAssignments<'n, 'a> {
    names: &'n mut FxHashSet<&'a str>,
    depth: u32,
}

impl<'a> Visitor<'a> for LocalAssignments<'_, 'a> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        if self.depth == 0 {
            let targets: &[Expr] = match stmt {
                Stmt::Assign(assign) => &assign.targets,
                Stmt::AnnAssign(assign) => std::slice::from_ref(&*assign.target),
                _ => &[],
            };
            for target in targets {
                let mut names = Vec::new();
                crate::analysis::helpers::target_names(target, &mut names);
                self.names.extend(names);
            }
        }
        let nested = matches!(stmt, Stmt::FunctionDef(_) | Stmt::ClassDef(_));
        self.depth += u32::from(nested);
        visitor::walk_stmt(self, stmt);
        self.depth -= u32::from(nested);
    }
}

struct PurityCheck<'s, 'a> {
    locals: &'s FxHashSet<&'a str>,
    imports: &'s ImportMap<'a>,
    reason: Option<&'static str>,
}

impl PurityCheck<'_, '_> {
    fn fail(&mut self, reason: &'static str) {
        self.reason.get_or_insert(reason);
    }

    fn is_local_object(&self, expr: &Expr) -> bool {
        matches!(expr, Expr::Name(name) if self.locals.contains(name.id.as_str()))
    }

    fn store_target(&mut self, target: &Expr) {
        match target {
            Expr::Attribute(attr) if !self.is_local_object(&attr.value) => {
                self.fail("stores into an attribute");
            }
            Expr::Subscript(sub) if !self.is_local_object(&sub.value) => {
                self.fail("stores into an item of an object it did not create");
            }
            Expr::Tuple(ast::ExprTuple { elts, .. }) | Expr::List(ast::ExprList { elts, .. }) => {
                for elt in elts {
                    self.store_target(elt);
                }
            }
            Expr::Starred(starred) => self.store_target(&starred.value),
            _ => {}
        }
    }
}

impl<'a> Visitor<'a> for PurityCheck<'_, 'a> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        if self.reason.is_some() {
            return;
        }
        match stmt {
            Stmt::Global(_) => self.fail("declares a global"),
            Stmt::Nonlocal(_) => self.fail("declares a nonlocal"),
            Stmt::Assign(assign) => {
                for target in &assign.targets {
                    self.store_target(target);
                }
            }
            Stmt::AugAssign(assign) => self.store_target(&assign.target),
            Stmt::AnnAssign(assign) => self.store_target(&assign.target),
            Stmt::Delete(delete) => {
                for target in &delete.targets {
                    self.store_target(target);
                }
            }
            Stmt::With(with) if with.is_async => self.fail("a coroutine"),
            Stmt::For(stmt_for) if stmt_for.is_async => self.fail("a coroutine"),
            _ => {}
        }
        visitor::walk_stmt(self, stmt);
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        if self.reason.is_some() {
            return;
        }
        match expr {
            Expr::Yield(_) | Expr::YieldFrom(_) => self.fail("a generator"),
            Expr::Await(_) => self.fail("a coroutine"),
            Expr::Named(named) => self.store_target(&named.target),
            Expr::Call(call) => match &*call.func {
                Expr::Name(name) => {
                    let id = name.id.as_str();
                    if IMPURE_BUILTINS.contains(&id) && self.imports.get(id).is_none() {
                        self.fail("calls a built-in with side effects (print, open, next, …)");
                    } else if let Some(qualified) = self.imports.get(id) {
                        let module = qualified.split('.').next().unwrap_or(qualified);
                        if IMPURE_MODULES.contains(&module) {
                            self.fail("calls a function of a module that does I/O, reads clocks or draws random numbers");
                        }
                    }
                }
                Expr::Attribute(attr) => {
                    let method = attr.attr.as_str();
                    if MUTATING_METHODS.contains(&method) && !self.is_local_object(&attr.value) {
                        self.fail("calls a mutating or I/O method on an object it did not create");
                    }
                    let mut base = &*attr.value;
                    while let Expr::Attribute(inner) = base {
                        base = &inner.value;
                    }
                    if let Expr::Name(name) = base
                        && self.imports.is_module(name.id.as_str())
                        && let Some(qualified) = self.imports.get(name.id.as_str())
                    {
                        let module = qualified.split('.').next().unwrap_or(qualified);
                        if IMPURE_MODULES.contains(&module) {
                            self.fail("calls a function of a module that does I/O, reads clocks or draws random numbers");
                        }
                    }
                }
                _ => {}
            },
            _ => {}
        }
        visitor::walk_expr(self, expr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outline(source: &str) -> Outline {
        outline_source(source).expect("parses")
    }

    #[test]
    fn functions_have_cpython_names_and_lines() {
        let source = "\
import functools

def top(x):
    def inner(y):
        return y
    return inner(x)

class C:
    @staticmethod
    @functools.wraps(top)
    def m(self):
        pass

    class D:
        def n(self):
            pass

def make():
    class E:
        pass
    return E
";
        let outline = outline(source);
        let names: Vec<(&str, u32, u32, u32)> = outline
            .functions
            .iter()
            .map(|f| (f.qualname.as_str(), f.first_line, f.def_line, f.last_line))
            .collect();
        assert_eq!(
            names,
            [
                ("top", 3, 3, 6),
                ("top.<locals>.inner", 4, 4, 5),
                ("C.m", 9, 11, 12),
                ("C.D.n", 15, 15, 16),
                ("make", 18, 18, 21),
            ]
        );
        let classes: Vec<&str> = outline
            .classes
            .iter()
            .map(|c| c.qualname.as_str())
            .collect();
        assert_eq!(classes, ["C", "C.D", "make.<locals>.E"]);
        assert!(outline.functions[2].is_method);
        assert!(!outline.functions[0].is_method);
        assert!(outline.functions[4].contains_line(21));
    }

    #[test]
    fn purity_heuristics() {
        let source = "\
import random
from os import getcwd

def pure(a, b):
    out = []
    for x in a:
        out.append(x * b)
    return out

def mutates(a):
    a.append(1)

def stores(obj):
    obj.x = 1

def prints(x):
    print(x)

def rolls(n):
    return random.randint(0, n)

def cwd(x):
    return getcwd() + x

def gen(n):
    yield n

def none():
    return 1

@functools.lru_cache
def cached(n):
    return n

def uses_global(n):
    global G
    G = n
";
        let outline = outline(source);
        let purity: Vec<(&str, bool)> = outline
            .functions
            .iter()
            .map(|f| (f.name.as_str(), f.purity == Purity::PureLooking))
            .collect();
        assert_eq!(
            purity,
            [
                ("pure", true),
                ("mutates", false),
                ("stores", false),
                ("prints", false),
                ("rolls", false),
                ("cwd", false),
                ("gen", false),
                ("none", false),
                ("cached", false),
                ("uses_global", false),
            ]
        );
        assert_eq!(outline.functions[6].purity, Purity::Impure("a generator"));
    }

    #[test]
    fn classes_slots_and_constructor_calls() {
        let source = "\
from dataclasses import dataclass
from shapes import Circle
import enum

class Point:
    def __init__(self, x, y):
        self.x = x
        self.y = y

class Slotted:
    __slots__ = ('a',)

@dataclass(slots=True)
class Record:
    a: int

class Colour(enum.Enum):
    RED = 1

class Oops(ValueError):
    pass

def build(n):
    pts = [Point(i, i) for i in range(n)]
    c = Circle(
        1,
    )
    return pts, c, len(pts)
";
        let outline = outline(source);
        let slots: Vec<(&str, Slots)> = outline
            .classes
            .iter()
            .map(|c| (c.name.as_str(), c.slots))
            .collect();
        assert_eq!(
            slots,
            [
                ("Point", Slots::Missing),
                ("Slotted", Slots::Declared),
                ("Record", Slots::Declared),
                ("Colour", Slots::NotApplicable),
                ("Oops", Slots::NotApplicable),
            ]
        );
        assert_eq!(outline.classes[0].init_lines, Some((6, 8)));
        assert_eq!(outline.classes[0].attributes, ["x", "y"]);
        let calls: Vec<(&str, bool, (u32, u32))> = outline
            .constructor_calls
            .iter()
            .map(|c| (c.name.as_str(), c.local_class, c.lines))
            .collect();
        assert_eq!(
            calls,
            [
                ("dataclass", false, (13, 13)),
                ("Point", true, (24, 24)),
                ("Circle", false, (25, 27))
            ]
        );
    }

    #[test]
    fn unparsable_source_has_no_outline() {
        assert!(outline_source("def f(:\n").is_none());
    }
}
