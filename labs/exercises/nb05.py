"""Checks for notebook 05 (short polling)."""

from __future__ import annotations

import copy
import itertools
import math
import random
from typing import Any

from labs.exercises import Answer, exercise, expect
from labs.exercises.support import lab_in_thread, random_text

# ------------------------------------------------------------------ 5.1

def _random_log(rng: random.Random) -> list[dict]:
    ident, log = rng.randint(1, 60), []
    for _ in range(rng.randint(5, 9)):
        log.append({"id": ident, "message": random_text(rng), "time": 1_764_000_000 + ident})
        ident += rng.choice([1, 1, 2, 3, 7])  # gaps, as in a trimmed or shared log
    return log


def _pair(got: Any, call: str) -> tuple[list, Any]:
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        raise AssertionError(f"{call} should return a pair (messages, new cursor); it returned {got!r}")
    messages, cursor = got
    if not isinstance(messages, (list, tuple)):
        raise AssertionError(f"{call} should return the messages as a list; the first item is {messages!r}")
    return list(messages), cursor


@exercise("5.1", hints=[
    "Look at the ids, not at where a message sits in the list: ids can have gaps.",
    "\"After the cursor\" means a strictly greater id; the new cursor is the id of the last message you return.",
    "Try your function by hand on a log whose ids are 3, 4, 5, 8 with the cursors 0, 4, 6 and 8 "
    "(and on an empty log): what should each give?",
])
def check_5_1(answer: Answer) -> None:
    messages_after = answer.function("messages_after")
    rng = random.Random()
    for _ in range(4):
        log = _random_log(rng)
        ids = [m["id"] for m in log]
        gap = next((a + 1 for a, b in itertools.pairwise(ids) if b - a > 1), ids[0] - 1)  # a missing id
        cursors = {0, ids[0] - 1, rng.choice(ids[1:-1]), gap, ids[-1]}
        for cursor in sorted(cursors):
            given = copy.deepcopy(log)
            call = f"messages_after(log with ids {ids}, {cursor})"
            got, new_cursor = _pair(messages_after(given, cursor), call)
            assert given == log, f"{call} changed the log it was given; only read it"
            expected = [m for m in log if m["id"] > cursor]
            want_cursor = expected[-1]["id"] if expected else cursor
            if not all(isinstance(m, dict) for m in got):
                raise AssertionError(f"{call} should return the messages themselves (the dicts from the log), "
                                     f"not {type(next(m for m in got if not isinstance(m, dict))).__name__}s")
            if got != expected:
                got_ids = [m.get("id") if isinstance(m, dict) else m for m in got]
                raise AssertionError(f"{call} returned the messages with ids {got_ids}; "
                                     f"expected the whole messages with ids {[m['id'] for m in expected]}")
            assert new_cursor == want_cursor, f"{call} returned the cursor {new_cursor!r}; expected {want_cursor}"
    got, new_cursor = _pair(messages_after([], 5), "messages_after([], 5)")
    assert got == [] and new_cursor == 5, \
        f"an empty log has nothing new, so the cursor stays: expected ([], 5), got ({got!r}, {new_cursor!r})"


# ------------------------------------------------------------------ 5.2

def _simulate(interval: float, rate: float, polls: int, rng: random.Random) -> tuple[float, float]:
    """Poisson arrivals, a poll every ``interval``: (mean delay, share of empty polls)."""
    duration, t, delays, busy = polls * interval, 0.0, [], set()
    while True:
        t += rng.expovariate(rate)
        if t >= duration:
            break
        k = math.floor(t / interval) + 1  # the first poll after the message
        delays.append(k * interval - t)
        busy.add(k)
    return sum(delays) / len(delays), 1 - len(busy) / polls



