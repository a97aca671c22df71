"""The check process: where one exercise's :class:`Verdict` is decided, and no answer code runs.

:func:`labs.exercises.judge.judge` starts this process (``python -m
labs.exercises.check_process``, or a fork of the clean process :mod:`labs.exercises.forkserver`
keeps) and writes it one request: the exercise id, the cell's source, the time limit. :func:`main`
moves into a network namespace of its own where it can, and :func:`judge_here` looks the check up
(:mod:`labs.exercises.registry`) and starts the **answer's process** in a sandbox
(:mod:`~labs.exercises.sandbox`: bubblewrap, the filesystem read-only, its own PID namespace,
limits), which runs the cell and then does what the check asks over a channel of plain data
(:mod:`~labs.exercises.remote`). The check's hidden inputs, its servers and the verdict stay in this
process; the verdict is its last line on a pipe only the caller holds.

Statuses: ``solved``; ``not started`` (the stub still raises ``NotImplementedError``);
``not solved`` (the check found something wrong, and says what); ``error`` (the answer
crashed, hung, has a syntax error, or its process ended or broke a limit).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass

from labs.exercises import remote, sandbox
from labs.exercises.registry import get_exercise

SOLVED, NOT_STARTED, NOT_SOLVED, ERROR = "solved", "not started", "not solved", "error"
VERDICT_MARK = "SSE-KIT-VERDICT"


@dataclass(frozen=True)
class Verdict:
    exercise: str
    status: str
    reason: str = ""

    @property
    def solved(self) -> bool:
        return self.status == SOLVED


class _OutOfTime(BaseException):
    """Raised in the check process's main thread when the time limit is up (not an Exception,
    so a check's ``except Exception`` cannot swallow it)."""


@contextmanager
def _time_limit(seconds: float):
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGALRM"):
        yield
        return

    def out_of_time(signum, frame):
        raise _OutOfTime

    previous = signal.signal(signal.SIGALRM, out_of_time)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _syntax_problem(source: str) -> str | None:
    """Compiling is parsing, not running: safe to do here."""
    try:
        compile(source, "<exercise>", "exec")
    except SyntaxError as exc:
        return f"your cell has a syntax error: {exc.msg} (line {exc.lineno})"
    except (ValueError, MemoryError, RecursionError) as exc:
        return f"your cell cannot be compiled: {type(exc).__name__}"
    return None


def judge_here(ident: str, source: str, timeout: float | None = None, scratch_parent: str | None = None) -> Verdict:
    """Run the check in this process, and the answer in a sandboxed process of its own (the
    check process's half of :func:`judge`)."""
    exercise = get_exercise(ident)
    limit = timeout or exercise.timeout
    problem = _syntax_problem(source)
    if problem:
        return Verdict(ident, ERROR, problem)
    test = exercise.test
    with tempfile.TemporaryDirectory(prefix="answer-", dir=scratch_parent) as scratch:
        answer = None
        try:
            with _time_limit(limit):
                answer = remote.AnswerProcess(scratch, time.monotonic() + limit)
                answer.request("run", ident=ident, source=source)  # the student's cell, as a notebook runs it
                test(remote.RemoteAnswer(answer, source))
        except NotImplementedError:
            return Verdict(ident, NOT_STARTED, "replace each `raise NotImplementedError` (or `NotImplemented`) "
                                               "with your answer")
        except AssertionError as exc:
            return Verdict(ident, NOT_SOLVED, str(exc) or "a check failed")
        except (_OutOfTime, remote.AnswerTimeout):
            return Verdict(ident, ERROR, f"your answer took longer than {limit:g} s: does something wait forever?")
        except remote.AnswerGone as exc:
            return Verdict(ident, ERROR, str(exc))
        except Exception as exc:  # any crash is reported, never raised at the student
            return Verdict(ident, ERROR, _describe(exc))
        finally:
            if answer is not None:
                answer.close()
    return Verdict(ident, SOLVED)


def _describe(exc: Exception) -> str:
    if not hasattr(exc, "answer_type"):
        return f"the check could not run your answer: {type(exc).__name__}: {exc}"
    line = exc.answer_line
    where = f" (line {line} of your exercise cell)" if line else ""
    return f"your code raised {exc.answer_type}: {exc.answer_message}{where}"




def _end_with_parent(parent: int) -> None:
    """If whoever asked for this verdict dies (a killed kernel, or the fork server that the
    kernel's death ends), end this process group at once: the answer, its check and every
    server they started."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.2)
        os.killpg(0, signal.SIGKILL)

    threading.Thread(target=watch, daemon=True).start()


def main(parent: int) -> None:
    sandbox.private_network()  # first, while this process has one thread
    _end_with_parent(parent)
    request = json.loads(sys.stdin.readline())
    sys.stdin.close()
    ident = request["exercise"]
    verdict = judge_here(ident, request["source"], request["timeout"], scratch_parent=os.getcwd())
    line = json.dumps({"exercise": ident, "status": verdict.status, "reason": verdict.reason})
    sys.stdout.flush()
    os.write(1, f"{VERDICT_MARK} {line}\n".encode())
    os._exit(0)  # no thread of the check's gets a say after the verdict


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else os.getppid())  # who started us, as they said
