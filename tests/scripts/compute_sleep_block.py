"""Computes, then sleeps, then blocks in `select`, in small pieces, over and over; prints the
CPU time each phase took on the thread's own clock (the truth a sampled CPU profile must
match: all but a trace of it is computing)."""

import json
import select
import socket
import time


def compute(seconds):
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def rest(seconds):
    time.sleep(seconds)


def block(seconds, sock):
    select.select([sock], [], [], seconds)


quiet, _ = socket.socketpair()
cpu = {"compute": 0.0, "rest": 0.0, "block": 0.0}
for _ in range(60):
    for name, f, args in (("compute", compute, ()), ("rest", rest, ()), ("block", block, (quiet,))):
        start = time.thread_time()
        f(0.01, *args)
        cpu[name] += time.thread_time() - start
print(json.dumps({"cpu": cpu}))
