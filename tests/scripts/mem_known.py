"""Allocations known by construction: one 512 MiB bytearray, then ~100 MB of small objects
built in a loop and kept (memory tests check both are reported, on their lines)."""

import sys

N = int(sys.argv[1]) if len(sys.argv) > 1 else 430_000

big = bytearray(512 * 1024 * 1024)  # BIG
keep = []
for i in range(N):
    keep.append(bytes(200))  # SMALL
print(len(big), len(keep))
