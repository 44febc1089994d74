//! One walk over a module's AST. The checker keeps the context the rules need (scopes with their
//! bindings, the loops that enclose the current node, the statement list being walked) and calls
//! each enabled rule at the node kind it inspects.
//!
//! Loop semantics: a `for` loop's iterable is evaluated once, outside the loop; its target and
//! body are repeated. A `while` loop's test and body are repeated. In a comprehension, the first
//! iterable is evaluated once; every other clause and the element are repeated. A loop does not
//! extend into functions or lambdas defined in it: their bodies run when called.

use std::cell::OnceCell;

use rustc_hash::{FxHashMap, FxHashSet};

use crate::analysis::facts::LoopFacts;
use crate::analysis::helpers::BUILTINS;
use crate::analysis::imports::ImportMap;
use crate::analysis::scope::{Binding, BindingKind, Bindings};
use crate::analysis::types::Ty;
use crate::codes::{Rule, RuleSet};
use crate::diagnostic::CostKind;
use crate::parse::ast::visitor::{self, Visitor};
use crate::parse::ast::{self, Expr, ExprContext, Stmt};
use crate::parse::{Ranged, TextRange, TextSize};
use crate::rules;
use crate::violation::Violation;

/// A finding in byte offsets, before noqa filtering and line/column conversion.
#[derive(Debug, Clone)]
pub(crate) struct Finding {
    pub(crate) rule: Rule,
    pub(crate) message: String,
    pub(crate) fix: Option<String>,
    pub(crate) range: TextRange,
    pub(crate) cost: Option<CostRange>,
}

/// The code a finding charges: its kind, its whole range, and the range whose lines it costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CostRange {
    pub(crate) kind: CostKind,
    pub(crate) range: TextRange,
    pub(crate) lines: TextRange,
}

impl CostRange {
    pub(crate) fn for_loop(stmt: &ast::StmtFor) -> Self {
        let end = stmt.body.last().map_or(stmt.range.end(), Ranged::end);
        Self {
            kind: CostKind::Loop,
            range: stmt.range,
            lines: TextRange::new(stmt.range.start(), end),
        }
    }

    pub(crate) fn while_loop(stmt: &ast::StmtWhile) -> Self {
        let end = stmt.body.last().map_or(stmt.range.end(), Ranged::end);
        Self {
            kind: CostKind::Loop,
            range: stmt.range,
            lines: TextRange::new(stmt.range.start(), end),
        }
    }

    pub(crate) fn function(function: &ast::StmtFunctionDef) -> Self {
        let start = function
            .body
            .first()
            .map_or(function.range.start(), Ranged::start);
        Self {
            kind: CostKind::Function,
            range: function.range,
            lines: TextRange::new(start, function.range.end()),
        }
    }

    pub(crate) fn comprehension(expr: &Expr) -> Self {
        Self {
            kind: CostKind::Comprehension,
            range: expr.range(),
            lines: expr.range(),
        }
    }
}

/// A loop that encloses the node being checked.
pub(crate) enum LoopNode<'a> {
    For(&'a ast::StmtFor),
    While(&'a ast::StmtWhile),
    /// A list/set/dict comprehension or generator expression.
    Comprehension(&'a Expr),
}

pub(crate) struct LoopCtx<'a> {
    pub(crate) node: LoopNode<'a>,
    /// Index of the scope the loop is in.
    scope: usize,
    facts: OnceCell<LoopFacts<'a>>,
}

impl<'a> LoopCtx<'a> {
    /// What the loop's repeated part rebinds or may mutate (computed on first use).
    pub(crate) fn facts(&self) -> &LoopFacts<'a> {
        self.facts.get_or_init(|| match self.node {
            LoopNode::For(stmt) => LoopFacts::for_loop(stmt),
            LoopNode::While(stmt) => LoopFacts::while_loop(stmt),
            LoopNode::Comprehension(expr) => {
                let (generators, elements) = comprehension_parts(expr);
                LoopFacts::comprehension(generators, &elements)
            }
        })
    }

    pub(crate) fn cost(&self) -> CostRange {
        match self.node {
            LoopNode::For(stmt) => CostRange::for_loop(stmt),
            LoopNode::While(stmt) => CostRange::while_loop(stmt),
            LoopNode::Comprehension(expr) => CostRange::comprehension(expr),
        }
    }

    pub(crate) fn start(&self) -> TextSize {
        match self.node {
            LoopNode::For(stmt) => stmt.range.start(),
            LoopNode::While(stmt) => stmt.range.start(),
            LoopNode::Comprehension(expr) => expr.start(),
        }
    }
}

