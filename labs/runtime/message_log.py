"""The message log behind the ``polling`` and ``long_polling`` labs.

Both labs answer the same question, "what happened after cursor N?", so they share one
log.  Every published message gets the next integer id (1, 2, 3, ...); a client keeps
the id of the last message it saw (its *cursor*) and asks for everything after it.
Unlike the sketches in the course notes (a "has update" flag, one shared queue), a log
read does not consume anything: every client reads every message, however fast or slow
it polls, and a slow client can never make a fast one miss a message.

The log keeps the last ``history`` messages.  A cursor older than that is not an error:
the answer says how many messages fell out of the history (``missed``) so a client can
tell the user instead of silently skipping them.

Two implementations, same interface:

- :class:`MemoryLog`: in this process (one server process: the development server, or
  gunicorn with one worker).  ``threading.Condition`` wakes waiters; gevent's
  monkey-patching turns it into a greenlet-friendly condition, so it works there too.
- :class:`RedisLog`: shared by every worker process through Redis (a sorted set for the
  log, pub/sub for wake-ups).  Only Redis 6.2 commands are used.

:func:`create_log` picks one from the app's config (``REDIS_URL`` set or not).
"""

from __future__ import annotations

import collections
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

DEFAULT_HISTORY = 1000
# One answer carries at most this many messages (``more`` says there are others): a
# client coming back after a long time must not get a 60 MB answer in one piece.
DEFAULT_BATCH = 100


class CursorAhead(ValueError):
    """The client's cursor is after the newest message: the log was reset (a restart)."""

    def __init__(self, cursor: int, latest: int) -> None:
        super().__init__(f"cursor {cursor} is ahead of the newest message {latest}")
        self.cursor = cursor
        self.latest = latest


@dataclass
class Page:
    """One answer to "what happened after ``since``?"."""

    since: int
    messages: list[dict[str, Any]] = field(default_factory=list)
    latest: int = 0  # id of the newest message in the log (0: none yet)
    missed: int = 0  # messages after ``since`` that fell out of the history
    more: bool = False  # more messages wait after this batch: ask again at once
    epoch: str = ""  # which life of the log this is (new after a restart): part of an ETag

    @property
    def cursor(self) -> int:
        """What the client sends as ``since`` next time."""
        if self.messages:
            return self.messages[-1]["id"]
        # Nothing returned: stay put, or skip over messages that fell out of the history.
        return self.latest if self.missed else self.since

    @property
    def empty(self) -> bool:
        return not self.messages and not self.missed

    def body(self) -> dict[str, Any]:
        return {"messages": self.messages, "cursor": self.cursor, "more": self.more, "missed": self.missed}


def _record(ident: int, message: str, stamp: float) -> dict[str, Any]:
    return {"id": ident, "message": message, "time": stamp}


def _now() -> float:
    # Milliseconds are plenty for a delivery delay and keep the JSON short.
    return round(time.time(), 3)


class MemoryLog:
    """A bounded log in this process's memory."""

    def __init__(self, history: int = DEFAULT_HISTORY, batch: int = DEFAULT_BATCH) -> None:
        self.history = history
        self.batch = batch
        # A new value every time the log starts empty: a server restart that reaches the
        # same ids again must not look "unchanged" to a client holding an old ETag.
        self.epoch = secrets.token_hex(4)
        self._messages: collections.deque[dict[str, Any]] = collections.deque(maxlen=history)
        self._latest = 0
        self._changed = threading.Condition()

    def append(self, message: str) -> dict[str, Any]:
        with self._changed:
            self._latest += 1
            record = _record(self._latest, message, _now())
            self._messages.append(record)  # the deque drops the oldest beyond `history`
            # notify_all, not notify: every waiting client must see the message, not one.
            self._changed.notify_all()
        return record

    def latest(self) -> int:
        with self._changed:
            return self._latest

    def read(self, since: int) -> Page:
        with self._changed:
            return self._read_locked(since)

    def _read_locked(self, since: int) -> Page:
        latest = self._latest
        if since > latest:
            raise CursorAhead(since, latest)
        oldest = self._messages[0]["id"] if self._messages else latest + 1
        missed = max(0, oldest - 1 - since)
        start = max(since + 1, oldest) - oldest  # index of the first message to send
        chosen = [self._messages[i] for i in range(start, min(len(self._messages), start + self.batch))]
        more = bool(chosen) and chosen[-1]["id"] < latest
        return Page(since=since, messages=[dict(m) for m in chosen], latest=latest, missed=missed, more=more,
                    epoch=self.epoch)

    def wait(self, since: int, timeout: float) -> Page:
        """Answer at once if there is news after ``since``, else when some arrives or at ``timeout``."""
        with self._changed:
            if since > self._latest:
                raise CursorAhead(since, self._latest)
            # wait_for re-checks the predicate after every wake-up, so a spurious wake-up
            # or a message for someone else's cursor never ends the wait early.
            self._changed.wait_for(lambda: self._latest > since, timeout)
            return self._read_locked(since)

    def close(self) -> None:
        pass


# Publishing is one atomic step in Redis: take the next id, add the message, trim the
# history, announce the new id.  Two publishers in two processes can never store ids
# out of order, and a waiter woken by the announcement always finds the message.
_APPEND_SCRIPT = """
local id = redis.call('INCR', KEYS[1])
redis.call('ZADD', KEYS[2], id, id .. '|' .. ARGV[1])
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -(tonumber(ARGV[2]) + 1))
redis.call('SET', KEYS[3], ARGV[3], 'NX')
redis.call('PUBLISH', ARGV[4], id)
return id
"""

