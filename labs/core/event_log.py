"""The one log behind every lab that pushes notifications: ids, a bounded history, catch-up.

``manual_sse`` and ``webhooks`` (SSE streams, through :mod:`labs.core.broker`) and
``polling`` and ``long_polling`` (through :mod:`labs.core.message_log`) all ask a log
the same question: *"what happened after id N?"*.  This module answers it, once:

- **ids**: every appended message gets the next integer, 1, 2, 3 ...;
- **a bounded history**: only the last ``history`` messages are kept;
- **catch-up** (:meth:`EventLog.catch_up`): what a client that last saw id N gets;
- **news**: :meth:`EventLog.subscribe` hands every new message to a callback (the SSE
  fan-out), and :meth:`EventLog.wait` sleeps until there is news (long polling).

The catch-up rule, the same in all four labs
--------------------------------------------

=============================  ==========================================================
the client's id N is ...       it gets
=============================  ==========================================================
within the history             every kept message after N; no gap
older than the history         a gap ``{"reason": "older than the history", "missed": k}``
                               (k messages are gone), then every kept message
**ahead of the newest id**     a gap ``{"reason": "ids restarted", "missed": None}``
                               (how many were lost is unknown), then every kept message
not an id at all (SSE only)    a gap ``{"reason": "unknown id", "missed": None}``, then
                               every kept message
=============================  ==========================================================

An SSE stream sends the gap as ``event: gap`` before the replay; a polling answer carries
it as ``"gap"`` next to the messages (``"missed"`` repeats its count).  A bad ``?since=``
is still a 400: that is a malformed request, not a log that moved.

**An id ahead of the log is never an error.**  It means the log started again: the
server restarted and its memory forgot the ids, or Redis restarted without persistence.
Every client then needs the same thing: what the new log holds, and the news that
something before it may be lost.  A 400 would serve nobody: ``EventSource`` treats any
non-200 answer to a reconnect as final and never tries again (every open page would go
dead at a restart), and a polling client would need an error branch just to learn the
cursor it should have been given.  The cost is small: at most the kept history, in
batches for polling.  The limit: a restart is only noticed while the new log is still
behind the client's id; a memory log that has caught up looks like the old one
(``epoch`` changes, and polling's ETag with it).  The Redis backend keeps its ids across
server restarts, so there the question does not arise.

Two backends, one interface (:func:`create_event_log` picks one from an app's config):

- :class:`MemoryEventLog`: this process only.  A ``threading.Condition`` guards it and
  wakes waiters; under gevent's monkey-patching the same code runs on greenlets.
- :class:`RedisEventLog`: shared by every process.  The id counter is a Redis key, the
  history a capped Redis Stream (``XADD ... MAXLEN``), and one listener thread per
  process reads new entries (``XREAD BLOCK``).  Redis 6.2 commands only.
"""

from __future__ import annotations

import collections
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from labs.core.sse import encode_json_event

DEFAULT_HISTORY = 1000
# The gap reasons: what a client is told when catch-up cannot be complete.
TOO_OLD = "older than the history"
IDS_RESTARTED = "ids restarted"
UNKNOWN_ID = "unknown id"


@dataclass(frozen=True)
class Message:
    """One entry of the log: its id, its event type and its data (a JSON object)."""

    id: int
    data: dict[str, Any]
    event: str = "notify"

    @classmethod
    def make(cls, ident: int, text: str) -> Message:
        """A notification: ``event: notify`` with ``{"message": text}``."""
        return cls(ident, {"message": text})

    @property
    def text(self) -> str | None:
        """A notification's message text (None for other events)."""
        return self.data.get("message") if self.event == "notify" else None

    @cached_property
    def wire(self) -> bytes:
        """The complete event-stream block, encoded once and then written as-is to every
        reader: a thousand readers cost one encoding."""
        return encode_json_event(self.data, event=self.event, id=self.id).encode("utf-8")

    def record(self) -> dict[str, Any]:
        """The message as the polling labs answer it: ``{"id": 4, "message": ..., ...}``."""
        return {"id": self.id, **self.data}


@dataclass
class Window:
    """A consistent look at the log: everything in it comes from one moment."""

    latest: int  # the newest id ever given (0: none yet)
    oldest: int  # the oldest id still kept (latest + 1 when nothing is kept)
    messages: list[Message]  # kept messages after the id asked about, oldest first
    epoch: str = ""  # which life of the log this is (see EventLog.epoch)


@dataclass
class Replay:
    """What a client catching up gets: see the rule in the module docstring."""

    messages: list[Message]
    # The newest id when the log was read: a stream skips live messages at or below it
    # (the replay, or the reader, already has them).
    position: int
    # None, or why the catch-up is not complete: {"reason": ..., "missed": k or None}.
    gap: dict[str, Any] | None = None
    epoch: str = ""


