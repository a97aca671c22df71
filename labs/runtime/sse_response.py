"""The streaming response that serves a :class:`~labs.runtime.broker.Broker` to EventSource readers.

Used by every lab that streams from a broker (``manual_sse``, ``webhooks``), so a reader
gets the same guarantees from each:

- a ``retry:`` hint when it connects, and an ``id:`` on every event, so the browser
  reconnects by itself and says where it was (``Last-Event-ID``; the query parameter
  ``?lastEventId=`` does the same for clients that cannot set headers);
- a replay of what it missed, from the broker's bounded history, or an explicit
  ``event: gap`` when some of it is older than the history;
- a keep-alive comment after ``keepalive_seconds`` of silence: proxies close quiet
  connections, and a generator only learns that its reader left when it next writes;
- cleanup: however a stream ends, its subscription and queue are released;
- slow readers: a reader that falls the broker's ``queue_size`` behind is cut off
  instead of growing the server's memory; it resumes by ``Last-Event-ID``.
"""

from __future__ import annotations

import queue
import socket
import threading
from typing import Any, Iterator

from flask import Response, request

from labs.runtime.broker import Broker
from labs.runtime.sse import encode_event, encode_json_event, keep_alive

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


class _Cut(Exception):
    """The stream was cut between two writes: end it without writing more."""


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

    def write(data: bytes) -> Iterator[bytes]:
        # Every write is marked, so that a cut can tell a generator blocked in a write
        # (close the socket under it) from one waiting for messages (just wake it).
        if not subscriber.begin_write():
            raise _Cut
        yield data
        subscriber.end_write()

    try:
        # First block: how long the browser waits before reconnecting, and (for a new
        # reader) where it stands, so that even a reader that has not received any event
        # yet sends a Last-Event-ID when it reconnects and misses nothing.
        yield from write(encode_event(comment="connected", retry=retry_ms,
                                      id=replay.position if last_event_id is None else None).encode())
        if replay.gap is not None:
            # Say it, rather than skip it: the page can tell its user to reload.
            resume_from = replay.messages[0].id - 1 if replay.messages else replay.position
            yield from write(encode_json_event(replay.gap, event="gap", id=resume_from).encode())
        for message in replay.messages:
            yield from write(message.wire)
        position = replay.position
        while True:
            try:
                batch = subscriber.get_batch(keepalive_seconds, WRITE_BATCH)
            except queue.Empty:
                # Nothing to say for a while: a comment keeps proxies from closing the
                # connection, and writing it is how we find out that the reader left.
                yield from write(keep_alive().encode())
                continue
            if batch is None:  # cut off: too slow, or the server ended all streams
                return
            fresh = [message for message in batch if message.id > position]  # skip what the replay sent
            if fresh:
                position = fresh[-1].id
                yield from write(b"".join(message.wire for message in fresh))
    except _Cut:
        return
    finally:
        broker.close(subscriber)
        streams.add(-1)


def stream_response(broker: Broker, streams: StreamCounter, *, keepalive_seconds: float = DEFAULT_KEEPALIVE_SECONDS,
                    retry_ms: int = DEFAULT_RETRY_MS) -> Response:
    """The ``GET /stream`` response for the current request."""
    # The header is what EventSource sends when it reconnects; the query parameter is
    # for a first connection from a client that cannot set headers.  The header wins:
    # after a reconnect it is newer than the URL the page was opened with.
    last_event_id = request.headers.get("Last-Event-ID")
    if last_event_id is None:
        last_event_id = request.args.get("lastEventId")
    body = event_stream(broker, last_event_id, keepalive_seconds=keepalive_seconds, retry_ms=retry_ms,
                        streams=streams, on_cut=_socket_closer(request.environ))
    return Response(body, mimetype="text/event-stream", headers=STREAM_HEADERS)
