"""PYR102 list-front-op-in-loop: draining a list with pop(0) vs deque.popleft()."""

from collections import deque

from _bench import compare, require_311

require_311()
N = 50_000


def list_queue():
    queue = list(range(N))
    total = 0
    while queue:
        total += queue.pop(0)
    return total


def deque_queue():
    queue = deque(range(N))
    total = 0
    while queue:
        total += queue.popleft()
    return total


def list_prepend():
    out = []
    for i in range(N):
        out.insert(0, i)
    return list(out)


def deque_prepend():
    out = deque()
    for i in range(N):
        out.appendleft(i)
    return list(out)


compare("PYR102", f"pop(0) drain, {N:,} items", list_queue, deque_queue)
compare("PYR102", f"insert(0, x) fill, {N:,} items", list_prepend, deque_prepend)
