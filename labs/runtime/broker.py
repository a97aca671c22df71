"""The broker behind the ``manual_sse`` lab: ids, a bounded history, and fan-out.

Everything a hand-written SSE endpoint needs besides the streaming itself:

- **ids**: every published message gets the next integer (1, 2, 3, ...), so a reader
  can say "the last one I saw was 41" when it reconnects (``Last-Event-ID``);
- **history**: the last ``history`` messages are kept, so :meth:`Broker.open` can
  replay what a returning reader missed, or say exactly how much fell out of the
  history (a *gap*) instead of skipping it silently;
- **fan-out**: each reader has a queue of its own (one shared queue would hand each
  message to only one reader), and the queue is **bounded**: a reader that falls
  ``queue_size`` messages behind is cut off instead of making the server hold an
  ever-growing backlog for it.  It can come back and resume by ``Last-Event-ID``.

Two backends, one interface:

- :class:`MemoryBroker`: this process only (the development server, or gunicorn with
  one worker).  Fast, but a restart forgets the history and starts the ids again at 1.
- :class:`RedisBroker`: the history and the id counter live in Redis, in a capped
  Redis Stream (``XADD ... MAXLEN``).  Every worker process sees every message, and a
  restarted server carries on where it stopped.  Redis 6.2 commands only.

Threads and gevent: the code uses ``threading`` and ``queue``.  Under gunicorn's gevent
worker those modules are monkey-patched, so the same code then runs on greenlets.
"""

from __future__ import annotations

import collections
import json
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from labs.runtime.sse import encode_json_event

DEFAULT_HISTORY = 1000
DEFAULT_QUEUE_SIZE = 256


@dataclass(frozen=True)
class Message:
    """One event in the history: its id, its type and its data (a JSON object)."""

    id: int
    data: dict[str, Any]
    event: str = "notify"
    # The complete event-stream block, encoded once when the message is published
    # and then written as-is to every reader: a thousand readers cost one encoding.
    wire: bytes = field(repr=False, compare=False, default=b"")

    @classmethod
    def make(cls, ident: int, text: str) -> "Message":
        """A notification: ``event: notify`` with ``{"message": text}``."""
        return cls.event_of(ident, "notify", {"message": text})

    @classmethod
    def event_of(cls, ident: int, event: str, data: dict[str, Any]) -> "Message":
        wire = encode_json_event(data, event=event, id=ident).encode("utf-8")
        return cls(ident, data, event, wire)

    @property
    def text(self) -> str | None:
        """A notification's message text (None for other events)."""
        return self.data.get("message") if self.event == "notify" else None


@dataclass
class Replay:
    """What a (re)connecting reader gets before live messages: see :meth:`Broker.open`."""

    messages: list[Message]
    # The id the reader is now "at": live messages with an id at or below it are
    # duplicates of what the replay (or the reader) already has, and are skipped.
    position: int
    # None, or why some messages cannot be replayed: {"reason": ..., "missed": ...}.
    gap: dict[str, Any] | None = None


def parse_event_id(value: str | None) -> int | None:
    """The id a reader sent, or None if it is not one of ours (a whole number >= 0)."""
    value = (value or "").strip()
    if not value.isascii() or not value.isdigit() or len(value) > 18:
        return None
    return int(value)


def plan_replay(last_event_id: str | None, latest: int, history: Sequence[Message]) -> Replay:
    """Decide what a reader gets, given the id it last saw and the history we still have.

    ``history`` is in id order and holds the most recent messages, ``latest`` is the
    newest id ever given (0: none yet).  The cases:

    - no ``Last-Event-ID``: a new reader; it starts at ``latest`` with no replay;
    - the id is in range: replay every kept message after it;
    - it is older than the history: a gap of ``missed`` messages, then the whole history;
    - it is newer than ``latest`` (the ids started again: a restart that forgot them)
      or not an id at all: a gap of unknown size, then the whole history.
    """
    oldest = history[0].id if history else latest + 1
    if last_event_id is None:
        return Replay([], latest)
    last = parse_event_id(last_event_id)
    if last is None:
        return Replay(list(history), latest, {"reason": "unknown id", "missed": None,
                                              "last_event_id": last_event_id[:100]})
    if last > latest:
        return Replay(list(history), latest, {"reason": "ids restarted", "missed": None,
                                              "last_event_id": last_event_id})
    if last < oldest - 1:
        return Replay(list(history), latest, {"reason": "older than the history", "missed": oldest - 1 - last,
                                              "last_event_id": last_event_id})
    return Replay([m for m in history if m.id > last], latest)


