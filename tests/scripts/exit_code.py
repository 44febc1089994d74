import sys


def work():
    return sum(range(1000))


work()
sys.exit(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
