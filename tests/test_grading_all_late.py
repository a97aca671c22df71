"""The tests of test_grading_all.py, on notebooks 05-09 (a file per xdist worker)."""

from test_grading_all import *  # noqa: F403 (the same tests, the same fixture and hook)

NUMBERS = range(5, 10)  # the notebooks this file covers
