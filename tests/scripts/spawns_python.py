"""Starts a Python child that computes, and computes itself."""

import subprocess
import sys
import time

CHILD = """
import time
def in_child():
    end = time.process_time() + 1.0
    while time.process_time() < end:
        pass
in_child()
"""


def in_parent():
    end = time.process_time() + 0.5
    while time.process_time() < end:
        pass


proc = subprocess.Popen([sys.executable, "-c", CHILD])
in_parent()
proc.wait()
time.sleep(0.2)
