"""PYR107 naive-recursion: naive Fibonacci vs functools.cache."""

import functools

from _bench import compare, require_311

require_311()
N = 25


def fib(n):
    if n < 2:
        return n
    return fib(n - 1) + fib(n - 2)


def fib_cached_fresh(n):
    @functools.cache
    def fib_cached(k):
        if k < 2:
            return k
        return fib_cached(k - 1) + fib_cached(k - 2)

    return fib_cached(n)


compare("PYR107", f"fib({N}), cache cleared each call", lambda: fib(N), lambda: fib_cached_fresh(N))
