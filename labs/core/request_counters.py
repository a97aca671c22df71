"""The request counters a polling lab's ``GET /stats`` shows: answers by outcome, and who polled recently.

A polling lab (``polling``, ``long_polling``) keeps one counters object in its state
(:class:`labs.core.polling_routes.PollingLab`), beside its log.  The same two backends as the
log (:mod:`labs.core.event_log`): :class:`MemoryCounters` count this process's requests,
:class:`RedisCounters` every worker process's; :func:`create_counters` picks the one that
matches the log an app's config asks for.
"""

from __future__ import annotations

import collections
import threading
import time
from typing import Any

from labs.core.event_log import backend_kind


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


def create_counters(config: dict[str, Any], lab: str) -> MemoryCounters | RedisCounters:
    """Counters where the log is: in Redis when the log is (every process counts), else here."""
    if backend_kind(config) == "redis":
        return RedisCounters(config["REDIS_URL"], config.get("REDIS_KEY", f"sse-kit:{lab}") + ":stats")
    return MemoryCounters()
