"""A reader of a resumable generation (``GET /generations/<id>/stream``) that comes back.

It does what a browser's ``EventSource`` does, so tests, benchmarks and notebooks can cut it
on purpose and count what it got::

    reader = GenerationReader(lab.url, gen_id)   # reads in a background thread
    reader.cut()                                 # the connection drops; it reconnects with Last-Event-ID
    reader.cut(pause=1.0)                        # ... after a second (a reload)
    reader.wait(10)                              # until [DONE], event: error, or it gives up
    reader.tally(expected_tokens)                # {"missing": 0, "repeated": 0, ...}

Every token event is kept as it arrived, duplicates included, so a server that repeats or
skips one is seen.  Each connection is noted: when it began, when its first event came, and
which node answered (nginx's ``X-Upstream`` header), so a resume's latency can be measured.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from labs.core.sse import EventStreamDecoder

DONE = "[DONE]"


@dataclass
class Connection:
    began: float                      # time.monotonic() when the connect started
    after: int                        # the Last-Event-ID it sent (0: none)
    status: int | None = None
    upstream: str | None = None       # nginx's X-Upstream: the node that served it
    first_event: float | None = None  # when its first token or last event arrived
    tokens: int = 0

    @property
    def latency(self) -> float | None:
        return None if self.first_event is None else self.first_event - self.began


@dataclass
class GenerationReader:
    """Read generation ``gen_id`` at ``url`` (a lab or nginx), reconnecting until it ends."""

    url: str
    gen_id: str
    after: int = 0                # start after this token (0: from the beginning)
    reconnect_delay: float = 0.05  # the wait before a reconnect after a drop the reader did not ask for
    give_up: float = 20.0         # stop trying after this many seconds without a connection
    received: list[tuple[int, str]] = field(default_factory=list)  # (id, token), as they came
    connections: list[Connection] = field(default_factory=list)
    end: str | None = None        # "done", "stopped" (event: stopped, then [DONE]), "error", "gave up: ..."
    stopped: bool = False         # an event: stopped arrived
    error: dict | None = None     # the data of an event: error

    def __post_init__(self) -> None:
        self.last = self.after
        self._lock = threading.Condition()
        self._socket: socket.socket | None = None
        self._pause = 0.0
        self._closing = False
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"GenerationReader {self.gen_id}")
        self._thread.start()

    # ------------------------------------------------------------------ control
    def cut(self, pause: float = 0.0) -> None:
        """Drop the connection now (a network cut, or a reload when ``pause`` > 0); it resumes by itself."""
        with self._lock:
            self._pause = pause
            sock = self._socket
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        with self._lock:
            self._closing = True
            self._lock.notify_all()
        self.cut()
        self._thread.join(timeout=5)

    def wait(self, timeout: float) -> bool:
        """True once the stream has ended (``end`` says how)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self.end is None and time.monotonic() < deadline:
                self._lock.wait(max(0.0, deadline - time.monotonic()))
            return self.end is not None

    def wait_tokens(self, count: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.received) < count and self.end is None and time.monotonic() < deadline:
                self._lock.wait(max(0.0, deadline - time.monotonic()))
            return len(self.received) >= count

    def tally(self, expected: list[str] | int) -> dict:
        """What arrived against what the generation made (its tokens, or their number)."""
        count = expected if isinstance(expected, int) else len(expected)
        ids = [ident for ident, _ in self.received]
        got = set(ids)
        tally = {"received": len(ids), "missing": len(set(range(1, count + 1)) - got),
                 "repeated": len(ids) - len(got), "out_of_order": int(ids != sorted(ids)),
                 "unexpected": len(got - set(range(1, count + 1))), "connections": len(self.connections)}
        if not isinstance(expected, int):
            tally["wrong_text"] = sum(token != expected[ident - 1] for ident, token in self.received
                                      if 1 <= ident <= count)
        return tally

    @property
    def text(self) -> str:
        return "".join(token for _, token in self.received)

    def resume_latencies(self) -> list[float]:
        """Seconds from each reconnect to its first event (the first connection left out)."""
        return [c.latency for c in self.connections[1:] if c.latency is not None]

    # ------------------------------------------------------------------ the thread
    def _run(self) -> None:
        failing_since = None
        while not self._closing and self.end is None:
            with self._lock:
                pause, self._pause = self._pause, 0.0
            if pause:
                time.sleep(pause)
            try:
                self._read_once()
                failing_since = None
            except (OSError, http.client.HTTPException) as exc:
                failing_since = failing_since or time.monotonic()
                if time.monotonic() - failing_since > self.give_up:
                    self._finish(f"gave up: {exc}")
            if self.end is None and not self._closing:
                time.sleep(self.reconnect_delay)
        with self._lock:
            self._lock.notify_all()

    def _read_once(self) -> None:
        parts = urlsplit(self.url)
        connection = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=10)
        record = Connection(time.monotonic(), self.last)
        self.connections.append(record)
        try:
            connection.connect()
            with self._lock:
                self._socket = connection.sock
            connection.sock.settimeout(None)
            headers = {"Accept": "text/event-stream"}
            if self.last:
                headers["Last-Event-ID"] = str(self.last)
            connection.request("GET", f"{parts.path.rstrip('/')}/generations/{self.gen_id}/stream", headers=headers)
            response = connection.getresponse()
            record.status, record.upstream = response.status, response.getheader("X-Upstream")
            if response.status != 200:
                body = response.read(2000)
                if response.status in (502, 503, 504):  # nginx with no node, or one that is starting
                    raise OSError(f"{response.status} from {self.url}")
                self._finish(f"refused: {response.status} {body[:200]!r}")
                return
            decoder = EventStreamDecoder()
            while self.end is None:
                chunk = response.read1(65536)
                if not chunk:
                    return
                for event in decoder.feed(chunk):
                    self._take(event, record)
        finally:
            with self._lock:
                self._socket = None
            connection.close()

    def _take(self, event, record: Connection) -> None:
        if record.first_event is None:
            record.first_event = time.monotonic()
        with self._lock:
            if event.type == "message" and event.data == DONE:
                self.end = "stopped" if self.stopped else "done"
            elif event.type == "stopped":
                self.stopped = True  # [DONE] follows
            elif event.type == "error":
                self.error = json.loads(event.data)
                self.end = "error"
            elif event.type == "message":
                self.last = int(event.id)
                self.received.append((self.last, json.loads(event.data)["token"]))
                record.tokens += 1
            self._lock.notify_all()

    def _finish(self, how: str) -> None:
        with self._lock:
            self.end = self.end or how
            self._lock.notify_all()
