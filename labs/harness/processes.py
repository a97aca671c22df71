"""Starting and stopping the kit's helper processes (lab servers, Redis) the same way.

A :class:`ManagedProcess` is started in a new session with a pipe on its stdin that it
watches (see :mod:`labs.harness.watchdog`), its output is collected in the background so a
failure can be explained, and ``stop()`` ends its whole process group.  Anything still
running when the Python interpreter exits normally is stopped by ``atexit``.
"""

from __future__ import annotations

import atexit
import collections
import os
import signal
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable
from typing import Self

_running: weakref.WeakSet[ManagedProcess] = weakref.WeakSet()


class ManagedProcess:
    def __init__(self, argv: list[str], *, env: dict[str, str] | None = None, cwd: str | None = None,
                 on_line: Callable[[str], None] | None = None, log_lines: int = 400,
                 pass_fds: tuple[int, ...] = (), preexec_fn: Callable[[], None] | None = None) -> None:
        self.argv = argv
        self._log: collections.deque[str] = collections.deque(maxlen=log_lines)
        self._on_line = on_line
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,  # the child's lifeline: closed when we die
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # kernel interrupts and terminal Ctrl-C don't hit it
            env=env,
            cwd=cwd,
            pass_fds=pass_fds,  # e.g. a listening socket handed to nginx (labs.harness.nginx)
            preexec_fn=preexec_fn,  # e.g. a sandboxed answer's limits (labs.exercises.sandbox)
            text=True,
            errors="replace",
            bufsize=1,
        )
        _running.add(self)
        self._reader = threading.Thread(target=self._read_output, daemon=True,
                                        name=f"output-of-{self.proc.pid}")
        self._reader.start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def log(self) -> str:
        return "".join(self._log)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def _read_output(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._log.append(line)
            if self._on_line is not None:
                self._on_line(line)

    def stop(self, timeout: float = 5.0) -> None:
        """Close the lifeline, then SIGTERM and, if need be, SIGKILL the process group."""
        _running.discard(self)
        if self.proc.stdin and not self.proc.stdin.closed:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
        if self.proc.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        # Whatever is left in the group (e.g. a worker that ignored SIGTERM) goes now.
        self._signal_group(signal.SIGKILL)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
        self._reader.join(timeout=1)

    def _signal_group(self, sig: int) -> None:
        try:
            os.killpg(self.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


class ManagedServer:
    """What the kit's server handles share (:class:`labs.harness.launcher.LabServer`,
    :class:`labs.harness.nginx.NginxProxy`): one :class:`ManagedProcess` that answers at
    ``url`` once ``start()`` returns; ``stop()`` ends it, and so does the end of a ``with``
    block (which starts it first if need be)."""

    process: ManagedProcess | None
    url: str | None
    start_error: type[Exception] = RuntimeError  # what start() raises, with _failure()'s message

    def start(self, timeout: float) -> Self:
        raise NotImplementedError

    def _start_then_wait(self, launch: Callable[[], None], timeout: float) -> Self:
        """``launch()`` (which sets ``process`` and ``url``), then wait up to ``timeout`` s until
        ``GET /health`` answers as :meth:`_healthy` wants; whatever goes wrong (Ctrl-C too)
        stops what was started."""
        try:
            launch()
            if not wait_until(self._answers_health, timeout, interval=0.05):
                raise self.start_error(self._failure(f"did not answer {self.url}/health"))
        except BaseException:
            self.stop()
            raise
        return self

    def _answers_health(self) -> bool:
        import requests

        if not self.process.alive():
            raise self.start_error(self._failure("exited"))
        try:
            response = requests.get(self.url + "/health", timeout=1, verify=self._verify)
        except requests.RequestException:
            return False
        return self._healthy(response)

    _verify: bool | str = True  # what requests checks a TLS certificate against

    def _healthy(self, response) -> bool:
        """Whether ``response`` (to ``GET /health``) says the server is up."""
        return response.status_code == 200

    def _failure(self, what: str) -> str:
        """The message of a start that went wrong (``what``), with the server's output."""
        return f"{self!r} {what}; its output:\n{self.log}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def log(self) -> str:
        return self.process.log if self.process else ""

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def __enter__(self) -> Self:
        return self if self.url else self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def python_argv(*args: str) -> list[str]:
    """Run a module of this kit with the same interpreter, unbuffered."""
    return [sys.executable, "-u", *args]


@atexit.register
def _stop_all() -> None:
    for process in list(_running):
        process.stop(timeout=2)
