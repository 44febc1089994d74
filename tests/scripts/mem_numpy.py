"""numpy array data: one 512 MiB array kept, one 64 MiB array freed."""

import numpy as np

a = np.ones(512 * 1024 * 1024 // 8)  # ONES
b = np.empty(64 * 1024 * 1024 // 8)  # EMPTY
del b
print(a.nbytes)
