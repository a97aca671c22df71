"""The judge: ``judge(ident, source)`` gets one exercise's :class:`Verdict` from a fresh process.

It starts a **check process** (:mod:`labs.exercises.check_process`: ``python -m
labs.exercises.check_process``; for the grader and the tests, a fork of a clean process that has
imported the checks: :mod:`labs.exercises.forkserver`), hands it the exercise id, the cell's
source and the time limit, and reads the verdict back. That process never runs a line of the
answer: it runs the check, and the answer in a sandbox beside it. When the time limit is up
everything is killed, so a hanging answer fails alone. Students' check cells, the grader and the
tests all come here, so they can never disagree.

Statuses (:mod:`labs.exercises.check_process` decides them): ``solved``; ``not started`` (the stub
still raises ``NotImplementedError``); ``not solved`` (the check found something wrong, and says
what); ``error`` (the answer crashed, hung, has a syntax error, or its process ended or broke a limit).
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import tempfile
import time

from labs.exercises import forkserver
from labs.exercises.check_process import ERROR, NOT_SOLVED, NOT_STARTED, SOLVED, VERDICT_MARK, Verdict
from labs.exercises.registry import get_exercise

__all__ = ["ERROR", "NOT_SOLVED", "NOT_STARTED", "SOLVED", "Verdict", "judge"]


def judge(ident: str, source: str, timeout: float | None = None, *, preloaded: bool = False) -> Verdict:
    """Judge the answer in a fresh process; a hang or crash there fails this exercise alone.

    ``preloaded=True`` (the grader and the tests, which judge hundreds of answers) forks that
    process from a clean one kept for the purpose (:mod:`~labs.exercises.forkserver`,
    Linux only) instead of starting Python from scratch: the same process, the same verdict,
    without paying the start-up and the imports each time. A student's check cell judges one
    answer at a time, and leaves nothing running behind it."""
    limit = timeout or get_exercise(ident).timeout
    request = json.dumps({"exercise": ident, "source": source, "timeout": limit}) + "\n"
    with tempfile.TemporaryDirectory(prefix="sse-kit-exercise-") as workdir:
        worker = forkserver.Forked(workdir) if preloaded and forkserver.available() else _Started(workdir)
        try:
            out, err = worker.communicate(request, timeout=limit + 15)
        except subprocess.TimeoutExpired:
            return Verdict(ident, ERROR, f"your answer took longer than {limit:g} s: does something wait forever?")
        finally:
            worker.kill_group()  # anything the answer or the check left behind
    found = [line for line in out.splitlines() if line.startswith(f"{VERDICT_MARK} ")]
    if len(found) != 1:
        tail = " ".join(err.strip().splitlines()[-2:])[-300:]
        return Verdict(ident, ERROR, f"the check stopped before it could finish ({tail or 'no message'})")
    return Verdict(**json.loads(found[0].split(" ", 1)[1]))


class _Started:
    """A judge process started from scratch (where the fork server is not available)."""

    def __init__(self, workdir: str, attempts: int = 3) -> None:
        # Retried on EFAULT ("Bad address"), which Linux's vfork-then-exec returned once in a
        # full test run here; nothing has run yet when it fails, so trying again is safe.
        for attempt in range(attempts):
            try:
                self.process = subprocess.Popen(
                    [sys.executable, "-m", "labs.exercises.check_process", str(os.getpid())], cwd=workdir,
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                    text=True, start_new_session=True)
                return
            except OSError as exc:
                if exc.errno != errno.EFAULT or attempt == attempts - 1:
                    raise
                time.sleep(0.1)

    def communicate(self, text: str, timeout: float) -> tuple[str, str]:
        return self.process.communicate(text, timeout=timeout)

    def kill_group(self) -> None:
        forkserver.kill_group(self.process.pid)
        if self.process.poll() is None:
            self.process.wait()
