"""Runs lines_target.main() under line_profiler or pyrometer (argv[1]) on the same functions and
prints {"qualname:line": hits} as JSON."""

import json
import sys

import lines_target

tool = sys.argv[1]
if tool == "line_profiler":
    from line_profiler import LineProfiler
elif tool == "pyrometer":
    from pyrometer import LineProfiler
else:
    raise SystemExit(f"unknown tool {tool}")

profiler = LineProfiler()
for f in lines_target.FUNCTIONS:
    profiler.add_function(f)
profiler.runcall(lines_target.main)
hits = {}
for (_file, _first, name), rows in profiler.get_stats().timings.items():
    for line, nhits, _time in rows:
        if nhits:
            hits[f"{name}:{line}"] = hits.get(f"{name}:{line}", 0) + nhits
json.dump(hits, sys.stdout, sort_keys=True)
