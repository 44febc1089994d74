#!/usr/bin/env bash
# Installs what the tests need and runs every test: formatting and lints, the Rust tests, and
# the Python test suite on every supported CPython: 3.11, 3.12 and 3.13 from this machine
# (PATH or pyenv), 3.14 and 3.15 from the Debian sid root that scripts/sid-root.sh makes once
# and caches (their Debian builds need sid's glibc). A failing step does not stop the others;
# the run fails at the end, naming them. Under CI (env CI set) a missing Python fails the run.
#
#   bash scripts/test-all.sh            # everything
#   PYROMETER_PYTHONS="3.12" bash scripts/test-all.sh   # only some interpreters
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
VENVS="$ROOT/.venvs"
SID_PYTHONS="3.14 3.15"   # what scripts/sid-root.sh installs
step() { printf '\n=== %s  [%dm%02ds]\n' "$*" $((SECONDS / 60)) $((SECONDS % 60)); }
failed=()
# Runs a test step; a failure is noted and the run goes on.
check() { local name=$1; shift; "$@" || failed+=("$name"); }
missing() {
    if [ -n "${CI:-}" ]; then echo "error: $*" >&2; exit 2; fi
    echo "note: $*; its tests are skipped"
}
# Makes the venv (again, when missing or broken) and installs pyrometer and the test needs.
setup_venv() {
    { "${run[@]}" "$venv/bin/python" -c "" 2>/dev/null || "${run[@]}" "$py" -m venv --clear "$venv"; } &&
        "${run[@]}" "$venv/bin/python" -m pip install --quiet --upgrade pip &&
        "${run[@]}" "$venv/bin/python" -m pip install --quiet ".[test]" pyperformance ruff
}

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

pythons=()
sid_ready=""
for v in ${PYROMETER_PYTHONS:-3.11 3.12 3.13 3.14 3.15}; do
    if py=$(find_python "$v"); then
        pythons+=("$v:host:$py")
    elif [[ " $SID_PYTHONS " == *" $v "* ]]; then
        if [ -z "$sid_ready" ]; then
            step "Debian sid root for Python $SID_PYTHONS (made once, then cached)"
            if bash scripts/sid-root.sh; then sid_ready=yes; else sid_ready=no; fi
        fi
        if [ "$sid_ready" = no ]; then
            missing "no Python $v: the sid root could not be made"
        elif bash scripts/sid-root.sh run "python$v" -c "import sys; assert sys.version_info[:2] == tuple(map(int, '$v'.split('.')))"; then
            pythons+=("$v:sid:python$v")
        else
            missing "no Python $v in the sid root"
        fi
    else
        missing "no Python $v on this machine"
    fi
done
[ ${#pythons[@]} -gt 0 ] || { echo "error: none of the supported Pythons (3.11+) was found" >&2; exit 2; }

# After the interpreters are found: the sampler's own tests read every one of them (3.14 and
# 3.15 in the sid root, through chroot).
step "Rust: format, lints, tests"
check "cargo fmt" cargo fmt --all --check
check "cargo clippy" cargo clippy --workspace --all-targets --locked -- -D warnings
check "cargo test" cargo test --workspace --locked

first=1
for entry in "${pythons[@]}"; do
    IFS=: read -r v where py <<<"$entry"
    if [ "$where" = sid ]; then
        # Inside the root: its own venv and target dir (another glibc than the host's).
        venv="$VENVS/sid-py$v"
        run=(bash "$ROOT/scripts/sid-root.sh" run env CARGO_TARGET_DIR="$ROOT/target/sid/py$v")
        lint_target="$ROOT/target/sid/py$v"
    else
        venv="$VENVS/py$v"
        run=()
        lint_target="$CARGO_TARGET_DIR/py$v"
    fi
    step "Python $v ($where: $py): install pyrometer and the test needs"
    setup_venv || { failed+=("install $v"); continue; }
    if [ $first = 1 ]; then
        step "Python lints (ruff)"
        check "ruff check" "${run[@]}" "$venv/bin/ruff" check python tests benchmarks examples
        check "ruff format" "${run[@]}" "$venv/bin/ruff" format --check python tests benchmarks examples
        first=0
    fi
    if [ "$v" != "3.11" ]; then
        # The 3.12+ tracer backend is compiled only against 3.12+: lint it too.
        step "Rust lints against Python $v"
        check "clippy $v" "${run[@]}" env PYO3_PYTHON="$venv/bin/python" CARGO_TARGET_DIR="$lint_target" \
            cargo clippy -p pyrometer-tracer -p pyrometer-python --all-targets --locked -- -D warnings
    fi
    step "Python $v: tests"
    check "pytest $v" "${run[@]}" "$venv/bin/python" -m pytest tests -q -rfEs -p no:cacheprovider
done
if [ ${#failed[@]} -gt 0 ]; then
    step "failed steps"
    printf '  %s\n' "${failed[@]}"
    exit 1
fi
step "all tests passed"
