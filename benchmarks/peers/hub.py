"""What the peer apps share with the kit: the broker (ids, history, replay, fan-out) and the
asyncio reader queue of :mod:`labs.core.sse_async`.  Each peer turns these items into
events its own documented way; only that last step differs between them."""

from __future__ import annotations

import queue
from collections.abc import AsyncIterator
from typing import Any

from labs.core.broker import Broker
from labs.core.sse_async import AsyncSubscriber

RETRY_MS = 3000


class Hub:
    """One broker and a count of open streams, as the labs keep."""

    def __init__(self) -> None:
        self.broker = Broker()
        self.clients = 0

    async def items(self, last_event_id: str | None) -> AsyncIterator[tuple[str, Any, Any]]:
        """``(event, data, id)`` for one reader: ``connected``, maybe ``gap``, the replay, then live
        messages (``data`` a dict), until the reader is cut or leaves."""
        subscriber = AsyncSubscriber(self.broker.queue_size)
        replay = self.broker.open(subscriber, last_event_id)
        self.clients += 1
        try:
            yield "connected", {}, replay.position if last_event_id is None else None
            if replay.gap is not None:
                yield "gap", replay.gap, replay.messages[0].id - 1 if replay.messages else replay.position
            position = replay.position
            for message in replay.messages:
                yield message.event, message.data, message.id
            while True:
                try:
                    batch = await subscriber.get_batch(3600, 64)
                except queue.Empty:
                    continue  # each framework writes its own keep-alives
                if batch is None:
                    return
                for message in batch:
                    if message.id > position:
                        position = message.id
                        yield message.event, message.data, message.id
        finally:
            self.broker.close(subscriber)
            self.clients -= 1
