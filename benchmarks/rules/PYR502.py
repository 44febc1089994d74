"""PYR502 dotted-lookup-in-loop: os.path.join / math.sqrt in a loop vs a local binding."""

import math
import os

from _bench import compare, require_311

require_311()
N = 10_000
NAMES = [f"file{i}.txt" for i in range(N)]
VALUES = [float(i) for i in range(N)]


def dotted_join():
    return [os.path.join("/tmp", n) for n in NAMES]


def local_join():
    join = os.path.join
    return [join("/tmp", n) for n in NAMES]


def dotted_sqrt():
    return [math.sqrt(v) for v in VALUES]


def local_sqrt():
    sqrt = math.sqrt
    return [sqrt(v) for v in VALUES]


compare("PYR502", f"os.path.join, {N:,} calls", dotted_join, local_join)
compare("PYR502", f"math.sqrt, {N:,} calls", dotted_sqrt, local_sqrt)
