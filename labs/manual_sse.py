"""Lab ``manual_sse``: Server-Sent Events by hand, without a Blueprint library.

The course notes sum it up as "Response generator + queue".  That is the core, and ten
lines of it work in a demo.  This lab is what the same idea needs in production.  It is
built from three pieces; read them in this order:

1. this module: the routes;
2. :mod:`labs.core.sse_response`, **the by-hand core**: each reader's bounded queue
   (``Subscriber``) and the generator that streams it (``event_stream``), the code
   notebook 04 builds up to (the ``webhooks`` lab streams through it too);
3. :mod:`labs.core.broker` (fan-out: every reader's queue gets every message) on
   :mod:`labs.core.event_log` (ids, the bounded history, and the catch-up rule for
   a returning reader, the same in every lab).

What a reader gets:

- ``GET /stream``: a streaming ``Response`` (``text/event-stream``) whose generator
  reads this reader's own bounded queue and writes each message as
  ``event: notify`` / ``id: N`` / ``data: {"message": ...}``;
- a ``retry:`` hint when it connects, and an ``id:`` on every event, so the browser
  reconnects by itself and says where it was (``Last-Event-ID``; the query parameter
  ``?lastEventId=`` does the same for clients that cannot set headers);
- a replay of what it missed, from a bounded history, or an explicit ``event: gap``
  when some of it is lost: older than the history (``missed`` says how many), or an id
  ahead of the newest one because the server restarted and its ids started again
  (``"ids restarted"``: everything kept is replayed; never an error, which would stop
  ``EventSource`` for good);
- a keep-alive comment every ``KEEPALIVE_SECONDS`` of silence: proxies close quiet
  connections, and a generator only learns that its reader left when it next writes;
- cleanup: however a stream ends, its subscription and queue are released (``GET
  /stats`` counts open streams);
- slow readers: a reader that falls ``QUEUE_SIZE`` messages behind is cut off instead
  of growing the server's memory; it resumes by ``Last-Event-ID``;
- ``BROKER="redis"`` (or ``REDIS_URL`` configured, as with ``--workers 2``): ids and
  history live in Redis, shared by every process and kept across restarts.

With Redis, a Redis that does not answer is a ``503`` JSON answer ("Redis is down") and
the lab carries on, ids included, when it is back.

Stopping (SIGTERM, as a deploy does): every reader gets a last ``event: goodbye`` whose
``retry:`` says when to come back, picked per reader in ``SHUTDOWN_RETRY_MS`` (jitter), so
the readers of a stopped node do not all reconnect at once; a reader that arrives while
the node is stopping gets only that goodbye (:mod:`labs.core.shutdown`, notebook 13).

Config: ``KEEPALIVE_SECONDS`` (15), ``RETRY_MS`` (3000), ``HISTORY`` (1000),
``QUEUE_SIZE`` (256), ``BROKER``, ``REDIS_URL``, ``REDIS_KEY`` (``sse-kit:manual_sse``),
``SHUTDOWN_RETRY_MS`` (``[1000, 5000]``; one number: the same for every reader),
``GOODBYE_ON_SIGTERM`` (true), ``NODE_NAME`` (a cluster's node: its name and pid open each stream,
and ``/stats`` adds ``cluster``, every node's readers, through Redis: :mod:`labs.core.presence`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify

from labs.core.broker import Broker, create_broker
from labs.core.errors import REDIS_DOWN, ApiError
from labs.core.notify import check_publish_token, read_notification
from labs.core.presence import Presence, start_presence
from labs.core.shutdown import DEFAULT_SHUTDOWN_RETRY_MS, goodbye_event, on_sigterm, retry_range
from labs.core.sse_response import (
    DEFAULT_KEEPALIVE_SECONDS,
    DEFAULT_RETRY_MS,
    STREAM_HEADERS,
    StreamCounter,
    stream_response,
)
from labs.core.stream_guard import capacity
from labs.core.webapp import create_lab_app


@dataclass(eq=False)
class ManualSse:
    """Everything the lab keeps between requests: ``app.extensions["manual_sse"]``."""

    broker: Broker
    keepalive_seconds: float = DEFAULT_KEEPALIVE_SECONDS
    retry_ms: int = DEFAULT_RETRY_MS
    streams: StreamCounter = field(default_factory=StreamCounter)  # open streams in this process
    shutdown_retry: tuple[int, int] = DEFAULT_SHUTDOWN_RETRY_MS  # the goodbye's retry: range, ms
    leaving: bool = False  # SIGTERM came: every stream gets its goodbye
    node: str | None = None  # NODE_NAME: this process is a node of a cluster
    presence: Presence | None = None  # with a node name and Redis: the cluster's counts

    # Graceful shutdown (labs.core.shutdown calls these on SIGTERM).
    def say_goodbye(self) -> None:
        override = self.presence.shutdown_retry() if self.presence is not None else None
        if override is not None:  # set for the whole cluster (python -m labs cluster: rolling jitter|fixed)
            self.shutdown_retry = retry_range(override)
        self.leaving = True
        self.broker.cut_all()  # each stream's generator wakes, writes farewell() and ends

    def pending(self) -> int:
        return self.streams.count

    def farewell(self) -> bytes | None:
        """The last event of a stream when the server is stopping: when to come back, per reader."""
        if not self.leaving:
            return None
        return goodbye_event(self.shutdown_retry)


def lab() -> ManualSse:
    return current_app.extensions["manual_sse"]


bp = Blueprint("manual_sse", __name__)


@bp.post("/send_notification")
def send_notification():
    message = read_notification()  # every check first: nothing is half-published
    published = lab().broker.publish(message)
    return jsonify(status="published", id=published.id)


@bp.get("/stream")
def stream():
    state = lab()
    # Checked before the 200 starts: inside the stream no error can become JSON.
    state.broker.check()
    if state.leaving:  # this node is stopping: a newcomer gets only "come back later"
        return Response(state.farewell(), mimetype="text/event-stream", headers=STREAM_HEADERS)
    if state.presence is not None:
        state.presence.opened()
    hello = {"node": state.node, "pid": os.getpid()} if state.node else None  # for the page's header
    return stream_response(state.broker, state.streams, keepalive_seconds=state.keepalive_seconds,
                           retry_ms=state.retry_ms, farewell=state.farewell, hello=hello)


@bp.get("/stats")
def stats():
    state = lab()
    # Counts are this process's (with several workers, the one that answered);
    # last_id and history come from the broker's log, so with Redis they are global.
    extra = {"cluster": state.presence.cluster()} if state.presence is not None else {}
    return jsonify(clients=state.streams.count, pid=os.getpid(), keepalive_seconds=state.keepalive_seconds,
                   capacity=capacity(), **state.broker.stats(), **extra)


@bp.post("/disconnect_all")
def disconnect_all():
    # For demos and tests: what a deploy or an impatient proxy does to every stream.
    check_publish_token()
    return jsonify(disconnected=lab().broker.cut_all())


def redis_down(exc):
    # Nothing was published (the id and the history entry are one atomic step in
    # Redis); the lab keeps running and serves again as soon as Redis is back.
    return jsonify(ApiError(503, REDIS_DOWN, "no answer from Redis; nothing was published, "
                            "try again when Redis is back").body()), 503


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = create_lab_app("manual_sse", config)
    broker = create_broker(app.config)
    state = app.extensions["manual_sse"] = ManualSse(
        broker,
        keepalive_seconds=float(app.config.get("KEEPALIVE_SECONDS", DEFAULT_KEEPALIVE_SECONDS)),
        retry_ms=int(app.config.get("RETRY_MS", DEFAULT_RETRY_MS)),
        shutdown_retry=retry_range(app.config.get("SHUTDOWN_RETRY_MS", DEFAULT_SHUTDOWN_RETRY_MS)),
    )
    state.node = app.config.get("NODE_NAME") or None
    state.presence = start_presence(app.config, broker, lambda: state.streams.count)
    if app.config.get("GOODBYE_ON_SIGTERM", True):
        on_sigterm(state)
    app.register_blueprint(bp)
    if broker.kind == "redis":
        import redis

        app.register_error_handler(redis.RedisError, redis_down)
    return app
