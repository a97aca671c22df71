"""SSE by hand: each reader's queue and the generator that streams it (notebook 04's core).

This is the "Response generator + queue" of the course notes, done properly.  The
``manual_sse`` lab serves it at ``GET /stream``, and so does the ``webhooks`` lab, so a
reader gets the same guarantees from each.  Read it top to bottom:

1. :class:`Subscriber`, one reader's **queue**.  Each reader has its own (one shared
   queue would hand each message to only one reader), and it is **bounded**: the
   broker (:mod:`labs.core.broker`) cuts off a reader that falls ``queue_size``
   messages behind instead of growing the server's memory; it resumes by
   ``Last-Event-ID``.
2. :func:`event_stream`, the **generator**: the body of one ``GET /stream`` response.
   It registers the queue with the broker, opens with a ``connected`` event (the
   ``retry:`` hint and, for a new reader, its position: see :func:`opening_block`),
   replays what a returning reader missed (or an explicit ``event: gap`` when it cannot: see
   :mod:`labs.core.event_log` for the rule), then writes each message as it comes
   (``event: notify`` / ``id: N`` / ``data: {"message": ...}``), with a keep-alive
   comment after ``keepalive_seconds`` of silence (proxies close quiet connections, and
   a generator only learns that its reader left when it next writes).  However the
   stream ends, its ``finally`` releases the queue; a server that is stopping ends it
   with a last event (``farewell``) that says when to come back (:mod:`labs.core.shutdown`).
   A lab may open the stream with a block of its own (``opening``: ``secure_stream`` says
   who the reader is), and end it after ``seconds`` (servers do, to move long connections
   on; the reader reconnects with ``Last-Event-ID``).
3. :func:`stream_response`: the Flask ``Response`` around it, reading ``Last-Event-ID``
   (or ``?lastEventId=`` for clients that cannot set headers).
"""

from __future__ import annotations

import collections
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from flask import Response, request

from labs.core.event_log import Message, Replay
from labs.core.sse import encode_json_event, keep_alive

if TYPE_CHECKING:
    from labs.core.broker import Broker

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


class Subscriber:
    """One reader's place in the fan-out: a bounded queue and a way to cut it off.

    The queue is a ``deque`` plus one wake-up ``Event`` rather than a ``queue.Queue``:
    the same rules (bounded, never blocks the publisher, one reader) for less work.
    With a thousand readers every message is a thousand ``offer()`` calls and a thousand
    wake-ups; ``queue.Queue``'s condition variable (a lock taken, and a waiter lock made,
    on every call) was about 40% of the worker's samples in a py-spy profile of the
    fan-out benchmark, and this is about 25%.  ``deque.append`` and ``popleft`` are
    atomic, and there is only ever one consumer (the stream's generator), so no lock is
    needed around them.
    """

    def __init__(self, queue_size: int, on_cut: Callable[[], None] | None = None) -> None:
        self.queue_size = queue_size
        self.waiting: collections.deque[Message] = collections.deque()
        self._wake = threading.Event()
        self.cut_reason: str | None = None
        self._on_cut = on_cut
        # True while the stream's generator has handed bytes to the server and is not
        # back yet: a write in progress, which may be blocked on a reader that stopped
        # reading.  Set by the generator (see begin_write), read by cut().
        self.writing = False

    def offer(self, message: Message) -> bool:
        """Queue ``message`` without ever blocking the publisher; False when full."""
        if len(self.waiting) >= self.queue_size:
            return False
        self.waiting.append(message)
        self._wake.set()
        return True

    def get_batch(self, timeout: float, limit: int) -> list[Message] | None:
        """The waiting messages (at least one, at most ``limit``), oldest first.

        Waits up to ``timeout`` seconds for one (then raises ``queue.Empty``); None once
        cut off.  A reader that fell a little behind (a busy server, a burst of messages)
        gets its backlog in one write: one wake-up and one ``send()`` instead of one per
        message, so a server under load catches up instead of falling further behind.
        """
        if self.cut_reason:
            return None
        if not self.waiting:
            # Clear, then look again: an offer() between the two is seen by the second
            # look, and one after the clear sets the event again, so none is slept through.
            self._wake.clear()
            if not self.waiting:
                self._wake.wait(timeout)
            if self.cut_reason:
                return None
            if not self.waiting:
                raise queue.Empty
        batch = []
        while self.waiting and len(batch) < limit:
            batch.append(self.waiting.popleft())
        return batch

    def begin_write(self) -> bool:
        """Called by the generator just before it hands bytes to the server.

        False means the stream was cut: write nothing, end.  The order matters: cut()
        sets ``cut_reason`` before it reads ``writing``, and this sets ``writing`` before
        it reads ``cut_reason``, so either cut() sees the write (and closes the socket)
        or the generator sees the cut (and never starts the write): no write is missed.
        """
        self.writing = True
        return not self.cut_reason

    def end_write(self) -> None:
        self.writing = False

    def cut(self, reason: str) -> None:
        """End this reader's stream.  Safe to call from any thread, more than once."""
        if self.cut_reason:
            return
        self.cut_reason = reason
        self._wake.set()  # wakes the stream's generator if it is waiting
        if self.writing and self._on_cut is not None:
            # The generator is inside a write, which may never return: a reader that
            # stopped reading fills its socket buffers and blocks the write forever.
            # Only closing the socket under it ends that write (and with it the
            # generator, its queue and its thread).  A generator that is waiting for
            # messages needs no such force: the wake-up above ends it cleanly.
            self._on_cut()


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


