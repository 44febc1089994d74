"""Runs every rule benchmark and prints a Markdown table of the results.

    python benchmarks/rules/run_all.py [CODE ...]

Needs CPython 3.11 (the figures in the rule docs are for it) and numpy for PYR404 (the
`stdlib_speed.sh` venv has both).
"""

import pathlib
import subprocess
import sys

HERE = pathlib.Path(__file__).resolve().parent


def main():
    wanted = set(sys.argv[1:])
    rows = []
    for path in sorted(HERE.glob("PYR*.py")):
        code = path.stem
        if wanted and code not in wanted:
            continue
        result = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, cwd=HERE)
        if result.returncode != 0:
            rows.append((code, "FAILED", result.stderr.strip().splitlines()[-1:], "", ""))
            continue
        for line in result.stdout.splitlines():
            parts = line.split("\t")
            if len(parts) == 5:
                rows.append(tuple(parts))
    print(f"CPython {sys.version.split()[0]}")
    print()
    print("| code | case (input) | before | after | gain |")
    print("|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(str(cell) for cell in row) + " |")


if __name__ == "__main__":
    main()
