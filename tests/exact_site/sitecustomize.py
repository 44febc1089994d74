"""Put on PYTHONPATH by the exactness tests, for both cProfile's and pyrometer's runs: imports
what either profiler's own start-up imports, so that the programs find the same modules already
imported, and an `import` inside a program does the same work under both."""

import cProfile  # noqa: F401
import importlib.machinery  # noqa: F401
import optparse  # noqa: F401
import pstats  # noqa: F401
import runpy  # noqa: F401

import pyrometer._child
import pyrometer._native  # noqa: F401
