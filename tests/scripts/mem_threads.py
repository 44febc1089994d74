"""Allocations in two named threads besides the main one, each on its own line."""

import threading

kept = {}


def worker_a():
    kept["a"] = [bytearray(1024) for _ in range(20_000)]  # IN_A


def worker_b():
    kept["b"] = [bytearray(4096) for _ in range(10_000)]  # IN_B


threads = [threading.Thread(target=worker_a, name="worker-a"), threading.Thread(target=worker_b, name="worker-b")]
for t in threads:
    t.start()
for t in threads:
    t.join()
main_data = [bytearray(512) for _ in range(20_000)]  # IN_MAIN
print(len(kept["a"]) + len(kept["b"]) + len(main_data))