class Subscriber:
    """One reader's place in the fan-out: a bounded queue and a way to cut it off.

    The queue is a ``deque`` plus one wake-up ``Event`` rather than a ``queue.Queue``:
    the same rules (bounded, never blocks the publisher, one reader) for less work.
    With a thousand readers every message is a thousand ``offer()`` calls and a thousand
    wake-ups; ``queue.Queue``'s condition variable (a lock taken, and a waiter lock made,
    on every call) was about 40% of the worker's samples in a py-spy profile of the
    fan-out benchmark, and this is about 25%.  ``deque.append`` and ``popleft`` are atomic, and there is only ever one
    consumer (the stream's generator), so no lock is needed around them.
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


class Broker:
    """What both backends share: the subscriber set, fan-out and counters."""

    kind = "?"

    def __init__(self, history: int = DEFAULT_HISTORY, queue_size: int = DEFAULT_QUEUE_SIZE) -> None:
        if history < 1 or queue_size < 1:
            raise ValueError("history and queue_size must be at least 1")
        self.history = history
        self.queue_size = queue_size
        self._lock = threading.RLock()
        self._subscribers: set[Subscriber] = set()
        self.counters = {"cut_slow": 0, "cut_by_server": 0, "resumed": 0, "replayed": 0, "gaps": 0}
        self.last_resume_id: str | None = None

    def publish(self, text: str) -> Message:
        """Publish a notification (``event: notify``, ``{"message": text}``)."""
        return self.publish_event("notify", {"message": text})

    # -- subclasses provide these ------------------------------------------------
    def publish_event(self, event: str, data: dict[str, Any]) -> Message:
        """Give ``event`` with ``data`` the next id, keep it in the history, fan it out."""
        raise NotImplementedError

    def _replay(self, last_event_id: str | None) -> Replay:
        raise NotImplementedError

    def latest(self) -> int:
        raise NotImplementedError

    def history_length(self) -> int:
        raise NotImplementedError

    # -- readers ------------------------------------------------------------------
    def open(self, last_event_id: str | None = None, on_cut: Callable[[], None] | None = None
             ) -> tuple[Subscriber, Replay]:
        """Subscribe a reader, then work out its replay.

        Subscribing *first* matters: a message published between the two steps then
        reaches the new queue as well as (maybe) the replay, and the reader skips the
        duplicate by id.  The other order would lose it.
        """
        subscriber = Subscriber(self.queue_size, on_cut)
        with self._lock:
            self._subscribers.add(subscriber)
        try:
            replay = self._replay(last_event_id)
        except BaseException:
            self.close(subscriber)
            raise
        with self._lock:
            if last_event_id is not None:
                self.counters["resumed"] += 1
                self.last_resume_id = last_event_id[:100]
            self.counters["replayed"] += len(replay.messages)
            self.counters["gaps"] += replay.gap is not None
        return subscriber, replay

    def close(self, subscriber: Subscriber) -> None:
        with self._lock:
            self._subscribers.discard(subscriber)

    def cut_all(self) -> int:
        """End every open stream (a deploy, a proxy closing idle connections...)."""
        with self._lock:
            subscribers = list(self._subscribers)
            self._subscribers.clear()
            self.counters["cut_by_server"] += len(subscribers)
        for subscriber in subscribers:
            subscriber.cut("server")
        return len(subscribers)

    def _fan_out(self, message: Message) -> None:
        """Hand ``message`` to every reader; never wait for a slow one."""
        with self._lock:
            slow = [s for s in self._subscribers if not s.offer(message)]
            for subscriber in slow:
                self._subscribers.discard(subscriber)
            self.counters["cut_slow"] += len(slow)
        for subscriber in slow:
            subscriber.cut("slow")

    def subscriber_count(self) -> int:
        with self._lock:
            return len(self._subscribers)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            counters = dict(self.counters)
        return {"broker": self.kind, "subscribers": self.subscriber_count(), "last_id": self.latest(),
                "history": self.history_length(), "last_resume_id": self.last_resume_id, **counters}

    def shutdown(self) -> None:
        pass

    def check(self) -> None:
        """Raise if the backend cannot serve a reader right now (memory always can)."""


class MemoryBroker(Broker):
    """History and ids in this process's memory."""

    kind = "memory"

    def __init__(self, history: int = DEFAULT_HISTORY, queue_size: int = DEFAULT_QUEUE_SIZE) -> None:
        super().__init__(history, queue_size)
        # A deque with maxlen drops the oldest message by itself: the history stays bounded.
        self._messages: collections.deque[Message] = collections.deque(maxlen=history)
        self._latest = 0

    def publish_event(self, event: str, data: dict[str, Any]) -> Message:
        # One lock around "take an id, keep it, fan it out": two publishers at once can
        # never put message 5 in a queue before message 4.
        with self._lock:
            self._latest += 1
            message = Message.event_of(self._latest, event, data)
            self._messages.append(message)
            self._fan_out(message)
        return message

    def _replay(self, last_event_id: str | None) -> Replay:
        with self._lock:  # a consistent snapshot: latest and history from one moment
            return plan_replay(last_event_id, self._latest, self._messages)

    def latest(self) -> int:
        with self._lock:
            return self._latest

    def history_length(self) -> int:
        with self._lock:
            return len(self._messages)


