"""The tests of test_grading_all.py, on notebooks 05 on (a file per xdist worker)."""

from test_grading_all import *  # noqa: F403 (the same tests, the same fixture and hook)

NUMBERS = range(5, 100)  # the notebooks this file covers (any new one too)
