"""Exercise checks shared by every notebook.

A student's answer is tried by ``check("3.1", test)``: ``test`` is a function that
raises ``AssertionError`` (with a helpful message) when the answer is wrong, and the
exercise stub raises ``NotImplementedError`` until it is written.  ``check`` prints
one clear line either way.

Grading switch: with ``SSE_KIT_GRADING=1`` in the environment an unsolved exercise
raises :class:`ExerciseNotSolved`, so the check cell fails and ``pytest --nbval-lax``
marks exactly that exercise as failed.  Without it (students working), the notebook
keeps running so the rest of the lesson still works.
"""

from __future__ import annotations

import os
import traceback
from typing import Callable

GRADING_VARIABLE = "SSE_KIT_GRADING"

_results: dict[str, bool] = {}


class ExerciseNotSolved(AssertionError):
    pass


def grading() -> bool:
    return os.environ.get(GRADING_VARIABLE, "").strip().lower() in {"1", "true", "yes", "on"}


def check(exercise: str, test: Callable[[], object], hint: str = "") -> bool:
    """Run ``test``; print whether exercise ``exercise`` is solved; return True if so."""
    try:
        test()
    except NotImplementedError:
        verdict = "not started: replace the `raise NotImplementedError` with your answer"
    except AssertionError as exc:
        verdict = f"not yet: {exc}" if str(exc) else "not yet: a check failed"
    except Exception as exc:  # the student's code crashed: say where, briefly
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        verdict = f"your code raised {type(exc).__name__}: {exc} (line {frame.lineno})"
    else:
        _results[exercise] = True
        print(f"✅ Exercise {exercise} solved.")
        return True
    _results[exercise] = False
    print(f"❌ Exercise {exercise} {verdict}")
    if hint:
        print(f"   Hint: {hint}")
    if grading():
        raise ExerciseNotSolved(f"Exercise {exercise} is not solved ({verdict})")
    return False


def progress() -> dict[str, bool]:
    """Every exercise checked in this kernel so far, and whether it is solved."""
    for exercise, solved in sorted(_results.items()):
        print(f"{'✅' if solved else '❌'} Exercise {exercise}")
    return dict(_results)
