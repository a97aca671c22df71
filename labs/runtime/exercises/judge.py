"""The judge: runs one exercise answer beside its check and returns a :class:`Verdict`.

``judge(ident, source)`` runs the answer in a fresh process of its own
(``python -m labs.runtime.exercises.judge``; for the grader and the tests, a fork of a clean
process that has imported the checks and never runs an answer:
:mod:`labs.runtime.exercises.forkserver`) that imports the check *before* the answer runs,
runs the answer in a namespace of its own, then the check, and writes the verdict on a channel
the answer cannot see, tagged with a random nonce. The process and everything it started (labs,
Redis) are killed when the time limit is up, so a hanging answer fails alone. Students' check
cells, the grader and the tests all come here, so they can never disagree.

Statuses: ``solved``; ``not started`` (the stub still raises ``NotImplementedError``);
``not solved`` (the check found something wrong, and says what); ``error`` (the answer
crashed, hung, has a syntax error, or reaches into the grader).
"""

from __future__ import annotations

import ast
import errno
import json
import linecache
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from labs.runtime.exercises import Answer, forkserver, get_exercise

SOLVED, NOT_STARTED, NOT_SOLVED, ERROR = "solved", "not started", "not solved", "error"
_MARK = "SSE-KIT-VERDICT"

# Names an answer never needs, and that could reach the grader's own machinery.
_OFF_LIMITS = {
    "check", "hint", "progress", "judge", "get_ipython", "builtins", "__builtins__", "gc",
    "inspect", "ctypes", "importlib", "_getframe", "modules", "__import__",
    "exec", "eval", "globals", "vars", "__dict__", "__globals__", "__code__",
}


@dataclass(frozen=True)
class Verdict:
    exercise: str
    status: str
    reason: str = ""

    @property
    def solved(self) -> bool:
        return self.status == SOLVED


class _OutOfTime(BaseException):
    """Raised in the judge's main thread when the time limit is up (not an Exception, so
    an answer's ``except Exception`` cannot swallow it)."""


