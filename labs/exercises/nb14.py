"""Checks for notebook 14 (dead clients and real clients).

14.1 runs the student's reader against a real ``manual_sse`` (from the check's threads) behind
a real chaos relay, stalls its connection, and watches from the relay when (and how often) it
reconnects.  14.2 is arithmetic on settings, judged on random ones.
"""

from __future__ import annotations

import math
import random
import time
from typing import Any

from labs.exercises import Answer, exercise
from labs.exercises.support import lab_in_thread, random_text, start_in_thread

KEEPALIVE = 0.25  # the lab's keep-alive in 14.1: the only bytes on a quiet, healthy stream
LATE = 2.5  # how long after silence_s a reconnect may come (a busy machine); a 5 s watchdog is still late


# ------------------------------------------------------------------ 14.1

def _still_reading(outcome) -> None:
    if outcome.done.is_set():
        outcome.result()  # raises what the answer raised
        raise AssertionError(f"read_messages returned {outcome.value!r} before it had every message")


def _connections(relay, outcome) -> int:
    _still_reading(outcome)
    return len(relay.connections())


def _wait_subscribed(lab, outcome, timeout: float) -> bool:
    """Whether the lab holds a reader's stream (its /stats counts a subscriber) within ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _still_reading(outcome)
        if lab.get("/stats").json()["subscribers"] >= 1:
            return True
        time.sleep(0.02)
    return False


def _wait_connections(relay, outcome, count: int, timeout: float) -> float | None:
    """Seconds until the relay has seen ``count`` connections; None if it has not within ``timeout``."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if _connections(relay, outcome) >= count:
            return time.monotonic() - started
        time.sleep(0.02)
    return None


@exercise("14.1", hints=[
    "What does a healthy stream send when there is no news? Your watchdog should count *any* bytes, keep-alive "
    "comments included, not only events; and a reader that was cut must say where it stood when it comes back.",
    "A read timeout is a silence watchdog: `requests.get(url, stream=True, timeout=(5, silence_s))` raises "
    "(a `requests.RequestException`) when no byte has arrived for `silence_s` seconds, whatever the parser "
    "makes of the bytes.",
    "Loop: open the stream with `Last-Event-ID` set to the last id you saw (the opening `connected` event has "
    "one too), feed the chunks to `EventStreamDecoder` (`labs.core.sse`), keep the `message` of each "
    "`notify` event, and on an exception (or the end of the stream) go round again.",
])
def check_14_1(answer: Answer) -> None:
    from labs.harness.relay import start_relay

    read_messages = answer.function("read_messages")
    rng = random.Random()
    silence = round(rng.uniform(1.0, 1.6), 2)
    texts = [random_text(rng) for _ in range(6)]
    with lab_in_thread("manual_sse", {"KEEPALIVE_SECONDS": KEEPALIVE, "RETRY_MS": 200}) as lab, \
            start_relay(lab) as relay:
        outcome = start_in_thread(read_messages, relay.url + "/stream", len(texts), silence)
        # Published only once the lab holds the reader: a first request has no Last-Event-ID, so
        # what went out before it got there would be nobody's to replay (slow on a busy machine).
        if not _wait_subscribed(lab, outcome, 15):
            raise AssertionError("read_messages opened no stream within 15 s")
        for text in texts[:2]:
            lab.publish(text)
            time.sleep(0.1)
        time.sleep(2 * silence)  # quiet but alive: keep-alive comments only
        count = _connections(relay, outcome)
        assert count == 1, (
            f"with no news for {2 * silence:g} s (but a keep-alive comment every {KEEPALIVE} s) your reader "
            f"opened {count} connections: a healthy quiet stream is not a dead one, so watch for any bytes, "
            f"keep-alive comments included, and drop only after {silence} s of silence")
        relay.stall()  # from now on, nothing reaches the reader on this connection
        for text in texts[2:4]:
            lab.publish(text)
        seconds = _wait_connections(relay, outcome, 2, silence + LATE)
        if seconds is None:
            raise AssertionError(f"the stream went silent and your reader had not reconnected {silence + LATE:g} s "
                                 f"later; with silence_s={silence} it should give up on it after {silence} s")
        assert seconds >= silence - KEEPALIVE - 0.15, (
            f"your reader reconnected {seconds:.2f} s after the stream went silent, sooner than silence_s="
            f"{silence} allows (the last keep-alive came at most {KEEPALIVE} s before): use silence_s as given")
        for text in texts[4:]:
            lab.publish(text)
        if not outcome.done.wait(15):  # generous: a busy machine must not fail a right answer
            raise AssertionError(
                f"read_messages had not returned 15 s after all {len(texts)} messages were published: when you "
                "reconnect, send `Last-Event-ID` (the last id you saw), or the messages published while you were "
                "stalled are never replayed")
        got = outcome.result()
    assert isinstance(got, (list, tuple)), f"return a list of the messages' texts, not {type(got).__name__}"
    assert list(got) == texts, (f"expected the {len(texts)} texts in the order published, each once (the "
                                f"`message` of each `notify` event); you returned {list(got)!r}")


