"""PYR404 numpy-elementwise-loop: a Python loop over an ndarray vs whole-array arithmetic."""

import sys

from _bench import compare, require_311

require_311()
try:
    import numpy as np
except ImportError:
    print("PYR404\tskipped: numpy is not installed\t-\t-\t-")
    sys.exit(0)

N = 100_000
A = np.arange(N, dtype=float)


def loop():
    out = np.empty(N)
    for i in range(len(A)):
        out[i] = A[i] * 2.0 + 1.0
    return out.tolist()


def vectorised():
    return (A * 2.0 + 1.0).tolist()


compare("PYR404", f"{N:,} float64 elements", loop, vectorised)
