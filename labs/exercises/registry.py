"""The registry of exercises: every check, by id, with its hints and its time limit.

A check module (``labs/exercises/nbNN.py``) registers each check with :func:`exercise`;
:func:`get_exercise` finds one by id ("4.1"), importing its notebook's module on first use.
The student's side (:mod:`labs.exercises.student`), the judge's check process
(:mod:`labs.exercises.check_process`) and the grader (:mod:`labs.exercises.grading`) all
look exercises up here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from labs.exercises.remote import RemoteAnswer as Answer

DEFAULT_TIMEOUT = 60.0  # seconds an exercise (its cell and its check together) may take


@dataclass(frozen=True)
class Exercise:
    ident: str
    test: Callable[[Answer], None]
    hints: tuple[str, ...]
    timeout: float = DEFAULT_TIMEOUT

    @property
    def notebook_number(self) -> int:
        return int(self.ident.split(".")[0])


_REGISTRY: dict[str, Exercise] = {}


def exercise(ident: str, *, hints: list[str] | tuple[str, ...], timeout: float = DEFAULT_TIMEOUT):
    """Register the decorated function as the check of exercise ``ident`` ("4.1").

    ``hints`` go from a nudge (what to look at) to more help; none of them is the answer.
    """
    if not re.fullmatch(r"\d+\.\d+", ident):
        raise ValueError(f"an exercise id looks like '4.1', not {ident!r}")
    if len(hints) < 2:
        raise ValueError(f"exercise {ident} needs at least two hints, a nudge first")

    def register(test: Callable[[Answer], None]) -> Callable[[Answer], None]:
        _REGISTRY[ident] = Exercise(ident, test, tuple(hints), timeout)
        return test

    return register


def load_notebook_checks(number: int) -> bool:
    """Import the check module of notebook ``number`` (``labs/exercises/nbNN.py``); False if it has none."""
    module = f"labs.exercises.nb{number:02d}"
    try:
        import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        return False
    return True


def get_exercise(ident: str) -> Exercise:
    """The registered exercise ``ident``, importing its notebook's check module on first use."""
    number = ident.split(".")[0]
    if ident not in _REGISTRY and number.isdigit():
        load_notebook_checks(int(number))
    try:
        return _REGISTRY[ident]
    except KeyError:
        raise LookupError(f"there is no exercise {ident!r}") from None


def notebook_exercises(number: int) -> list[str]:
    """The ids of every check registered for notebook ``number`` (none if it has no module)."""
    if not load_notebook_checks(number):
        return []
    return [ident for ident in _REGISTRY if ident.split(".")[0] == str(number)]
