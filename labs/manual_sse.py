"""Lab ``manual_sse``: Server-Sent Events by hand, without a Blueprint.

The course notes sum it up as "Response generator + queue".  That is the core, and ten
lines of it work in a demo.  This lab is what the same idea needs in production; the
broker is in :mod:`labs.runtime.broker` and the streaming generator in :mod:`labs.runtime.sse_response`
(the ``webhooks`` lab streams through the same two):

- ``GET /stream``: a streaming ``Response`` (``text/event-stream``) whose generator
  reads this reader's own bounded queue and writes each message as
  ``event: notify`` / ``id: N`` / ``data: {"message": ...}``;
- a ``retry:`` hint when a reader connects, and an ``id:`` on every event, so the
  browser reconnects by itself and says where it was (``Last-Event-ID``; the query
  parameter ``?lastEventId=`` does the same for clients that cannot set headers);
- a replay of what the reader missed, from a bounded history, or an explicit
  ``event: gap`` when some of it is older than the history;
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

Config: ``KEEPALIVE_SECONDS`` (15), ``RETRY_MS`` (3000), ``HISTORY`` (1000),
``QUEUE_SIZE`` (256), ``BROKER``, ``REDIS_URL``, ``REDIS_KEY`` (``sse-kit:manual_sse``).
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, jsonify

from labs.runtime.broker import create_broker
from labs.runtime.errors import REDIS_DOWN, ApiError
from labs.runtime.notify import check_publish_token, read_notification
from labs.runtime.sse_response import DEFAULT_KEEPALIVE_SECONDS, DEFAULT_RETRY_MS, StreamCounter, stream_response
from labs.runtime.webapp import create_lab_app


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = create_lab_app("manual_sse", config)
    broker = create_broker(app.config)
    app.extensions["manual_sse"] = broker
    keepalive_seconds = float(app.config.get("KEEPALIVE_SECONDS", DEFAULT_KEEPALIVE_SECONDS))
    retry_ms = int(app.config.get("RETRY_MS", DEFAULT_RETRY_MS))
    streams = StreamCounter()

    @app.post("/send_notification")
    def send_notification():
        message = read_notification()  # every check first: nothing is half-published
        published = broker.publish(message)
        return jsonify(status="published", id=published.id)

    @app.get("/stream")
    def stream():
        # Checked before the 200 starts: inside the stream no error can become JSON.
        broker.check()
        return stream_response(broker, streams, keepalive_seconds=keepalive_seconds, retry_ms=retry_ms)

    @app.get("/stats")
    def stats():
        # Counts are this process's (with several workers, the one that answered);
        # last_id and history come from the broker, so with Redis they are global.
        return jsonify(clients=streams.count, pid=os.getpid(), keepalive_seconds=keepalive_seconds,
                       **broker.stats())

    @app.post("/disconnect_all")
    def disconnect_all():
        # For demos and tests: what a deploy or an impatient proxy does to every stream.
        check_publish_token()
        return jsonify(disconnected=broker.cut_all())

    if broker.kind == "redis":
        import redis

        @app.errorhandler(redis.RedisError)
        def redis_down(exc):
            # Nothing was published (the id and the history entry are one atomic step in
            # Redis); the lab keeps running and serves again as soon as Redis is back.
            return jsonify(ApiError(503, REDIS_DOWN, "no answer from Redis; nothing was published, "
                                    "try again when Redis is back").body()), 503

    return app
