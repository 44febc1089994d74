"""A known CPU hot spot and a known allocation site, for `run --memory` (time samples and
allocations in one profile): `build` allocates 64 MiB of bytearrays on one line and keeps
them; `spin` then burns about a second of CPU in its loop, allocating nothing (its numbers are
0 and 1, which CPython never allocates, and floats come from the interpreter's free list)."""

import sys
import time

MiB = 1024 * 1024


def build(count):
    return [bytearray(MiB) for _ in range(count)]  # ALLOC


def spin(seconds):
    end = time.process_time() + seconds
    n = 0
    while time.process_time() < end:  # HOT
        n = 1 - n  # HOT_BODY
    return n


kept = build(64)  # CALL_BUILD
spin(float(sys.argv[1]) if len(sys.argv) > 1 else 1.0)  # CALL_SPIN
sys.exit(0 if len(kept) == 64 else 1)
