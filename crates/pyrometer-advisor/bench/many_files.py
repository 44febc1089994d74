"""Writes a program of many source files, for measuring what the Advice section costs.

    python many_files.py DIR [--modules N] [--functions K]

DIR/app.py imports DIR/mods/m0000.py … and calls every function of each once. Each module has
K functions of about 12 lines, a third of them with an anti-pattern the rules find (string
concatenation, membership in a list, a hand-written sum), so the advisor has files to parse,
findings to join and stacks to walk.
"""

from __future__ import annotations

import argparse
from pathlib import Path

TEMPLATES = [
    """
def concat_{i}(n):
    out = ""
    for k in range(n):
        out += str(k)
    return len(out)
""",
    """
def member_{i}(n):
    allowed = [k * 3 for k in range(50)]
    hits = 0
    for k in range(n):
        if k in allowed:
            hits += 1
    return hits
""",
    """
def plain_{i}(n):
    values = {{}}
    for k in range(n):
        values[k % 7] = values.get(k % 7, 0) + k
    total = 0
    for key in sorted(values):
        total += values[key] * key
    return total
""",
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("dir", type=Path)
    parser.add_argument("--modules", type=int, default=300)
    parser.add_argument("--functions", type=int, default=15)
    args = parser.parse_args()
    mods = args.dir / "mods"
    mods.mkdir(parents=True, exist_ok=True)
    (mods / "__init__.py").write_text("")
    names = []
    for m in range(args.modules):
        name = f"m{m:04d}"
        names.append(name)
        body = [f'"""Generated module {m}."""\n']
        calls = []
        for f in range(args.functions):
            template = TEMPLATES[f % len(TEMPLATES)]
            body.append(template.format(i=f))
            calls.append(template.split("def ", 1)[1].split("(", 1)[0].format(i=f))
        body.append("\n\ndef run_all(n):\n    return [" + ", ".join(f"{c}(n)" for c in calls) + "]\n")
        (mods / f"{name}.py").write_text("".join(body))
    app = ["import sys\n"]
    app += [f"from mods import {name}\n" for name in names]
    app.append("\n\ndef main(n):\n")
    app += [f"    {name}.run_all(n)\n" for name in names]
    app.append("\n\nmain(int(sys.argv[1]) if len(sys.argv) > 1 else 200)\n")
    (args.dir / "app.py").write_text("".join(app))


if __name__ == "__main__":
    main()
