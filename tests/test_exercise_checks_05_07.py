"""The tests of test_exercise_checks.py, on notebooks 05-07 (files split so xdist workers share them)."""

from test_exercise_checks import *  # noqa: F403 (the same tests, the same fixture and hook)

NUMBERS = (5, 6, 7)  # the notebooks this file covers
