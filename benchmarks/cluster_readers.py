"""Hundreds of EventSource-like readers in one process, for a cluster behind a load balancer.

Each :class:`Reader` does what a browser's ``EventSource`` does with a stream: ``GET`` it,
decode it with the kit's browser-exact decoder (:class:`labs.core.sse.EventStreamDecoder`),
and when the connection ends, wait and reconnect with ``Last-Event-ID``.  How long it waits
is its :class:`Reconnect` policy:

- ``Reconnect("server")``: the ``retry:`` the stream last sent (3 s if it never sent one),
  exactly as ``EventSource`` does.  The server decides: one fixed value for everyone is a
  synchronized storm; a value per reader (jitter) spreads them;
- ``Reconnect("backoff")``: the client decides, ignoring ``retry:``: exponential back-off
  with "full jitter" (a random wait between 0 and ``base_s`` x 2^failures, at most
  ``cap_s``), what a fetch-based client or a mobile app would do.

A :class:`ReaderPool` runs N of them on an asyncio loop in a background thread, so a
notebook cell or a test goes on while they read; it counts what every reader received
(missed and repeated ids), when each reconnected, and which node (nginx's ``X-Upstream``)
served each connection.  Every wait is bounded; ``close()`` ends them all.
"""

from __future__ import annotations

import asyncio
import collections
import math
import random
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from benchmarks.minihttp import HttpError, ResponseParser, request_bytes
from labs.core.sse import EventStreamDecoder
from labs.harness.processes import wait_until

BROWSER_RETRY_MS = 3000  # what EventSource waits when the server never sent retry: (Chromium, Firefox)
CONNECT_TIMEOUT = 10.0
CONNECT_BATCH = 100  # readers opened at once, then a short pause: the listen queue never overflows


@dataclass(frozen=True)
class Reconnect:
    """How long a reader waits before reconnecting; see the module's doc."""

    kind: str = "server"
    base_s: float = 1.0
    cap_s: float = 30.0

    def __post_init__(self) -> None:
        if self.kind not in ("server", "backoff"):
            raise ValueError(f"kind must be 'server' or 'backoff', not {self.kind!r}")

    def delay(self, retry_ms: int, failures: int, rng: random.Random) -> float:
        """Seconds to wait, given the stream's last ``retry:`` and the failed attempts in a row."""
        if self.kind == "server":
            return retry_ms / 1000
        return rng.uniform(0, min(self.cap_s, self.base_s * 2 ** min(failures, 30)))


@dataclass
class Reader:
    """One reader; its lists grow as it reads (see :class:`ReaderPool` for the totals)."""

    host: str
    port: int
    path: str
    reconnect: Reconnect
    rng: random.Random
    ids: list[int] = field(default_factory=list)  # every notify event's id, in arrival order
    connects: list[float] = field(default_factory=list)  # time.time() of each GET sent
    upstreams: list[str] = field(default_factory=list)  # X-Upstream of each 200 answer
    goodbyes: list[int] = field(default_factory=list)  # the retry (ms) of each goodbye event
    retry_ms: int = BROWSER_RETRY_MS
    last_event_id: str = ""
    connected: bool = False
    failures: int = 0
    errors: collections.Counter = field(default_factory=collections.Counter)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            if await self._one_connection():
                self.failures = 0
            else:
                self.failures += 1
            wait = self.reconnect.delay(self.retry_ms, self.failures, self.rng)
            try:
                await asyncio.wait_for(stop.wait(), wait)
            except TimeoutError:
                pass

    async def _one_connection(self) -> bool:
        """One ``GET``, read to its end.  True if the server answered 200."""
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(self.host, self.port), CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as exc:
            self.errors[type(exc).__name__] += 1
            return False
        self.connects.append(time.time())
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
        if self.last_event_id:
            headers["Last-Event-ID"] = self.last_event_id
        writer.write(request_bytes("GET", self.path, f"{self.host}:{self.port}", headers))
        parser, decoder = ResponseParser(), EventStreamDecoder()
        answered = False
        try:
            while not parser.done:
                data = await reader.read(65536)
                if not data:
                    break
                head, chunks, _done = parser.feed(data)
                if head is not None:
                    if head.status != 200:
                        self.errors[f"HTTP {head.status}"] += 1
                        break
                    answered = self.connected = True
                    self.upstreams.append(head.headers.get("x-upstream", ""))
                for chunk in chunks:
                    self._read_events(decoder, chunk)
        except (OSError, HttpError) as exc:
            self.errors[type(exc).__name__] += 1
        finally:
            self.connected = False
            writer.close()
        return answered

    def _read_events(self, decoder: EventStreamDecoder, chunk: bytes) -> None:
        for event in decoder.feed(chunk):
            if event.type == "notify":
                self.ids.append(int(event.id))
            elif event.type == "goodbye":
                self.goodbyes.append(decoder.retry or 0)
        # What EventSource remembers for its next connection: the last id and retry seen.
        if decoder.last_event_id:
            self.last_event_id = decoder.last_event_id
        if decoder.retry is not None:
            self.retry_ms = decoder.retry


