"""Kills itself with a signal (SIGTERM by default) after doing some work."""

import os
import signal
import sys


def work():
    return sum(i * i for i in range(5000))


work()
sys.stdout.flush()
os.kill(os.getpid(), getattr(signal, sys.argv[1] if len(sys.argv) > 1 else "SIGTERM"))
work()