def parse_event_id(value: str | None) -> int | None:
    """The id a reader sent, or None if it is not one of ours (a whole number >= 0)."""
    value = (value or "").strip()
    if not value.isascii() or not value.isdigit() or len(value) > 18:
        return None
    return int(value)


def plan_replay(last: int | None, window: Window) -> Replay:
    """The catch-up rule.  ``last``: the id the client saw last (None: not one of ours).

    ``window`` was read after ``last`` (or from the start, when ``last`` is None or
    ahead of the log), so it holds the messages to send.
    """
    if last is None:
        gap = {"reason": UNKNOWN_ID, "missed": None}
    elif last > window.latest:
        gap = {"reason": IDS_RESTARTED, "missed": None}
    elif last < window.oldest - 1:
        gap = {"reason": TOO_OLD, "missed": window.oldest - 1 - last}
    else:
        return Replay([m for m in window.messages if m.id > last], window.latest, None, window.epoch)
    return Replay(window.messages, window.latest, gap, window.epoch)


class EventLog:
    """What both backends share.  Subclasses store the messages and deliver the news."""

    kind = "?"

    def __init__(self, history: int = DEFAULT_HISTORY) -> None:
        if history < 1:
            raise ValueError("history must be at least 1")
        self.history = history
        self._subscribers: list[Callable[[Message], None]] = []

    def catch_up(self, last: int | None, limit: int | None = None) -> Replay:
        """What a client that last saw id ``last`` gets (at most ``limit`` messages)."""
        window = self.read(0 if last is None else last, limit)
        if last is not None and last > window.latest:
            window = self.read(0, limit)  # the ids started again: everything we have
        return plan_replay(last, window)

    def subscribe(self, callback: Callable[[Message], None]) -> None:
        """Call ``callback(message)`` for every message appended from now on, in id order,
        whichever process appended it.  It must not block: it runs on the append path."""
        self._subscribers.append(callback)

    def _deliver(self, message: Message) -> None:
        for callback in self._subscribers:
            callback(message)

    # -- each backend provides these ---------------------------------------------------
    def append(self, event: str, data: dict[str, Any]) -> Message:
        """Give ``event`` with ``data`` the next id and keep it."""
        raise NotImplementedError

    def read(self, after: int, limit: int | None = None) -> Window:
        """The kept messages after id ``after`` (at most ``limit``), with latest and oldest."""
        raise NotImplementedError

    def wait(self, since: int, timeout: float) -> None:
        """Return once the newest id is no longer ``since`` (news), or after ``timeout`` s."""
        raise NotImplementedError

    def latest(self) -> int:
        raise NotImplementedError

    def length(self) -> int:
        """How many messages are kept."""
        raise NotImplementedError

    @property
    def epoch(self) -> str:
        """Which life of the log this is: a new value whenever it starts empty."""
        raise NotImplementedError

    def check(self) -> None:
        """Raise if the log cannot answer right now (memory always can)."""

    def close(self) -> None:
        """Stop any background work; waiters return."""


class MemoryEventLog(EventLog):
    """The log in this process's memory: lost when the process ends."""

    kind = "memory"

    def __init__(self, history: int = DEFAULT_HISTORY) -> None:
        super().__init__(history)
        self._epoch = secrets.token_hex(4)
        # A deque with maxlen drops the oldest message by itself: the history stays bounded.
        self._messages: collections.deque[Message] = collections.deque(maxlen=history)
        self._latest = 0
        self._changed = threading.Condition(threading.RLock())

    @property
    def epoch(self) -> str:
        return self._epoch

    def append(self, event: str, data: dict[str, Any]) -> Message:
        # One lock around "take an id, keep it, hand it on": two publishers at once can
        # never deliver message 5 before message 4.
        with self._changed:
            self._latest += 1
            message = Message(self._latest, data, event)
            self._messages.append(message)
            self._deliver(message)
            # notify_all, not notify: every waiting client must see the message, not one.
            self._changed.notify_all()
        return message

    def read(self, after: int, limit: int | None = None) -> Window:
        with self._changed:
            latest = self._latest
            oldest = self._messages[0].id if self._messages else latest + 1
            # Ids in the deque are consecutive, so the first one after `after` is at:
            start = min(max(0, after + 1 - oldest), len(self._messages))
            stop = len(self._messages) if limit is None else min(len(self._messages), start + limit)
            return Window(latest, oldest, [self._messages[i] for i in range(start, stop)], self._epoch)

    def wait(self, since: int, timeout: float) -> None:
        with self._changed:
            # wait_for checks again after every wake-up, so a spurious wake-up never ends
            # the wait early.
            self._changed.wait_for(lambda: self._latest != since, timeout)

    def waiting(self) -> int:
        """How many threads are asleep in :meth:`wait` right now (for demos and tests)."""
        with self._changed:
            return len(self._changed._waiters)  # type: ignore[attr-defined]

    def latest(self) -> int:
        with self._changed:
            return self._latest

    def length(self) -> int:
        with self._changed:
            return len(self._messages)


