"""Checks for notebook 06 (long polling)."""

from __future__ import annotations

import random
import threading
import time

from labs.exercises import Answer, exercise, expect
from labs.exercises.support import lab_in_thread, random_text, run_with_limit, start_in_thread

_PER_HOUR = "a number of requests"  # what requests_per_hour returns


class Box:
    """The exercise's message box (the notebook shows the same class): ``messages`` in id
    order, ``changed`` a ``threading.Condition``; ``publish`` appends and wakes every waiter.
    Ids start where ``first_id`` says, as in a log whose oldest messages were trimmed."""

    def __init__(self, first_id: int = 1) -> None:
        self.messages, self.changed, self.next_id = [], threading.Condition(), first_id

    def publish(self, text: str) -> None:
        with self.changed:
            self.messages.append({"id": self.next_id, "message": text})
            self.next_id += 1
            self.changed.notify_all()


def _as_list(value):
    return list(value) if isinstance(value, (list, tuple)) else value


def _publish_or_fail(box, text: str) -> None:
    run_with_limit(box.publish, text, limit=5, late=(
        "publishing a message waited more than 5 s for box.changed: your function keeps the condition's "
        "lock while it waits (Condition.wait releases it; time.sleep inside `with box.changed:` does not)"))


@exercise("6.1", hints=[
    "Three situations: news is already there, news arrives while you wait, and nothing comes before the "
    "timeout. Which messages count as news for the cursor `since`?",
    "`box.changed` is a threading.Condition: waiting on it (inside `with box.changed:`) releases the lock "
    "and sleeps until `publish` calls notify_all, or until the timeout. Compare ids with `since`: "
    "ids need not start at 1.",
    "Condition has a method that waits until a condition (a function you pass) is true, re-checking it "
    "after every wake-up, with a timeout. Section 2 shows the lab's version of it.",
])
def check_6_1(answer: Answer) -> None:
    wait_for_news = answer.function("wait_for_news")
    rng = random.Random()
    box = answer.inside("new", "labs.exercises.nb06.Box", rng.randint(20, 500))  # where the answer runs
    old, new = random_text(rng), random_text(rng)
    box.publish(old)
    box.publish(new)
    since = box.messages[0]["id"]
    got = run_with_limit(wait_for_news, box, since, 20, limit=3, late=(
        "a message after the cursor was already there, yet your function was still waiting 3 s later: "
        "return at once when there is news"))
    assert _as_list(got) == box.messages[1:], (
        f"the box holds messages with ids {[m['id'] for m in box.messages]}; for since={since} return the "
        f"messages after it ({[box.messages[1]]!r}), got {got!r}")

    latest = box.messages[-1]["id"]
    started = time.monotonic()
    got = run_with_limit(wait_for_news, box, latest, 0.4, limit=3, late=(
        "with nothing new and timeout=0.4, your function had not returned 3 s later: stop waiting at the timeout"))
    waited = time.monotonic() - started
    assert _as_list(got) == [], \
        f"nothing after the cursor {latest} and nothing published: return [] at the timeout, not {got!r}"
    assert waited >= 0.3, (
        f"with nothing new and timeout=0.4, your function returned after {waited:.2f} s: wait for news "
        "until the timeout before giving up")

    waiters = [start_in_thread(wait_for_news, box, latest, 20) for _ in range(3)]
    time.sleep(0.3)  # let them start waiting (one that starts later finds the news at once)
    fresh = random_text(rng)
    _publish_or_fail(box, fresh)
    deadline = time.monotonic() + 3
    for waiter in waiters:
        if not waiter.done.wait(max(0.0, deadline - time.monotonic())):
            raise AssertionError("three calls were waiting (timeout 20 s) when a message was published, and "
                                 "one had not returned 3 s later: wake up when box.changed is notified")
    for waiter in waiters:
        got = waiter.result()
        assert _as_list(got) == box.messages[-1:], (
            f"every waiter should get just the new message {box.messages[-1]!r}; one got {got!r}")


@exercise("6.2", hints=[
    "Look at one answer of the lab's `/updates` (section 3): what does it hold, and which of its fields "
    "tells you where to ask from next time?",
    "The lab holds a request only when you pass `timeout` (section 3); an answer that timed out has no "
    "messages and keeps the same cursor. Return the texts (`message` of each), not the dicts.",
    "Each request's `since` is the `cursor` of the previous answer; the function returns the last "
    "answer's cursor too.",
])
def check_6_2(answer: Answer) -> None:
    follow = answer.function("follow")

    rng = random.Random()
    with lab_in_thread("long_polling") as lab:
        for _ in range(rng.randint(1, 3)):  # history the follower must not get again
            lab.publish(random_text(rng))
        start = lab.get("/stats").json()["latest"]
        texts = [random_text(rng) for _ in range(rng.randint(3, 5))]
        outcome = start_in_thread(follow, lab.url, start, len(texts))
        deadline = time.monotonic() + 4
        while lab.get("/stats").json()["waiting"] < 1:
            if outcome.done.is_set():
                outcome.result()  # raises what the answer raised
                raise AssertionError(f"follow returned {outcome.value!r} before anything was published")
            if time.monotonic() > deadline:
                raise AssertionError("no request of yours was held by the lab: long-poll, with a `timeout` "
                                     "parameter, so the server waits for news instead of answering at once")
            time.sleep(0.05)
        ids = []
        for text in texts:
            time.sleep(rng.uniform(0.02, 0.15))
            ids.append(lab.publish(text).json()["id"])
        if not outcome.done.wait(15):
            raise AssertionError(f"follow had not returned 15 s after all {len(texts)} messages were published: "
                                 "stop once `count` messages have arrived, and ask from the answer's cursor")
        got = outcome.result()
        assert isinstance(got, (tuple, list)) and len(got) == 2, f"return a pair (messages, cursor), not {got!r}"
        messages, cursor = got
        assert not any(isinstance(m, dict) for m in messages), \
            "return the texts (the `message` of each message), not the whole dicts"
        assert list(messages) == texts, f"expected the {len(texts)} new texts in order, {texts!r}; got {messages!r}"
        assert cursor == ids[-1], f"return the last answer's cursor, {ids[-1]}; you returned {cursor!r}"



@exercise("6.3", hints=[
    "Treat the two cases apart: with `interval`, the client asks on a timer; with `timeout`, the server "
    "decides when each request ends.",
    "Short polling does not care how many messages there are. An idle long poller ends one request per "
    "timeout; what does a message do to the request that is waiting?",
    "An hour is 3,600 s. Work out by hand: 12 messages, polling every 5 s; then 12 messages, long polling "
    "with a 25 s timeout.",
])
def check_6_3(answer: Answer) -> None:
    requests_per_hour = answer.function("requests_per_hour")
    rng = random.Random()
    for _ in range(4):
        messages = rng.randint(0, 400)
        interval = rng.choice([0.5, 1, 2, 3, 5, 7.5, 10, 15, 30, 60])
        call = f"requests_per_hour({messages}, interval={interval})"
        got = expect.number(requests_per_hour(messages, interval=interval), call, _PER_HOUR)
        expected = 3600 / interval
        assert abs(got - expected) <= 1, f"{call} should be about {expected:g}; you returned {got:g}"
        timeout = rng.choice([10, 20, 25, 30, 45, 55])
        call = f"requests_per_hour({messages}, timeout={timeout})"
        got = expect.number(requests_per_hour(messages, timeout=timeout), call, _PER_HOUR)
        expected = 3600 / timeout + messages
        assert abs(got - expected) <= 1, f"{call} should be about {expected:g}; you returned {got:g}"
