"""Every lab's streams, guarded: a cap on open streams and a deadline on each write.

:func:`install` (called by :func:`labs.core.webapp.create_lab_app`, so every lab and both
servers get it) wraps each streamed ``text/event-stream`` response, whatever lab or library
made it (the by-hand core, flask-sse, the token stream, the secure stream), in two rules:

**A cap on open streams** (config ``MAX_STREAMS``).  gunicorn's gevent worker takes at most
``WORKER_CONNECTIONS`` connections at once (config, default 10,000); at that number it stops
accepting, and a ``POST /send_notification``, a ``/health`` or a ``/stats`` waits in the
listen queue behind readers that never leave (measured before this: 19 publishes in 210 s
with 5,000 readers on 5,000 connections).  So streams stop below it: ``MAX_STREAMS``
defaults to ``WORKER_CONNECTIONS`` minus a reserve (500, or half of a small number), and the
connections in between are what publishers, health checks and refused readers get in with.
A stream that arrives when the cap is reached is never an error status (that would end an
``EventSource`` for good): it gets what a stopping node gives (:mod:`labs.core.shutdown`),
one ``event: goodbye`` whose ``retry:`` is picked per reader in ``STREAM_FULL_RETRY_MS``
(default 1-5 s, jitter), and the browser comes back by itself.  A POST stream (the token
stream, read with ``fetch``) gets ``503`` JSON with ``Retry-After`` instead: its client
reads the status, and nothing has been generated yet.  ``MAX_STREAMS`` 0 takes the cap away
(only the server's own limit is left: for comparisons, not for use).  The cap counts per
process: with ``--workers N`` each worker has its own.

**A write deadline** (config ``WRITE_DEADLINE_SECONDS``, default 30; 0: none).  A stream's
generator runs only when the server comes back for the next chunk, so a write that blocks
(a reader that stopped reading while its kernel still acknowledges: a frozen tab, a stalled
relay; its socket buffers full) blocks the code that makes the stream: a token stream stops
generating, but holds its thread, socket and answer forever.  A write still unfinished after
the deadline is cut: the connection is shut down under it, the write fails, and the server
closes the stream as it does for any reader that left (the token stream counts it ``client
gone``).  A reader that is merely slow still empties its buffers, so its writes finish.

``GET /capacity`` (every lab) says how full this process is (:meth:`StreamGuard.stats`): streams
open, the cap, whether it is full, how many were refused and how many writes were cut; the
streaming labs' ``GET /stats`` carries the same as ``capacity`` (not sse_blueprint's, whose
``/stats`` is Redis's count over every process).
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import Any

from flask import Response, jsonify, request

from labs.core import dead_readers
from labs.core.shutdown import pick_retry_ms, retry_range
from labs.core.sse import encode_json_event

DEFAULT_WORKER_CONNECTIONS = 10_000
CONNECTION_RESERVE = 500  # connections kept for publishers, /health, /stats and refused readers
DEFAULT_FULL_RETRY_MS = (1000, 5000)
DEFAULT_WRITE_DEADLINE_SECONDS = 30.0
STREAM_TYPE = "text/event-stream"


@dataclass(frozen=True)
class Limits:
    max_streams: int  # 0: no cap
    worker_connections: int
    full_retry_ms: tuple[int, int]
    write_deadline: float  # 0: none


def _whole(config: Any, key: str, default: int, low: int) -> int:
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{key} must be a whole number >= {low}, got {value!r}")
    return value


def default_max_streams(worker_connections: int) -> int:
    return max(1, worker_connections - min(CONNECTION_RESERVE, worker_connections // 2))


def limits_of(config: Any) -> Limits:
    """The guard's settings from a lab's config, checked (a ValueError says which and why)."""
    connections = _whole(config, "WORKER_CONNECTIONS", DEFAULT_WORKER_CONNECTIONS, 2)
    cap = _whole(config, "MAX_STREAMS", default_max_streams(connections), 0)
    if cap >= connections:
        raise ValueError(f"MAX_STREAMS ({cap}) must be below WORKER_CONNECTIONS ({connections}): the "
                         "connections in between are how publishes, /health and /stats get in")
    deadline = config.get("WRITE_DEADLINE_SECONDS", DEFAULT_WRITE_DEADLINE_SECONDS)
    if isinstance(deadline, bool) or not isinstance(deadline, (int, float)) or deadline < 0:
        raise ValueError(f"WRITE_DEADLINE_SECONDS must be a number of seconds >= 0 (0: none), got {deadline!r}")
    full_retry = retry_range(config.get("STREAM_FULL_RETRY_MS", list(DEFAULT_FULL_RETRY_MS)))
    return Limits(cap, connections, full_retry, float(deadline))


class StreamGuard:
    """One app's open streams (admitted against the cap) and their writes in progress."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._lock = threading.Lock()
        self.open = 0
        self.peak = 0
        self.refused = 0
        self.cut_by_deadline = 0
        self._bodies: set[GuardedBody] = set()
        self._watcher_pid: int | None = None

    def admit(self) -> bool:
        with self._lock:
            if self.limits.max_streams and self.open >= self.limits.max_streams:
                self.refused += 1
                return False
            self.open += 1
            self.peak = max(self.peak, self.open)
            return True

    def release(self, body: GuardedBody) -> None:
        with self._lock:
            self.open -= 1
            self._bodies.discard(body)

    def watch(self, body: GuardedBody) -> None:
        if not self.limits.write_deadline:
            return
        with self._lock:
            self._bodies.add(body)
            start = self._watcher_pid != os.getpid()  # one watcher per process (gunicorn forks after import)
            self._watcher_pid = os.getpid()
        if start:  # outside the lock: under gevent, start() yields, and a lock held across a yield deadlocks
            threading.Thread(target=self._watch, daemon=True, name="write-deadline").start()

    def _watch(self) -> None:
        """Every quarter of the deadline (at most 1 s), cut the writes that have run past it."""
        deadline = self.limits.write_deadline
        while True:
            time.sleep(min(1.0, max(0.05, deadline / 4)))
            now = time.monotonic()
            with self._lock:
                late = [body for body in self._bodies if body.write_started and now - body.write_started > deadline]
            for body in late:
                if body.expire():
                    with self._lock:
                        self.cut_by_deadline += 1

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {"open": self.open, "max_streams": self.limits.max_streams,
                    "full": bool(self.limits.max_streams) and self.open >= self.limits.max_streams,
                    "peak": self.peak, "refused": self.refused,
                    "worker_connections": self.limits.worker_connections,
                    "write_deadline_seconds": self.limits.write_deadline,
                    "cut_by_write_deadline": self.cut_by_deadline}


