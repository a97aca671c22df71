"""Exercise 4.3: ``next_chunk(queue, keepalive_seconds)``, the next message's event as soon as it
comes, or a keep-alive comment when none came in time."""

from __future__ import annotations

import json
import random
import threading
import time
from typing import Any

from labs.core.sse import decode
from labs.exercises import Answer, exercise, expect
from labs.exercises.support import random_lines, random_text, run_with_limit


def _one_notify(chunk: Any, call: str, text: str) -> None:
    events = decode(expect.text(chunk, call))
    got = [(e.type, expect.event_json(e, call)) for e in events]
    assert got == [("notify", {"message": text})], (
        f"{call} should return the event of the first queued message, {text!r} (type notify, data "
        f"{json.dumps({'message': text})}); it returned {chunk!r}")


@exercise("4.3", hints=[
    "Two outcomes: a message comes within `keepalive_seconds`, or none does. What does the queue offer "
    "for waiting a limited time?",
    "Wait on the queue itself, with a time limit: it returns as soon as a message is there. When the time "
    "is up it raises an exception you can catch; that is the moment for a comment line.",
    "Section 4's lab loop does this (`except queue.Empty`), and the kit's encoder module has a function "
    "that makes the comment.",
])
def check_4_3(answer: Answer) -> None:
    next_chunk = answer.function("next_chunk")
    rng = random.Random()
    q = answer.inside("new", "queue.Queue")
    wait = round(rng.uniform(0.25, 0.4), 2)
    call = f"next_chunk(empty queue, {wait})"
    started = time.monotonic()
    quiet = run_with_limit(next_chunk, q, wait, limit=wait + 5, late=(
        f"{call} had not returned 5 s after keepalive_seconds: wait at most keepalive_seconds"))
    waited = time.monotonic() - started
    text = expect.text(quiet, call)
    assert expect.is_comment_only(text), (
        f"{call} should return a keep-alive comment (a line starting with ':', no event); it returned {quiet!r}")
    assert waited >= 0.6 * wait, (
        f"{call} returned after {waited:.2f} s: wait up to keepalive_seconds for a message before giving up")

    first, second = random_text(rng), random_lines(rng)
    q.put(first)
    q.put(second)
    _one_notify(run_with_limit(next_chunk, q, 5, limit=3, late=(
        "a message was waiting in the queue, yet next_chunk had not returned 3 s later")), "next_chunk(q, 5)", first)
    assert q.qsize() == 1, "return one message's event per call; the next call takes the next message"
    _one_notify(run_with_limit(next_chunk, q, 5, limit=3, late="the second message was not returned in 3 s"),
                "next_chunk(q, 5) again", second)

    arriving = random_text(rng)
    timer = threading.Timer(0.2, q.put, args=(arriving,))
    timer.daemon = True
    started = time.monotonic()
    timer.start()
    chunk = run_with_limit(next_chunk, q, 3.0, limit=8, late="next_chunk(q, 3.0) had not returned 8 s later")
    took = time.monotonic() - started
    _one_notify(chunk, "next_chunk(q, 3.0), with a message arriving 0.2 s into the wait,", arriving)
    assert took < 2.0, (
        f"a message that arrived 0.2 s into a 3 s wait went out after {took:.1f} s: wait on the queue itself, "
        "so a message goes out as soon as it arrives")
