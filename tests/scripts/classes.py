"""Methods, inheritance with super(), dunder methods called by operators, decorators."""

import functools


def traced(func):
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        return func(*args, **kwargs)

    return wrapper


class Base:
    def __init__(self, value):
        self.value = value

    def describe(self):
        return f"{type(self).__name__}({self.value})"

    def __eq__(self, other):
        return isinstance(other, Base) and self.value == other.value

    def __hash__(self):
        return hash(self.value)

    def __lt__(self, other):
        return self.value < other.value


class Child(Base):
    def __init__(self, value, extra):
        super().__init__(value)
        self.extra = extra

    @traced
    def describe(self):
        return super().describe() + f"+{self.extra}"


def main():
    objs = [Child(i % 17, i) for i in range(120)]
    unique = set(objs)
    ordered = sorted(objs)
    text = [o.describe() for o in ordered[:40]]
    lambdas = [lambda x, k=k: x + k for k in range(5)]
    total = sum(f(1) for f in lambdas)
    return len(unique), len(text), total


main()