/// The generators and the repeated element expressions of a comprehension.
pub(crate) fn comprehension_parts(expr: &Expr) -> (&[ast::Comprehension], Vec<&Expr>) {
    match expr {
        Expr::ListComp(comp) => (&comp.generators, vec![&*comp.elt]),
        Expr::SetComp(comp) => (&comp.generators, vec![&*comp.elt]),
        Expr::Generator(comp) => (&comp.generators, vec![&*comp.elt]),
        Expr::DictComp(comp) => {
            let mut elements: Vec<&Expr> = vec![&*comp.value];
            if let Some(key) = &comp.key {
                elements.push(key);
            }
            (&comp.generators, elements)
        }
        _ => (&[], Vec::new()),
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum ScopeKind<'a> {
    Module,
    Class,
    Function(&'a ast::StmtFunctionDef),
    Lambda,
}

pub(crate) struct Scope<'a> {
    pub(crate) kind: ScopeKind<'a>,
    pub(crate) bindings: Bindings<'a>,
    /// Names mentioned inside functions, lambdas and classes nested in this scope (computed on
    /// first use): such a name can change whenever the nested code runs.
    captured: OnceCell<FxHashSet<&'a str>>,
    body: &'a [Stmt],
}

/// The walk's state and the rules' view of the module.
pub(crate) struct Checker<'a> {
    source: &'a str,
    enabled: RuleSet,
    pub(crate) imports: ImportMap<'a>,
    /// Top-level `def`s by name.
    pub(crate) module_functions: FxHashMap<&'a str, &'a ast::StmtFunctionDef>,
    scopes: Vec<Scope<'a>>,
    loops: Vec<LoopCtx<'a>>,
    suites: Vec<(&'a [Stmt], usize)>,
    seen: FxHashSet<(Rule, TextSize, &'a str)>,
    findings: Vec<Finding>,
}

impl<'a> Checker<'a> {
    fn new(source: &'a str, suite: &'a [Stmt], enabled: RuleSet) -> Self {
        let imports = ImportMap::from_suite(suite);
        let module_bindings = Bindings::collect(suite, None, &imports);
        let module_functions = suite
            .iter()
            .filter_map(|stmt| match stmt {
                Stmt::FunctionDef(function) => Some((function.name.as_str(), function)),
                _ => None,
            })
            .collect();
        Self {
            source,
            enabled,
            imports,
            module_functions,
            scopes: vec![Scope {
                kind: ScopeKind::Module,
                bindings: module_bindings,
                captured: OnceCell::new(),
                body: suite,
            }],
            loops: Vec::new(),
            suites: Vec::new(),
            seen: FxHashSet::default(),
            findings: Vec::new(),
        }
    }

    /// Whether a rule runs.
    pub(crate) fn enabled(&self, rule: Rule) -> bool {
        self.enabled.contains(rule)
    }

    /// The source text of a range ("" if the range is not on character boundaries).
    pub(crate) fn text(&self, ranged: impl Ranged) -> &'a str {
        let range = ranged.range();
        self.source
            .get(range.start().to_usize()..range.end().to_usize())
            .unwrap_or("")
    }

    /// Source text of a range, shortened to `max` characters for messages.
    pub(crate) fn snippet(&self, ranged: impl Ranged, max: usize) -> String {
        let text = self.text(ranged);
        let one_line = text.lines().next().unwrap_or("");
        if one_line.chars().count() <= max && one_line.len() == text.len() {
            one_line.to_string()
        } else {
            let short: String = one_line.chars().take(max.saturating_sub(1)).collect();
            format!("{short}…")
        }
    }

    /// Records a finding.
    pub(crate) fn report<V: Violation>(
        &mut self,
        violation: V,
        range: TextRange,
        cost: Option<CostRange>,
    ) {
        self.findings.push(Finding {
            rule: V::RULE,
            message: violation.message(),
            fix: violation.fix(),
            range,
            cost,
        });
    }

    /// True the first time a (rule, anchor, key) triple is seen: for rules that report once per
    /// loop and name.
    pub(crate) fn first_time(&mut self, rule: Rule, anchor: TextSize, key: &'a str) -> bool {
        self.seen.insert((rule, anchor, key))
    }

    // ----- scopes and names -------------------------------------------------------------------

    fn current_scope(&self) -> usize {
        self.scopes.len() - 1
    }

    /// The function whose body is being walked, if the innermost scope is a `def`.
    pub(crate) fn current_function(&self) -> Option<&'a ast::StmtFunctionDef> {
        match self.scopes.last().map(|scope| scope.kind) {
            Some(ScopeKind::Function(function)) => Some(function),
            _ => None,
        }
    }

    /// Whether the innermost scope is a function or lambda (not module or class level).
    pub(crate) fn in_function(&self) -> bool {
        matches!(
            self.scopes.last().map(|scope| scope.kind),
            Some(ScopeKind::Function(_) | ScopeKind::Lambda)
        )
    }

    /// The statements of the innermost scope (a module, class or function body; empty for a
    /// lambda).
    pub(crate) fn scope_body(&self) -> &'a [Stmt] {
        self.scopes.last().map_or(&[], |scope| scope.body)
    }

    /// Whether the innermost scope is a class body.
    pub(crate) fn in_class_body(&self) -> bool {
        matches!(
            self.scopes.last().map(|scope| scope.kind),
            Some(ScopeKind::Class)
        )
    }

    /// The binding a name refers to here (Python's LEGB, class scopes visible only from their
    /// own body), or `None` for an unbound name (a builtin or an undefined global).
    pub(crate) fn lookup(&self, name: &str) -> Option<&Binding<'a>> {
        let current = self.current_scope();
        for (index, scope) in self.scopes.iter().enumerate().rev() {
            if matches!(scope.kind, ScopeKind::Class) && index != current {
                continue;
            }
            if let Some(binding) = scope.bindings.get(name) {
                if binding.kind == BindingKind::Declared {
                    continue;
                }
                return Some(binding);
            }
        }
        None
    }

    /// Whether the name is bound in the module's top-level scope.
    pub(crate) fn module_binding(&self, name: &str) -> Option<&Binding<'a>> {
        self.scopes
            .first()
            .and_then(|scope| scope.bindings.get(name))
    }

    /// Whether the name is local to the current function (a parameter or assigned in it).
    pub(crate) fn is_local(&self, name: &str) -> bool {
        self.scopes
            .last()
            .is_some_and(|scope| scope.bindings.contains(name))
    }

    /// Whether the name is bound in the current scope or any enclosing function scope.
    pub(crate) fn is_bound_in_functions(&self, name: &str) -> bool {
        let current = self.current_scope();
        self.scopes
            .iter()
            .enumerate()
            .skip(1)
            .rev()
            .any(|(index, scope)| {
                !(matches!(scope.kind, ScopeKind::Class) && index != current)
                    && scope.bindings.contains(name)
            })
    }

    /// Whether the name is a target of a comprehension that encloses the current node (its own
    /// scope, which shadows any global of the same name).
    pub(crate) fn is_comprehension_target(&self, name: &str) -> bool {
        self.loops.iter().any(|ctx| match ctx.node {
            LoopNode::Comprehension(expr) => comprehension_parts(expr).0.iter().any(|generator| {
                let mut names = Vec::new();
                crate::analysis::helpers::target_names(&generator.target, &mut names);
                names.contains(&name)
            }),
            _ => false,
        })
    }

    /// Whether a local name of the current scope is also used by nested functions, lambdas or
    /// classes (which may change it at any call).
    pub(crate) fn is_captured(&self, name: &str) -> bool {
        let Some(scope) = self.scopes.last() else {
            return false;
        };
        scope
            .captured
            .get_or_init(|| crate::analysis::helpers::names_in_nested_scopes(scope.body))
            .contains(name)
    }

    /// Whether a name is a local of the current scope that only this scope's code can change:
    /// bound here, not captured by nested code. (Globals and closure variables can change
    /// during any call.)
    pub(crate) fn is_private_local(&self, name: &str) -> bool {
        self.is_local(name) && !self.is_captured(name)
    }

    /// The inferred type of a name here.
    pub(crate) fn ty(&self, name: &str) -> Ty {
        self.lookup(name).map_or(Ty::Unknown, |binding| binding.ty)
    }

    /// The inferred type of a name expression; `Unknown` for anything else.
    pub(crate) fn ty_of(&self, expr: &Expr) -> Ty {
        match expr {
            Expr::Name(name) => self.ty(name.id.as_str()),
            _ => Ty::Unknown,
        }
    }

    /// If `func` is a bare name that refers to a builtin here, that name.
    pub(crate) fn builtin_name<'e>(&self, func: &'e Expr) -> Option<&'e str> {
        let Expr::Name(name) = func else {
            return None;
        };
        let id = name.id.as_str();
        (BUILTINS.contains(&id) && self.lookup(id).is_none()).then_some(id)
    }

    /// Whether `func` is the builtin `name`.
    pub(crate) fn is_builtin(&self, func: &Expr, name: &str) -> bool {
        self.builtin_name(func) == Some(name)
    }

    /// The qualified name of an imported object or module attribute chain:
    /// `np.zeros -> numpy.zeros`, `deepcopy -> copy.deepcopy`, `os.path.join -> os.path.join`.
    pub(crate) fn qualified_name(&self, expr: &Expr) -> Option<String> {
        match expr {
            Expr::Name(name) => {
                let id = name.id.as_str();
                match self.lookup(id) {
                    Some(binding) if binding.kind == BindingKind::Import => {
                        self.imports.get(id).map(ToString::to_string)
                    }
                    _ => None,
                }
            }
            Expr::Attribute(attr) => {
                let base = self.qualified_name(&attr.value)?;
                Some(format!("{base}.{}", attr.attr.as_str()))
            }
            _ => None,
        }
    }

    // ----- loops ------------------------------------------------------------------------------

    /// The innermost loop, if it is in the current scope.
    pub(crate) fn current_loop(&self) -> Option<&LoopCtx<'a>> {
        self.loops
            .last()
            .filter(|ctx| ctx.scope == self.current_scope())
    }

    /// Whether the node being checked is repeated by a loop of the current scope.
    pub(crate) fn in_loop(&self) -> bool {
        self.current_loop().is_some()
    }

    /// The innermost enclosing loop's cost, else the enclosing function's, else none.
    pub(crate) fn enclosing_cost(&self) -> Option<CostRange> {
        if let Some(ctx) = self.current_loop() {
            return Some(ctx.cost());
        }
        self.current_function().map(CostRange::function)
    }

    /// Whether the innermost loop of the current scope runs only a few, constant times
    /// (`for x in (a, b, c)`, `for i in range(4)`): findings about its cost are noise.
    pub(crate) fn current_loop_is_short(&self) -> bool {
        match self.current_loop().map(|ctx| &ctx.node) {
            Some(LoopNode::For(stmt)) => crate::analysis::helpers::is_short_iteration(&stmt.iter),
            Some(LoopNode::Comprehension(expr)) => {
                comprehension_parts(expr)
                    .0
                    .first()
                    .is_some_and(|generator| {
                        crate::analysis::helpers::is_short_iteration(&generator.iter)
                    })
            }
            _ => false,
        }
    }

    /// Whether the current statement is in a block (inside the innermost loop) that leaves the
    /// loop with `break`, `return` or `raise`: it then runs at most once per loop.
    pub(crate) fn in_exiting_block(&self) -> bool {
        self.blocks_in_loop()
            .any(|(suite, _)| suite.iter().any(crate::analysis::helpers::is_exit))
    }

    /// Whether `name` is plainly assigned (not from itself) earlier in the current iteration of
    /// the innermost loop, in the current block or an enclosing one inside the loop, or is the
    /// loop's own target: then it is a per-iteration value, not an accumulator.
    pub(crate) fn reset_in_iteration(&self, name: &str) -> bool {
        use crate::analysis::helpers::{expr_uses_name, target_names};
        if let Some(LoopNode::For(stmt)) = self.current_loop().map(|ctx| &ctx.node) {
            let mut targets = Vec::new();
            target_names(&stmt.target, &mut targets);
            if targets.contains(&name) {
                return true;
            }
        }
        let binds = |target: &Expr| {
            let mut names = Vec::new();
            target_names(target, &mut names);
            names.contains(&name)
        };
        let resets = |stmt: &Stmt| match stmt {
            Stmt::Assign(assign) => {
                assign.targets.iter().any(binds) && !expr_uses_name(&assign.value, name)
            }
            Stmt::With(with) => with
                .items
                .iter()
                .any(|item| item.optional_vars.as_deref().is_some_and(binds)),
            Stmt::AnnAssign(assign) => {
                matches!(&*assign.target, Expr::Name(n) if n.id.as_str() == name)
                    && assign
                        .value
                        .as_deref()
                        .is_some_and(|value| !expr_uses_name(value, name))
            }
            Stmt::For(inner) => binds(&inner.target),
            _ => false,
        };
        self.blocks_in_loop().any(|(suite, index)| {
            suite
                .get(..index)
                .is_some_and(|before| before.iter().any(resets))
        })
    }

    // ----- statement lists --------------------------------------------------------------------

    /// The statement before the current one in its block.
    pub(crate) fn prev_sibling(&self) -> Option<&'a Stmt> {
        let (suite, index) = *self.suites.last()?;
        index.checked_sub(1).and_then(|prev| suite.get(prev))
    }

    /// The statement right before the innermost loop of the current scope (for `for`/`while`
    /// loops), e.g. the initialisation of an accumulator.
    pub(crate) fn loop_prev_sibling(&self) -> Option<&'a Stmt> {
        let start = match self.current_loop()?.node {
            LoopNode::For(stmt) => stmt.range.start(),
            LoopNode::While(stmt) => stmt.range.start(),
            LoopNode::Comprehension(_) => return None,
        };
        self.suites.iter().rev().find_map(|(suite, index)| {
            let stmt = suite.get(*index)?;
            (stmt.start() == start)
                .then(|| index.checked_sub(1).and_then(|prev| suite.get(prev)))
                .flatten()
        })
    }

    /// The statements after the current one in its block.
    pub(crate) fn following_siblings(&self) -> &'a [Stmt] {
        match self.suites.last() {
            Some((suite, index)) => suite.get(index + 1..).unwrap_or(&[]),
            None => &[],
        }
    }

    /// The code that may run after the current statement in the current scope, innermost
    /// block first: the rest of its block, then the rest of every enclosing block up to the
    /// function (or module/class) body; an enclosing loop's body and `else` (the next
    /// iteration); an enclosing `try`'s handlers, `else` and `finally`. For "is this name used
    /// after the loop" questions, where a use after an enclosing `if`/`try`/`with` counts too.
    pub(crate) fn statements_after(&self) -> Vec<&'a [Stmt]> {
        let scope_body = self.scope_body();
        let same = |a: &[Stmt], b: &[Stmt]| std::ptr::eq(a.as_ptr(), b.as_ptr()) && !a.is_empty();
        let mut out = Vec::new();
        let mut levels = self.suites.iter().rev().peekable();
        while let Some(&(suite, index)) = levels.next() {
            out.push(suite.get(index + 1..).unwrap_or(&[]));
            if same(suite, scope_body) {
                break;
            }
            let Some(&&(outer, outer_index)) = levels.peek() else {
                break;
            };
            match outer.get(outer_index) {
                Some(Stmt::For(ast::StmtFor { body, orelse, .. }))
                | Some(Stmt::While(ast::StmtWhile { body, orelse, .. }))
                    if same(suite, body) =>
                {
                    out.push(body);
                    out.push(orelse);
                }
                Some(Stmt::Try(stmt_try)) => {
                    if same(suite, &stmt_try.body) {
                        for handler in &stmt_try.handlers {
                            let ast::ExceptHandler::ExceptHandler(handler) = handler;
                            out.push(&handler.body);
                        }
                        out.push(&stmt_try.orelse);
                    }
                    if !same(suite, &stmt_try.finalbody) {
                        out.push(&stmt_try.finalbody);
                    }
                }
                _ => {}
            }
        }
        out
    }

    /// The blocks being walked from the innermost outwards, each with the index of the current
    /// statement in it, up to (and including) the body of the current loop.
    pub(crate) fn blocks_in_loop(&self) -> impl Iterator<Item = (&'a [Stmt], usize)> + '_ {
        let loop_start = self.current_loop().map(LoopCtx::start);
        self.suites
            .iter()
            .rev()
            .copied()
            .take_while(move |(suite, _)| {
                loop_start.is_some_and(|start| suite.first().is_some_and(|s| s.start() > start))
            })
    }

    // ----- the walk ---------------------------------------------------------------------------

    fn push_scope(&mut self, kind: ScopeKind<'a>, bindings: Bindings<'a>, body: &'a [Stmt]) {
        self.scopes.push(Scope {
            kind,
            bindings,
            captured: OnceCell::new(),
            body,
        });
    }

    fn push_loop(&mut self, node: LoopNode<'a>) {
        self.loops.push(LoopCtx {
            node,
            scope: self.current_scope(),
            facts: OnceCell::new(),
        });
    }

    fn visit_comprehension_expr(&mut self, expr: &'a Expr) {
        let (generators, elements) = comprehension_parts(expr);
        if let Some(first) = generators.first() {
            self.visit_expr(&first.iter);
        }
        self.push_loop(LoopNode::Comprehension(expr));
        for (index, generator) in generators.iter().enumerate() {
            self.visit_expr(&generator.target);
            if index > 0 {
                self.visit_expr(&generator.iter);
            }
            for condition in &generator.ifs {
                self.visit_expr(condition);
            }
        }
        for element in elements {
            self.visit_expr(element);
        }
        self.loops.pop();
    }

    fn check_stmt(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::For(stmt_for) => rules::check_for(self, stmt_for),
            Stmt::While(stmt_while) => rules::check_while(self, stmt_while),
            Stmt::Assign(assign) => rules::check_assign(self, assign),
            Stmt::AugAssign(assign) => rules::check_aug_assign(self, assign),
            Stmt::If(stmt_if) => rules::check_if(self, stmt_if),
            Stmt::FunctionDef(function) => rules::check_function(self, function),
            _ => {}
        }
    }

    fn check_expr(&mut self, expr: &'a Expr) {
        match expr {
            Expr::Call(call) => rules::check_call(self, expr, call),
            Expr::Compare(compare) => rules::check_compare(self, compare),
            Expr::Subscript(subscript) if subscript.ctx == ExprContext::Load => {
                rules::check_subscript(self, subscript);
            }
            Expr::Name(name) if name.ctx == ExprContext::Load => rules::check_name(self, name),
            Expr::Attribute(attr) if attr.ctx == ExprContext::Load => {
                rules::check_attribute(self, attr);
            }
            Expr::ListComp(_) | Expr::SetComp(_) | Expr::DictComp(_) | Expr::Generator(_) => {
                rules::check_comprehension(self, expr);
            }
            _ => {}
        }
    }
}

