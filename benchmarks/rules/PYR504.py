"""PYR504 bytes-slice-in-loop: slicing bytes vs a memoryview."""

from _bench import compare, require_311

require_311()
SIZE = 4_000_000
CHUNK = 65_536
DATA = bytes(SIZE)


def consume_bytes():
    data = DATA
    sent_total = 0
    while data:
        sent = len(data[:CHUNK])
        sent_total += sent
        data = data[sent:]
    return sent_total


def consume_view():
    view = memoryview(DATA)
    sent_total = 0
    while view:
        sent = len(view[:CHUNK])
        sent_total += sent
        view = view[sent:]
    return sent_total


SMALL = 16


def small_bytes():
    data = DATA[:100_000]
    return sum(len(data[i : i + SMALL]) for i in range(0, len(data), SMALL))


def small_view():
    data = memoryview(DATA[:100_000])
    return sum(len(data[i : i + SMALL]) for i in range(0, len(data), SMALL))


compare("PYR504", f"consume 4 MB in 64 kB sends", consume_bytes, consume_view)
compare("PYR504", f"16-byte slices of 100 kB", small_bytes, small_view)
