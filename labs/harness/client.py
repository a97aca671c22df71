"""Client helpers for notebooks, tests and benchmarks: read a live event stream in the
background while the cell (or test) goes on, and post JSON.

::

    stream = EventStream(lab.url + "/stream")      # connects in a background thread
    lab.publish("hello")
    stream.wait_for(1)                              # -> [Event(type='notify', ...)]
    stream.close()

Everything is decoded by :mod:`labs.core.sse`, the kit's one decoder, so what ``events``
holds is what a browser's EventSource would dispatch to a page that listens for the lab's
events.  The one event no page listens for, the ``connected`` that opens every ``GET /stream``
of the kit (it carries the reader's position: see :func:`labs.core.sse_response.opening_block`),
is kept apart in ``opening``, so ``wait_for(1)`` waits for the first real message.
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
from typing import Any, Self
from urllib.parse import urlsplit

import requests
from requests.structures import CaseInsensitiveDict

from labs.core.sse import Event, EventStreamDecoder


def post_json(url: str, payload: Any, **kwargs) -> requests.Response:
    kwargs.setdefault("timeout", 10)
    return requests.post(url, json=payload, **kwargs)


class BackgroundReader:
    """What the kit's stream readers share (this module's :class:`EventStream` and
    :class:`labs.harness.stream_timing.TimedStream`): a daemon thread reading from a socket
    it opened itself, which :meth:`close` shuts down; usable in a ``with`` block.

    A subclass sets ``_changed`` (a Condition its waiters wait on), ``_closing``,
    ``_socket`` (once connected) and ``_thread``.
    """

    _changed: threading.Condition
    _closing: bool
    _socket: socket.socket | None
    _thread: threading.Thread

    def close(self) -> None:
        """Hang up (and reconnect no more), as a browser tab does when it closes."""
        with self._changed:
            self._closing = True
            self._changed.notify_all()  # wakes a reader waiting to reconnect
        sock = self._socket
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)  # wakes the reading thread at once
            except OSError:
                pass
        self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class EventStream(BackgroundReader):
    """One stream reader running in a daemon thread.

    ``events`` (decoded, in order), ``raw`` (the bytes as they arrived) and ``status``
    / ``headers`` of the response are filled in as the stream goes on; ``opening`` is the
    stream's opening ``connected`` event, if it sent one (not in ``events``).
    """

    def __init__(self, url: str, *, last_event_id: str | None = None, headers: dict | None = None,
                 connect_timeout: float = 10.0, wait_connected: bool = True) -> None:
        # wait_connected=False: return at once.  Needed for servers that send no
        # headers until their first event (flask-sse does this).
        self.url = url
        self.events: list[Event] = []
        self.opening: Event | None = None
        self.raw = bytearray()
        self.status: int | None = None
        self.headers: CaseInsensitiveDict = CaseInsensitiveDict()
        self.error: BaseException | None = None
        self.decoder = EventStreamDecoder()
        self._changed = threading.Condition()
        self._connected = threading.Event()
        self._closing = False
        self._socket: socket.socket | None = None
        self._request_headers = {"Accept": "text/event-stream", **(headers or {})}
        if last_event_id is not None:
            self._request_headers["Last-Event-ID"] = str(last_event_id)
        self.ended = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"EventStream {url}")
        self._thread.start()
        if wait_connected and not self._connected.wait(connect_timeout):
            self.close()
            raise TimeoutError(f"no response headers from {url} within {connect_timeout} s")
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        # http.client rather than requests: we open the socket ourselves, so close() can
        # hang up at any moment, even before the server has sent its headers (flask-sse
        # sends none until its first event).
        parts = urlsplit(self.url)
        connection = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=10)
        try:
            connection.connect()
            self._socket = connection.sock
            if self._closing:
                return
            connection.sock.settimeout(None)  # a quiet stream is not an error
            path = parts.path or "/"
            if parts.query:
                path += "?" + parts.query
            connection.request("GET", path, headers=self._request_headers)
            response = connection.getresponse()
            self.status = response.status
            # Header names are case-insensitive (uvicorn sends them in lower case).
            self.headers = CaseInsensitiveDict(response.getheaders())
            self._connected.set()
            while True:
                chunk = response.read1(65536)  # whatever has arrived; de-chunked
                if not chunk:
                    break
                with self._changed:
                    self.raw += chunk
                    self._take(self.decoder.feed(chunk))
                    self._changed.notify_all()
        except BaseException as exc:  # a closed socket ends up here too
            if not self._closing:
                self.error = exc
        finally:
            connection.close()
            self._connected.set()
            self.ended.set()
            with self._changed:
                self._changed.notify_all()

    def _take(self, events: list[Event]) -> None:
        for event in events:
            if event.type == "connected" and self.opening is None and not self.events:
                self.opening = event  # the stream's first block: the reader's position, not a message
            else:
                self.events.append(event)

    def wait_for(self, count: int = 1, timeout: float = 5.0, type: str | None = None) -> list[Event]:
        """Wait until ``count`` events (of ``type``, if given) have arrived; return them.

        Raises TimeoutError with what did arrive, so a failing cell says why.
        """
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                matching = [e for e in self.events if type is None or e.type == type]
                if len(matching) >= count:
                    return matching[:count]
                left = deadline - time.monotonic()
                if left <= 0 or self.ended.is_set():
                    raise TimeoutError(
                        f"expected {count} event(s){f' of type {type!r}' if type else ''} from {self.url}, "
                        f"got {len(matching)}: {matching!r}")
                self._changed.wait(left)

    def wait_for_raw(self, needle: bytes, timeout: float = 5.0) -> bytes:
        """Wait until ``needle`` appears in the raw bytes (e.g. a keep-alive comment)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while needle not in self.raw:
                left = deadline - time.monotonic()
                if left <= 0 or self.ended.is_set():
                    raise TimeoutError(f"{needle!r} did not arrive from {self.url}; got {bytes(self.raw)[-300:]!r}")
                self._changed.wait(left)
            return bytes(self.raw)

    @property
    def messages(self) -> list[Any]:
        """The JSON ``message`` of every ``notify`` event so far."""
        return [e.json().get("message") for e in list(self.events) if e.type == "notify"]

    def __repr__(self) -> str:
        return f"<EventStream {self.url} events={len(self.events)}>"
