"""Spins at the bottom of a 500-frame recursion."""

import time


def down(n):
    if n == 0:
        end = time.process_time() + 1.0
        while time.process_time() < end:
            pass
        return 0
    return down(n - 1) + 1


down(500)
