"""Lab ``quart_sse``: the ``manual_sse`` lesson on ASGI (Quart, served by uvicorn).

Quart is Flask's API on asyncio: the routes below read like ``labs/manual_sse.py``'s, with
``async def`` and ``await`` where something waits.  The same broker and event log (ids, the
bounded history, replay and the ``gap`` event, fan-out with the slow-reader cut) and the same
encoder sit underneath, so a reader gets exactly what ``manual_sse`` gives it (the same tests
run against both).  What ASGI changes is in :mod:`labs.core.sse_async`; in short:

- one event loop holds every stream: a waiting reader costs a suspended coroutine, not a
  thread (the development server) or a greenlet (gunicorn + gevent);
- a reader that leaves is noticed at once: the server sends the app ``http.disconnect`` and
  Quart cancels the stream's task (WSGI finds out only when a write fails);
- nothing may block the loop: a Redis call runs in a worker thread, and messages that
  Redis's listener thread delivers are handed to the loop with ``call_soon_threadsafe``.

``python -m labs run quart_sse`` serves it with uvicorn (one process; with ``BROKER=redis``
any number of such processes share ids and history).  Routes: ``POST /send_notification``,
``GET /stream`` (``event: notify``, an ``id:`` on each, ``Last-Event-ID`` or
``?lastEventId=``), ``GET /stats``, ``GET /capacity``, ``POST /disconnect_all``.

Config: as manual_sse (``KEEPALIVE_SECONDS``, ``RETRY_MS``, ``HISTORY``, ``QUEUE_SIZE``,
``BROKER``, ``REDIS_URL``, ``REDIS_KEY``, ``PUBLISH_TOKEN``, ``MAX_STREAMS``,
``WRITE_DEADLINE_SECONDS``, ``SHUTDOWN_RETRY_MS``, ``GOODBYE_ON_SIGTERM``).  Stopping (SIGTERM,
Ctrl-C) gives every reader its ``event: goodbye`` with a jittered ``retry:``, as manual_sse does:
uvicorn asks the lab (``extensions["on_stop"]``) before it closes the streams.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from typing import Any

from quart import Blueprint, Quart, Response, current_app, jsonify, request

from labs.core.asgi_app import check_publish_token, create_asgi_lab_app, read_notification
from labs.core.broker import Broker, create_broker
from labs.core.errors import REDIS_DOWN, ApiError
from labs.core.shutdown import DEFAULT_SHUTDOWN_RETRY_MS, goodbye_event, retry_range
from labs.core.sse_async import StreamLimits, call, event_stream
from labs.core.sse_response import DEFAULT_KEEPALIVE_SECONDS, DEFAULT_RETRY_MS, STREAM_HEADERS, StreamCounter
from labs.core.stream_guard import limits_of

# How `python -m labs run` serves this lab (labs.harness.serve): uvicorn, not a WSGI server.
SERVER = "asgi"


@dataclass(eq=False)
class QuartSse:
    """Everything the lab keeps between requests: ``app.extensions["quart_sse"]``."""

    broker: Broker
    guard: StreamLimits
    keepalive_seconds: float = DEFAULT_KEEPALIVE_SECONDS
    retry_ms: int = DEFAULT_RETRY_MS
    streams: StreamCounter = field(default_factory=StreamCounter)
    shutdown_retry: tuple[int, int] = DEFAULT_SHUTDOWN_RETRY_MS  # the goodbye's retry: range, ms
    leaving: bool = False  # the server is stopping: every stream gets its goodbye

    async def say_goodbye(self) -> None:
        """Called by the server when it is told to stop (SIGTERM, Ctrl-C), before it closes anything."""
        self.leaving = True
        self.broker.cut_all()  # each stream wakes, writes farewell() and ends
        for _ in range(50):  # up to 1 s for the goodbyes to be written
            if not self.streams.count:
                return
            await asyncio.sleep(0.02)

    def farewell(self) -> bytes | None:
        """The last event of a stream when the server is stopping: when to come back, per reader."""
        if not self.leaving:
            return None
        return goodbye_event(self.shutdown_retry)


def lab() -> QuartSse:
    return current_app.extensions["quart_sse"]


bp = Blueprint("quart_sse", __name__)


@bp.post("/send_notification")
async def send_notification():
    message = await read_notification(current_app)  # every check first: nothing is half-published
    published = await call(lab().broker, lab().broker.publish, message)
    return jsonify(status="published", id=published.id)


@bp.get("/stream")
async def stream():
    state = lab()
    await call(state.broker, state.broker.check)  # before the 200: inside the stream no error can be JSON
    if state.leaving:  # this node is stopping: a newcomer gets only "come back later"
        return Response(state.farewell(), mimetype="text/event-stream", headers=STREAM_HEADERS)
    if not state.guard.admit():  # full: "come back later", never an error status
        return Response(state.guard.refusal(), mimetype="text/event-stream", headers=STREAM_HEADERS)
    last_event_id = request.headers.get("Last-Event-ID")
    if last_event_id is None:
        last_event_id = request.args.get("lastEventId")
    body = event_stream(state.broker, last_event_id, keepalive_seconds=state.keepalive_seconds,
                        retry_ms=state.retry_ms, streams=state.streams, guard=state.guard,
                        farewell=state.farewell)
    # An ASGI server sends the headers (EventSource's `open`) before the body's first chunk, unlike
    # WSGI's: take that chunk now, so the reader is subscribed before it can hear it is connected.
    opening = await body.__anext__()
    response = Response(_starting_with(opening, body), mimetype="text/event-stream", headers=STREAM_HEADERS)
    response.timeout = None  # Quart ends a response body after 60 s by default: a stream must not
    return response


@bp.get("/stats")
async def stats():
    state = lab()
    broker_stats = await call(state.broker, state.broker.stats)
    return jsonify(clients=state.streams.count, pid=os.getpid(), keepalive_seconds=state.keepalive_seconds,
                   capacity=state.guard.stats(), **broker_stats)


@bp.get("/capacity")
async def capacity():
    return jsonify(lab().guard.stats())


@bp.post("/disconnect_all")
async def disconnect_all():
    check_publish_token(current_app)
    return jsonify(disconnected=lab().broker.cut_all())


async def redis_down(exc):
    return jsonify(ApiError(503, REDIS_DOWN, "no answer from Redis; nothing was published, "
                            "try again when Redis is back").body()), 503


async def _starting_with(first: bytes, rest):
    """``first``, then what ``rest`` yields; ``rest`` is closed however this ends."""
    try:
        yield first
        async for chunk in rest:
            yield chunk
    finally:
        await rest.aclose()


def create_app(config: dict[str, Any] | None = None) -> Quart:
    app = create_asgi_lab_app("quart_sse", config)
    broker = create_broker(app.config, key="sse-kit:quart_sse")
    app.extensions["quart_sse"] = QuartSse(
        broker, StreamLimits(limits_of(app.config)),
        keepalive_seconds=float(app.config.get("KEEPALIVE_SECONDS", DEFAULT_KEEPALIVE_SECONDS)),
        retry_ms=int(app.config.get("RETRY_MS", DEFAULT_RETRY_MS)),
        shutdown_retry=retry_range(app.config.get("SHUTDOWN_RETRY_MS", DEFAULT_SHUTDOWN_RETRY_MS)),
    )
    if app.config.get("GOODBYE_ON_SIGTERM", True):
        app.extensions["on_stop"] = app.extensions["quart_sse"].say_goodbye  # labs.harness.serve calls it
    app.register_blueprint(bp)
    if broker.kind == "redis":
        import redis

        app.register_error_handler(redis.RedisError, redis_down)
    return app
