"""PYR213 incorrect-dict-iterator: .items() with the key unused vs .values()."""

from _bench import compare, require_311

require_311()
N = 10_000
PRICES = {f"item{i}": i for i in range(N)}


def items():
    total = 0
    for _, price in PRICES.items():
        total += price
    return total


def values():
    total = 0
    for price in PRICES.values():
        total += price
    return total


compare("PYR213", f"dict of {N:,} items", items, values)