impl<'a> Visitor<'a> for Checker<'a> {
    fn visit_body(&mut self, body: &'a [Stmt]) {
        for (index, stmt) in body.iter().enumerate() {
            self.suites.push((body, index));
            self.visit_stmt(stmt);
            self.suites.pop();
        }
    }

    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        stacker::maybe_grow(STACK_RED_ZONE, STACK_GROWTH, || self.visit_stmt_inner(stmt));
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        stacker::maybe_grow(STACK_RED_ZONE, STACK_GROWTH, || self.visit_expr_inner(expr));
    }
}

/// Below this much free stack, the walk continues on a new segment of `STACK_GROWTH` bytes.
const STACK_RED_ZONE: usize = 256 << 10;
const STACK_GROWTH: usize = 8 << 20;

impl<'a> Checker<'a> {
    fn visit_stmt_inner(&mut self, stmt: &'a Stmt) {
        self.check_stmt(stmt);
        match stmt {
            Stmt::FunctionDef(function) => {
                for decorator in &function.decorator_list {
                    self.visit_decorator(decorator);
                }
                if let Some(type_params) = &function.type_params {
                    self.visit_type_params(type_params);
                }
                self.visit_parameters(&function.parameters);
                if let Some(returns) = &function.returns {
                    self.visit_annotation(returns);
                }
                let bindings =
                    Bindings::collect(&function.body, Some(&function.parameters), &self.imports);
                self.push_scope(ScopeKind::Function(function), bindings, &function.body);
                self.visit_body(&function.body);
                self.scopes.pop();
            }
            Stmt::ClassDef(class) => {
                for decorator in &class.decorator_list {
                    self.visit_decorator(decorator);
                }
                if let Some(arguments) = &class.arguments {
                    self.visit_arguments(arguments);
                }
                let bindings = Bindings::collect(&class.body, None, &self.imports);
                self.push_scope(ScopeKind::Class, bindings, &class.body);
                self.visit_body(&class.body);
                self.scopes.pop();
            }
            Stmt::For(stmt_for) => {
                self.visit_expr(&stmt_for.iter);
                self.push_loop(LoopNode::For(stmt_for));
                self.visit_expr(&stmt_for.target);
                self.visit_body(&stmt_for.body);
                self.loops.pop();
                self.visit_body(&stmt_for.orelse);
            }
            // A local variable's annotation is never evaluated (PEP 526): visit only the target
            // and the value.
            Stmt::AnnAssign(assign) if self.in_function() => {
                self.visit_expr(&assign.target);
                if let Some(value) = &assign.value {
                    self.visit_expr(value);
                }
            }
            Stmt::While(stmt_while) => {
                self.push_loop(LoopNode::While(stmt_while));
                self.visit_expr(&stmt_while.test);
                self.visit_body(&stmt_while.body);
                self.loops.pop();
                self.visit_body(&stmt_while.orelse);
            }
            _ => visitor::walk_stmt(self, stmt),
        }
    }

