#!/usr/bin/env bash
# Tracing overhead against cProfile on each supported CPython found (3.11, 3.12, 3.13):
# installs pyrometer (release build) and pyperformance into a venv per version, then runs
# benchmarks/overhead.py twice (default options and --builtins). Tables go to
# benchmarks/results/overhead-<version>[-builtins].md.
#
#   bash benchmarks/run_overhead.sh [overhead.py options, e.g. --runs 5 --floor]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
mkdir -p benchmarks/results
for v in ${PYROMETER_PYTHONS:-3.11 3.12 3.13}; do
    py=$(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$v".*/bin/"python$v" 2>/dev/null | sort -V | tail -1 || true)
    [ -n "$py" ] || py=$(command -v "python$v" || true)
    if [ -z "$py" ]; then echo "no Python $v here; skipped"; continue; fi
    venv="$ROOT/.venvs/bench$v"
    [ -x "$venv/bin/python" ] || "$py" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet . pyperformance
    echo "=== Python $v"
    "$venv/bin/python" benchmarks/overhead.py "$@" --out "benchmarks/results/overhead-$v.md"
    "$venv/bin/python" benchmarks/overhead.py "$@" --pyrometer-args=--builtins --out "benchmarks/results/overhead-$v-builtins.md"
done
