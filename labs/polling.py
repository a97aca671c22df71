"""Lab ``polling``: short polling done so that nothing is lost or repeated.

The course notes poll ``/api/updates`` every few seconds and answer
``{"hasUpdate": true, "message": ...}``.  That loses messages: two messages between
two polls become one, and with a "new update" flag the first client to poll takes it
from every other client.  This lab keeps a log instead (:mod:`labs.runtime.message_log`):

- ``POST /send_notification`` ``{"message": "..."}`` appends to the log.
- ``GET /updates?since=CURSOR`` answers every message after the cursor and the new
  cursor: ``{"messages": [{"id": 4, "message": "...", "time": ...}], "cursor": 4,
  "more": false, "missed": 0}``.  ``more`` means "ask again at once" (answers are
  batched); ``missed`` counts messages that fell out of the bounded history before
  this client asked for them, so a very late client is told, not silently skipped.
- Conditional requests: each answer carries an ``ETag`` naming the state of the log.
  A client that is up to date sends it back in ``If-None-Match`` and gets
  ``304 Not Modified`` with no body: an unchanged poll costs a few header bytes.
- ``GET /stats``: ``{"clients": N, "requests": ..., "not_modified": ..., ...}``, where
  ``clients`` counts distinct pollers seen in the last ``CLIENT_WINDOW`` seconds.

``long_polling`` reuses the helpers here (publishing, parameter parsing, stats).
"""

from __future__ import annotations

import os
import re

from flask import Flask, Response, current_app, jsonify, request

from labs.runtime.errors import ApiError
from labs.runtime.message_log import CursorAhead, create_counters, create_log
from labs.runtime.notify import read_notification
from labs.runtime.webapp import create_lab_app

# A poller counts as a client of the lab if it polled within this many seconds.
CLIENT_WINDOW = 10.0
# Cursors are message ids: plain decimal digits, and not absurdly long.
_CURSOR = re.compile(r"[0-9]{1,15}")
# The optional ?client= id a page sends so /stats can count distinct pollers.
_CLIENT = re.compile(r"[A-Za-z0-9_-]{1,64}")


def read_cursor() -> int:
    """``?since=N`` as an int (0 when absent: "everything you still have")."""
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


def cursor_ahead(exc: CursorAhead) -> Response:
    """400, with the newest cursor so a client can start again from it."""
    response = jsonify(error="cursor is ahead of the log",
                       detail=f"no message {exc.cursor} yet: the newest is {exc.latest} "
                              "(the server was probably restarted); continue from 'cursor'",
                       cursor=exc.latest)
    response.status_code = 400
    return response


def add_common_routes(app: Flask, log, counters, counter_names=(), extra_stats=None) -> None:
    """``POST /send_notification`` and ``GET /stats``, the same in both polling labs.

    ``counter_names`` are shown in ``/stats`` as 0 before they first count something.
    """

    @app.post("/send_notification")
    def send_notification():
        message = read_notification()  # every check first: nothing is half-published
        record = log.append(message)
        counters.incr("published")
        return jsonify(status="published", id=record["id"])

    @app.get("/stats")
    def stats():
        numbers = counters.snapshot(current_app.config.get("CLIENT_WINDOW", CLIENT_WINDOW))
        for name in ("clients", "published", *counter_names):
            numbers.setdefault(name, 0)
        numbers["latest"] = log.latest()
        numbers["history"] = log.history
        if extra_stats is not None:
            numbers.update(extra_stats())
        return jsonify(numbers)

    app.errorhandler(CursorAhead)(cursor_ahead)
    app.extensions["message_log"] = log

    @app.after_request
    def name_the_process(response):
        # With several worker processes, which one answered?  Tests and the notebook use
        # this to show that a message published in one process reaches the others.
        response.headers["X-Lab-Process"] = str(os.getpid())
        return response


def create_app(config=None):
    app = create_lab_app("polling", config)
    log = create_log(app.config, "polling")
    counters = create_counters(app.config, "polling")
    add_common_routes(app, log, counters, ("requests", "with_messages", "empty", "not_modified"))

    @app.get("/updates")
    def updates():
        since = read_cursor()
        client = read_client()
        page = log.read(since)  # never waits: short polling answers at once
        # The ETag names the state of the log: its epoch (new on every restart) and the
        # newest id.  A client whose cursor is that newest id and which sends the tag back
        # already knows everything there is: 304, no body.
        tag = f"{page.epoch}-{page.latest}"
        if page.empty and since == page.latest and request.if_none_match.contains(tag):
            counters.count_request(client, "not_modified")
            response = Response(status=304)
        else:
            counters.count_request(client, "with_messages" if page.messages else "empty")
            response = jsonify(page.body())
        response.set_etag(tag)
        # Browsers and proxies may keep the answer but must ask again every time.
        response.headers["Cache-Control"] = "no-cache"
        return response

    return app
