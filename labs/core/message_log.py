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

There is one :class:`MessageLog` class: where the log lives is the event log's business
(:class:`~labs.core.event_log.MemoryEventLog` in this process, the default;
:class:`~labs.core.event_log.RedisEventLog` in Redis for every worker process), and
:func:`create_log` builds one on the event log an app's config asks for.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from labs.core.event_log import EventLog, MemoryEventLog, create_event_log

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
    """Notifications with a timestamp, read in pages, on an :class:`EventLog` (default: a new
    one in this process's memory)."""

    def __init__(self, events: EventLog | None = None, batch: int = DEFAULT_BATCH) -> None:
        if batch < 1:
            raise ValueError("batch must be at least 1")
        self.events = MemoryEventLog() if events is None else events
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


def create_log(config: dict[str, Any], lab: str) -> MessageLog:
    """The log the app's config asks for (see :func:`~labs.core.event_log.create_event_log`):
    in Redis when the app has ``REDIS_URL`` (several workers), else in memory."""
    return MessageLog(create_event_log(config, f"sse-kit:{lab}"), int(config.get("BATCH", DEFAULT_BATCH)))
