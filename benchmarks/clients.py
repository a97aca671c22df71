"""The benchmark's clients: one asyncio task each, counting requests and bytes.

Every client has a :class:`~benchmarks.workload.Tally` and the same counters, so the
harness adds them up the same way whatever the transport:

- ``requests``: HTTP requests sent (a stream or a WebSocket is one, plus reconnects);
- ``bytes_in`` / ``bytes_out``: bytes read from / written to the socket, HTTP heads and
  chunk framing included (TCP/IP headers are not: those the kernel adds);
- ``errors``: failed requests or connections, each retried after a pause.

Clients never block the event loop and every wait is bounded, so the harness can stop
them all at once by setting the ``stop`` event and cancelling their tasks.
"""

from __future__ import annotations

import asyncio
import collections
import json
import random
import time

from benchmarks.minihttp import Connection, HttpError, request_bytes
from benchmarks.workload import Tally

ERROR_PAUSE = 0.2  # after a failed request: a browser would back off too


async def pause(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep ``seconds`` unless told to stop first; True if told to stop."""
    if seconds > 0:
        try:
            await asyncio.wait_for(stop.wait(), seconds)
        except TimeoutError:
            pass
    return stop.is_set()


class Client:
    def __init__(self, host: str, port: int, tally: Tally) -> None:
        self.host, self.port, self.tally = host, port, tally
        self.requests = 0
        self.errors = 0
        self.error_kinds: collections.Counter[str] = collections.Counter()
        self.reconnects = 0
        self._conns: list[Connection] = []

    def connection(self) -> Connection:
        conn = Connection(self.host, self.port)
        self._conns.append(conn)
        return conn

    @property
    def bytes_in(self) -> int:
        return sum(c.bytes_in for c in self._conns)

    @property
    def bytes_out(self) -> int:
        return sum(c.bytes_out for c in self._conns)

    def counters(self) -> tuple[int, int, int]:
        return self.requests, self.bytes_in, self.bytes_out

    def failed(self, why: str) -> None:
        self.errors += 1
        self.error_kinds[why] += 1

    def progress(self) -> tuple[int, int]:
        """(warm-ups, measured messages) received so far: the harness waits on these."""
        return self.tally.warm, self.tally.delivered

    def finish(self) -> None:
        """After the run: parse whatever was recorded but not parsed yet into the tally."""

    async def run(self, stop: asyncio.Event) -> None:
        raise NotImplementedError

    def close(self) -> None:
        for conn in self._conns:
            conn.close()


def message_text(item: object) -> object:
    """A polling lab's list item: the message string, or an object holding it."""
    if isinstance(item, dict):
        return item.get("message")
    return item


class PollClient(Client):
    """``GET /updates?since=CURSOR`` on one keep-alive connection.

    Short polling (``interval`` > 0) asks on a fixed schedule with a random phase, as
    browsers opened at different moments would, and sends ``If-None-Match`` so an
    unchanged answer is a body-less 304.  Long polling (``hold`` > 0) asks again as soon
    as an answer arrives, with ``&timeout=hold``.
    """

    def __init__(self, host: str, port: int, tally: Tally, *, interval: float = 0.0, hold: float = 0.0) -> None:
        super().__init__(host, port, tally)
        self.interval, self.hold = interval, hold
        self.cursor: object = 0
        self.etag: str | None = None

    def _request(self) -> bytes:
        path = f"/updates?since={self.cursor}"
        if self.hold:
            path += f"&timeout={self.hold:g}"
        headers = {"Accept": "application/json"}
        if self.etag:
            headers["If-None-Match"] = self.etag
        return request_bytes("GET", path, f"{self.host}:{self.port}", headers)

    async def run(self, stop: asyncio.Event) -> None:
        conn = self.connection()
        loop = asyncio.get_running_loop()
        next_at = loop.time() + random.uniform(0, self.interval)
        while not stop.is_set():
            if self.interval:
                if await pause(stop, next_at - loop.time()):
                    return
                # A late poll does not make the next ones come sooner (no catch-up burst).
                next_at = max(next_at + self.interval, loop.time())
            self.requests += 1
            try:
                head, body = await conn.exchange(self._request())
            except (OSError, HttpError) as exc:
                self.failed(type(exc).__name__)
                conn.close()
                await asyncio.sleep(ERROR_PAUSE)
                continue
            now = time.time()
            if head.status == 200:
                data = json.loads(body)
                for item in data.get("messages", []):
                    self.tally.record(message_text(item), now)
                self.cursor = data.get("cursor", self.cursor)
                self.etag = head.headers.get("etag")
                if data.get("more") and self.interval:
                    next_at = loop.time()  # a batched answer: the rest waits, ask again now
            elif head.status != 304:
                self.failed(f"HTTP {head.status}")
                await asyncio.sleep(ERROR_PAUSE)


class Publisher:
    """``POST /send_notification`` over one keep-alive connection (not counted as a client)."""

    def __init__(self, host: str, port: int, path: str = "/send_notification") -> None:
        self.host, self.port, self.path = host, port, path
        self.conn = Connection(host, port)
        self.failures = 0

    async def publish(self, message: str) -> bool:
        body = json.dumps({"message": message}).encode()
        request = request_bytes("POST", self.path, f"{self.host}:{self.port}",
                                {"Content-Type": "application/json"}, body)
        try:
            head, _ = await asyncio.wait_for(self.conn.exchange(request), timeout=10)
        except (TimeoutError, OSError, HttpError):
            self.conn.close()
            self.failures += 1
            return False
        if head.status >= 300:
            self.failures += 1
        return head.status < 300

    def close(self) -> None:
        self.conn.close()
