"""PYR505 tuple-over-list: a constant list display per call vs a tuple."""

from _bench import compare, require_311

require_311()
DAYS = [f"d{i}" for i in range(1000)]


def with_list():
    hits = 0
    for day in DAYS:
        hits += is_weekend_list(day)
    return hits


def with_tuple():
    hits = 0
    for day in DAYS:
        hits += is_weekend_tuple(day)
    return hits


def is_weekend_list(day):
    weekend = ["sat", "sun"]
    return day in weekend


def is_weekend_tuple(day):
    weekend = ("sat", "sun")
    return day in weekend


compare("PYR505", "1,000 calls, 2-item display", with_list, with_tuple)