def reaches_into_grader(source: str) -> str | None:
    """Why this answer must not be run (it names the grader's machinery), or None."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None  # reported as a syntax error when compiled
    for node in ast.walk(tree):
        name = None
        if isinstance(node, ast.Name):
            name = node.id
        elif isinstance(node, ast.Attribute):
            name = node.attr
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            name = node.name  # `def check(...)` replaces a name as much as `check = ...` does
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = [alias.name for alias in node.names] + [getattr(node, "module", None) or ""]
            modules += [alias.asname or "" for alias in node.names]  # `import json as check`
            if getattr(node, "module", None):  # `from labs.runtime import exercises`
                modules += [f"{node.module}.{alias.name}" for alias in node.names]
            name = next((m for m in modules if m.split(".")[0] in _OFF_LIMITS
                         or m.startswith("labs.runtime.exercises")), None)
        if name and (name.split(".")[0] in _OFF_LIMITS or name.startswith("labs.runtime.exercises")):
            return (f"your answer uses `{name}`, which no answer needs and which belongs to the "
                    "checking machinery; rename or remove it")
    return None


# While an answer's own code is running (its cell, or a function it defined, anywhere on the
# stack), these are refused: they reach frames, objects or code the answer was never given,
# which is how an answer could find the verdict's channel. Its ordinary work needs none of them.
_SEALED_EVENTS = {"sys._getframe", "sys._current_frames", "sys.settrace", "sys.setprofile", "gc.get_objects",
                  "gc.get_referrers", "gc.get_referents", "sys.addaudithook"}
# The attributes that hand out a frame (CPython raises an audit event for each).
_SEALED_ATTRIBUTES = {"tb_frame", "gi_frame", "cr_frame", "ag_frame"}


def _seal(filename: str) -> None:
    """Install the audit hook that keeps an answer to its own objects.

    Answer code is the cell (``filename``) and any module file outside Python, the venv and
    this repository (a file the answer wrote and imported). Frames, the garbage collector and
    tracing are refused while answer code is on the stack above the nearest import (a library's
    import-time code may look at frames; an answer's module may not); running or making code
    from a string, and ctypes, are refused when answer code calls them directly (libraries
    such as namedtuple do it legitimately)."""
    getframe, local = sys._getframe, threading.local()
    trusted = tuple({sys.prefix, sys.base_prefix, sys.exec_prefix, str(Path(__file__).resolve().parents[3])})

    def is_answer(code_filename: str) -> bool:
        return code_filename == filename or not (code_filename.startswith("<") or code_filename.startswith(trusted))

    def answer_running(whole_stack: bool) -> bool:
        frame = getframe(2)  # the code that raised the event (0 is this function, 1 the hook)
        while frame is not None:
            code_filename = frame.f_code.co_filename
            if is_answer(code_filename):
                return True
            if not whole_stack or code_filename.startswith("<frozen importlib"):
                return False  # a library being imported: its own start-up code, not the answer's
            frame = frame.f_back
        return False

    def hook(event: str, args: tuple) -> None:
        if event in _SEALED_EVENTS or (event == "object.__getattr__" and args[1] in _SEALED_ATTRIBUTES):
            whole_stack = True
        elif event in ("exec", "compile", "code.__new__", "function.__new__") or event.startswith("ctypes."):
            whole_stack = False
        else:
            return
        if getattr(local, "busy", False):
            return
        local.busy = True
        try:
            refused = answer_running(whole_stack)
        finally:
            local.busy = False
        if refused:
            what = f"{event} {args[1]}" if event == "object.__getattr__" else event
            raise RuntimeError(f"an answer may not use {what}: it reaches into the checking machinery")

    sys.addaudithook(hook)


def _student_line(exc: BaseException, filename: str) -> int | None:
    import traceback

    lines = [frame.lineno for frame in traceback.extract_tb(exc.__traceback__) if frame.filename == filename]
    return lines[-1] if lines else None


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


def judge_here(ident: str, source: str, timeout: float | None = None) -> Verdict:
    """Run the answer and its check in this process (the worker's half of :func:`judge`)."""
    exercise = get_exercise(ident)
    limit = timeout or exercise.timeout
    problem = reaches_into_grader(source)
    if problem:
        return Verdict(ident, ERROR, problem)
    filename = f"<exercise {ident}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    try:
        code = compile(source, filename, "exec")
    except SyntaxError as exc:
        return Verdict(ident, ERROR, f"your cell has a syntax error: {exc.msg} (line {exc.lineno})")
    namespace = {"__name__": f"exercise_{ident.replace('.', '_')}"}
    test = exercise.test  # taken before the answer runs
    try:
        with _time_limit(limit):
            exec(code, namespace)  # the student's cell, as a notebook would run it
            test(Answer(namespace, source))
    except NotImplementedError:
        return Verdict(ident, NOT_STARTED, "replace each `raise NotImplementedError` (or `NotImplemented`) "
                                           "with your answer")
    except AssertionError as exc:
        return Verdict(ident, NOT_SOLVED, str(exc) or "a check failed")
    except _OutOfTime:
        return Verdict(ident, ERROR, f"your answer took longer than {limit:g} s: does something wait forever?")
    except Exception as exc:  # any crash is reported, never raised at the student
        line = _student_line(exc, filename)
        if line is None:
            return Verdict(ident, ERROR, f"the check could not run your answer: {type(exc).__name__}: {exc}")
        where = f"line {line} of your exercise cell"
        return Verdict(ident, ERROR, f"your code raised {type(exc).__name__}: {exc} ({where})")
    return Verdict(ident, SOLVED)


def judge(ident: str, source: str, timeout: float | None = None, *, preloaded: bool = False) -> Verdict:
    """Judge the answer in a fresh process; a hang or crash there fails this exercise alone.

    ``preloaded=True`` (the grader and the tests, which judge hundreds of answers) forks that
    process from a clean one kept for the purpose (:mod:`~labs.runtime.exercises.forkserver`,
    Linux only) instead of starting Python from scratch: the same process, the same verdict,
    without paying the start-up and the imports each time. A student's check cell judges one
    answer at a time, and leaves nothing running behind it."""
    limit = timeout or get_exercise(ident).timeout
    nonce = secrets.token_hex(16)
    request = json.dumps({"exercise": ident, "source": source, "timeout": limit, "nonce": nonce}) + "\n"
    with tempfile.TemporaryDirectory(prefix="sse-kit-exercise-") as workdir:
        worker = forkserver.Forked(workdir) if preloaded and forkserver.available() else _Started(workdir)
        try:
            out, err = worker.communicate(request, timeout=limit + 15)
        except subprocess.TimeoutExpired:
            return Verdict(ident, ERROR, f"your answer took longer than {limit:g} s: does something wait forever?")
        finally:
            worker.kill_group()  # anything the answer or the check left behind
    found = [line for line in out.splitlines() if line.startswith(f"{_MARK} {nonce} ")]
    if len(found) != 1:
        tail = " ".join(err.strip().splitlines()[-2:])[-300:]
        return Verdict(ident, ERROR, f"the answer stopped the check before it could finish ({tail or 'no message'})")
    return Verdict(**json.loads(found[0].split(" ", 2)[2]))


class _Started:
    """A judge process started from scratch (where the fork server is not available)."""

    def __init__(self, workdir: str, attempts: int = 3) -> None:
        # Retried on EFAULT ("Bad address"), which Linux's vfork-then-exec returned once in a
        # full test run here; nothing has run yet when it fails, so trying again is safe.
        for attempt in range(attempts):
            try:
                self.process = subprocess.Popen(
                    [sys.executable, "-m", "labs.runtime.exercises.judge", str(os.getpid())], cwd=workdir,
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


def _end_with_parent(parent: int) -> None:
    """If whoever asked for this verdict dies (a killed kernel, or the fork server that the
    kernel's death ends), end this process group at once: the answer, its check and every
    server they started."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.2)
        os.killpg(0, signal.SIGKILL)

    threading.Thread(target=watch, daemon=True).start()


def _verdict_writer(nonce: str, report: int):
    """A function that writes the verdict line, made before the answer runs.

    The nonce lives only in its closure, and everything it calls is bound now, so an answer
    that patches ``json`` or ``os`` changes nothing: it would need the closure, which only
    frames or the garbage collector could reach, and both are sealed while the answer runs."""
    dumps, write, exit_now, statuses = json.dumps, os.write, os._exit, (SOLVED, NOT_STARTED, NOT_SOLVED, ERROR)
    prefix = f"{_MARK} {nonce} ".encode()

    def write_verdict(exercise: str, status: str, reason: str) -> None:
        if status not in statuses:
            status, reason = ERROR, "the verdict was tampered with"
        write(report, prefix + dumps({"exercise": exercise, "status": status, "reason": reason}).encode() + b"\n")
        exit_now(0)  # no atexit hook or thread of the answer's gets a say after the verdict

    return write_verdict


def main(parent: int) -> None:
    _end_with_parent(parent)
    request = json.loads(sys.stdin.readline())
    ident = request["exercise"]
    get_exercise(ident)  # the check is imported before the answer runs
    # The verdict goes to a copy of stdout; the answer's own prints go to stderr.
    write_verdict = _verdict_writer(request.pop("nonce"), os.dup(1))
    os.dup2(2, 1)
    sys.stdin.close()
    _seal(f"<exercise {ident}>")
    verdict = judge_here(ident, request["source"], request["timeout"])
    write_verdict(ident, verdict.status, verdict.reason)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else os.getppid())  # who started us, as they said