    fn visit_expr_inner(&mut self, expr: &'a Expr) {
        self.check_expr(expr);
        match expr {
            Expr::Lambda(lambda) => {
                if let Some(parameters) = &lambda.parameters {
                    self.visit_parameters(parameters);
                }
                let bindings = Bindings::collect(&[], lambda.parameters.as_deref(), &self.imports);
                self.push_scope(ScopeKind::Lambda, bindings, &[]);
                self.visit_expr(&lambda.body);
                self.scopes.pop();
            }
            Expr::ListComp(_) | Expr::SetComp(_) | Expr::DictComp(_) | Expr::Generator(_) => {
                self.visit_comprehension_expr(expr);
            }
            Expr::Attribute(_) => {
                // Check only the outermost attribute of a chain (`os.path.join`, not `os.path`):
                // descend straight to the chain's base.
                let mut base = expr;
                while let Expr::Attribute(attr) = base {
                    base = &attr.value;
                }
                self.visit_expr(base);
            }
            _ => visitor::walk_expr(self, expr),
        }
    }
}

/// Runs the enabled rules over a parsed module.
pub(crate) fn check_module(source: &str, suite: &[Stmt], enabled: RuleSet) -> Vec<Finding> {
    if enabled.is_empty() {
        return Vec::new();
    }
    let mut checker = Checker::new(source, suite, enabled);
    checker.visit_body(suite);
    checker.findings
}
