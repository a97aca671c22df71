"""What the ``polling`` and ``long_polling`` labs share, besides the log itself.

- :func:`install`: puts the lab's state (its :class:`~labs.core.message_log.MessageLog`
  and request counters) in ``app.extensions["polling"]`` and registers :data:`shared`;
- :func:`lab`, the accessor both labs reach that state with (``lab().log``, ``lab().counters``);
- :data:`shared`, a Blueprint with ``POST /send_notification`` (append to the log) and
  ``GET /stats`` (the counters, ``latest``, ``history``), and an ``X-Lab-Process``
  header on every answer (which worker process answered);
- :func:`read_cursor` and :func:`read_client`, the two query parameters both labs read.

Each lab adds its own ``GET /updates``: answer at once (short polling) or hold the
request until there is news (long polling).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass

from flask import Blueprint, Flask, current_app, jsonify, request

from labs.core.errors import ApiError
from labs.core.message_log import MessageLog, create_log
from labs.core.notify import read_notification
from labs.core.request_counters import MemoryCounters, RedisCounters, create_counters

# A poller counts as a client of the lab if it polled within this many seconds.
CLIENT_WINDOW = 10.0
# Cursors are message ids: plain decimal digits, and not absurdly long.
_CURSOR = re.compile(r"[0-9]{1,15}")
# The optional ?client= id a page sends so /stats can count distinct pollers.
_CLIENT = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass
class PollingLab:
    """Everything a polling lab keeps between requests: ``app.extensions["polling"]``."""

    log: MessageLog
    counters: MemoryCounters | RedisCounters
    # Shown in /stats as 0 before they first count something.
    counter_names: tuple[str, ...] = ()
    # More numbers for /stats (long polling adds the process's threads and memory).
    extra_stats: Callable[[], dict[str, int]] | None = None


def install(app: Flask, counter_names: tuple[str, ...] = (),
            extra_stats: Callable[[], dict[str, int]] | None = None) -> PollingLab:
    """Give ``app`` its log, its counters and the shared routes."""
    name = app.config["LAB_NAME"]
    state = PollingLab(create_log(app.config, name), create_counters(app.config, name), counter_names, extra_stats)
    app.extensions["polling"] = state
    app.register_blueprint(shared)
    return state


def lab() -> PollingLab:
    """The current app's state (see :func:`install`)."""
    return current_app.extensions["polling"]


def read_cursor() -> int:
    """``?since=N`` as an int (0 when absent: "everything you still have").

    A cursor ahead of the log is fine (the log answers it: see
    :mod:`labs.core.event_log`); one that is not a whole number is a 400.
    """
    raw = request.args.get("since", "0")
    if not _CURSOR.fullmatch(raw):
        raise ApiError(400, "invalid cursor",
                       f"'since' must be the 'cursor' of your last answer, a whole number >= 0; got {raw[:40]!r}")
    return int(raw)


def read_client() -> str:
    """Who is polling: the page's ``?client=`` id, else the caller's address."""
    raw = request.args.get("client")
    if raw is None:
        return "addr:" + (request.remote_addr or "unknown")
    if not _CLIENT.fullmatch(raw):
        raise ApiError(400, "invalid client id", "'client' must be 1-64 letters, digits, '-' or '_'")
    return "id:" + raw


shared = Blueprint("polling_shared", __name__)


@shared.post("/send_notification")
def send_notification():
    state = lab()
    message = read_notification()  # every check first: nothing is half-published
    record = state.log.append(message)
    state.counters.incr("published")
    return jsonify(status="published", id=record["id"])


@shared.get("/stats")
def stats():
    state = lab()
    numbers = state.counters.snapshot(current_app.config.get("CLIENT_WINDOW", CLIENT_WINDOW))
    for name in ("clients", "published", *state.counter_names):
        numbers.setdefault(name, 0)
    numbers["latest"] = state.log.latest()
    numbers["history"] = state.log.history
    if state.extra_stats is not None:
        numbers.update(state.extra_stats())
    return jsonify(numbers)


@shared.after_app_request
def name_the_process(response):
    # With several worker processes, which one answered?  Tests and the notebooks use
    # this to show that a message published in one process reaches the others.
    response.headers["X-Lab-Process"] = str(os.getpid())
    return response
