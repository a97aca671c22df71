"""Checks for notebook 16 (Flask and ASGI side by side).

16.1 runs the student's async generator as Quart and Starlette run a streamed body (a task
iterates it), in the answer's sandbox (:func:`labs.exercises.inside.drive_async_stream`):
messages of the check's making, an end, a quiet spell while the loop must go on running, a task
cancelled (the server's answer to ``http.disconnect``), a generator closed at its ``yield``.
16.2 is arithmetic on benchmark figures, judged on random ones.
"""

from __future__ import annotations

import math
import random
from typing import Any

from labs.core.sse import EventStreamDecoder
from labs.exercises import Answer, exercise, expect
from labs.exercises.support import random_text

_READERS = "a whole number of readers (an int)"  # what readers_per_core returns

# ------------------------------------------------------------------ 16.1


def _messages(rng: random.Random, count: int, multiline: bool) -> list[str]:
    messages = [random_text(rng) for _ in range(count)]
    if multiline:
        messages[rng.randrange(count)] = f"{random_text(rng)}\n{random_text(rng)}"
    return messages


def _data_of(items: list[str]) -> list[str]:
    decoder = EventStreamDecoder()
    return [event.data for event in decoder.feed("".join(items).encode())]


def _run(answer: Answer, events, messages: list[str], how: str, after: int) -> dict[str, Any]:
    record = answer.inside("drive_async_stream", events, messages, how, after)
    if record["hung"] or (record["ticks"] is not None and record["ticks"] < 15):
        raise AssertionError("while your generator waited for a message the event loop stood still: something in "
                             "it blocks (time.sleep, a blocking get); every stream on the server stops with it. "
                             "Wait with `await`")
    if record["state"].startswith("not an async generator"):
        raise AssertionError(f"`notifications(hub)` should be an async generator function (`async def` with "
                             f"`yield`); calling it gave {record['state'].split(': ', 1)[1]}")
    if record["state"].startswith("error: NotImplementedError"):
        raise NotImplementedError("notifications")  # the stub, untouched
    if record["state"].startswith("error"):
        raise AssertionError(f"the stream failed: {record['state'][7:]}")
    if any(item.startswith("<a ") for item in record["items"]):
        raise AssertionError("yield text (str or bytes) of the event stream, such as 'data: ...\\n\\n'")
    if record["joined"] != 1:
        raise AssertionError(f"join the hub once per stream (`hub.join()`); it was joined {record['joined']} times")
    return record


def _judge_events(record: dict, want: list[str], how: str) -> None:
    got = _data_of(record["items"])
    assert got == want, (f"{how}, the stream should carry one event per message, its data the message "
                         f"(a line break in a message: several `data:` lines), in order: expected {want!r}, "
                         f"got {got!r}")


def _judge_left(record: dict, how: str) -> None:
    assert record["left"] >= 1, f"{how}, `hub.leave(queue)` was never called: the reader's queue stays for ever"
    assert record["left"] == 1 and record["left_its_queue"], (
        f"{how}, call `hub.leave(queue)` once, with the queue `hub.join()` gave (it was called {record['left']} "
        "times, or with something else)")


@exercise("16.1", hints=[
    "Start with the end: what does your generator do when `None` comes, and what runs when the server cancels "
    "the task that iterates it (an `asyncio.CancelledError` at the `await` where it waits)?",
    "`queue = hub.join()`, then `try:` a loop around `message = await queue.get()`, and `finally: "
    "hub.leave(queue)`. A `finally` runs on the end, on a cancellation and on `aclose()` (GeneratorExit) alike.",
    "Don't catch `CancelledError` to carry on or to return quietly: the server cancelled the task and waits for it "
    "to end cancelled. For the event's text, `labs.core.sse.encode_event(message)` splits line breaks into "
    "`data:` lines.",
])
def check_16_1(answer: Answer) -> None:
    events = answer.function("notifications")
    rng = random.Random()
    messages = _messages(rng, rng.randint(3, 6), multiline=True)
    record = _run(answer, events, messages, "end", len(messages))
    _judge_events(record, messages, "when every message came and then None")
    assert record["state"] == "finished", ("when `None` comes out of the queue the stream is over: the generator "
                                           f"should end (its task: {record['state']})")
    _judge_left(record, "when the stream ended")
    messages = _messages(rng, 5, multiline=False)
    after = rng.randint(1, 3)
    record = _run(answer, events, messages, "cancel", after)
    _judge_events(record, messages[:after], f"after {after} messages")
    _judge_left(record, "when the server cancelled the stream's task (the reader left: http.disconnect)")
    assert record["state"] == "cancelled", (
        "when the server cancels the stream's task, let the cancellation through (clean up in `finally`, don't "
        f"catch CancelledError and return or carry on): the task ended {record['state']!r}, not 'cancelled'")
    record = _run(answer, events, messages, "close", after)
    _judge_left(record, "when the generator was closed at its yield (aclose(): GeneratorExit, as when a write "
                        "never finished)")
    assert record["close_error"] is None, f"closing the generator at its yield failed: {record['close_error']}"


# ------------------------------------------------------------------ 16.2



@exercise("16.2", hints=[
    "Work out one figure first: how many event deliveries (one message to one reader) did the stack make per CPU "
    "second in the benchmark?",
    "Deliveries per CPU second = messages × readers / cpu_s. One reader at `rate` messages a second needs `rate` "
    "deliveries a second; of one core you may use `headroom` of a second per second.",
    "readers = headroom × messages × readers / (cpu_s × rate), rounded down (a fraction of a reader would overload "
    "the core): math.floor, not round.",
])
def check_16_2(answer: Answer) -> None:
    readers_per_core = answer.function("readers_per_core")
    rng = random.Random()
    cases = [(1.54, 50, 1000, 10, 0.7), (10.78, 50, 1000, 10, 0.7)]  # manual_sse's and FastAPI's figures
    for _ in range(40):
        cases.append((round(rng.uniform(0.2, 12), 2), rng.choice([20, 50, 100, rng.randint(10, 200)]),
                      rng.choice([100, 1000, 5000, rng.randint(50, 5000)]), rng.choice([1, 2, 5, 10, 0.5, 20]),
                      rng.choice([0.5, 0.6, 0.7, 0.8, 1.0])))
    rng.shuffle(cases)
    for cpu_s, messages, readers, rate, headroom in cases:
        call = f"readers_per_core({cpu_s}, {messages}, {readers}, {rate}, {headroom})"
        got = expect.whole_number(readers_per_core(cpu_s, messages, readers, rate, headroom), call, _READERS)
        exact = headroom * messages * readers / (cpu_s * rate)
        if got in (math.floor(exact * (1 - 1e-9)), math.floor(exact * (1 + 1e-9))):
            continue
        without_headroom = messages * readers / (cpu_s * rate)
        if abs(got - without_headroom) <= 1 and headroom != 1.0:
            raise AssertionError(f"{call} returned {got}: all of the core; only `headroom` of it may be used")
        if got == round(exact):
            raise AssertionError(f"{call} returned {got}, rounded to the nearest: {exact:.2f} readers means {got - 1} "
                                 "(round down: a fraction of a reader would overload the core)")
        raise AssertionError(f"{call} returned {got}; the benchmark's figures say a core at {headroom:.0%} serves "
                             f"{math.floor(exact)} readers at {rate} messages a second")
