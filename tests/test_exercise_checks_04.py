"""The tests of test_exercise_checks.py, on notebook 04 (its checks build apps and drive a
browser, so it has a file, and an xdist worker, of its own)."""

from test_exercise_checks import *  # noqa: F403 (the same tests, the same fixture and hook)

NUMBERS = (4,)  # the notebooks this file covers
