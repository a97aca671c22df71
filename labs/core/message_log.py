"""The log behind the ``polling`` and ``long_polling`` labs: pages of JSON records.

Both labs answer the same question, "what happened after cursor N?".  The log itself,
ids, bounded history and the catch-up rule, is :mod:`labs.core.event_log`, the same
as the SSE labs'; this module turns its answers into what a poller reads.  A client keeps
the id of the last message it saw (its *cursor*) and asks for everything after it.
Unlike the sketches in the course notes (a "has update" flag, one shared queue), a log
read does not consume anything: every client reads every message, however fast or slow
it polls, and a slow client can never make a fast one miss a message.

One answer (:class:`Page`) carries at most ``batch`` messages (``more`` says there are
others) and, when catch-up cannot be complete, the event log's gap: ``missed`` messages
fell out of the history (a client is told, not silently skipped), or the ids restarted
(a cursor ahead of the log: the client gets everything kept, never a 400).

:class:`MemoryLog` keeps it in this process, :class:`RedisLog` in Redis for every worker
process; :func:`create_log` picks one from the app's config.  The request counters
``GET /stats`` shows live here too (:class:`MemoryCounters`, :class:`RedisCounters`).
"""

from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from labs.core.event_log import (
    DEFAULT_HISTORY,
    RECHECK_SECONDS,
    EventLog,
    MemoryEventLog,
    RedisEventLog,
    backend_kind,
    create_event_log,
)

# One answer carries at most this many messages (``more`` says there are others): a
# client coming back after a long time must not get a 60 MB answer in one piece.
DEFAULT_BATCH = 100


@dataclass
class Page:
    """One answer to "what happened after ``since``?"."""

    since: int
    messages: list[dict[str, Any]] = field(default_factory=list)
    latest: int = 0  # id of the newest message in the log (0: none yet)
    gap: dict[str, Any] | None = None  # the event log's gap: {"reason": ..., "missed": ...}
    more: bool = False  # more messages wait after this batch: ask again at once
    epoch: str = ""  # which life of the log this is (new after a restart): part of an ETag

    @property
    def missed(self) -> int | None:
        """Messages after ``since`` that are gone (None: unknown, the ids restarted)."""
        return self.gap["missed"] if self.gap else 0

    @property
    def cursor(self) -> int:
        """What the client sends as ``since`` next time."""
        if self.messages:
            return self.messages[-1]["id"]
        # Nothing returned: stay put, or (the log started again) continue from its newest.
        return self.latest if self.gap else self.since

    @property
    def empty(self) -> bool:
        return not self.messages and self.gap is None

    def body(self) -> dict[str, Any]:
        return {"messages": self.messages, "cursor": self.cursor, "more": self.more, "missed": self.missed,
                "gap": self.gap}


def _now() -> float:
    # Milliseconds are plenty for a delivery delay and keep the JSON short.
    return round(time.time(), 3)


class MessageLog:
    """Notifications with a timestamp, read in pages, on an :class:`EventLog`."""

    def __init__(self, events: EventLog, batch: int = DEFAULT_BATCH) -> None:
        if batch < 1:
            raise ValueError("batch must be at least 1")
        self.events = events
        self.batch = batch

    @property
    def history(self) -> int:
        return self.events.history

    def append(self, message: str) -> dict[str, Any]:
        """Publish ``message``; its record is ``{"id": ..., "message": ..., "time": ...}``."""
        return self.events.append("notify", {"message": message, "time": _now()}).record()

    def latest(self) -> int:
        return self.events.latest()

    def read(self, since: int) -> Page:
        """Everything after cursor ``since`` (a batch of it), at once."""
        replay = self.events.catch_up(since, self.batch)
        messages = [message.record() for message in replay.messages]
        more = bool(messages) and messages[-1]["id"] < replay.position
        return Page(since, messages, replay.position, replay.gap, more, replay.epoch)

    def wait(self, since: int, timeout: float) -> Page:
        """Answer when there is news after ``since``, or at ``timeout`` (then an empty page)."""
        self.events.wait(since, timeout)
        return self.read(since)

    def close(self) -> None:
        self.events.close()


