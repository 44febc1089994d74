"""PYR401 read-whole-file-to-iterate: readlines() vs iterating the file: time and memory."""

import os
import tempfile

from _bench import compare, compare_memory, require_311

require_311()
N = 200_000
fd, PATH = tempfile.mkstemp(suffix=".log")
with os.fdopen(fd, "w") as f:
    for i in range(N):
        f.write(f"2024-01-01 12:00:00 INFO request {i} served in {i % 97} ms\n")


def readlines():
    count = 0
    with open(PATH) as f:
        for line in f.readlines():
            if "served in 42 ms" in line:
                count += 1
    return count


def iterate():
    count = 0
    with open(PATH) as f:
        for line in f:
            if "served in 42 ms" in line:
                count += 1
    return count


size_mb = os.path.getsize(PATH) / 1e6
try:
    compare("PYR401", f"{N:,}-line {size_mb:.0f} MB file (time)", readlines, iterate)
    compare_memory("PYR401", f"{N:,}-line {size_mb:.0f} MB file (memory)", readlines, iterate)
finally:
    os.unlink(PATH)
