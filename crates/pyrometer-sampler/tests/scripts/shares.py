"""CPU shares by construction: f60, f30 and f10 take 60 %, 30 % and 10 % of the CPU time,
interleaved in cycles of 7.3 ms of CPU time (not a multiple of the sampling interval)."""
import time

CYCLE = 0.0073
clock = time.process_time


def f60():
    end = clock() + 0.6 * CYCLE
    while clock() < end:
        pass


def f30():
    end = clock() + 0.3 * CYCLE
    while clock() < end:
        pass


def f10():
    end = clock() + 0.1 * CYCLE
    while clock() < end:
        pass


def main():
    print("READY {}", flush=True)
    while True:
        f60()
        f30()
        f10()


main()
