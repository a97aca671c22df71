"""Lab ``manual_sse``: Server-Sent Events by hand, without a Blueprint.

The course notes sum it up as "Response generator + queue".  That is the core, and ten
lines of it work in a demo.  This lab is what the same idea needs in production:

- ``GET /stream``: a streaming ``Response`` (``text/event-stream``) whose generator
  reads this reader's own bounded queue (see :mod:`labs.broker`) and writes each
  message as ``event: notify`` / ``id: N`` / ``data: {"message": ...}``;
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

Config: ``KEEPALIVE_SECONDS`` (15), ``RETRY_MS`` (3000), ``HISTORY`` (1000),
``QUEUE_SIZE`` (256), ``BROKER``, ``REDIS_URL``, ``REDIS_KEY`` (``sse-kit:manual_sse``).
"""

from __future__ import annotations

import os
import queue
import socket
import threading
from typing import Any, Iterator

from flask import Flask, Response, jsonify, request

from labs.broker import Broker, create_broker
from labs.notify import check_publish_token, read_notification
from labs.sse import encode_event, encode_json_event, keep_alive
from labs.webapp import create_lab_app

DEFAULT_KEEPALIVE_SECONDS = 15.0
DEFAULT_RETRY_MS = 3000
# At most this many waiting messages go out in one write (see Subscriber.get_batch).
WRITE_BATCH = 64

STREAM_HEADERS = {
    # Every reader gets its own live stream: no cache may store or share it.
    "Cache-Control": "no-cache",
    # nginx buffers proxied responses by default, which would hold events back until a
    # buffer fills; this header turns that off for this response only.
    "X-Accel-Buffering": "no",
}


class StreamCounter:
    """How many stream generators are running right now (``clients`` in ``/stats``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0

    def add(self, delta: int) -> None:
        with self._lock:
            self.count += delta


def _socket_closer(environ: dict[str, Any]):
    """A function that closes this request's TCP connection from another thread.

    Both servers put the connection's socket in the WSGI environ.  Shutting it down is
    the only way to end a write that is blocked on a reader who stopped reading.
    """
    sock = environ.get("werkzeug.socket") or environ.get("gunicorn.socket")

    def close() -> None:
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed: nothing left to free

    return close


def event_stream(broker: Broker, last_event_id: str | None, *, keepalive_seconds: float, retry_ms: int,
                 streams: StreamCounter, on_cut=None) -> Iterator[bytes]:
    """The body of one ``GET /stream`` response.

    The subscription is taken inside the generator, not in the view: the server calls
    the generator's ``close()`` when the response ends for any reason (the reader
    left, the server is stopping), which runs the ``finally`` below; a subscription
    taken before the generator started would leak if it never started.
    """
    subscriber, replay = broker.open(last_event_id, on_cut=on_cut)
    streams.add(1)
    try:
        # First block: how long the browser waits before reconnecting, and (for a new
        # reader) where it stands, so that even a reader that has not received any event
        # yet sends a Last-Event-ID when it reconnects and misses nothing.
        yield encode_event(comment="connected", retry=retry_ms,
                           id=replay.position if last_event_id is None else None).encode()
        if replay.gap is not None:
            # Say it, rather than skip it: the page can tell its user to reload.
            resume_from = replay.messages[0].id - 1 if replay.messages else replay.position
            yield encode_json_event(replay.gap, event="gap", id=resume_from).encode()
        for message in replay.messages:
            yield message.wire
        position = replay.position
        while True:
            try:
                batch = subscriber.get_batch(keepalive_seconds, WRITE_BATCH)
            except queue.Empty:
                # Nothing to say for a while: a comment keeps proxies from closing the
                # connection, and writing it is how we find out that the reader left.
                yield keep_alive().encode()
                continue
            if batch is None:  # cut off: too slow, or the server ended all streams
                return
            fresh = [message for message in batch if message.id > position]  # skip what the replay sent
            if fresh:
                position = fresh[-1].id
                yield b"".join(message.wire for message in fresh)
    finally:
        broker.close(subscriber)
        streams.add(-1)


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
        # The header is what EventSource sends when it reconnects; the query parameter
        # is for a first connection from a client that cannot set headers.  The header
        # wins: after a reconnect it is newer than the URL the page was opened with.
        last_event_id = request.headers.get("Last-Event-ID")
        if last_event_id is None:
            last_event_id = request.args.get("lastEventId")
        body = event_stream(broker, last_event_id, keepalive_seconds=keepalive_seconds, retry_ms=retry_ms,
                            streams=streams, on_cut=_socket_closer(request.environ))
        return Response(body, mimetype="text/event-stream", headers=STREAM_HEADERS)

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

    return app
