"""Functions with every shape of control flow, for line-level hit counts (compared with
line_profiler's) and per-frame times."""

import os
import threading


def loop(n):
    total = 0
    for i in range(n):
        if i % 3 == 0:
            continue
        total += i
    i = 0
    while i < n: i += 1  # noqa: E701  # fmt: skip
    return total


def early(x):
    if x > 5:
        return "big"
    y = x * 2
    if y > 4:
        return "medium"
    return "small"


def recurse(n):
    if n <= 1:
        return 1
    return n * recurse(n - 1)


def gen(n):
    for i in range(n):
        received = yield i
        if received:
            yield received


def consume():
    g = gen(5)
    out = [next(g)]
    out.append(g.send(10))
    out.extend(g)
    return out


def raises(n):
    if n % 2:
        raise ValueError(n)
    return n


def catches():
    caught = 0
    for i in range(6):
        try:
            raises(i)
        except ValueError:
            caught += 1
        finally:
            caught += 0
    return caught


def comprehension(n):
    squares = [i * i for i in range(n)]
    evens = {i for i in squares if i % 2 == 0}
    return len(evens) + sum(x for x in squares)


class Box:
    def __init__(self, v):
        self.v = v

    @property
    def double(self):
        return self.v * 2

    def bump(self, k):
        for _ in range(k):
            self.v += 1
        return self


def lambdas(n):
    f = lambda x: x + 1  # noqa: E731
    return [f(i) for i in range(n)]


def with_block(n):
    lock = threading.Lock()
    count = 0
    for _ in range(n):
        with lock:
            count += 1
    return count


def threaded(n):
    results = []

    def worker(k):
        results.append(loop(k))

    threads = [threading.Thread(target=worker, args=(n + i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sorted(results)


def main():
    loop(50)
    for x in range(8):
        early(x)
    recurse(12)
    consume()
    catches()
    comprehension(30)
    Box(1).bump(5).double
    lambdas(4)
    with_block(7)
    # line_profiler measures other threads only on 3.12+ (sys.monitoring is interpreter-wide;
    # before, its trace function is set on the calling thread alone).
    if os.environ.get("LINES_TARGET_THREADS", "1") == "1":
        threaded(20)


FUNCTIONS = [
    loop,
    early,
    recurse,
    gen,
    consume,
    raises,
    catches,
    comprehension,
    Box.__init__,
    Box.double.fget,
    Box.bump,
    lambdas,
    with_block,
    threaded,
    main,
]

if __name__ == "__main__":
    main()