# How often a waiter looks at Redis even without a wake-up: a safety net for a pub/sub
# connection that dropped and came back (a message announced meanwhile was not heard).
RECHECK_SECONDS = 5.0


class RedisLog:
    """The same log in Redis, shared by every worker process.

    Keys (prefix ``key``): ``:seq`` the last id, ``:log`` a sorted set scored by id,
    ``:epoch`` a random value set when the log starts; channel ``:news`` carries each new id.
    """

    def __init__(self, url: str, key: str, history: int = DEFAULT_HISTORY, batch: int = DEFAULT_BATCH,
                 recheck: float = RECHECK_SECONDS) -> None:
        import redis

        self.redis = redis.Redis.from_url(url, decode_responses=True)
        self.key = key
        self.history = history
        self.batch = batch
        self.channel = key + ":news"
        self.recheck = recheck
        self._append = self.redis.register_script(_APPEND_SCRIPT)
        # Wake-ups: one subscriber thread per process bumps `_generation` for every
        # announcement; waiters sleep on `_changed` until the generation moves.
        self._changed = threading.Condition()
        self._generation = 0
        self._listener: threading.Thread | None = None
        self._pubsub = None
        self._closed = False

    @property
    def epoch(self) -> str:
        return self.redis.get(self.key + ":epoch") or "empty"

    def append(self, message: str) -> dict[str, Any]:
        stamp = _now()
        payload = json.dumps({"message": message, "time": stamp}, ensure_ascii=False)
        ident = int(self._append(keys=[self.key + ":seq", self.key + ":log", self.key + ":epoch"],
                                 args=[payload, self.history, secrets.token_hex(4), self.channel]))
        return _record(ident, message, stamp)

    def latest(self) -> int:
        return int(self.redis.get(self.key + ":seq") or 0)

    def read(self, since: int) -> Page:
        # MULTI/EXEC: the newest id, the oldest kept and the batch all come from one
        # moment, so `missed` and `more` agree with the messages sent.
        pipe = self.redis.pipeline(transaction=True)
        pipe.get(self.key + ":seq")
        pipe.zrange(self.key + ":log", 0, 0, withscores=True)
        pipe.zrangebyscore(self.key + ":log", f"({since}", "+inf", start=0, num=self.batch)
        pipe.get(self.key + ":epoch")
        latest_raw, oldest_raw, members, epoch = pipe.execute()
        latest = int(latest_raw or 0)
        if since > latest:
            raise CursorAhead(since, latest)
        oldest = int(oldest_raw[0][1]) if oldest_raw else latest + 1
        messages = []
        for member in members:
            ident, _, payload = member.partition("|")
            data = json.loads(payload)
            messages.append(_record(int(ident), data["message"], data["time"]))
        more = bool(messages) and messages[-1]["id"] < latest
        return Page(since=since, messages=messages, latest=latest, missed=max(0, oldest - 1 - since), more=more,
                    epoch=epoch or "empty")

    def wait(self, since: int, timeout: float) -> Page:
        self._ensure_listener()
        deadline = time.monotonic() + timeout
        while True:
            # Note the generation *before* reading: an announcement that lands between the
            # read and the sleep moves the generation, so the sleep ends at once.
            with self._changed:
                generation = self._generation
            page = self.read(since)
            left = deadline - time.monotonic()
            if not page.empty or left <= 0:
                return page
            with self._changed:
                self._changed.wait_for(lambda: self._generation != generation or self._closed,
                                       min(left, self.recheck))
            if self._closed:
                return self.read(since)

    def _ensure_listener(self) -> None:
        with self._changed:
            if self._listener is None:
                self._listener = threading.Thread(target=self._listen, daemon=True, name="message-log-news")
                self._listener.start()

    def _bump(self) -> None:
        with self._changed:
            self._generation += 1
            self._changed.notify_all()

    def _listen(self) -> None:
        import redis

        while not self._closed:
            try:
                self._pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
                self._pubsub.subscribe(self.channel)
                # (Re)subscribed: anything announced while we were away was not heard.
                self._bump()
                while not self._closed:
                    if self._pubsub.get_message(timeout=1.0) is not None:
                        self._bump()
            except (redis.RedisError, OSError, ValueError, AttributeError):
                if self._closed:
                    return
                time.sleep(0.5)  # Redis is restarting: try again shortly
            finally:
                try:
                    self._pubsub.close()
                except Exception:  # noqa: BLE001 (closing a broken connection)
                    pass

    def close(self) -> None:
        self._closed = True
        self._bump()


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


def create_log(config: dict[str, Any], lab: str) -> MemoryLog | RedisLog:
    """A RedisLog when the app has ``REDIS_URL`` (several workers), else a MemoryLog."""
    history = int(config.get("HISTORY", DEFAULT_HISTORY))
    batch = int(config.get("BATCH", DEFAULT_BATCH))
    if history < 1 or batch < 1:
        raise ValueError("HISTORY and BATCH must be at least 1")
    if config.get("REDIS_URL"):
        return RedisLog(config["REDIS_URL"], config.get("LOG_KEY", f"sse-kit:{lab}"), history, batch,
                        float(config.get("RECHECK_SECONDS", RECHECK_SECONDS)))
    return MemoryLog(history, batch)


def create_counters(config: dict[str, Any], lab: str) -> MemoryCounters | RedisCounters:
    if config.get("REDIS_URL"):
        return RedisCounters(config["REDIS_URL"], config.get("LOG_KEY", f"sse-kit:{lab}") + ":stats")
    return MemoryCounters()