class ReaderPool:
    """``count`` readers of ``url`` (``/stream`` by default) on a loop of their own.

    ::

        with ReaderPool(cluster.url, 200, Reconnect("server")) as pool:   # all connected
            ...publish, kill a node...
            pool.wait_for(ids)
            pool.tally(ids)   # {"missed": 0, "repeated": 0, ...}
    """

    def __init__(self, url: str, count: int, reconnect: Reconnect | None = None, *, path: str = "/stream",
                 seed: int | None = None) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname, parts.port or 80
        self.count = count
        self.reconnect = reconnect or Reconnect()
        self.path = path
        self.rng = random.Random(seed)
        self.readers: list[Reader] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._tasks: list[asyncio.Task] = []
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    # -- life cycle -------------------------------------------------------------
    def start(self, timeout: float = 30.0) -> ReaderPool:
        """Open every reader, and wait until each has its stream (a 200 answer)."""
        self._thread = threading.Thread(target=self._run_loop, daemon=True, name="reader-pool")
        self._thread.start()
        if not self._ready.wait(timeout) or not self.wait_connected(timeout=timeout):
            connected = self.connected()
            self.close()
            raise TimeoutError(f"only {connected} of {self.count} readers got their stream within {timeout:g} s")
        return self

    def _run_loop(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        for i in range(self.count):
            reader = Reader(self.host, self.port, self.path, self.reconnect, random.Random(self.rng.random()))
            self.readers.append(reader)
            self._tasks.append(asyncio.create_task(reader.run(self._stop)))
            if i % CONNECT_BATCH == CONNECT_BATCH - 1:
                await asyncio.sleep(0.05)
        self._ready.set()
        await self._stop.wait()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def close(self) -> None:
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            try:
                self._loop.call_soon_threadsafe(self._stop.set)
            except RuntimeError:  # the loop has already finished
                pass
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> ReaderPool:
        return self if self._thread is not None else self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    # -- what they saw ------------------------------------------------------------
    def connected(self) -> int:
        """Readers that hold an answered stream right now."""
        return sum(reader.connected for reader in self.readers)

    def wait_connected(self, count: int | None = None, timeout: float = 30.0) -> bool:
        """Wait until ``count`` readers (default: all) hold a stream."""
        count = self.count if count is None else count
        return wait_until(lambda: self.connected() >= count, timeout)

    def wait_for(self, ids: Iterable[int], timeout: float = 10.0) -> bool:
        """Wait until every reader has received every id in ``ids``."""
        wanted = set(ids)
        return wait_until(lambda: all(wanted <= set(reader.ids) for reader in self.readers), timeout)

    def reconnect_times(self) -> list[float]:
        """``time.time()`` of every reconnect (each reader's GETs after its first), sorted."""
        return sorted(t for reader in self.readers for t in reader.connects[1:])

    def tally(self, published: Iterable[int]) -> dict[str, int]:
        """Over every reader: ids it never got, ids it got twice, reconnects, readers that moved node."""
        wanted = set(published)
        return {
            "readers": len(self.readers),
            "missed": sum(len(wanted - set(reader.ids)) for reader in self.readers),
            "repeated": sum(len(reader.ids) - len(set(reader.ids)) for reader in self.readers),
            "reconnects": sum(max(0, len(reader.connects) - 1) for reader in self.readers),
            "moved": sum(len(set(reader.upstreams)) > 1 for reader in self.readers),
            "goodbyes": sum(len(reader.goodbyes) for reader in self.readers),
            "errors": sum(sum(reader.errors.values()) for reader in self.readers),
        }


def per_second(times: Iterable[float], origin: float, seconds: float, width: float = 0.5) -> list[float]:
    """Events per second in bins of ``width`` s from ``origin``, for ``seconds`` s (a plot's y)."""
    bins = [0] * max(1, math.ceil(seconds / width))
    for t in times:
        slot = int((t - origin) // width)
        if 0 <= slot < len(bins):
            bins[slot] += 1
    return [count / width for count in bins]
