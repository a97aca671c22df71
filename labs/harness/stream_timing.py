"""An event-stream reader that notes *when* each part of the stream arrived.

What a proxy does to a stream shows in time, not in content: the same events arrive,
late or all at once.  :class:`TimedStream` reads a stream in a background thread, as a
browser would (optionally asking for gzip, optionally reconnecting with ``Last-Event-ID``
like ``EventSource``), and records for every connection when its headers and first byte
came and how it ended, and for every event when it was dispatched::

    stream = TimedStream(proxy.url + "/stream", accept_gzip=True)
    sent = time.monotonic(); lab.publish("hello")
    arrival = stream.wait_for(1)[0]
    arrival.at - sent                   # seconds from publishing to arrival

Times are ``time.monotonic()`` values, comparable with the caller's own.
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
import zlib
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from labs.core.sse import Event, EventStreamDecoder
from labs.harness.client import BackgroundReader

# EventSource's reconnection delay when the stream never said ``retry:`` (Chromium: 3 s).
DEFAULT_RETRY_MS = 3000


@dataclass
class Arrival:
    at: float  # time.monotonic() when the event was dispatched
    event: Event
    connection: int  # which connection (0 = the first) it came on


@dataclass
class Connection:
    opened: float
    last_event_id: str | None  # what this connection sent as Last-Event-ID
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    headers_at: float | None = None
    first_byte_at: float | None = None
    ended_at: float | None = None
    end: str | None = None  # "ended" (the server finished), "cut" (mid-stream), "closed" (by us), or an error


class TimedStream(BackgroundReader):
    """Read ``url`` in a daemon thread; ``arrivals``, ``connections``, ``raw`` fill in as it goes.

    ``accept_gzip``: send ``Accept-Encoding: gzip`` (as browsers do) and inflate the answer.
    ``reconnect``: when a connection ends, wait the stream's ``retry:`` and connect again
    with ``Last-Event-ID``, as ``EventSource`` does.  The ``connected`` event that opens each
    of the kit's streams (no page listens for it) goes to ``openings``, not ``arrivals``.
    """

    def __init__(self, url: str, *, accept_gzip: bool = False, last_event_id: str | None = None,
                 reconnect: bool = False, headers: dict[str, str] | None = None) -> None:
        self.url = url
        self.accept_gzip = accept_gzip
        self.reconnect = reconnect
        self.arrivals: list[Arrival] = []
        self.openings: list[Arrival] = []
        self.connections: list[Connection] = []
        self.raw = bytearray()  # the decoded body, every connection's in turn
        self.wire_bytes = 0  # body bytes as they came over the wire (compressed, if gzip)
        self.last_event_id = last_event_id
        self.retry_ms = DEFAULT_RETRY_MS
        self._extra_headers = dict(headers or {})
        self._changed = threading.Condition()
        self._closing = False
        self._socket: socket.socket | None = None
        self.ended = threading.Event()  # no more connections will be made
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"TimedStream {url}")
        self._thread.start()

    # ------------------------------------------------------------ reading
    def _run(self) -> None:
        try:
            while not self._closing:
                self._read_one_connection()
                if not self.reconnect or self._closing:
                    break
                if self._sleep(self.retry_ms / 1000):
                    break
        finally:
            self.ended.set()
            with self._changed:
                self._changed.notify_all()

    def _sleep(self, seconds: float) -> bool:
        """Wait before reconnecting; True if the reader was closed meanwhile."""
        deadline = time.monotonic() + seconds
        with self._changed:
            while not self._closing and time.monotonic() < deadline:
                self._changed.wait(deadline - time.monotonic())
        return self._closing

    def _request_headers(self) -> dict[str, str]:
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache",
                   "Accept-Encoding": "gzip" if self.accept_gzip else "identity", **self._extra_headers}
        if self.last_event_id is not None:
            headers["Last-Event-ID"] = self.last_event_id
        return headers

    def _read_one_connection(self) -> None:
        parts = urlsplit(self.url)
        record = Connection(opened=time.monotonic(), last_event_id=self.last_event_id)
        self.connections.append(record)
        conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=10)
        try:
            conn.connect()
            self._socket = conn.sock
            if self._closing:
                raise ConnectionAbortedError
            conn.sock.settimeout(None)  # a quiet stream is not an error
            conn.request("GET", (parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
                         headers=self._request_headers())
            response = conn.getresponse()
            record.status, record.headers = response.status, dict(response.getheaders())
            record.headers_at = time.monotonic()
            with self._changed:
                self._changed.notify_all()
            mime = response.getheader("Content-Type", "").split(";")[0].strip().lower()
            if response.status != 200 or mime != "text/event-stream":
                # EventSource fails the connection for good: no events, no reconnecting.
                record.end = f"failed: {response.status} {mime or '(no content type)'}"
                self.reconnect = False
                return
            self._read_body(response, record)
            record.end = "ended"
        except BaseException as exc:  # our own close() ends up here too
            if self._closing:
                record.end = "closed"
            elif isinstance(exc, http.client.IncompleteRead):
                record.end = "cut"  # the connection closed before the response's end
            else:
                record.end = f"error: {exc!r}"
        finally:
            record.ended_at = time.monotonic()
            conn.close()
            with self._changed:
                self._changed.notify_all()

    def _read_body(self, response: http.client.HTTPResponse, record: Connection) -> None:
        gzipped = response.getheader("Content-Encoding", "").lower() == "gzip"
        inflater = zlib.decompressobj(wbits=31) if gzipped else None
        decoder = EventStreamDecoder()
        # EventSource keeps its last event id across connections (the spec's "last event ID
        # buffer" too, so an event without an id: field does not reset it).
        decoder.last_event_id = decoder._last_event_id_buffer = self.last_event_id or ""
        number = len(self.connections) - 1
        first_seen = False  # has this connection's first event come?
        while True:
            chunk = response.read1(65536)  # whatever has arrived, de-chunked
            if not chunk:
                return
            now = time.monotonic()
            if record.first_byte_at is None:
                record.first_byte_at = now
            data = inflater.decompress(chunk) if inflater else chunk
            with self._changed:
                self.wire_bytes += len(chunk)
                self.raw += data
                for event in decoder.feed(data):
                    opening = event.type == "connected" and not first_seen
                    first_seen = True
                    (self.openings if opening else self.arrivals).append(Arrival(now, event, number))
                self.last_event_id = decoder.last_event_id or self.last_event_id
                self.retry_ms = decoder.retry if decoder.retry is not None else self.retry_ms
                self._changed.notify_all()

    # ------------------------------------------------------------ waiting
    def wait_for(self, count: int = 1, timeout: float = 5.0, type: str | None = "notify") -> list[Arrival]:
        """Wait until ``count`` events of ``type`` (None: any) have arrived; return their arrivals.

        Raises TimeoutError saying what did arrive."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [a for a in self.arrivals if type is None or a.event.type == type]
                if len(found) >= count:
                    return found[:count]
                left = deadline - time.monotonic()
                if left <= 0 or self.ended.is_set():
                    raise TimeoutError(f"expected {count} event(s) from {self.url} within {timeout} s, "
                                       f"got {len(found)}; connections: {self.connections}")
                self._changed.wait(left)

    def wait_headers(self, timeout: float = 5.0) -> bool:
        """Wait until the latest connection's response headers have arrived (False: they did not)."""
        return self.wait_until(lambda s: bool(s.connections) and s.connections[-1].headers_at is not None, timeout)

    def wait_until(self, predicate, timeout: float) -> bool:
        """Wait until ``predicate(self)`` is true; False if ``timeout`` passes first."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
            return True

    @property
    def messages(self) -> list[str]:
        """The ``message`` of every ``notify`` event so far, in order."""
        return [a.event.json().get("message") for a in list(self.arrivals) if a.event.type == "notify"]

    def __repr__(self) -> str:
        return f"<TimedStream {self.url} events={len(self.arrivals)} connections={len(self.connections)}>"
