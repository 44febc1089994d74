"""CPU shares by construction: f60, f30 and f10 take 60 %, 30 % and 10 % of the CPU time.
They run interleaved in cycles whose length is drawn at random between 4 and 11 ms of CPU
time, so that no cycle length can alias with the sampling interval."""
import random
import time

clock = time.process_time


def f60(cycle):
    end = clock() + 0.6 * cycle
    while clock() < end:
        pass


def f30(cycle):
    end = clock() + 0.3 * cycle
    while clock() < end:
        pass


def f10(cycle):
    end = clock() + 0.1 * cycle
    while clock() < end:
        pass


def main():
    print("READY {}", flush=True)
    rng = random.Random(7)
    while True:
        cycle = rng.uniform(0.004, 0.011)
        f60(cycle)
        f30(cycle)
        f10(cycle)


main()
