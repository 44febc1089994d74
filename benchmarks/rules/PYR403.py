"""PYR403 deepcopy-in-loop: copy.deepcopy of a grid per move vs copying the rows."""

import copy

from _bench import compare, require_311

require_311()
SIZE = 20
MOVES = 100
GRID = [[0] * SIZE for _ in range(SIZE)]


def deep():
    out = []
    for k in range(MOVES):
        g = copy.deepcopy(GRID)
        g[k % SIZE][k % SIZE] = k
        out.append(g)
    return out


def rows():
    out = []
    for k in range(MOVES):
        g = [row[:] for row in GRID]
        g[k % SIZE][k % SIZE] = k
        out.append(g)
    return out


compare("PYR403", f"{MOVES} copies of a {SIZE}x{SIZE} int grid", deep, rows)
