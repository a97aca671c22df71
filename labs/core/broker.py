"""Fan-out: every open SSE stream gets every message, and no stream can hold up the others.

The streams of the ``manual_sse`` and ``webhooks`` labs read from a :class:`Broker`.  Ids,
the bounded history and the catch-up rule for a returning reader are the event log's
(:mod:`labs.core.event_log`); the broker adds what live readers need:

- **a set of readers**: :meth:`Broker.open` adds a reader's queue and works out its
  replay, :meth:`Broker.close` removes it;
- **fan-out**: every new message (with Redis, from whichever process published it) is
  offered to every reader's queue.  Offering never blocks the publisher: a reader whose
  queue is full is cut off (``cut_slow``) instead of making the server hold an
  ever-growing backlog for it, and comes back by ``Last-Event-ID``;
- :meth:`Broker.cut_all`, and the counters ``GET /stats`` shows.

The reader's queue itself and the generator that drains it are in
:mod:`labs.core.sse_response`.  There is one broker class: where the log lives is the log's
business (:mod:`labs.core.event_log`: :class:`~labs.core.event_log.MemoryEventLog`, one
process, a restart forgets the ids; or :class:`~labs.core.event_log.RedisEventLog`, ids and
history shared by every process and kept across server restarts).  :func:`create_broker`
builds a broker on the log an app's config asks for; ``Broker()`` is one on a new memory log.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

from labs.core.event_log import EventLog, MemoryEventLog, Message, Replay, create_event_log, parse_event_id

DEFAULT_QUEUE_SIZE = 256


class Reader(Protocol):
    """What the broker needs of a reader's queue (:class:`labs.core.sse_response.Subscriber`)."""

    def offer(self, message: Message) -> bool:
        """Queue ``message`` without blocking; False when the queue is full."""

    def cut(self, reason: str) -> None:
        """End this reader's stream."""


class Broker:
    """Readers' queues on top of an :class:`~labs.core.event_log.EventLog` (default: a new one
    in this process's memory)."""

    def __init__(self, log: EventLog | None = None, queue_size: int = DEFAULT_QUEUE_SIZE) -> None:
        if queue_size < 1:
            raise ValueError("queue_size must be at least 1")
        self.log = log = MemoryEventLog() if log is None else log
        self.queue_size = queue_size
        self._lock = threading.Lock()
        self._readers: set[Reader] = set()
        self.counters = {"cut_slow": 0, "cut_by_server": 0, "resumed": 0, "replayed": 0, "gaps": 0}
        self.last_resume_id: str | None = None
        log.subscribe(self._fan_out)

    @property
    def kind(self) -> str:
        return self.log.kind

    @property
    def history(self) -> int:
        return self.log.history

    def publish(self, text: str) -> Message:
        """Publish a notification (``event: notify``, ``{"message": text}``)."""
        return self.publish_event("notify", {"message": text})

    def publish_event(self, event: str, data: dict[str, Any]) -> Message:
        """Give ``event`` with ``data`` the next id; the log hands it to :meth:`_fan_out`."""
        return self.log.append(event, data)

    def open(self, reader: Reader, last_event_id: str | None = None) -> Replay:
        """Add ``reader``, then work out what it gets before live messages.

        Adding it *first* matters: a message published between the two steps then
        reaches the queue as well as (maybe) the replay, and the stream skips the
        duplicate by id.  The other order would lose it.  A reader without a
        ``Last-Event-ID`` is new: it gets live messages only, from ``position`` on.
        """
        with self._lock:
            self._readers.add(reader)
        try:
            if last_event_id is None:
                replay = Replay([], self.log.latest())
            else:
                replay = self.log.catch_up(parse_event_id(last_event_id))
        except BaseException:
            self.close(reader)
            raise
        if replay.gap is not None:
            replay.gap["last_event_id"] = last_event_id[:100]
        with self._lock:
            if last_event_id is not None:
                self.counters["resumed"] += 1
                self.last_resume_id = last_event_id[:100]
            self.counters["replayed"] += len(replay.messages)
            self.counters["gaps"] += replay.gap is not None
        return replay

    def close(self, reader: Reader) -> None:
        with self._lock:
            self._readers.discard(reader)

    def cut_all(self) -> int:
        """End every open stream (a deploy, a proxy closing idle connections...)."""
        with self._lock:
            readers = list(self._readers)
            self._readers.clear()
            self.counters["cut_by_server"] += len(readers)
        for reader in readers:
            reader.cut("server")
        return len(readers)

    def _fan_out(self, message: Message) -> None:
        """Hand ``message`` to every reader; never wait for a slow one."""
        _ = message.wire  # encoded once, here, rather than in the first reader's stream
        with self._lock:
            slow = [reader for reader in self._readers if not reader.offer(message)]
            for reader in slow:
                self._readers.discard(reader)
            self.counters["cut_slow"] += len(slow)
        for reader in slow:
            reader.cut("slow")

    def subscriber_count(self) -> int:
        with self._lock:
            return len(self._readers)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            counters = dict(self.counters)
        return {"broker": self.kind, "subscribers": self.subscriber_count(), "last_id": self.log.latest(),
                "history": self.log.length(), "last_resume_id": self.last_resume_id, **counters}

    def check(self) -> None:
        """Raise if the log cannot serve a reader right now (memory always can)."""
        self.log.check()

    def shutdown(self) -> None:
        self.log.close()


def create_broker(config: dict[str, Any], key: str = "sse-kit:manual_sse") -> Broker:
    """The broker an app's config asks for: the log as :func:`create_event_log` picks it
    (``BROKER``, ``REDIS_URL``, ``HISTORY``, ``REDIS_KEY``), readers' queues of
    ``QUEUE_SIZE`` messages."""
    queue_size = int(config.get("QUEUE_SIZE", DEFAULT_QUEUE_SIZE))
    return Broker(create_event_log(config, key), queue_size)
