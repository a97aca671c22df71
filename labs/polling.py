"""Lab ``polling``: short polling done so that nothing is lost or repeated.

The course notes poll ``/api/updates`` every few seconds and answer
``{"hasUpdate": true, "message": ...}``.  That loses messages: two messages between
two polls become one, and with a "new update" flag the first client to poll takes it
from every other client.  This lab keeps a log instead (:mod:`labs.core.message_log`,
on the one event log every lab shares, :mod:`labs.core.event_log`):

- ``POST /send_notification`` ``{"message": "..."}`` appends to the log.
- ``GET /updates?since=CURSOR`` answers every message after the cursor and the new
  cursor: ``{"messages": [{"id": 4, "message": "...", "time": ...}], "cursor": 4,
  "more": false, "missed": 0, "gap": null}``.  ``more`` means "ask again at once"
  (answers are batched).  ``gap`` says when an answer cannot be complete: messages
  fell out of the bounded history before this client asked for them (``missed``
  counts them: a very late client is told, not silently skipped), or the cursor is
  ahead of the log because the server restarted and its ids started again (``"ids
  restarted"``: the client gets everything the new log holds, and a cursor to go on
  from; never a 400).
- Conditional requests: each answer carries an ``ETag`` naming the state of the log.
  A client that is up to date sends it back in ``If-None-Match`` and gets
  ``304 Not Modified`` with no body: an unchanged poll costs a few header bytes.
- ``GET /stats``: ``{"clients": N, "requests": ..., "not_modified": ..., ...}``, where
  ``clients`` counts distinct pollers seen in the last ``CLIENT_WINDOW`` seconds.

``POST /send_notification``, ``GET /stats`` and the query parameters are the same in
``long_polling``: they live in :mod:`labs.core.polling_routes`.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from labs.core.polling_routes import install, lab, read_client, read_cursor
from labs.core.webapp import create_lab_app

bp = Blueprint("polling", __name__)


@bp.get("/updates")
def updates():
    state = lab()
    since = read_cursor()
    client = read_client()
    page = state.log.read(since)  # never waits: short polling answers at once
    # The ETag names the state of the log: its epoch (new on every restart) and the
    # newest id.  A client whose cursor is that newest id and which sends the tag back
    # already knows everything there is: 304, no body.
    tag = f"{page.epoch}-{page.latest}"
    if page.empty and since == page.latest and request.if_none_match.contains(tag):
        state.counters.count_request(client, "not_modified")
        response = Response(status=304)
    else:
        state.counters.count_request(client, "with_messages" if page.messages else "empty")
        response = jsonify(page.body())
    response.set_etag(tag)
    # Browsers and proxies may keep the answer but must ask again every time.
    response.headers["Cache-Control"] = "no-cache"
    return response


def create_app(config=None):
    app = create_lab_app("polling", config)
    install(app, counter_names=("requests", "with_messages", "empty", "not_modified"))
    app.register_blueprint(bp)
    return app
