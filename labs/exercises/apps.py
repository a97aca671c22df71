"""A student's own app, run by a check the way the student runs it from a terminal.

Build-it-yourself exercises (notebook 04's ``app.py``) hand in a whole file. A check writes it
to a fresh folder and starts it as ``python app.py`` with the port in ``PORT`` (and whatever
else it needs in the environment, e.g. ``REDIS_URL``), talks to it over HTTP, and stops it::

    with run_app(answer.source, env={"REDIS_URL": redis.url}) as app:
        requests.post(app.url + "/send_notification", json={"message": "hi"})

The app runs in the same sandbox as every answer (:mod:`~labs.exercises.sandbox`:
its folder writable, everything else read-only, its own PID namespace, limits).
Nothing is left behind, whatever happens: it runs under a small guard (``python -m
labs.exercises.apps -- python app.py``) in a process group of its own; ``stop()``
ends the whole group (Werkzeug's reloader child included), and the guard ends the group by
itself when the process that started it dies (a judge killed at its time limit, a killed kernel).

The notebook side, :func:`save_cell`, writes an exercise cell as last run to a file, so a
student can run it from a terminal.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from labs.exercises import sandbox
from labs.harness.processes import ManagedProcess, python_argv

START_SECONDS = 20.0
_EXCEPTION_LINE = re.compile(r"^\s*([A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)\b.*)$")


class AppDidNotStart(AssertionError):
    """The student's app exited, or did not answer HTTP, in time (an answer's fault: not solved)."""


class StudentApp:
    """A running student app: its ``url``, its output so far (``log``) and ``stop()``."""

    def __init__(self, process: ManagedProcess, port: int, filename: str, cgroup: str | None = None) -> None:
        self.process, self.port, self.filename, self.cgroup = process, port, filename, cgroup
        self.url = f"http://127.0.0.1:{port}"

    @property
    def log(self) -> str:
        return self.process.log

    def alive(self) -> bool:
        return self.process.alive()

    def last_error(self) -> str | None:
        """The last ``SomethingError: ...`` line the app printed (the end of a traceback), if any."""
        found = [m.group(1).strip() for m in map(_EXCEPTION_LINE.match, self.log.splitlines()) if m]
        return found[-1][:300] if found else None

    def listening(self) -> list[tuple[str, int]]:
        """(address, port) of every TCP socket the app's processes listen on."""
        import psutil

        found = set()
        try:
            processes = [psutil.Process(self.process.pid)]
            processes += processes[0].children(recursive=True)
        except psutil.Error:
            return []
        for process in processes:
            try:
                for conn in process.net_connections(kind="tcp"):
                    if conn.status == psutil.CONN_LISTEN:
                        found.add((conn.laddr.ip, conn.laddr.port))
            except psutil.Error:
                pass
        return sorted(found)

    def stop(self) -> None:
        self.process.stop(timeout=3)
        sandbox.remove_cgroup(self.cgroup)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers_http(url: str) -> bool:
    import requests

    try:
        requests.get(url + "/sse-kit-probe-not-a-page", timeout=2)
        return True
    except requests.RequestException:
        return False


def _start(workdir: str, filename: str, env: dict[str, str], timeout: float) -> StudentApp:
    """Start ``python filename`` in ``workdir``, in the sandbox; retry on another port if the
    first is taken."""
    for _attempt in range(3):
        port = _free_port()
        full_env = sandbox.environment({**os.environ, **env, "PORT": str(port), "PYTHONUNBUFFERED": "1",
                                        "PYTHONDONTWRITEBYTECODE": "1"}, workdir)
        full_env.pop("FLASK_RUN_FROM_CLI", None)  # app.run() would return at once under it
        cgroup, preexec = sandbox.limits()
        process = ManagedProcess(
            python_argv("-m", __name__, "--", *sandbox.command([sys.executable, "-u", filename], workdir)),
            env=full_env, cwd=workdir, preexec_fn=preexec)
        app = StudentApp(process, port, filename, cgroup)
        deadline = time.monotonic() + timeout
        while app.alive() and time.monotonic() < deadline and not _answers_http(app.url):
            time.sleep(0.1)
        if app.alive() and _answers_http(app.url):
            return app
        app.stop()
        if "Address already in use" in app.log and str(port) in app.log:
            continue  # someone took the free port between our look and the app's bind
        raise AppDidNotStart(_why_not_started(app, timeout))
    raise AppDidNotStart("three free ports in a row were taken before your app could listen; try again")


def _why_not_started(app: StudentApp, timeout: float) -> str:
    code = app.process.proc.returncode
    if code == 0:
        return (f"`python {app.filename}` ended at once, without serving: does it start the server "
                "(app.run) when run as a program, under `if __name__ == \"__main__\":`?")
    if code not in (None, -signal.SIGKILL, -signal.SIGTERM):
        error = app.last_error()
        said = f": {error}" if error else f" (exit status {code})"
        return (f"`python {app.filename}` stopped before it answered any HTTP request{said}. "
                f"Run it from a terminal to see the whole message")
    return (f"`python {app.filename}` was still running but did not answer HTTP on 127.0.0.1 at the port in "
            f"the PORT environment variable within {timeout:g} s: does it serve on that port?")


@contextmanager
def run_app(source: str, *, filename: str = "app.py", env: dict[str, str] | None = None,
            files: dict[str, str] | None = None, timeout: float = START_SECONDS) -> Iterator[StudentApp]:
    """Write ``source`` to ``filename`` in a fresh folder (``files`` beside it), run it, stop it."""
    with tempfile.TemporaryDirectory(prefix="sse-kit-student-app-") as workdir:
        for name, text in {filename: source, **(files or {})}.items():
            path = Path(workdir, name)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        app = _start(workdir, filename, dict(env or {}), timeout)
        try:
            yield app
        finally:
            app.stop()


# ------------------------------------------------------------------ the notebook side

def save_cell(ident: str, path: str | os.PathLike) -> Path:
    """Write exercise ``ident``'s cell, as last run in this kernel, to ``path``; returns the path."""
    from labs.exercises.student import last_run_source

    source = last_run_source(ident)
    if source is None:
        raise LookupError(f"run the cell that starts '# Exercise {ident}' first, then save it")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(source if source.endswith("\n") else source + "\n", encoding="utf-8")
    return target


# ------------------------------------------------------------------ the guard

def guard(argv: list[str]) -> int:
    """Run ``argv``; when our parent dies (stdin closes, or we are orphaned), end our whole group.

    The guard is the leader of a process group of its own (``ManagedProcess``), so the group is
    the app and everything it started, such as Werkzeug's reloader child.
    """
    from labs.harness.watchdog import exit_when_stdin_closes

    parent = os.getppid()
    orphaned: list[bool] = []
    child = subprocess.Popen(argv, stdin=subprocess.DEVNULL)
    exit_when_stdin_closes(on_eof=lambda: orphaned.append(True))
    while child.poll() is None:
        if orphaned or os.getppid() != parent:
            os.killpg(os.getpgrp(), signal.SIGKILL)  # the app, its children, and this guard
        time.sleep(0.1)
    return child.returncode


if __name__ == "__main__":
    arguments = sys.argv[1:]
    if arguments[:1] == ["--"]:
        arguments = arguments[1:]
    if not arguments:
        sys.exit("usage: python -m labs.exercises.apps -- PROGRAM [ARGS...]")
    sys.exit(guard(arguments))
