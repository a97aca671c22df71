"""The judge: runs one exercise answer beside its check and returns a :class:`Verdict`.

``judge(ident, source)`` starts a fresh Python process (``python -m labs.runtime.exercises.judge``)
that imports the check *before* the answer runs, runs the answer in a namespace of its own,
then the check, and writes the verdict on a channel the answer cannot see, tagged with a
random nonce. The process and everything it started (labs, Redis) are killed when the time
limit is up, so a hanging answer fails alone. Students' check cells, the grader and the tests
all come here, so they can never disagree.

Statuses: ``solved``; ``not started`` (the stub still raises ``NotImplementedError``);
``not solved`` (the check found something wrong, and says what); ``error`` (the answer
crashed, hung, has a syntax error, or reaches into the grader).
"""

from __future__ import annotations

import ast
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
from dataclasses import asdict, dataclass

from labs.runtime.exercises import Answer, get_exercise

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
    try:
        with _time_limit(limit):
            exec(code, namespace)  # the student's cell, as a notebook would run it
            exercise.test(Answer(namespace, source))
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


def judge(ident: str, source: str, timeout: float | None = None) -> Verdict:
    """Judge the answer in a fresh process; a hang or crash there fails this exercise alone."""
    limit = timeout or get_exercise(ident).timeout
    nonce = secrets.token_hex(16)
    request = json.dumps({"exercise": ident, "source": source, "timeout": limit, "nonce": nonce})
    with tempfile.TemporaryDirectory(prefix="sse-kit-exercise-") as workdir:
        process = subprocess.Popen(
            [sys.executable, "-m", "labs.runtime.exercises.judge", str(os.getpid())], cwd=workdir,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, start_new_session=True)
        try:
            out, err = process.communicate(request, timeout=limit + 15)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            return Verdict(ident, ERROR, f"your answer took longer than {limit:g} s: does something wait forever?")
        finally:
            _kill_group(process)  # anything the answer or the check left behind
    found = [line for line in out.splitlines() if line.startswith(f"{_MARK} {nonce} ")]
    if len(found) != 1:
        tail = " ".join(err.strip().splitlines()[-2:])[-300:]
        return Verdict(ident, ERROR, f"the answer stopped the check before it could finish ({tail or 'no message'})")
    return Verdict(**json.loads(found[0].split(" ", 2)[2]))


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if process.poll() is None:
        process.wait()


def _end_with_parent() -> None:
    """If whoever asked for this verdict dies (a killed kernel), end this process group at once:
    the answer, its check and every server they started."""
    parent = int(sys.argv[1]) if len(sys.argv) > 1 else os.getppid()  # who started us, as they said

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.2)
        os.killpg(0, signal.SIGKILL)

    threading.Thread(target=watch, daemon=True).start()


def main() -> None:
    _end_with_parent()
    request = json.loads(sys.stdin.read())
    sys.stdin.close()
    nonce = request.pop("nonce")
    get_exercise(request["exercise"])  # the check is imported before the answer runs
    # The verdict goes to a copy of stdout; the answer's own prints go to stderr.
    report = os.dup(1)
    os.dup2(2, 1)
    verdict = judge_here(request["exercise"], request["source"], request["timeout"])
    os.write(report, f"{_MARK} {nonce} {json.dumps(asdict(verdict))}\n".encode())
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # no atexit hooks or threads of the answer's get a say after the verdict


if __name__ == "__main__":
    main()
