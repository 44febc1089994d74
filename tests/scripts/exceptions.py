"""Exceptions raised deep and caught high, re-raised, raised by builtins, and in generators."""


class Boom(Exception):
    pass


def deep(n):
    if n == 0:
        raise Boom("bottom")
    return deep(n - 1)


def catcher():
    caught = 0
    for _ in range(20):
        try:
            deep(10)
        except Boom:
            caught += 1
    return caught


def reraiser():
    try:
        try:
            int("not a number")
        except ValueError as e:
            raise Boom("wrapped") from e
    except Boom:
        return "ok"


def gen_raises():
    yield 1
    raise KeyError("from a generator")


def consume():
    try:
        for _ in gen_raises():
            pass
    except KeyError:
        pass
    d = {}
    for i in range(30):
        try:
            d[i]
        except KeyError:
            d.setdefault(i, i)
    return len(d)


def main():
    catcher()
    reraiser()
    consume()


main()
