"""The by-hand core on asyncio: what :mod:`labs.core.sse_response` does, for an ASGI app.

The ``quart_sse`` lab streams through this.  Everything a reader sees is the same as in
``manual_sse``, because it comes from the same pieces: the broker and its event log (ids,
history, the catch-up rule, fan-out, the slow-reader cut), the encoder, the opening
``connected`` event, the ``gap`` event, keep-alive comments, ``WRITE_BATCH``.  What is here
is only what asyncio changes:

1. :class:`AsyncSubscriber`, one reader's bounded queue, woken with an ``asyncio.Event``
   instead of a ``threading.Event``.  A thread may not touch an event loop's objects, so an
   offer from another thread (with Redis, the log's listener delivers) is handed to the loop
   with ``call_soon_threadsafe``; an offer from a request on the loop (a memory broker's
   publish) sets the event directly.
2. :func:`event_stream`, an ``async`` generator.  Waiting for a message is ``await``, not a
   blocked thread or greenlet.  A reader that leaves is noticed without a write: the ASGI
   server receives the FIN, sends the app ``http.disconnect``, and Quart cancels the task
   that runs this generator, so its ``finally`` releases the queue at once.  (Under WSGI
   only the next write, a keep-alive at the latest, tells.)  Keep-alives stay for proxies.
3. A cut while a write is blocked (a reader that stopped reading: its buffers are full and
   the server's ``send`` waits for them to drain) cancels the writing task; the server then
   closes the connection.  Under WSGI the socket had to be shut down from another thread.
4. :class:`StreamLimits`: the stream cap (``MAX_STREAMS``, a ``goodbye`` with a jittered
   ``retry:`` past it) and the write deadline (``WRITE_DEADLINE_SECONDS``), the same settings
   as :mod:`labs.core.stream_guard`, done here with a counter and a task.

Blocking calls (everything a Redis broker does) run in a thread (:func:`call`), so that a
slow Redis holds one request, not the loop and with it every stream.
"""

from __future__ import annotations

import asyncio
import collections
import queue
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from labs.core.event_log import Message
from labs.core.shutdown import pick_retry_ms
from labs.core.sse import encode_json_event, keep_alive
from labs.core.sse_response import WRITE_BATCH, StreamCounter, catch_up_blocks, opening_block
from labs.core.stream_guard import Limits

if TYPE_CHECKING:
    from labs.core.broker import Broker


async def call(broker: Broker, function: Callable, *args: Any) -> Any:
    """``function(*args)``: on the loop for a memory broker (quick, and fan-out stays on the
    loop's thread), in a worker thread for Redis (a network round trip may block)."""
    if broker.kind == "memory":
        return function(*args)
    return await asyncio.to_thread(function, *args)


class AsyncSubscriber:
    """One reader's bounded queue, as :class:`labs.core.sse_response.Subscriber`, on asyncio."""

    def __init__(self, queue_size: int) -> None:
        self.queue_size = queue_size
        self.waiting: collections.deque[Message] = collections.deque()
        self.cut_reason: str | None = None
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._wake = asyncio.Event()
        self.writer: asyncio.Task | None = None  # the task writing this stream
        self.write_started = 0.0  # monotonic time of the write in progress; 0: none

    def _on_loop(self, function: Callable[[], Any]) -> None:
        if threading.get_ident() == self._loop_thread:
            function()
        else:
            self._loop.call_soon_threadsafe(function)

    def offer(self, message: Message) -> bool:
        """Queue ``message`` without blocking the publisher; False when full."""
        if len(self.waiting) >= self.queue_size:
            return False
        self.waiting.append(message)
        self._on_loop(self._wake.set)
        return True

    async def get_batch(self, timeout: float, limit: int) -> list[Message] | None:
        """Up to ``limit`` waiting messages; ``queue.Empty`` after ``timeout`` s; None once cut."""
        if self.cut_reason:
            return None
        if not self.waiting:
            self._wake.clear()
            try:
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
            except TimeoutError:
                pass
            if self.cut_reason:
                return None
            if not self.waiting:
                raise queue.Empty
        batch = []
        while self.waiting and len(batch) < limit:
            batch.append(self.waiting.popleft())
        return batch

    def cut(self, reason: str) -> None:
        """End this reader's stream; safe from any thread, more than once."""
        if self.cut_reason:
            return
        self.cut_reason = reason
        self._on_loop(self._end)

    def _end(self) -> None:
        self._wake.set()  # a stream waiting for messages wakes and ends by itself
        if self.write_started and self.writer is not None:
            self.writer.cancel()  # one blocked in a write may never come back: cancel it

    def expire(self, deadline: float, now: float) -> bool:
        """Cancel a write that has run past ``deadline`` seconds; True if it did."""
        if self.write_started and now - self.write_started > deadline and self.writer is not None:
            self.writer.cancel()
            return True
        return False


