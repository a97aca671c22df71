"""Flask-SocketIO plumbing for the ``websockets`` lab: what its lesson stands on, not what it teaches.

- :class:`ClientCount`: how many Socket.IO clients are connected, in this process and, through
  Redis, in every other process of the lab;
- :func:`choose_async_mode`: ``"gevent"`` inside gunicorn's gevent worker, else ``"threading"``;
- :func:`fit_for_werkzeug`: two fixes for WebSockets under Werkzeug's development server (end the
  TCP connection when a WebSocket session is over; keep the late close frame out of the log).
"""

from __future__ import annotations

import logging
import os
import re
import socket
import threading
import uuid
from typing import Any

from flask import Flask

# Per-process client counts live under "<channel>:clients:<process>" and expire unless refreshed.
COUNT_TTL_SECONDS = 30


class ClientCount:
    """How many Socket.IO clients are connected: this process's, plus every other's via Redis.

    Each process keeps its own count under a key of its own that expires unless refreshed
    (:meth:`keep_alive`), so a process that dies without saying goodbye stops being
    counted within ``COUNT_TTL_SECONDS``.
    """

    def __init__(self, redis_url: str | None, channel: str) -> None:
        self.local: set[str] = set()
        self._lock = threading.Lock()
        self._redis = None
        self._prefix = f"{channel}:clients:"
        self._key = self._prefix + f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        if redis_url:
            import redis

            self._redis = redis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)

    def add(self, sid: str) -> None:
        with self._lock:
            self.local.add(sid)
        self.publish()

    def discard(self, sid: str) -> None:
        with self._lock:
            self.local.discard(sid)
        self.publish()

    def publish(self) -> None:
        if self._redis is not None:
            try:
                self._redis.set(self._key, len(self.local), ex=COUNT_TTL_SECONDS)
            except Exception:  # the count is informational; never fail a connection over it
                pass

    def total(self) -> int:
        if self._redis is None:
            return len(self.local)
        try:
            keys = list(self._redis.scan_iter(match=self._prefix + "*", count=100))
            values = self._redis.mget(keys) if keys else []
            return sum(int(v) for v in values if v is not None)
        except Exception:
            return len(self.local)

    def keep_alive(self, socketio: Any) -> None:
        """With Redis: a background task (``socketio``'s kind) keeps this process's key from expiring."""
        if self._redis is not None:
            socketio.start_background_task(self._refresh, socketio)

    def _refresh(self, socketio: Any) -> None:
        while True:
            socketio.sleep(COUNT_TTL_SECONDS / 3)
            self.publish()


def choose_async_mode() -> str:
    """"gevent" inside gunicorn's gevent worker (the stdlib is patched), else "threading".

    Flask-SocketIO would pick gevent whenever it is installed, but under Werkzeug's
    threaded development server nothing runs gevent's loop, so greenlets would never
    run: there the plain threading mode (with simple-websocket) is the right one.
    """
    try:
        from gevent import monkey
    except ImportError:
        return "threading"
    return "gevent" if monkey.is_module_patched("socket") else "threading"


def fit_for_werkzeug(app: Flask) -> None:
    """Both fixes below, on ``app`` (after ``SocketIO(app)``, whose middleware this wraps)."""
    app.wsgi_app = close_after_websocket(app.wsgi_app)
    quiet_werkzeug_leftovers()


def close_after_websocket(wsgi_app):
    """WSGI middleware: end the TCP connection once a WebSocket session on Werkzeug is over.

    Under Werkzeug, engineio signals "this connection was a WebSocket, it is finished" by
    raising ConnectionError.  Werkzeug then treats the socket as a keep-alive HTTP
    connection and waits for another request line, while the client, having sent its
    close frame, waits (3 s in websocket-client) for the connection to end.  Shutting
    the socket down here ends both waits at once; what was already sent is still delivered.
    """

    def app(environ, start_response):
        try:
            return wsgi_app(environ, start_response)
        except ConnectionError:
            sock = environ.get("werkzeug.socket")
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            raise

    return app


class HideWebSocketLeftovers(logging.Filter):
    """Drop the two 400 lines Werkzeug logs when a client's last WebSocket frame arrives late.

    A client's close frame can reach the socket just after the WebSocket session ended;
    Werkzeug then reads it as the start of a new HTTP request ("Bad request syntax
    ('\\x88...')", then a "None /socket.io/... HTTP/0.9" 400).  The connection is already
    over and nobody gets that answer: the lines would only alarm whoever watches the log.
    """

    FRAME_AS_REQUEST = re.compile(r"code 400, message Bad .*\('\\x8[0-9a-f]")
    REQUEST_LINE = re.compile(r"None /socket\.io/\?\S* HTTP/0\.9")  # may be wrapped in colour codes

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (self.FRAME_AS_REQUEST.search(message) or self.REQUEST_LINE.search(message))


def quiet_werkzeug_leftovers() -> None:
    werkzeug_log = logging.getLogger("werkzeug")
    if not any(isinstance(f, HideWebSocketLeftovers) for f in werkzeug_log.filters):
        werkzeug_log.addFilter(HideWebSocketLeftovers())
