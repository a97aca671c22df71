"""Exercise 15.4: ``replay_then_follow(redis_url, key, last_event_id)``, a generator that replays a
generation's Redis Stream from a reader's last id, then follows it: the check writes the stream on
a private Redis while the generator reads, adding entries while it is paused at a yield and while
it waits, and ends it (done, error, a reader already caught up)."""

from __future__ import annotations

import json
import random
import secrets
import threading
import time
from typing import Any

from labs.core.sse import EventStreamDecoder
from labs.exercises import Answer, exercise
from labs.exercises.nb15.tokens import WORDS, random_tokens
from labs.exercises.support import END, next_within


def _pull(events: Any, decoder: EventStreamDecoder, pending: list, waiting_for: str) -> Any:
    """The next whole event the answer's generator writes (None when it ended), within 3 s."""
    deadline = time.monotonic() + 3
    while not pending:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"waited 3 s for {waiting_for}, and your generator wrote no event")
        try:
            piece = next_within(events, limit=left,
                                late=f"waited 3 s for {waiting_for}: your generator is still waiting"
                                + _LOST * ("already in the stream" in waiting_for))
        except (AssertionError, NotImplementedError):
            raise
        except Exception as exc:
            raise AssertionError(f"your generator raised {type(exc).__name__} ({str(exc)[:120]}) while the check "
                                 f"waited for {waiting_for}") from None
        if piece is END:
            return None
        if not isinstance(piece, (str, bytes)):
            raise AssertionError(f"the generator should yield event-stream text (str or bytes); it yielded "
                                 f"{type(piece).__name__}")
        pending.extend(decoder.feed(piece))
    return pending.pop(0)


_LOST = (" (if it was written while your generator was paused at a yield, reading from '$' loses it: read on from "
         "the id of the last entry you sent)")


def _judge_token(event, number: int, token: str) -> None:
    if event.type == "message" and event.data == "[DONE]":
        raise AssertionError(f"[DONE] came before token {number} ({token!r}), which the stream holds")
    if event.type != "message":
        raise AssertionError(f"expected token {number}; got an `event: {event.type}`")
    try:
        data = json.loads(event.data)
    except ValueError:
        raise AssertionError(f"a token's data should be JSON like {{\"token\": ...}}; got {event.data!r:.80}") from None
    if not event.id:
        raise AssertionError("each token's event needs an `id:` (its entry's number): without it a reader has no "
                             "Last-Event-ID to resume from")
    if event.id.isdigit() and int(event.id) < number:
        raise AssertionError(f"token {event.id} came again: the reader already had it (start after last_event_id, "
                             "and after each entry you have sent)")
    if event.id != str(number):
        raise AssertionError(f"after token {number - 1} came id {event.id!r}; token {number} was skipped (an entry "
                             "written while your generator waited at a yield? read on from the last id, never '$')")
    if not isinstance(data, dict) or data.get("token") != token:
        raise AssertionError(f"token {number} should be {{\"token\": {token!r}}}; its data is {event.data!r:.80}")


class _Generation:
    """A generation's Redis Stream, written by the check: entries ``n-0`` as the kit writes them."""

    def __init__(self, client, key: str, rng: random.Random) -> None:
        self.client, self.key, self.rng, self.tokens = client, key, rng, []

    def token(self) -> None:
        token = random_tokens(self.rng, 1)[0]
        self.tokens.append(token)
        self.client.xadd(self.key, {"kind": "token", "token": token}, id=f"{len(self.tokens)}-0")

    def end(self, kind: str, **fields: str) -> None:
        self.client.xadd(self.key, {"kind": kind, **fields}, id=f"{len(self.tokens) + 1}-0")