class MemoryLog(MessageLog):
    """A message log in this process's memory."""

    def __init__(self, history: int = DEFAULT_HISTORY, batch: int = DEFAULT_BATCH) -> None:
        super().__init__(MemoryEventLog(history), batch)


class RedisLog(MessageLog):
    """A message log in Redis, shared by every worker process."""

    def __init__(self, url: str, key: str, history: int = DEFAULT_HISTORY, batch: int = DEFAULT_BATCH,
                 recheck: float = RECHECK_SECONDS) -> None:
        super().__init__(RedisEventLog(url, key, history, recheck), batch)


class MemoryCounters:
    """Request counters and "who polled recently", for ``GET /stats``."""

    MAX_CLIENTS = 10_000  # a bound on the memory a flood of made-up client ids can take

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: collections.Counter[str] = collections.Counter()
        self._seen: dict[str, float] = {}

    def incr(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self._counts[name] += amount

    def seen(self, client: str) -> None:
        with self._lock:
            self._seen.pop(client, None)
            self._seen[client] = time.monotonic()  # re-inserted: the dict stays oldest-first
            while len(self._seen) > self.MAX_CLIENTS:
                del self._seen[next(iter(self._seen))]

    def count_request(self, client: str, outcome: str) -> None:
        """One answered request: who asked, and how it was answered."""
        self.seen(client)
        with self._lock:
            self._counts["requests"] += 1
            self._counts[outcome] += 1

    def snapshot(self, window: float) -> dict[str, int]:
        cutoff = time.monotonic() - window
        with self._lock:
            for client in [c for c, t in self._seen.items() if t < cutoff]:
                del self._seen[client]
            return {**self._counts, "clients": len(self._seen)}


class RedisCounters:
    """The same counters in Redis, so ``/stats`` counts every worker process."""

    def __init__(self, url: str, key: str) -> None:
        import redis

        self.redis = redis.Redis.from_url(url, decode_responses=True)
        self.key = key

    def incr(self, name: str, amount: int = 1) -> None:
        self.redis.hincrby(self.key + ":counts", name, amount)

    def seen(self, client: str) -> None:
        self.redis.zadd(self.key + ":pollers", {client: time.time()})

    def count_request(self, client: str, outcome: str) -> None:
        # One round trip for the three updates: this runs on every poll.
        pipe = self.redis.pipeline(transaction=False)
        pipe.zadd(self.key + ":pollers", {client: time.time()})
        pipe.hincrby(self.key + ":counts", "requests", 1)
        pipe.hincrby(self.key + ":counts", outcome, 1)
        pipe.execute()

    def snapshot(self, window: float) -> dict[str, int]:
        pipe = self.redis.pipeline(transaction=True)
        pipe.zremrangebyscore(self.key + ":pollers", "-inf", time.time() - window)
        pipe.zcard(self.key + ":pollers")
        pipe.hgetall(self.key + ":counts")
        _, clients, counts = pipe.execute()
        return {**{k: int(v) for k, v in counts.items()}, "clients": int(clients)}


def create_log(config: dict[str, Any], lab: str) -> MessageLog:
    """The log the app's config asks for (see :func:`~labs.core.event_log.create_event_log`):
    in Redis when the app has ``REDIS_URL`` (several workers), else in memory."""
    return MessageLog(create_event_log(config, f"sse-kit:{lab}"), int(config.get("BATCH", DEFAULT_BATCH)))


def create_counters(config: dict[str, Any], lab: str) -> MemoryCounters | RedisCounters:
    """Counters where the log is: in Redis when the log is (every process counts), else here."""
    if backend_kind(config) == "redis":
        return RedisCounters(config["REDIS_URL"], config.get("REDIS_KEY", f"sse-kit:{lab}") + ":stats")
    return MemoryCounters()
