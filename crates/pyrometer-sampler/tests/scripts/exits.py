"""Works for a moment, then exits with status 3."""
import sys
import time


def work(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass  # LINE:work


print("READY {}", flush=True)
work(float(sys.argv[1]) if len(sys.argv) > 1 else 0.5)
sys.exit(3)
