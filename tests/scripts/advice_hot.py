"""A program whose hot loop holds a known anti-pattern: `in` on an unchanging list (PYR103),
and a cold function with another one (PYR205), for `pyrometer check --profile` and the Advice
section of `pyrometer run`."""

import sys


def count_allowed(values):
    allowed = [v * 7 for v in range(2000)]
    hits = 0
    for v in values:
        if v in allowed:
            hits += 1
    return hits


def tiny_total(xs):
    total = 0
    for x in xs:
        total += x
    return total


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 8000
    print(count_allowed(range(n)), tiny_total([1, 2, 3]))


if __name__ == "__main__":
    main()
