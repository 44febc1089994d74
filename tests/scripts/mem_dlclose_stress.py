"""Sessions of memory profiling with native capture start and stop (patching and restoring
every loaded object's GOT) in the main thread while another thread opens and closes a small
library in a loop, without the GIL (ctypes releases it around dlopen and dlclose): each pass
over the loaded objects can meet that library being mapped, relocated or unmapped.

    python mem_dlclose_stress.py LIBRARY SESSIONS"""

import ctypes
import sys
import threading

from pyrometer import _native

library, sessions = sys.argv[1].encode(), int(sys.argv[2])

libc = ctypes.CDLL(None)
libc.dlopen.restype = ctypes.c_void_p
libc.dlopen.argtypes = [ctypes.c_char_p, ctypes.c_int]
libc.dlclose.argtypes = [ctypes.c_void_p]
RTLD_NOW = 2

done = threading.Event()
cycles = 0


def churn():
    global cycles
    while not done.is_set():
        handle = libc.dlopen(library, RTLD_NOW)
        if not handle:
            raise SystemExit(f"dlopen failed: {library}")
        libc.dlclose(handle)
        cycles += 1


t = threading.Thread(target=churn)
t.start()
try:
    for _ in range(sessions):
        profiler = _native.MemoryProfiler(4096)
        profiler.start()
        kept = [bytes(100) for _ in range(100)]
        profiler.stop()
finally:
    done.set()
    t.join()
print(f"sessions {sessions} cycles {cycles}")
