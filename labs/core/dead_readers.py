"""Letting go of readers that are gone without a word.

A reader that closes (FIN) or resets (RST) is noticed at the stream's next write.  One that
simply vanishes (a phone leaves the network, a cable is pulled) sends nothing at all: the
server's writes are never acknowledged, and with the kernel's defaults TCP retransmits for
about 15 minutes (``tcp_retries2`` = 15) before it gives up.  Meanwhile the stream holds a
thread or greenlet, a file descriptor and a subscriber.

Every lab connection (:func:`install`, called by :func:`labs.core.webapp.create_lab_app`,
so every lab and both servers get it) is therefore given two socket options:

- ``TCP_USER_TIMEOUT`` (config ``TCP_USER_TIMEOUT_SECONDS``, default 20): data the reader has
  not acknowledged for this long ends the connection (``ETIMEDOUT``).  The stream's next
  write then fails (a keep-alive comment at the latest), or the token stream's socket check
  sees it, and the stream releases what it holds.  With the default 15 s keep-alive: at most
  about 15 + 20 + 15 = 50 s after the drop.
- TCP keep-alive (``SO_KEEPALIVE``; config ``TCP_KEEPALIVE_SECONDS``, default 15): after this
  long with nothing sent either way the kernel probes the reader (every third of it, 3
  probes), so even a connection the app does not write to (a stream without keep-alive
  comments, an idle keep-alive connection) is found dead.

0 for either leaves the kernel's default.  The trade-off: a reader that is alive but out of
reach for longer than ``TCP_USER_TIMEOUT_SECONDS`` (a phone in a tunnel, a laptop waking up)
loses its connection and comes back with ``Last-Event-ID`` (a reconnect and a replay) instead
of the old connection catching up.  A reader that is merely slow still acknowledges (its
window is just small, or zero), so it is not cut by this; the slow-reader rule (a bounded
queue, :mod:`labs.core.sse_response`) is what cuts a reader that stops reading.
"""

from __future__ import annotations

import fcntl
import socket
import termios
import time
from typing import Any

DEFAULT_TCP_USER_TIMEOUT_SECONDS = 20.0
DEFAULT_TCP_KEEPALIVE_SECONDS = 15.0
KEEPALIVE_PROBES = 3


def settings_of(config: Any) -> tuple[float, float]:
    """``(user timeout, keep-alive)`` in seconds from a lab's config, checked."""
    values = []
    for key, default in (("TCP_USER_TIMEOUT_SECONDS", DEFAULT_TCP_USER_TIMEOUT_SECONDS),
                         ("TCP_KEEPALIVE_SECONDS", DEFAULT_TCP_KEEPALIVE_SECONDS)):
        value = config.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ValueError(f"{key} must be a number of seconds >= 0 (0: the kernel's default), got {value!r}")
        values.append(float(value))
    return values[0], values[1]


def connection_socket(environ: dict[str, Any]) -> socket.socket | None:
    """The request's TCP socket: both servers put it in the WSGI environ."""
    return environ.get("werkzeug.socket") or environ.get("gunicorn.socket")


def tune(sock: socket.socket, user_timeout: float, keepalive: float) -> None:
    """Give ``sock`` the options above; quietly nothing where the system lacks one."""
    try:
        if user_timeout and hasattr(socket, "TCP_USER_TIMEOUT"):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, int(user_timeout * 1000))
        if keepalive:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            if hasattr(socket, "TCP_KEEPIDLE"):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, max(1, round(keepalive)))
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, max(1, round(keepalive / 3)))
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, KEEPALIVE_PROBES)
    except OSError:  # not TCP (a Unix socket), or closed already: nothing to tune
        pass


def install(app) -> None:
    """Tune each request's connection before the lab's view runs (every lab, both servers)."""
    from flask import request

    user_timeout, keepalive = settings_of(app.config)
    app.config["TCP_USER_TIMEOUT_SECONDS"], app.config["TCP_KEEPALIVE_SECONDS"] = user_timeout, keepalive

    @app.before_request
    def tune_connection():
        sock = connection_socket(request.environ)
        if sock is not None:
            tune(sock, user_timeout, keepalive)


def shut_down(sock: socket.socket | None) -> None:
    """End ``sock``'s connection from any thread: a write blocked on it fails at once."""
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # closed already: nothing left to free


def unacknowledged(sock: socket.socket) -> int | None:
    """Bytes written to ``sock`` that the reader has not acknowledged yet (Linux's SIOCOUTQ);
    None where the system cannot say."""
    try:
        return int.from_bytes(fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0"), "little", signed=True)
    except (OSError, ValueError, AttributeError):
        return None


def wait_acknowledged(sock: socket.socket | None, timeout: float, gone) -> bool:
    """Wait until the reader has acknowledged every byte written, up to ``timeout`` seconds.

    False if it never did (the reader vanished) or ``gone(sock)`` says it left.  A socket
    the system cannot ask about counts as acknowledged: then only a failed write tells.
    """
    if sock is None:
        return True
    deadline = time.monotonic() + timeout
    while True:
        # Acknowledged first: a reader that read it all and hung up at once has received it.
        waiting = unacknowledged(sock)
        if not waiting:  # 0: all acknowledged; None: cannot tell
            return True
        if gone(sock):
            return False
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
