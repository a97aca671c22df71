"""Helpers every notebook's checks share: messages nobody can guess, and answers run with a limit."""

from __future__ import annotations

import random
import secrets
import threading
from collections.abc import Callable
from typing import Any

_WORDS = ["exam", "room", "lab", "quiz", "notes", "deadline", "lecture", "café", "Zoë", "grade", "ünïcode"]


def random_text(rng: random.Random | None = None) -> str:
    """A message the student cannot guess: random words, a number, markup and non-ASCII."""
    rng = rng or random.Random()
    return f"{rng.choice(_WORDS)} {rng.randint(1, 9999)} <b>{rng.choice(_WORDS)}</b> {secrets.token_hex(2)}"


class _Outcome:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: Any = None
        self.error: BaseException | None = None

    def result(self) -> Any:
        if self.error is not None:
            raise self.error  # its traceback still names the student's line
        return self.value


def start_in_thread(function: Callable[..., Any], *args: Any) -> _Outcome:
    """Call ``function(*args)`` in a daemon thread; the outcome says when it is done."""
    outcome = _Outcome()

    def run() -> None:
        try:
            outcome.value = function(*args)
        except BaseException as exc:  # handed to the check's thread by result()
            outcome.error = exc
        finally:
            outcome.done.set()

    threading.Thread(target=run, daemon=True).start()
    return outcome


def run_with_limit(function: Callable[..., Any], *args: Any, limit: float, late: str) -> Any:
    """``function(*args)``, or AssertionError(``late``) if it has not returned within ``limit`` s.

    A hanging answer then fails with a sentence about *what* it waited for, instead of the
    judge's general time limit.  (The thread is left behind; the judge's process ends soon.)
    """
    outcome = start_in_thread(function, *args)
    if not outcome.done.wait(limit):
        raise AssertionError(late)
    return outcome.result()
