"""A global list that keeps growing (a leak), next to memory that is freed."""

history = []


def handle(i):
    history.append(f"request {i:08d} " * 8)  # LEAK
    scratch = [i] * 1000  # FREED
    return len(scratch)


def transient():
    data = bytearray(64 * 1024 * 1024)  # TRANSIENT
    return len(data)


for i in range(20_000):
    handle(i)
transient()
print(len(history))