# Appending in Redis is one atomic step: take the next id, append the message under that
# id to a stream capped at ARGV[2] entries, note the log's epoch.  Lua scripts run
# atomically, so processes can never store ids out of order.  ARGV[4] is the newest id
# the appending process has seen: if Redis restarted empty and counts from 1 again, the
# ids carry on above it instead, so no reader mistakes a new message for one it has.
_APPEND_SCRIPT = """
local id = redis.call('INCR', KEYS[1])
local floor = tonumber(ARGV[4])
if id <= floor then
  id = floor + 1
  redis.call('SET', KEYS[1], id)
end
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[2], id .. '-0', 'e', ARGV[3], 'd', ARGV[1])
redis.call('SET', KEYS[3], ARGV[5], 'NX')
return id
"""

# How often a waiter reads Redis itself even without news from the listener: a safety
# net for a listener that is reconnecting.
RECHECK_SECONDS = 5.0
# Connections one process keeps to Redis, and how long a request waits for a free one.  Every
# new stream reads Redis once or twice; without a bound, a burst of readers (a thousand
# connecting at once, or a stopped node's readers all coming back) opened one connection each,
# Redis's accept queue overflowed, and connects timed out: measured with 3,000 readers through
# nginx, a third of them got "Redis is down" 503s.  A bounded pool makes the burst wait instead,
# and long enough: a 503 ends an EventSource for good, so a stream had better wait.  (While Redis
# is down a request still fails at once: connecting is refused, there is no waiting for that.)
REDIS_CONNECTIONS = 32
REDIS_POOL_WAIT_SECONDS = 30.0