# ------------------------------------------------------------------ 14.2

def _number(value: Any, call: str, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise AssertionError(f"{call} should give {what} as a number of seconds; it gave {value!r}")
    return float(value)


def _close(a: float, b: float) -> bool:
    return a <= b * (1 + 1e-9) + 1e-9


@exercise("14.2", hints=[
    "Take the rules one at a time: the reader's watchdog depends only on the keep-alive; the server's user "
    "timeout has a floor (the outage) and a ceiling (what the release budget leaves after the keep-alives).",
    "A vanished reader is let go at most `2 × keepalive_s + user_timeout_s` after it vanished. So the user "
    "timeout may be anything from `outage_s` to `release_within_s - 2 × keepalive_s`: when that range is "
    "empty, no setting keeps both promises.",
])
def check_14_2(answer: Answer) -> None:
    choose_timeouts = answer.function("choose_timeouts")
    rng = random.Random()
    cases = []
    for _ in range(40):
        # Halves only: every sum below is exact in floating point, so "just fits" is an exact tie.
        keepalive = rng.choice([0.5, 1, 2, 5, 10, 15, 20, 25, 30, rng.randint(2, 60) / 2])
        outage = rng.choice([5, 10, 20, 30, 45, 60, 90, rng.randint(1, 120)])
        slack = rng.choice([-30, -5, -0.5, 0, 0, 0.5, 5, 30, rng.randint(-40, 120) / 2])
        cases.append((keepalive, outage, max(0.5, 2 * keepalive + outage + slack)))
    cases.append((15, 20, 50))  # the kit's defaults fit exactly
    rng.shuffle(cases)
    for keepalive, outage, budget in cases:
        _one_case(choose_timeouts, keepalive, outage, budget)


def _one_case(choose_timeouts, keepalive: float, outage: float, budget: float) -> None:
    call = f"choose_timeouts({keepalive}, {outage}, {budget})"
    got = choose_timeouts(keepalive, outage, budget)
    possible = budget > 0 and _close(2 * keepalive + outage, budget)
    if not possible:
        assert got is None, (
            f"{call} returned {got!r}, but no user timeout both keeps a reader through a {outage} s outage and "
            f"releases a vanished one within {budget} s (with a {keepalive} s keep-alive): return None")
        return
    assert got is not None, (f"{call} returned None, but settings exist: a user timeout of {outage} s keeps a "
                             f"{outage} s outage and releases within {2 * keepalive + outage:g} s <= {budget}")
    assert isinstance(got, (tuple, list)) and len(got) == 2, f"{call} should return a pair (watchdog_s, " \
        f"user_timeout_s) or None; it returned {got!r}"
    watchdog = _number(got[0], call, "watchdog_s")
    user_timeout = _number(got[1], call, "user_timeout_s")
    assert _close(2 * keepalive, watchdog), (
        f"{call}: a watchdog of {watchdog:g} s fires on a healthy stream whose {keepalive} s keep-alive is one "
        "interval late: make it at least twice the keep-alive")
    assert _close(watchdog, 3 * keepalive), (
        f"{call}: a watchdog of {watchdog:g} s leaves a stalled reader waiting too long: at most three times "
        "the keep-alive")
    assert _close(outage, user_timeout), (
        f"{call}: a user timeout of {user_timeout:g} s cuts a phone that is out of reach for {outage} s: it must "
        "be at least the outage")
    assert _close(2 * keepalive + user_timeout, budget), (
        f"{call}: with a user timeout of {user_timeout:g} s a vanished reader is held up to 2 × {keepalive} + "
        f"{user_timeout:g} = {2 * keepalive + user_timeout:g} s, more than {budget} s")