class GuardedBody:
    """A stream's body, passed through chunk by chunk, timing each write.

    The server takes a chunk (``__next__``), writes it, and comes back for the next: the time
    between handing a chunk out and being asked again is the write.  ``close()`` (the server
    calls it however the response ends) closes the lab's body and frees the stream's place.
    """

    def __init__(self, body, guard: StreamGuard, sock) -> None:
        self._body = body
        self._chunks = None
        self._guard = guard
        self._sock = sock
        self.write_started = 0.0  # monotonic time the chunk being written was handed out; 0: none
        self._expired = False
        self._closed = False

    def __iter__(self) -> GuardedBody:
        return self

    def __next__(self):
        self.write_started = 0.0  # the server is back: the last write finished
        if self._chunks is None:
            self._chunks = iter(self._body)
            self._guard.watch(self)
        chunk = next(self._chunks)  # StopIteration ends the response; the server then calls close()
        self.write_started = time.monotonic()
        return chunk

    def expire(self) -> bool:
        """Shut the connection under a write that has run past the deadline; False if done already."""
        if self._expired or self._closed or not self.write_started:
            return False
        self._expired = True
        dead_readers.shut_down(self._sock)
        return True

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.write_started = 0.0
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()  # the lab's generator runs its finally: subscriptions, counts
        finally:
            self._guard.release(self)


def refusal(response: Response, limits: Limits) -> Response:
    """What a stream past the cap gets: a goodbye with a jittered ``retry:`` (GET), or 503 (POST)."""
    retry = pick_retry_ms(limits.full_retry_ms)
    if request.method == "GET":
        body = encode_json_event({"reason": "server full", "retry_ms": retry}, event="goodbye", retry=retry)
        refused = Response(body.encode(), mimetype=STREAM_TYPE,
                           headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    else:
        refused = jsonify(error="server full", detail=f"this server has {limits.max_streams} streams open, the "
                          f"most it takes; try again in {retry / 1000:.1f} s", retry_ms=retry)
        refused.status_code = 503
        refused.headers["Retry-After"] = str(max(1, round(retry / 1000)))
    for key, value in response.headers.items():  # a cross-origin reader still needs its CORS answer
        if key.lower().startswith("access-control-") or key.lower() == "vary":
            refused.headers[key] = value
    return refused


def install(app) -> StreamGuard:
    """Guard every streamed ``text/event-stream`` response of ``app``."""
    guard = app.extensions["stream_guard"] = StreamGuard(limits_of(app.config))
    app.config["MAX_STREAMS"] = guard.limits.max_streams
    app.config["WORKER_CONNECTIONS"] = guard.limits.worker_connections

    @app.after_request
    def guard_streams(response: Response) -> Response:
        if not response.is_streamed or response.mimetype != STREAM_TYPE:
            return response
        if not guard.admit():
            response.close()  # the lab's generator never started: it holds nothing yet
            return refusal(response, guard.limits)
        response.response = GuardedBody(response.response, guard, dead_readers.connection_socket(request.environ))
        return response

    @app.get("/capacity")
    def capacity_route():
        return jsonify(guard.stats())

    return guard


def capacity(app=None) -> dict[str, Any]:
    """``capacity`` for a lab's ``/stats``: how full this process is."""
    from flask import current_app

    return (app or current_app).extensions["stream_guard"].stats()
