"""Generators resumed many times, yield from, throw/close, comprehensions and coroutines."""

import asyncio


def count(n):
    for i in range(n):
        yield i


def chained(n):
    yield from count(n)
    yield from (i * 2 for i in range(n))


def echo():
    received = []
    try:
        while True:
            try:
                value = yield
                received.append(value)
            except ValueError:
                received.append("thrown")
    finally:
        received.append("closed")


async def leaf(i):
    await asyncio.sleep(0)
    return i


async def branch(n):
    results = await asyncio.gather(*(leaf(i) for i in range(n)))
    return sum(results)


def main():
    total = sum(count(100)) + sum(chained(50))
    squares = [x * x for x in range(100)]
    evens = {x for x in squares if x % 2 == 0}
    g = echo()
    next(g)
    for i in range(10):
        g.send(i)
    g.throw(ValueError)
    g.close()
    total += asyncio.run(branch(20))
    return total, len(evens)


main()