class RedisEventLog(EventLog):
    """The log in Redis, shared by every process.

    Keys: ``<key>:last_id`` (the id counter), ``<key>:events`` (a Redis Stream whose entry
    ids are ``<id>-0``, capped at ``history`` entries), ``<key>:epoch``.
    """

    kind = "redis"
    BLOCK_MS = 1000  # how long one XREAD waits, so the listener notices close()

    def __init__(self, url: str, key: str, history: int = DEFAULT_HISTORY,
                 recheck: float = RECHECK_SECONDS) -> None:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        super().__init__(history)
        self.url = url
        self.counter_key, self.stream_key, self.epoch_key = key + ":last_id", key + ":events", key + ":epoch"
        self.recheck = recheck
        # No retries: while Redis is down a request should get its error at once, not
        # after seconds of back-off; the pool reconnects by itself when Redis is back.
        pool = redis.BlockingConnectionPool.from_url(
            url, max_connections=REDIS_CONNECTIONS, timeout=REDIS_POOL_WAIT_SECONDS, decode_responses=True,
            socket_timeout=10, socket_connect_timeout=2, retry=Retry(NoBackoff(), 0))
        self.redis = redis.Redis(connection_pool=pool)
        self._append = self.redis.register_script(_APPEND_SCRIPT)
        # The listener (one per process, started on first need) moves `_generation` on
        # news; waiters sleep on `_changed` until it moves.  `_seen` is the newest id this
        # process has seen, the floor for the next append.
        self._changed = threading.Condition()
        self._generation = 0
        self._seen = 0
        self._position = 0
        self._listener: threading.Thread | None = None
        self._stopped = threading.Event()

    @property
    def epoch(self) -> str:
        return self.redis.get(self.epoch_key) or "empty"

    def append(self, event: str, data: dict[str, Any]) -> Message:
        with self._changed:
            floor = self._seen
        ident = int(self._append(keys=[self.counter_key, self.stream_key, self.epoch_key],
                                 args=[json.dumps(data, ensure_ascii=False), self.history, event, floor,
                                       secrets.token_hex(4)]))
        self._saw(ident)
        # Subscribers get it from the listener, like every other process's messages: one
        # path, so the order is the stream's order everywhere.
        return Message(ident, data, event)

    def read(self, after: int, limit: int | None = None) -> Window:
        # MULTI/EXEC: the newest id, the oldest kept and the messages are from one moment.
        pipe = self.redis.pipeline(transaction=True)
        pipe.get(self.counter_key)
        pipe.xrange(self.stream_key, "-", "+", count=1)
        pipe.xrange(self.stream_key, f"{after + 1}-0", "+", count=limit)
        pipe.get(self.epoch_key)
        latest_raw, first, entries, epoch = pipe.execute()
        latest = int(latest_raw or 0)
        self._saw(latest)
        oldest = self._message(*first[0]).id if first else latest + 1
        return Window(latest, oldest, [self._message(sid, fields) for sid, fields in entries], epoch or "empty")

    @staticmethod
    def _message(entry_id: str, fields: dict[str, str]) -> Message:
        """A stream entry (``<id>-0``, fields ``e`` = event type, ``d`` = JSON data)."""
        ident = int(entry_id.split("-")[0])
        if "d" not in fields:  # kept in a shared Redis by an older kit: a notification's text
            return Message.make(ident, fields.get("m", ""))
        return Message(ident, json.loads(fields["d"]), fields["e"])

    def _saw(self, ident: int) -> None:
        with self._changed:
            self._seen = max(self._seen, ident)

    def latest(self) -> int:
        return int(self.redis.get(self.counter_key) or 0)

    def length(self) -> int:
        return int(self.redis.xlen(self.stream_key))

    def check(self) -> None:
        self.redis.ping()  # raises redis.RedisError while Redis is down

    def subscribe(self, callback: Callable[[Message], None]) -> None:
        super().subscribe(callback)
        self._start_listener()

    def wait(self, since: int, timeout: float) -> None:
        self._start_listener()
        deadline = time.monotonic() + timeout
        while not self._stopped.is_set():
            # Note the generation *before* reading: news that lands between the read and
            # the sleep moves the generation, so the sleep ends at once.
            with self._changed:
                generation = self._generation
            left = deadline - time.monotonic()
            if self.latest() != since or left <= 0:
                return
            self._sleep_past(generation, min(left, self.recheck))

    def _sleep_past(self, generation: int, timeout: float) -> None:
        """Sleep until the listener has news after ``generation``, or ``timeout`` s."""
        with self._changed:
            self._changed.wait_for(lambda: self._generation != generation or self._stopped.is_set(), timeout)

    def _start_listener(self) -> None:
        with self._changed:
            if self._listener is not None:
                return
            # Start where Redis is now: anything appended from here on is news.
            self._position = self.latest()
            self._listener = threading.Thread(target=self._listen, name="event-log-listener", daemon=True)
            self._listener.start()

    def _news(self) -> None:
        with self._changed:
            self._generation += 1
            self._changed.notify_all()

    def _listen(self) -> None:
        import redis

        # One connection per process, however many readers and waiters.
        client = redis.Redis.from_url(self.url, decode_responses=True, socket_timeout=self.BLOCK_MS / 1000 + 10)
        while not self._stopped.is_set():
            try:
                reply = client.xread({self.stream_key: f"{self._position}-0"}, count=500, block=self.BLOCK_MS)
                for _stream, entries in reply or []:
                    for sid, fields in entries:
                        message = self._message(sid, fields)
                        self._position = message.id
                        self._saw(message.id)
                        self._deliver(message)
                if reply:
                    self._news()
            except (redis.RedisError, OSError):
                if self._stopped.is_set():
                    break
                time.sleep(0.5)  # Redis is restarting or unreachable: try again shortly
                # Waiters read again: a Redis that came back empty has a new newest id.
                # (The ids carry on above `_seen`: see the append script.)
                self._news()
        client.close()

    def close(self) -> None:
        self._stopped.set()
        self._news()


def backend_kind(config: dict[str, Any]) -> str:
    """``"memory"`` or ``"redis"`` (or whatever else ``BROKER`` says, for the caller to refuse)."""
    return (config.get("BROKER") or ("redis" if config.get("REDIS_URL") else "memory")).lower()


def create_event_log(config: dict[str, Any], key: str) -> EventLog:
    """The log an app's config asks for.

    ``BROKER`` = ``"memory"`` or ``"redis"``; unset, Redis is used whenever ``REDIS_URL``
    is configured (``python -m labs run`` sets it when serving with several workers,
    which must share one log).  ``HISTORY`` bounds it, ``REDIS_KEY`` names its keys
    (default ``key``), ``RECHECK_SECONDS`` is the Redis waiters' safety net.
    """
    kind = backend_kind(config)
    history = int(config.get("HISTORY", DEFAULT_HISTORY))
    if kind == "memory":
        return MemoryEventLog(history)
    if kind == "redis":
        if not config.get("REDIS_URL"):
            raise ValueError("BROKER=redis needs REDIS_URL (or start the lab with --redis)")
        return RedisEventLog(config["REDIS_URL"], config.get("REDIS_KEY", key), history,
                             float(config.get("RECHECK_SECONDS", RECHECK_SECONDS)))
    raise ValueError(f"BROKER must be 'memory' or 'redis', not {kind!r}")
