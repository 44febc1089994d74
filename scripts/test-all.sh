#!/usr/bin/env bash
# Installs what the tests need and runs every test: formatting and lints, the Rust tests, and
# the Python test suite on every supported CPython this machine has (3.11, 3.12, 3.13).
#
#   bash scripts/test-all.sh            # everything
#   PYROMETER_PYTHONS="3.12" bash scripts/test-all.sh   # only some interpreters
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
VENVS="$ROOT/.venvs"
step() { printf '\n=== %s\n' "$*"; }

# Finds an interpreter for a minor version: on PATH, or in pyenv's versions.
find_python() {
    local v=$1 candidate
    for candidate in "python$v" $(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$v".*/bin/"python$v" 2>/dev/null | sort -V | tail -1); do
        if "$candidate" -c "import sys; assert sys.version_info[:2] == tuple(map(int, '$v'.split('.')))" 2>/dev/null; then
            command -v "$candidate" 2>/dev/null || echo "$candidate"
            return 0
        fi
    done
    return 1
}

step "Rust: format, lints, tests"
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked

pythons=()
for v in ${PYROMETER_PYTHONS:-3.11 3.12 3.13}; do
    if py=$(find_python "$v"); then
        pythons+=("$v:$py")
    else
        echo "note: no Python $v on this machine; its tests are skipped"
    fi
done
[ ${#pythons[@]} -gt 0 ] || { echo "error: none of the supported Pythons (3.11+) was found" >&2; exit 2; }

first=1
for entry in "${pythons[@]}"; do
    v=${entry%%:*}; py=${entry#*:}
    step "Python $v ($py): install pyrometer and the test needs"
    venv="$VENVS/py$v"
    [ -x "$venv/bin/python" ] || "$py" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --upgrade pip
    "$venv/bin/python" -m pip install --quiet ".[test]" pyperformance ruff
    if [ $first = 1 ]; then
        step "Python lints (ruff)"
        "$venv/bin/ruff" check python tests benchmarks examples
        "$venv/bin/ruff" format --check python tests benchmarks examples
        first=0
    fi
    if [ "$v" != "3.11" ]; then
        # The 3.12+ tracer backend is compiled only against 3.12+: lint it too.
        step "Rust lints against Python $v"
        PYO3_PYTHON="$venv/bin/python" CARGO_TARGET_DIR="$CARGO_TARGET_DIR/py$v" \
            cargo clippy -p pyrometer-tracer -p pyrometer-python --all-targets --locked -- -D warnings
    fi
    step "Python $v: tests"
    (cd "$ROOT" && "$venv/bin/python" -m pytest tests -q -p no:cacheprovider)
done
step "all tests passed"