# Publishing in Redis is one atomic step: take the next id and append the message
# under that id to a stream capped at ARGV[2] entries.  Lua scripts run atomically,
# so publishers in different processes can never store ids out of order.  ARGV[4] is
# the newest id the publishing process has seen: if Redis restarted empty and counts
# from 1 again, the ids carry on above it instead, so no reader mistakes a new message
# for one it already has (ids never go backwards).
_PUBLISH_SCRIPT = """
local id = redis.call('INCR', KEYS[1])
local floor = tonumber(ARGV[4])
if id <= floor then
  id = floor + 1
  redis.call('SET', KEYS[1], id)
end
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[2], id .. '-0', 'e', ARGV[3], 'd', ARGV[1])
return id
"""


class RedisBroker(Broker):
    """History and ids in Redis; one listener per process feeds the local readers.

    Keys: ``<key>:last_id`` (the id counter) and ``<key>:events`` (a Redis Stream whose
    entry ids are ``<id>-0``, capped at ``history`` entries).
    """

    kind = "redis"
    BLOCK_MS = 1000  # how long one XREAD waits, so the listener notices shutdown()

    def __init__(self, url: str, key: str = "sse-kit:manual_sse", history: int = DEFAULT_HISTORY,
                 queue_size: int = DEFAULT_QUEUE_SIZE) -> None:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        super().__init__(history, queue_size)
        self.url = url
        self.counter_key = key + ":last_id"
        self.stream_key = key + ":events"
        # No retries: while Redis is down a request should get its 503 at once, not after
        # seconds of back-off; the pool reconnects by itself when Redis is back.
        self.redis = redis.Redis.from_url(url, decode_responses=True, socket_timeout=10,
                                          socket_connect_timeout=2, retry=Retry(NoBackoff(), 0))
        self._publish = self.redis.register_script(_PUBLISH_SCRIPT)
        self._stopped = threading.Event()
        # Start where Redis is now: anything published from here on is fanned out.
        self._position = self.latest()
        # One listener per process, however many readers: a thousand readers must not
        # mean a thousand Redis connections.
        self._listener = threading.Thread(target=self._listen, name="manual_sse-redis-listener", daemon=True)
        self._listener.start()

    def publish_event(self, event: str, data: dict[str, Any]) -> Message:
        ident = int(self._publish(keys=[self.counter_key, self.stream_key],
                                  args=[json.dumps(data), self.history, event, self._position]))
        # Local readers get it from the listener, like every other process's readers:
        # one path, so the order is the stream's order everywhere.
        return Message.event_of(ident, event, data)

    @staticmethod
    def _message(entry_id: str, fields: dict[str, str]) -> Message:
        """A history entry (``<id>-0``, fields ``e`` = event type, ``d`` = JSON data)."""
        ident = int(entry_id.split("-")[0])
        if "d" not in fields:  # kept in a shared Redis by an older kit: a notification's text
            return Message.make(ident, fields.get("m", ""))
        return Message.event_of(ident, fields["e"], json.loads(fields["d"]))

    def _replay(self, last_event_id: str | None) -> Replay:
        if last_event_id is None:
            return plan_replay(None, self.latest(), [])
        last = parse_event_id(last_event_id)
        # Fetch only what comes after the reader's id: when that id is older than the
        # history this is the whole history anyway, which is what plan_replay needs.
        latest, history = self._read_after(last)
        if last is None or last > latest:
            latest, history = self._read_after(None)  # not one of our ids: all we have
        return plan_replay(last_event_id, latest, history)

    def _read_after(self, last: int | None) -> tuple[int, list[Message]]:
        # MULTI/EXEC: the newest id and the history come from the same moment.
        pipe = self.redis.pipeline(transaction=True)
        pipe.get(self.counter_key)
        pipe.xrange(self.stream_key, "-" if last is None else f"{last + 1}-0", "+")
        latest_raw, entries = pipe.execute()
        return int(latest_raw or 0), [self._message(sid, fields) for sid, fields in entries]

    def latest(self) -> int:
        return int(self.redis.get(self.counter_key) or 0)

    def history_length(self) -> int:
        return int(self.redis.xlen(self.stream_key))

    def _listen(self) -> None:
        import redis

        client = redis.Redis.from_url(self.url, decode_responses=True,
                                      socket_timeout=self.BLOCK_MS / 1000 + 10)
        while not self._stopped.is_set():
            try:
                reply = client.xread({self.stream_key: f"{self._position}-0"}, count=500, block=self.BLOCK_MS)
                for _stream, entries in reply or []:
                    for sid, fields in entries:
                        message = self._message(sid, fields)
                        self._position = message.id
                        self._fan_out(message)
            except (redis.RedisError, OSError):
                if self._stopped.is_set():
                    break
                time.sleep(0.5)  # Redis is restarting or unreachable: try again shortly
                # A Redis that comes back empty (persistence off) has lost the counter;
                # publish_event's floor makes the ids carry on from self._position.
        client.close()

    def shutdown(self) -> None:
        self._stopped.set()

    def check(self) -> None:
        self.redis.ping()  # raises redis.RedisError while Redis is down


def create_broker(config: dict[str, Any]) -> Broker:
    """The broker an app's config asks for.

    ``BROKER`` = ``"memory"`` or ``"redis"``; unset, Redis is used whenever ``REDIS_URL``
    is configured (``python -m labs run`` sets it when serving with several workers,
    which must share one history).
    """
    kind = (config.get("BROKER") or ("redis" if config.get("REDIS_URL") else "memory")).lower()
    history = int(config.get("HISTORY", DEFAULT_HISTORY))
    queue_size = int(config.get("QUEUE_SIZE", DEFAULT_QUEUE_SIZE))
    if kind == "memory":
        return MemoryBroker(history, queue_size)
    if kind == "redis":
        if not config.get("REDIS_URL"):
            raise ValueError("BROKER=redis needs REDIS_URL (or start the lab with --redis)")
        return RedisBroker(config["REDIS_URL"], config.get("REDIS_KEY", "sse-kit:manual_sse"), history, queue_size)
    raise ValueError(f"BROKER must be 'memory' or 'redis', not {kind!r}")
