use crate::analysis::types::Ty;
use crate::checker::Checker;
use crate::codes::Rule;
use crate::parse::Ranged;
use crate::parse::ast::{self, Expr};
use crate::violation::{Violation, violation};

violation! {
    /// ## What it does
    /// Finds slices of a `bytes` object (`data[i:j]`) inside a loop, where `data` is known to be
    /// `bytes` (a bytes literal, `bytes(...)`, or annotated `bytes`); once per loop and name.
    ///
    /// ## Why is this bad?
    /// Slicing `bytes` copies the slice. Walking a large buffer in chunks therefore copies all
    /// of it, and the common `data = data[sent:]` loop copies the rest of the buffer on every
    /// iteration (quadratic). A `memoryview` slice is a zero-copy view; convert with `bytes()`
    /// only where a real `bytes` object is required. For small slices the view's own overhead
    /// wins, which is why the rule is off by default.
    ///
    /// ## Example
    /// ```python
    /// def send_all(sock, data: bytes):
    ///     while data:
    ///         sent = sock.send(data[:65536])
    ///         data = data[sent:]
    /// ```
    ///
    /// Use instead:
    /// ```python
    /// def send_all(sock, data: bytes):
    ///     view = memoryview(data)
    ///     while view:
    ///         sent = sock.send(view[:65536])
    ///         view = view[sent:]
    /// ```
    ///
    /// ## Expected gain
    /// 838x faster consuming 4 MB in 64 kB sends with `data = data[sent:]` (9.26 ms ->
    /// 0.011 ms: the bytes version is quadratic); but 1.1x *slower* for 16-byte slices of
    /// a 100 kB buffer (1.35 ms -> 1.50 ms). Hence off by default.
    /// (`benchmarks/rules/PYR504.py`, CPython 3.11.7, CPU time, on the project's 2-core machine).
    pub struct BytesSliceInLoop {
        name: String,
    }
}

impl Violation for BytesSliceInLoop {
    const RULE: crate::codes::Rule = crate::codes::Rule::BytesSliceInLoop;

    fn message(&self) -> String {
        format!(
            "Slicing bytes `{}` in a loop copies the data on every iteration",
            self.name
        )
    }

    fn fix(&self) -> Option<String> {
        Some(format!(
            "Slice a `memoryview({})` made before the loop (zero-copy)",
            self.name
        ))
    }
}

pub(crate) fn check<'a>(checker: &mut Checker<'a>, subscript: &'a ast::ExprSubscript) {
    if !matches!(&*subscript.slice, Expr::Slice(_)) {
        return;
    }
    let Expr::Name(name) = &*subscript.value else {
        return;
    };
    let id = name.id.as_str();
    if checker.ty(id) != Ty::Bytes {
        return;
    }
    let Some(ctx) = checker.current_loop() else {
        return;
    };
    let (anchor, cost) = (ctx.start(), ctx.cost());
    if !checker.first_time(Rule::BytesSliceInLoop, anchor, id) {
        return;
    }
    checker.report(
        BytesSliceInLoop {
            name: id.to_string(),
        },
        subscript.range(),
        Some(cost),
    );
}
