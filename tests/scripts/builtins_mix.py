"""Built-in functions and methods called every way cProfile distinguishes."""

import math
import time


class Point:
    __slots__ = ("x", "y")

    def __init__(self, x, y):
        self.x = x
        self.y = y

    def __add__(self, other):
        return Point(self.x + other.x, self.y + other.y)

    @property
    def norm(self):
        return math.hypot(self.x, self.y)

    @classmethod
    def origin(cls):
        return cls(0, 0)

    @staticmethod
    def parse(text):
        x, y = text.split(",")
        return Point(float(x), float(y))


def main():
    items = []
    for i in range(200):
        items.append(i)
        list.append(items, -i)
    words = [str(i) for i in range(100)]
    joined = ",".join(words)
    str.upper(joined)
    counts = {}
    for w in words:
        counts[w] = counts.get(w, 0) + 1
    ordered = sorted(items, key=abs)
    mapped = list(map(abs, ordered))
    filtered = list(filter(None, mapped))
    p = Point.origin()
    for i in range(50):
        p = p + Point.parse(f"{i},{i + 1}")
    _ = p.norm
    _ = max(filtered), min(filtered), len(filtered)
    time.perf_counter()
    dict.fromkeys(words)
    isinstance(p, Point)
    p.x


main()