class StreamLimits:
    """The stream cap and the write deadline of :mod:`labs.core.stream_guard`, on asyncio."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.open: set[AsyncSubscriber] = set()
        self.peak = self.refused = self.cut_by_deadline = 0
        self._watcher: asyncio.Task | None = None

    def admit(self) -> bool:
        if self.limits.max_streams and len(self.open) >= self.limits.max_streams:
            self.refused += 1
            return False
        return True

    def refusal(self) -> bytes:
        retry = pick_retry_ms(self.limits.full_retry_ms)
        return encode_json_event({"reason": "server full", "retry_ms": retry}, event="goodbye", retry=retry).encode()

    def enter(self, subscriber: AsyncSubscriber) -> None:
        self.open.add(subscriber)
        self.peak = max(self.peak, len(self.open))
        if self.limits.write_deadline and self._watcher is None:
            self._watcher = asyncio.get_running_loop().create_task(self._watch())

    def leave(self, subscriber: AsyncSubscriber) -> None:
        self.open.discard(subscriber)

    async def _watch(self) -> None:
        deadline = self.limits.write_deadline
        while True:
            await asyncio.sleep(min(1.0, max(0.05, deadline / 4)))
            now = time.monotonic()
            self.cut_by_deadline += sum(sub.expire(deadline, now) for sub in list(self.open))

    def stats(self) -> dict[str, Any]:
        cap = self.limits.max_streams
        return {"open": len(self.open), "max_streams": cap, "full": bool(cap) and len(self.open) >= cap,
                "peak": self.peak, "refused": self.refused, "worker_connections": self.limits.worker_connections,
                "write_deadline_seconds": self.limits.write_deadline, "cut_by_write_deadline": self.cut_by_deadline}


async def event_stream(broker: Broker, last_event_id: str | None, *, keepalive_seconds: float, retry_ms: int,
                       streams: StreamCounter, guard: StreamLimits,
                       farewell: Callable[[], bytes | None] | None = None) -> AsyncIterator[bytes]:
    """The body of one ``GET /stream``: the same events, in the same order, as the WSGI core's."""
    subscriber = AsyncSubscriber(broker.queue_size)
    subscriber.writer = asyncio.current_task()
    replay = await call(broker, broker.open, subscriber, last_event_id)
    streams.add(1)
    guard.enter(subscriber)
    try:
        chunks = _replay_chunks(replay, retry_ms, new_reader=last_event_id is None)
        position = replay.position
        while True:
            subscriber.writer = asyncio.current_task()  # the task that writes (the view's, until the body's)
            for chunk in chunks:
                if subscriber.cut_reason:
                    return
                subscriber.write_started = time.monotonic()
                yield chunk  # the server writes it; we are back when the write is done
                subscriber.write_started = 0.0
            try:
                batch = await subscriber.get_batch(keepalive_seconds, WRITE_BATCH)
            except queue.Empty:
                chunks = [keep_alive().encode()]  # for proxies: a reader that left is noticed anyway
                continue
            if batch is None:  # cut off: too slow, or the server ended every stream
                goodbye = farewell() if farewell is not None else None
                if goodbye:  # the server is stopping: "come back in N ms", then the end
                    yield goodbye
                return
            fresh = [message for message in batch if message.id > position]  # skip what the replay sent
            chunks = [b"".join(message.wire for message in fresh)] if fresh else []
            position = fresh[-1].id if fresh else position
    finally:  # however it ends: the last write, a cut, or the reader gone (task cancelled)
        broker.close(subscriber)
        streams.add(-1)
        guard.leave(subscriber)


def _replay_chunks(replay, retry_ms: int, *, new_reader: bool) -> list[bytes]:
    """What a stream writes before live messages: the opening event, a gap if any, the replay."""
    return [opening_block(retry_ms, replay.position if new_reader else None), *catch_up_blocks(replay)]
