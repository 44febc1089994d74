//! Deeply nested code must not overflow the stack, whatever thread calls the checker.

use std::path::Path;

use pyrometer_lint::{RuleSet, Settings, check_source};

fn nested(depth: usize) -> String {
    format!(
        "def f(r):\n    for x in r:\n        y = {}x{}\n        z = {}x\n",
        "[".repeat(depth),
        "]".repeat(depth),
        "not ".repeat(depth)
    )
}

#[test]
fn deep_nesting_on_a_small_stack() {
    let source = nested(100_000);
    let handle = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            let file = check_source(
                Path::new("deep.py"),
                &source,
                &Settings::only(RuleSet::all()),
            );
            file.error.is_none()
        })
        .unwrap();
    assert!(handle.join().unwrap());
}
