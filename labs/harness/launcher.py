"""Start a lab server from a notebook or a test, and always stop it.

::

    with start_lab("manual_sse") as lab:          # or: lab = start_lab(...); lab.stop()
        requests.get(lab.url + "/health")

The lab runs as ``python -m labs run NAME --port 0 --exit-with-parent`` in a process
session of its own (so interrupting a notebook cell does not kill it halfway).  The
child binds the port and reports it (``LAB READY <url>``): there is no
"probe a free port, then hope it is still free" race.  It also watches a pipe from us
and exits when that pipe closes, so it cannot outlive a killed kernel or test run.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import requests

from labs.harness.processes import ManagedProcess, ManagedServer, python_argv, wait_until
from labs.harness.registry import get_lab
from labs.harness.serve import READY_PREFIX


class LabStartError(RuntimeError):
    pass


class LabClient:
    """Requests to a lab at ``url``: ``get``/``post`` a path, ``publish`` a notification."""

    url: str | None

    def __init__(self, url: str) -> None:
        self.url = url

    def get(self, path: str, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", 10)
        return requests.get(self.url + path, **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", 10)
        return requests.post(self.url + path, **kwargs)

    def publish(self, message: str, **kwargs) -> requests.Response:
        """``POST /send_notification`` with ``{"message": message}``."""
        return self.post("/send_notification", json={"message": message}, **kwargs)


class LabServer(ManagedServer, LabClient):
    start_error = LabStartError

    def __init__(self, name: str, *, config: dict[str, Any] | None = None, workers: int | None = None,
                 redis: bool = False, host: str = "127.0.0.1", extra_args: list[str] | None = None) -> None:
        self.lab = get_lab(name)
        self.name = name
        self.config = dict(config or {})
        self.workers = workers
        self.redis = redis
        self.host = host
        self.extra_args = list(extra_args or [])
        self.url: str | None = None
        self.process: ManagedProcess | None = None
        self._ready = threading.Event()

    def _on_line(self, line: str) -> None:
        if line.startswith(READY_PREFIX) and not self._ready.is_set():
            self.url = line[len(READY_PREFIX):].strip()
            self._ready.set()

    def argv(self) -> list[str]:
        """What runs the server (after ``python``): ``-m labs run NAME ...``."""
        argv = ["-m", "labs", "run", self.name, "--host", self.host, "--port", "0", "--exit-with-parent"]
        if self.workers:
            argv += ["--workers", str(self.workers)]
        if self.redis:
            argv += ["--redis"]
        if self.config:
            argv += ["--config-json", json.dumps(self.config)]
        return argv + self.extra_args

    def start(self, timeout: float = 30.0) -> LabServer:
        return self._start_then_wait(lambda: self._launch(timeout), timeout)

    def _launch(self, timeout: float) -> None:
        self.process = ManagedProcess(python_argv(*self.argv()), on_line=self._on_line)
        if not wait_until(lambda: self._ready.is_set() or not self.process.alive(), timeout) \
                or not self._ready.is_set():
            raise LabStartError(self._failure("did not report its address"))

    def _failure(self, what: str) -> str:
        return f"lab {self.name!r} {what}; its output:\n{self.log}"

    def __repr__(self) -> str:
        return f"<LabServer {self.name} {self.url or 'not started'}>"


def start_lab(name: str, **kwargs) -> LabServer:
    """Start lab ``name`` and wait until ``/health`` answers; see :class:`LabServer`."""
    return LabServer(name, **kwargs).start()
