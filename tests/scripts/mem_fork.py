"""Forks, many times, while other threads allocate (through PyMem, and through malloc from
ctypes without the GIL) and the collector's checkpoint thread builds profiles: whatever lock one
of them held at the fork, each child allocates, profiles memory itself for a moment (a session
of its own, native capture included, and a library opened), and exits; the parent goes on.

    pyrometer run --mode memory [--memory-interval exact] [--checkpoint 0.05] mem_fork.py FORKS

Prints how many children exited cleanly; a child that has not exited 20 seconds after its fork
is killed and counted as hung, and ends the forking."""

import ctypes
import os
import signal
import sys
import threading
import time

from pyrometer import _native

forks = int(sys.argv[1])
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
libc.dlopen.restype = ctypes.c_void_p
libc.dlopen.argtypes = [ctypes.c_char_p, ctypes.c_int]
libc.dlclose.argtypes = [ctypes.c_void_p]

stop = threading.Event()


def allocate():
    while not stop.is_set():
        block = libc.malloc(1000)
        libc.free(block)
        kept = [bytes(200) for _ in range(50)]
        del kept


def child() -> None:
    kept = [bytes(300) for _ in range(1000)]
    profiler = _native.MemoryProfiler(1024)
    profiler.start()
    kept += [bytes(100) for _ in range(1000)]
    libc.free(libc.malloc(100))
    handle = libc.dlopen(b"libm.so.6", 2)
    if handle:
        libc.dlclose(handle)
    profiler.stop()
    assert profiler.stats()["allocations"] > 0


workers = [threading.Thread(target=allocate) for _ in range(2)]
for w in workers:
    w.start()
clean = hung = failed = 0
try:
    for _ in range(forks):
        pid = os.fork()
        if pid == 0:
            status = 1
            try:
                child()
                status = 0
            finally:
                os._exit(status)
        deadline = time.monotonic() + 20
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
                    clean += 1
                else:
                    failed += 1
                break
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                hung += 1
                break
            time.sleep(0.001)
        if hung:
            break
finally:
    stop.set()
    for w in workers:
        w.join()
print(f"clean {clean} failed {failed} hung {hung}")
