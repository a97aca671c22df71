"""Exercises: their checks, their stepped hints, and one judge for students, tests and graders.

How an exercise is built (CONTRIBUTING.md has the whole story):

- In the notebook, the **exercise cell** (tagged ``exercise``) starts ``# Exercise N.M: title``
  and holds a stub the student completes. It is self-contained: it imports what it uses.
- The **check cell** under it (tagged ``check``) is one line: ``check("N.M")``.
- The check itself is a function in ``labs/exercises/nbNN.py``, registered with
  :func:`exercise`. It receives an :class:`Answer` (proxies to what the exercise cell defined,
  which runs in a sandbox: plain data crosses, objects stay there), tries it on inputs the
  student has not seen (random ones where it can), and raises ``AssertionError`` with a helpful
  sentence when the answer is wrong. It brings its own servers if it needs any.
- The reference answer lives once, in ``solutions/NN_name.py``.

``check("N.M")`` takes the exercise cell's source as it was last run and hands it to the
judge (:mod:`labs.exercises.judge`), which runs the check in a fresh process and the
cell in a sandboxed one beside it: exactly what ``python -m labs grade`` does. So an answer that passes in the
notebook passes for the grader, and nothing else in the notebook (an earlier cell, a name
redefined, an environment variable) can change a verdict.

Hints step up: an untouched exercise says only "not started"; a wrong attempt shows the
first hint (a nudge, never the answer); ``hint("N.M")`` shows the next one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module

DEFAULT_TIMEOUT = 60.0  # seconds an exercise (its cell and its check together) may take


# ------------------------------------------------------------------ the registry of checks

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


def get_exercise(ident: str) -> Exercise:
    """The registered exercise ``ident``, importing its notebook's check module on first use."""
    number = ident.split(".")[0]
    if ident not in _REGISTRY and number.isdigit():
        try:
            import_module(f"{__name__}.nb{int(number):02d}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.nb{int(number):02d}":
                raise
    try:
        return _REGISTRY[ident]
    except KeyError:
        raise LookupError(f"there is no exercise {ident!r}") from None


# ------------------------------------------------------------------ what a check receives

# The answer runs in a sandboxed process of its own; a check holds proxies to what it defined
# (``answer.function(name)``, ``answer.value(name)``, ``answer.literal(name)``, ``answer.source``).
from labs.exercises.remote import RemoteAnswer as Answer  # noqa: E402

# ------------------------------------------------------------------ the notebook side

def check(ident: str, source: str | None = None) -> None:
    """Judge exercise ``ident`` (its cell as last run) and print one line; hints step up."""
    from labs.exercises import student

    student.check(ident, source)


def hint(ident: str) -> None:
    """Print the next hint of exercise ``ident`` (after a first attempt)."""
    from labs.exercises import student

    student.hint(ident)


def progress() -> dict[str, bool]:
    """Every exercise checked in this kernel so far, and whether it is solved."""
    from labs.exercises import student

    return student.progress()


def _watch_cells() -> None:
    # Under IPython, start remembering exercise cells as they run: a notebook imports
    # ``check`` before its exercise cells, and nbval runs cells without filling ``In``.
    import sys

    if "IPython" in sys.modules:
        from labs.exercises import student

        student.watch_cells()


_watch_cells()
