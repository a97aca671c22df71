"""Exercise 4.2: ``notify_stream(subscribers, lock)``, one reader's stream: it registers a queue of
its own (holding ``lock``), sends one event per message put in it, and unregisters however it ends
(closed by the server, or a failed write)."""

from __future__ import annotations

import random
import threading
from typing import Any

from labs.core.sse import Event, EventStreamDecoder
from labs.exercises import Answer, exercise, expect
from labs.exercises.remote import RemoteObject
from labs.exercises.support import END, next_within, random_lines, random_text, run_with_limit


class GuardedSet(set):
    """A set that notes every change made while ``lock`` is not held (made on the answer's side,
    where it stays: the check holds a proxy, not a copy)."""

    __channel_by_reference__ = True

    def __init__(self, lock: threading.Lock) -> None:
        super().__init__()
        self.lock, self.unguarded = lock, []


def _guarded(name: str):
    def method(self, *args):
        if not self.lock.locked():
            self.unguarded.append(name)
        return getattr(set, name)(self, *args)
    method.__name__ = name
    return method


for _name in ("add", "discard", "remove", "pop", "clear", "update", "difference_update",
              "intersection_update", "symmetric_difference_update", "__ior__", "__isub__", "__iand__", "__ixor__"):
    setattr(GuardedSet, _name, _guarded(_name))

def _advance(stream: Any, late: str) -> Any:
    chunk = next_within(stream, limit=3, late=late)
    if chunk is END:
        raise AssertionError("your stream ended on its own; it should go on for as long as the reader stays")
    return chunk


def _stream_events(stream: Any, count: int, late: str) -> list[Event]:
    decoder, events = EventStreamDecoder(), []
    for _ in range(4 * count + 3):  # a chunk may hold part of an event, or a keep-alive
        if len(events) >= count:
            break
        events += decoder.feed(expect.text(_advance(stream, late), "each chunk your stream yields"))
    return events


def _assert_locked(subscribers: Any) -> None:
    unguarded = subscribers.unguarded  # a GuardedSet on the answer's side: its list, read through the proxy
    assert not unguarded, (
        f"your stream changed `subscribers` ({unguarded[0]}) without holding `lock`: a publisher "
        "looping over the set in another thread could then fail or miss a reader")


def _end_with(stream: Any, how: str, action) -> None:
    try:
        outcome = run_with_limit(action, limit=3, late=f"after {how}, your stream was still running 3 s later")
    except (BrokenPipeError, StopIteration):
        return
    except RuntimeError as exc:
        raise AssertionError(f"after {how}, your stream went on ({exc}): don't catch that and carry on; "
                             "clean up in `finally` and let the stream end") from None
    if outcome is not None:
        raise AssertionError(f"after {how}, your stream yielded again: let the stream end there")


@exercise("4.2", hints=[
    "Three moments matter: when the stream starts (register), while it runs (one event per message), and "
    "when it ends, however it ends (unregister). Which Python statement runs code on every way out?",
    "A generator's body only starts at the first next(). The server ends a stream by calling close() on "
    "it (Python raises GeneratorExit at the paused yield), or a write fails and an exception comes out "
    "of the yield. Both leave through the same place.",
    "Section 3's fan-out app does exactly this inside its route; the queue must be added and removed "
    "while holding `lock`.",
])
def check_4_2(answer: Answer) -> None:
    notify_stream = answer.function("notify_stream")
    rng = random.Random()
    lock = answer.inside("new", "threading.Lock")
    subscribers = answer.inside("new", "labs.exercises.nb04.fan_out.GuardedSet", lock)
    stream = notify_stream(subscribers, lock)
    assert isinstance(stream, RemoteObject) and stream.is_a("builtins.generator"), (
        f"notify_stream should be a generator (a function that yields); calling it returned {stream!r}")
    first = expect.text(_advance(stream, "your stream had not yielded its first chunk 3 s after it started: yield "
                                      "the ': connected' comment before waiting for a message"), "the first chunk")
    assert expect.is_comment_only(first), (
        f"the first chunk should be a comment (a line starting with ':'), which sends the headers at once; "
        f"it was {first!r}")
    assert len(subscribers) == 1, (
        f"once the stream has started, `subscribers` should hold its one queue; it holds {len(subscribers)} items")
    (mine,) = subscribers
    assert hasattr(mine, "put"), f"what your stream registers should be a queue; it is {mine!r}"
    other = notify_stream(subscribers, lock)
    _advance(other, "a second stream had not yielded its first chunk 3 s after it started")
    assert len(subscribers) == 2, "a second stream should register a queue of its own, beside the first one's"
    (theirs,) = [q for q in subscribers if q != mine]

    texts = [random_text(rng), random_lines(rng)]
    for text in texts:
        mine.put(text)
    late = (f"{len(texts)} messages were put in the stream's queue, but it had not yielded them 3 s later: "
            "take them from the queue your stream registered")
    events = _stream_events(stream, len(texts), late)
    got = [(e.type, expect.event_json(e, "your stream")) for e in events]
    want = [("notify", {"message": text}) for text in texts]
    assert got == want, f"for the messages {texts!r} the stream should send the events {want!r}; it sent {got!r}"
    solo = random_text(rng)
    theirs.put(solo)
    got = [(e.type, expect.event_json(e, "your stream")) for e in _stream_events(other, 1, late)]
    assert got == [("notify", {"message": solo})], f"each stream reads its own queue; the second one sent {got!r}"
    _assert_locked(subscribers)

    _end_with(stream, "close() (what the server does when the reader hangs up)", stream.close)
    assert list(subscribers) == [theirs], (
        "after close() (what the server calls when the reader hangs up), the stream's queue should be gone "
        f"from `subscribers`; it still holds {len(subscribers)} queues, yours included")
    _end_with(other, "a failed write (BrokenPipeError raised at its yield)",
              lambda: answer.inside("throw", other, "BrokenPipeError", "the reader is gone"))
    assert not subscribers, ("after a failed write (BrokenPipeError raised at the yield), the stream's queue "
                             "should be gone from `subscribers` too")
    _assert_locked(subscribers)
