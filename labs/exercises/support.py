"""Helpers every notebook's checks share: messages nobody can guess, bytes cut where a stream
reader stumbles, answers (and generators) run with a limit, small servers and labs run from a
thread of the check's process, and a headless Chromium for page code."""

from __future__ import annotations

import importlib.util
import logging
import random
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

# Small servers in threads of the check's process: one helper for the kit, in the harness.
from labs.harness.thread_server import serve_in_thread, serve_wsgi  # noqa: F401 (the checks import them from here)

_WORDS = ["exam", "room", "lab", "quiz", "notes", "deadline", "lecture", "café", "Zoë", "grade", "ünïcode"]


def random_text(rng: random.Random | None = None) -> str:
    """A message the student cannot guess: random words, a number, markup and non-ASCII."""
    rng = rng or random.Random()
    return f"{rng.choice(_WORDS)} {rng.randint(1, 9999)} <b>{rng.choice(_WORDS)}</b> {secrets.token_hex(2)}"


def random_lines(rng: random.Random | None = None) -> str:
    """A message of two lines, the second one looking like an SSE field: a newline must not break framing."""
    return f"{random_text(rng)}\ndata: a second line {secrets.token_hex(2)}"


def hard_cuts(raw: bytes, rng: random.Random) -> list[int]:
    """Where to cut ``raw`` so that a stream reader meets the hard cases: inside UTF-8 characters,
    after every CR (between it and its LF, if it has one), and elsewhere at random. Sorted."""
    inside = [i for i in range(1, len(raw)) if raw[i] & 0xC0 == 0x80]
    after_cr = [i + 1 for i in range(len(raw) - 1) if raw[i:i + 1] == b"\r"]
    points = rng.sample(inside, min(len(inside), 8)) + after_cr
    return sorted(set(points + [rng.randrange(1, len(raw)) for _ in range(8)]))


def cut_at(raw: bytes, points: list[int]) -> list[bytes]:
    """``raw`` in the chunks that cutting it at ``points`` (sorted offsets) makes; none empty."""
    edges = [0, *points, len(raw)]
    return [raw[a:b] for a, b in zip(edges, edges[1:], strict=False) if b > a]


class _Outcome:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: Any = None
        self.error: BaseException | None = None

    def result(self) -> Any:
        if self.error is not None:
            raise self.error  # its traceback still names the student's line
        return self.value


def require_predictions(answer, names) -> None:
    """For a "predict, then run" cell of several names: NotImplementedError while every one
    still holds ``NotImplemented`` (not started); a failure naming the ones left when only
    some do."""
    given = {name: answer.get(name, NotImplemented) for name in names}
    if all(value is NotImplemented for value in given.values()):
        raise NotImplementedError
    missing = [name for name, value in given.items() if value is NotImplemented]
    assert not missing, f"predict all {len(given)}: {', '.join(missing)} still holds NotImplemented"


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


END = object()  # what next_within gives for an iterator that has ended


def next_within(iterator: Any, *, limit: float, late: str) -> Any:
    """``next(iterator)``, or :data:`END` when it has ended; AssertionError(``late``) if it gives
    nothing within ``limit`` s (a generator waiting for what never comes)."""
    return run_with_limit(next, iterator, END, limit=limit, late=late)


@contextmanager
def lab_in_thread(name: str, config: dict | None = None) -> Iterator[Any]:
    """Lab ``name`` served from threads of the check's own process, as ``labs run NAME`` serves
    it (its ``create_app``, Werkzeug's threaded server): real HTTP on a port of its own, with no
    process to start (0.05 s instead of 0.7 s of CPU, for every answer judged). Yields a
    :class:`~labs.harness.launcher.LabClient` (``url``, ``get``, ``post``, ``publish``)."""
    from labs.harness.launcher import LabClient
    from labs.harness.registry import get_lab

    app = get_lab(name).module().create_app(dict(config or {}))
    with serve_wsgi(app, logging.CRITICAL) as url:
        yield LabClient(url)


@contextmanager
def browser_for_check(what: str = "your page") -> Iterator[Any]:
    """Headless Chromium (Playwright's sync API) to run the student's ``what`` in; closed when
    the block ends.  With no Chromium, or no Playwright, it raises the runtime's
    ``BrowserUnavailable`` saying how to get one: the judge reports that as an error, never as
    a wrong answer."""
    from labs.harness import browser

    try:
        executable = browser.find_browser()
    except browser.BrowserUnavailable as exc:
        raise browser.BrowserUnavailable(f"no Chromium found to run {what} in. {exc}") from None
    if importlib.util.find_spec("playwright") is None:
        raise browser.BrowserUnavailable(f"Playwright is not installed, so no browser can run {what}")
    with browser.chromium(executable=executable) as chromium:
        yield chromium
