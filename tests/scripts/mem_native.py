"""Native allocations, made with `malloc` and not through PyMem: C code called through ctypes
(resolved with dlsym, run without the GIL, in the main thread and in a worker thread) and
SQLite's page cache; next to a C library that allocates through PyMem (lzma), which must be
counted once."""

import ctypes
import lzma
import sqlite3
import threading

MiB = 1024 * 1024

libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]

kept = libc.malloc(512 * MiB)  # KEPT
scratch = libc.malloc(64 * MiB)  # FREED
libc.free(scratch)

compressor = lzma.LZMACompressor(preset=6)  # LZMA


def worker(out):
    out.append(libc.malloc(32 * MiB))  # IN_THREAD


found = []
t = threading.Thread(target=worker, args=(found,), name="native-worker")
t.start()
t.join()

db = sqlite3.connect(":memory:")
db.execute("create table t (b blob)")
FILL = (
    "with recursive c(x) as (select 1 union all select x + 1 from c where x < 16384) "
    "insert into t select zeroblob(4096) from c"
)
db.execute(FILL)  # SQLITE
print(kept != 0, len(found), db.execute("select count(*) from t").fetchone()[0])
