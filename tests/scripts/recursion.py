"""Direct and mutual recursion, memoised recursion, recursion through a builtin."""

import functools


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def is_even(n):
    return True if n == 0 else is_odd(n - 1)


def is_odd(n):
    return False if n == 0 else is_even(n - 1)


@functools.cache
def fib_cached(n):
    return n if n < 2 else fib_cached(n - 1) + fib_cached(n - 2)


def walk(tree):
    return 1 + sum(map(walk, tree))


def main():
    fib(16)
    is_even(200)
    fib_cached(150)
    tree = [[[], [[]]], [[[[]]]], []]
    for _ in range(50):
        walk(tree)


main()