def _follow_case(answer_function, client, url: str, rng: random.Random) -> None:
    """A generation in progress: replay from a random id, entries added while the reader is paused and
    while it waits, then the end."""
    gen = _Generation(client, f"gen:{secrets.token_hex(4)}:events", rng)
    for _ in range(rng.randint(4, 7)):
        gen.token()
    last = rng.randint(1, len(gen.tokens) - 2)
    events, decoder, pending = iter(answer_function(url, gen.key, last)), EventStreamDecoder(), []
    number, total = last + 1, len(gen.tokens) + 2 + rng.randint(2, 4)
    while number <= total:
        if number == last + 2:  # the reader is paused at a yield: two entries arrive meanwhile
            gen.token()
            gen.token()
        if number > len(gen.tokens):  # nothing left to replay: the next one comes while it waits
            threading.Timer(0.2, gen.token).start()
        what = f"token {number}" + (" (written 0.2 s after your generator asked)" if number > len(gen.tokens) else
                                    " (already in the stream)")
        event = _pull(events, decoder, pending, what)
        if event is None:
            raise AssertionError(f"your generator ended before {what}: after the replay it must go on reading "
                                 "(XREAD with BLOCK) until the end entry")
        _judge_token(event, number, gen.tokens[number - 1])
        number += 1
    threading.Timer(0.2, gen.end, args=("done",)).start()
    event = _pull(events, decoder, pending, "`data: [DONE]` (a 'done' entry was written)")
    if event is None or event.data != "[DONE]":
        raise AssertionError(f"after the 'done' entry the stream should say `data: [DONE]`; it "
                             f"{'ended' if event is None else f'sent {event.data!r:.60}'}")
    if _pull(events, decoder, pending, "your generator to end after [DONE]") is not None:
        raise AssertionError("after [DONE] the generator should end")


def _ended_case(answer_function, client, url: str, rng: random.Random, kind: str) -> None:
    """A generation that has ended already: done (read from id 0 or from its last token) or error."""
    gen = _Generation(client, f"gen:{secrets.token_hex(4)}:events", rng)
    for _ in range(rng.randint(3, 6)):
        gen.token()
    error = {"error": "model failed", "detail": rng.choice(WORDS)}
    if kind == "error":
        gen.end("error", **error)
    else:
        gen.end("done")
    last = len(gen.tokens) if kind == "caught up" else 0
    events, decoder, pending = iter(answer_function(url, gen.key, last)), EventStreamDecoder(), []
    for number in range(last + 1, len(gen.tokens) + 1):
        event = _pull(events, decoder, pending, f"token {number} (already in the stream)")
        if event is None:
            raise AssertionError(f"your generator ended before token {number}, which the stream holds")
        _judge_token(event, number, gen.tokens[number - 1])
    if kind == "error":
        event = _pull(events, decoder, pending, "the error (an 'error' entry ends the stream)")
        if event is None or event.type != "error":
            raise AssertionError(f"an 'error' entry should become an `event: error`; the stream "
                                 f"{'ended' if event is None else f'sent event {event.type!r}'}")
        data = json.loads(event.data) if event.data.startswith("{") else None
        assert isinstance(data, dict) and data.get("error") == error["error"], (
            f"the error event's data should be JSON with the entry's error, {error['error']!r}; it is {event.data!r}")
    else:
        how = "a reader that already had every token" if last else "a generation that is done"
        event = _pull(events, decoder, pending, f"`data: [DONE]` for {how}")
        if event is None or event.data != "[DONE]":
            raise AssertionError(f"for {how} the stream should end with `data: [DONE]`; it "
                                 f"{'ended' if event is None else f'sent {event.data!r:.60}'}")
    if _pull(events, decoder, pending, "your generator to end after the last event") is not None:
        raise AssertionError("after its last event the generator should end")


@exercise("15.4", hints=[
    "Two phases, one cursor: first every entry after last_event_id, then whatever is added later. Which Redis "
    "command reads entries after a given id, and can also wait for new ones?",
    "XREAD with {key: f'{cursor}-0'} returns the entries after the cursor; with block=... it waits when there are "
    "none. Move the cursor to each entry you send, and never read from '$' (entries written while you were "
    "paused at a yield would be lost).",
    "Per entry: kind 'token' -> `id: n` and `data: {\"token\": ...}`; 'done' -> `data: [DONE]` and return; 'error' -> "
    "`event: error` with JSON holding the error, and return. encode_event in labs.core.sse writes each block.",
])
def check_15_4(answer: Answer) -> None:
    import redis

    from labs.harness.redis_server import RedisServer

    replay_then_follow = answer.function("replay_then_follow")
    rng = random.Random()
    with RedisServer(private=True) as server:
        client = redis.Redis.from_url(server.url, decode_responses=True)
        try:
            for kind in ("follow", "done", "caught up", "error"):
                if kind == "follow":
                    _follow_case(replay_then_follow, client, server.url, rng)
                else:
                    _ended_case(replay_then_follow, client, server.url, rng, kind)
        finally:
            client.close()
