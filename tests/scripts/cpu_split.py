"""Three functions taking 60, 30 and 10 % of the CPU by construction: interleaved chunks of
random length (so nothing aliases with the sampling interval), measured with process_time."""

import random
import sys
import time


def burn(seconds):
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def heavy(seconds):
    burn(seconds)


def medium(seconds):
    burn(seconds)


def light(seconds):
    burn(seconds)


def main(total):
    rng = random.Random(1)
    spent = {heavy: 0.0, medium: 0.0, light: 0.0}
    share = {heavy: 0.6, medium: 0.3, light: 0.1}
    while min(spent[f] / share[f] for f in spent) < total:
        f = min(spent, key=lambda g: spent[g] / share[g])
        chunk = rng.uniform(0.002, 0.008)
        f(chunk)
        spent[f] += chunk


main(float(sys.argv[1]) if len(sys.argv) > 1 else 2.0)