@exercise("5.2", hints=[
    "A message lands at a random moment between two polls. How long does it wait, at least and at most?",
    "For the mean delay, average over all the moments a message could land. For the empty share: "
    "a poll finds nothing when no message arrived during the whole interval before it.",
    "The notebook's hint about a Poisson process gives the chance that nothing arrives in `t` seconds; "
    "which `t` matters for one poll?",
])
def check_5_2(answer: Answer) -> None:
    mean_delay = answer.function("mean_delay")
    empty_share = answer.function("empty_share")
    rng = random.Random()
    for _ in range(3):
        interval = round(rng.uniform(0.3, 12.0), 2)
        rate = round(rng.uniform(0.3, 3.0) / interval, 3)  # about 0.3 to 3 messages per interval
        measured_delay, measured_empty = _simulate(interval, rate, 20_000, rng)
        predicted = expect.number(mean_delay(interval), f"mean_delay({interval})")
        assert abs(predicted - measured_delay) <= 0.03 * interval, (
            f"polling every {interval} s, a simulation measured a mean delay of {measured_delay:.3f} s; "
            f"you predict {predicted:.3f} s")
        share = expect.number(empty_share(interval, rate), f"empty_share({interval}, {rate})")
        assert abs(share - measured_empty) <= 0.02, (
            f"polling every {interval} s with {rate} messages per second, a simulation found "
            f"{measured_empty:.1%} of the polls empty; you predict {share:.1%}")
    share = expect.number(empty_share(2.0, 0.0), "empty_share(2.0, 0.0)")
    assert math.isclose(share, 1.0), f"with no messages at all every poll is empty (1.0); you predict {share!r}"


# ------------------------------------------------------------------ 5.3

@exercise("5.3", hints=[
    "Three answers are possible: 200 (new messages and a new ETag), 304 (nothing changed, no body) and "
    "an error. What should your function do with each?",
    "Send `If-None-Match` only when `state` holds an ETag, and read the ETag from the answer's headers. "
    "A 304 has no body: don't parse it.",
    "The `since` query parameter carries the cursor; after a 200, both the cursor and the ETag go back "
    "into `state`, for the next call.",
])
def check_5_3(answer: Answer) -> None:
    poll_once = answer.function("poll_once")

    rng = random.Random()
    with lab_in_thread("polling") as lab:
        for _ in range(rng.randint(1, 3)):  # some history the client must not get again
            lab.publish(random_text(rng))
        start = lab.get("/stats").json()["latest"]
        state = {"cursor": start, "etag": None}
        texts = [random_text(rng) for _ in range(rng.randint(2, 3))]
        ids = [lab.publish(text).json()["id"] for text in texts]
        got = poll_once(lab.url, state)
        assert isinstance(got, list) and all(isinstance(m, dict) for m in got), \
            f"return the list of message dicts from the answer's `messages`; got {got!r}"
        assert [m.get("message") for m in got] == texts, \
            f"{len(texts)} messages were published after the cursor {start}; you returned {got!r}"
        assert state["cursor"] == ids[-1], \
            f"after the answer, state['cursor'] should be its cursor {ids[-1]}; it is {state['cursor']!r}"
        tag = lab.get("/updates", params={"since": ids[-1]}).headers["ETag"]
        assert state.get("etag") == tag, \
            f"store the answer's ETag header ({tag}) in state['etag']; it is {state.get('etag')!r}"
        before = lab.get("/stats").json()["not_modified"]
        again = poll_once(lab.url, state)
        assert again == [], f"nothing new since the last poll: return []; you returned {again!r}"
        assert lab.get("/stats").json()["not_modified"] == before + 1, \
            "the lab answered 200 instead of 304: send the stored ETag in an If-None-Match header"
        later = random_text(rng)
        lab.publish(later)
        got = poll_once(lab.url, state)
        assert [m.get("message") for m in got] == [later], \
            f"after one more publish, return just that message; you returned {got!r}"
        broken = {"cursor": -rng.randint(1, 99), "etag": None}
        try:
            returned = poll_once(lab.url, broken)
        except Exception:
            pass
        else:
            raise AssertionError(f"with the cursor {broken['cursor']} the lab answers 400, and you returned "
                                 f"{returned!r}: raise for any status other than 200 and 304")
