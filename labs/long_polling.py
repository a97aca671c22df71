"""Lab ``long_polling``: the server holds each request until there is news.

The course notes answer a long poll from one shared ``queue.Queue``: ``get()`` hands
each message to exactly one waiting client, so with three clients each sees about a
third of the messages.  Here every client reads the same log (:mod:`labs.core.message_log`,
as in the ``polling`` lab) from its own cursor, and a publish wakes *every* waiting
request (``Condition.notify_all`` in :mod:`labs.core.event_log`, or, across
processes, each process's Redis listener).

- ``GET /updates?since=CURSOR&timeout=S`` answers at once when messages after the
  cursor exist; otherwise it holds the request until one arrives or ``S`` seconds pass
  (then ``{"messages": [], "cursor": CURSOR, "timed_out": true}``).  ``timeout=0``
  never waits; the timeout is capped at ``MAX_TIMEOUT`` (30 s: below the idle limits
  of common proxies and load balancers, which would otherwise cut the request).  A
  cursor ahead of the log (the server restarted) is answered at once, with everything
  the log holds and ``"gap": {"reason": "ids restarted", ...}``, as in ``polling``.
- ``POST /send_notification`` and ``GET /stats`` as in the ``polling`` lab
  (:mod:`labs.core.polling_routes`); ``/stats`` adds ``waiting`` (requests held
  right now) and this process's OS thread count and memory, to show what a held
  request costs.

A held request occupies whatever the server gives each request.  Under the threaded
development server that is an OS thread (about 8 MB of reserved stack, real memory in
the tens of KiB, a context switch per wake-up); under gunicorn with gevent workers
(``python -m labs run long_polling --workers N``) it is a greenlet of a few KiB, so
thousands can wait.  With a sync or gthread gunicorn worker, each worker could hold
only one (or ``threads``) request: everyone else would queue behind the waiters.
With several workers the log and the wake-ups go through Redis (``REDIS_URL``).
"""

from __future__ import annotations

import os
import re

from flask import Blueprint, current_app, jsonify, request

from labs.core.errors import ApiError
from labs.core.polling_routes import install, lab, read_client, read_cursor
from labs.core.webapp import create_lab_app

DEFAULT_TIMEOUT = 25.0
MAX_TIMEOUT = 30.0
_SECONDS = re.compile(r"[0-9]{1,6}(\.[0-9]{1,6})?")


def read_timeout() -> float:
    """``?timeout=S`` in seconds: a plain non-negative number, capped at MAX_TIMEOUT."""
    raw = request.args.get("timeout")
    cap = float(current_app.config.get("MAX_TIMEOUT", MAX_TIMEOUT))
    if raw is None:
        return min(DEFAULT_TIMEOUT, cap)
    # A regex rather than float(): float() also accepts "nan", "inf" and "-1e3".
    if not _SECONDS.fullmatch(raw):
        raise ApiError(400, "invalid timeout",
                       f"'timeout' must be a number of seconds >= 0 (at most {cap:g} is used); got {raw[:40]!r}")
    return min(float(raw), cap)


def process_stats() -> dict[str, int]:
    """This server process: its pid (which node answered, behind a load balancer), its OS
    threads and resident memory (Linux /proc; else only the pid)."""
    numbers = {"pid": os.getpid()}
    try:
        with open("/proc/self/status") as status:
            for line in status:
                key, _, value = line.partition(":")
                if key == "Threads":
                    numbers["os_threads"] = int(value)
                elif key == "VmRSS":
                    numbers["rss_kib"] = int(value.split()[0])
    except OSError:
        pass
    return numbers


bp = Blueprint("long_polling", __name__)


@bp.get("/updates")
def updates():
    state = lab()
    since = read_cursor()
    timeout = read_timeout()
    client = read_client()
    state.counters.seen(client)  # now, so that /stats counts it while it is held
    page = state.log.read(since)
    if page.empty and timeout > 0:  # nothing to say yet: hold the request
        state.counters.incr("waiting")
        try:
            page = state.log.wait(since, timeout)
        finally:
            state.counters.incr("waiting", -1)
    timed_out = page.empty
    state.counters.count_request(client, "timeouts" if timed_out else "with_messages")
    body = page.body()
    body["timed_out"] = timed_out
    response = jsonify(body)
    # A held answer is about this moment only: no cache may keep it.
    response.headers["Cache-Control"] = "no-store"
    return response


def create_app(config=None):
    app = create_lab_app("long_polling", config)
    # A held client is silent for up to a whole timeout: count it as a client for longer.
    app.config.setdefault("CLIENT_WINDOW", float(app.config.get("MAX_TIMEOUT", MAX_TIMEOUT)) + 5)
    install(app, counter_names=("requests", "with_messages", "timeouts", "waiting"), extra_stats=process_stats)
    app.register_blueprint(bp)
    return app