def opening_block(retry_ms: int, position: int | None, hello: dict[str, Any] | None = None) -> bytes:
    """The first block of every stream: ``event: connected`` / ``id: N`` / ``retry:`` / ``data: {}``.

    It says how long to wait before reconnecting and (for a new reader: ``position`` is
    not None) where the reader stands, so that even a reader that has not received any
    event yet sends a ``Last-Event-ID`` when it reconnects and misses nothing.  A returning
    reader gets no ``id:`` here: it already holds its place, and the replay follows.

    By the spec an ``id:`` in a block without ``data:`` is kept all the same, and browsers
    keep it.  But npm's ``eventsource`` (its parser, ``eventsource-parser``, like others
    written after it) forgets the ``id:`` of a block that dispatches nothing: a reader cut
    before its first message came back without ``Last-Event-ID`` and missed what was
    published meanwhile.  So the block carries a data line and dispatches an event,
    ``connected``, which every client keeps the id of and no page listens to (a browser
    drops a named event nobody listens for).  ``{}`` rather than an empty line: code that
    ``json.loads`` every event's data does not trip over it.  A node of a cluster says which
    one it is there (``hello``: ``{"node": ..., "pid": ...}``), for the page's header.
    """
    return encode_json_event(hello or {}, event="connected", id=position, retry=retry_ms).encode()


def catch_up_blocks(replay: Replay) -> list[bytes]:
    """What a returning reader gets before live messages: the gap, if any, then the replay."""
    blocks = []
    if replay.gap is not None:
        # Say it, rather than skip it: the page can tell its user to reload.
        resume_from = replay.messages[0].id - 1 if replay.messages else replay.position
        blocks.append(encode_json_event(replay.gap, event="gap", id=resume_from).encode())
    return blocks + [message.wire for message in replay.messages]


def event_stream(broker: Broker, last_event_id: str | None, *, keepalive_seconds: float, retry_ms: int,
                 streams: StreamCounter, on_cut=None,
                 farewell: Callable[[], bytes | None] | None = None,
                 hello: dict[str, Any] | None = None, opening: bytes | None = None,
                 seconds: float | None = None) -> Iterator[bytes]:
    """The body of one ``GET /stream`` response.

    The subscription is taken inside the generator, not in the view: the server calls
    the generator's ``close()`` when the response ends for any reason (the reader
    left, the server is stopping), which runs the ``finally`` below; a subscription
    taken before the generator started would leak if it never started.  ``opening``
    replaces :func:`opening_block`; after ``seconds`` (None: never) the stream ends.
    """
    subscriber = Subscriber(broker.queue_size, on_cut)  # this reader's own queue
    replay = broker.open(subscriber, last_event_id)  # registered first, then the replay planned
    streams.add(1)

    def write(data: bytes) -> Iterator[bytes]:
        # Every write is marked, so that a cut can tell a generator blocked in a write
        # (close the socket under it) from one waiting for messages (just wake it).
        if not subscriber.begin_write():
            raise _Cut
        yield data
        subscriber.end_write()

    try:
        if opening is None:
            opening = opening_block(retry_ms, replay.position if last_event_id is None else None, hello)
        for block in [opening, *catch_up_blocks(replay)]:
            yield from write(block)
        position = replay.position
        ends = None if seconds is None else time.monotonic() + seconds
        while True:
            wait = keepalive_seconds if ends is None else min(keepalive_seconds, ends - time.monotonic())
            if wait <= 0:  # its time is up: the reader reconnects (EventSource does by itself)
                return
            try:
                batch = subscriber.get_batch(wait, WRITE_BATCH)
            except queue.Empty:
                # Nothing to say for a while: a comment keeps proxies from closing the
                # connection, and writing it is how we find out that the reader left.
                if ends is None or time.monotonic() < ends:
                    yield from write(keep_alive().encode())
                continue
            if batch is None:  # cut off: too slow, or the server ended all streams
                goodbye = farewell() if farewell is not None else None
                if goodbye:  # the server is stopping: "come back in N ms", then the end
                    yield goodbye
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
                    retry_ms: int = DEFAULT_RETRY_MS, farewell: Callable[[], bytes | None] | None = None,
                    hello: dict[str, Any] | None = None, opening: bytes | None = None,
                    seconds: float | None = None) -> Response:
    """The ``GET /stream`` response for the current request (``opening``, ``seconds``: see
    :func:`event_stream`)."""
    # The header is what EventSource sends when it reconnects; the query parameter is
    # for a first connection from a client that cannot set headers.  The header wins:
    # after a reconnect it is newer than the URL the page was opened with.
    last_event_id = request.headers.get("Last-Event-ID")
    if last_event_id is None:
        last_event_id = request.args.get("lastEventId")
    body = event_stream(broker, last_event_id, keepalive_seconds=keepalive_seconds, retry_ms=retry_ms,
                        streams=streams, on_cut=_socket_closer(request.environ), farewell=farewell, hello=hello,
                        opening=opening, seconds=seconds)
    return Response(body, mimetype="text/event-stream", headers=STREAM_HEADERS)
