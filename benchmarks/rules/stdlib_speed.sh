#!/usr/bin/env bash
# `pyrometer check` (the real command line: the installed console script, Python start-up
# included) vs `ruff check --select PERF --no-cache` over CPython 3.11's standard library.
#
#   benchmarks/rules/stdlib_speed.sh [STDLIB_DIR]
#   PYROMETER=/path/to/venv/bin/pyrometer benchmarks/rules/stdlib_speed.sh   # time that one
#
# Installs ruff (and numpy, for the rule benchmarks) into .venv-bench/ when missing, and, unless
# PYROMETER names a pyrometer command, builds this checkout in release mode and installs it
# there (`pip install .`, into target-lint/). Times both tools with hyperfine when it is
# installed (`apt-get install -y hyperfine`) or with a few timed runs otherwise, prints the
# ratio (target: pyrometer <= 1.5x ruff), then the number of findings per rule on the tree
# with the default rules and with every rule. Both tools print their findings as text and skip
# site-packages by default.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
STDLIB="${1:-/root/.pyenv/versions/3.11.7/lib/python3.11}"
VENV="$ROOT/.venv-bench"
PYTHON="${PYTHON:-python3.11}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target-lint}"

if [ ! -d "$STDLIB" ]; then
    echo "error: no stdlib at $STDLIB" >&2
    exit 2
fi
if [ ! -x "$VENV/bin/ruff" ]; then
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/pip" install --quiet ruff numpy
fi
RUFF="$VENV/bin/ruff"

if [ -z "${PYROMETER:-}" ]; then
    (cd "$ROOT" && "$VENV/bin/pip" install --quiet .)
    PYROMETER="$VENV/bin/pyrometer"
fi
PYRO="$PYROMETER check"

echo "tree: $STDLIB"
echo "files: pyrometer $($PYRO "$STDLIB" | grep -o '[0-9][0-9]* checked' | head -1), ruff $("$RUFF" check --select PERF --no-cache --show-files "$STDLIB" 2>/dev/null | grep -c '\.py$') *.py files"
echo "lines: $(find "$STDLIB" -name '*.py' -not -path '*/site-packages/*' -print0 | xargs -0 cat | wc -l)"
echo "$("$RUFF" --version); cores: $(nproc); load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo

PYRO_CMD="$PYRO $STDLIB"
RUFF_CMD="$RUFF check --select PERF --no-cache --quiet --exit-zero $STDLIB"

if command -v hyperfine >/dev/null; then
    JSON="$(mktemp)"
    hyperfine --warmup 2 --runs 15 --ignore-failure --export-json "$JSON" \
        -n pyrometer "$PYRO_CMD" -n "ruff --select PERF" "$RUFF_CMD"
    "$PYTHON" - "$JSON" <<'PY'
import json, sys
results = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
p, r = results["pyrometer"], results["ruff --select PERF"]
print(f"\npyrometer {p['mean'] * 1e3:.0f} ms (median {p['median'] * 1e3:.0f}), "
      f"ruff {r['mean'] * 1e3:.0f} ms (median {r['median'] * 1e3:.0f})")
print(f"ratio pyrometer/ruff: {p['mean'] / r['mean']:.2f} (mean), "
      f"{p['median'] / r['median']:.2f} (median); target <= 1.5")
PY
    rm -f "$JSON"
else
    best() {
        local best=""
        for _ in 1 2 3 4 5 6 7; do
            local start end
            start=$(date +%s%N)
            "$@" >/dev/null 2>&1 || true
            end=$(date +%s%N)
            local ms=$(((end - start) / 1000000))
            if [ -z "$best" ] || [ "$ms" -lt "$best" ]; then best=$ms; fi
        done
        echo "$best"
    }
    P=$(best $PYRO_CMD)
    R=$(best $RUFF_CMD)
    echo "pyrometer best of 7: ${P} ms; ruff best of 7: ${R} ms"
    echo "ratio pyrometer/ruff: $(awk "BEGIN { printf \"%.2f\", $P / $R }"); target <= 1.5"
fi

echo
echo "== findings per rule, default rules =="
$PYRO "$STDLIB" | sed -n '/^Found /,$p' || true
echo
echo "== findings per rule, every rule (--select ALL) =="
$PYRO --select ALL "$STDLIB" | sed -n '/^Found /,$p' || true
echo
echo "== ruff --select PERF, for comparison =="
"$RUFF" check --select PERF --no-cache --statistics --exit-zero "$STDLIB" 2>/dev/null | tail -n 12
