import os
import sys


def work():
    return sum(i * i for i in range(5000))


work()
sys.stdout.flush()
os._exit(7)
