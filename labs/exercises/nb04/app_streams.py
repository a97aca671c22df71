"""Exercise 4.4, the running app's streams: readers of flask-sse's GET /stream and of the student's
GET /manual-stream, open at once, must each get every message published, in order, through
the Redis at ``REDIS_URL``."""

from __future__ import annotations

import json
import random
import secrets
import time
from typing import Any

from labs.exercises import expect
from labs.exercises.nb04.app_requests import check_clients, check_publishes, said
from labs.exercises.support import random_lines, random_text

WARM_UP_SECONDS = 6  # for every reader to get a first message (flask-sse subscribes in well under 1 s)


def _notify_messages(reader, path: str) -> list[Any]:
    found = []
    for event in list(reader.events):
        if event.type == "notify":
            data = expect.event_json(event, f"GET {path}")
            if not isinstance(data, dict) or "message" not in data:
                raise AssertionError(f"GET {path} sent notify data {event.data!r}; it should be JSON "
                                     "{\"message\": \"...\"}")
            found.append(data["message"])
    return found


def _diagnose(reader, path: str, app) -> str:
    if reader.error is not None and reader.status is None:
        return f"GET {path} failed: {reader.error}"
    if reader.status is None:
        return (f"GET {path} sent nothing at all, not even its headers, in {WARM_UP_SECONDS} s while messages "
                "were published: "
                "does every message reach it?")
    if reader.status != 200:
        return f"GET {path} answered {reader.status}{said(app) if reader.status >= 500 else ''}"
    kind = reader.headers.get("Content-Type", "")
    if not kind.startswith("text/event-stream"):
        return f"GET {path} answered Content-Type {kind!r}; a stream must be text/event-stream"
    other = sorted({e.type for e in reader.events} - {"notify"})
    if other:
        return f"GET {path} sent events of type {other}, but the page listens for `notify` events"
    if reader.ended.is_set():
        return f"GET {path} ended its response instead of staying open{said(app)}"
    sent = _notify_messages(reader, path)
    if sent:
        return (f"GET {path} sent notify events, but none of them carried a message that was published "
                f"(the first said {sent[0]!r})")
    return f"GET {path} is open, but no message published in {WARM_UP_SECONDS} s reached it"


def _warm_up(app, readers: dict[str, list], token: str) -> None:
    """Publish until every reader has received one, since no reader can say when it is subscribed."""
    deadline = time.monotonic() + WARM_UP_SECONDS
    count = 0
    while time.monotonic() < deadline:
        if all(any(str(m).startswith(token) for m in _notify_messages(r, p)) for p, rs in readers.items() for r in rs):
            return
        check_publishes(app, f"{token} {count}")
        count += 1
        time.sleep(0.3)
    for path, group in readers.items():
        for reader in group:
            if not any(str(m).startswith(token) for m in _notify_messages(reader, path)):
                raise AssertionError(_diagnose(reader, path, app))


def _after_warm_up(messages: list[Any], token: str) -> list[Any]:
    last = max((i for i, m in enumerate(messages) if str(m).startswith(token)), default=-1)
    return messages[last + 1:]


class ChannelWatch:
    """What goes through the Redis channel flask-sse publishes on (``sse``)."""

    def __init__(self, redis_server) -> None:
        self.client = redis_server.client()
        self.pubsub = self.client.pubsub()
        self.pubsub.subscribe("sse")
        self.seen: list[Any] = []

    def messages(self, wait: float = 1.0) -> list[Any]:
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            item = self.pubsub.get_message(timeout=0.1)
            if item and item["type"] == "message":
                data = json.loads(item["data"]).get("data")
                self.seen.append(data.get("message") if isinstance(data, dict) else data)
        return self.seen

    def close(self) -> None:
        self.pubsub.close()
        self.client.close()



def check_streams(app, watch: ChannelWatch, rng: random.Random) -> None:
    from labs.harness.client import EventStream

    readers = {"/stream": [EventStream(app.url + "/stream", wait_connected=False)],
               "/manual-stream": [EventStream(app.url + "/manual-stream", wait_connected=False) for _ in range(2)]}
    try:
        token = f"warm-up {secrets.token_hex(3)}"
        _warm_up(app, readers, token)
        for reader in readers["/manual-stream"]:
            kind = reader.headers.get("Content-Type", "")
            assert kind.startswith("text/event-stream"), (
                f"GET /manual-stream answered Content-Type {kind!r}; a stream must be text/event-stream")
        check_clients(app, len(readers["/manual-stream"]), "while two readers of GET /manual-stream are open")
        texts = [random_text(rng) for _ in range(rng.randint(2, 4))] + [random_lines(rng)]
        rng.shuffle(texts)
        for text in texts:
            check_publishes(app, text)
        deadline = time.monotonic() + 5
        for path, group in readers.items():
            for number, reader in enumerate(group, 1):
                while len(_after_warm_up(_notify_messages(reader, path), token)) < len(texts) \
                        and time.monotonic() < deadline and not reader.ended.is_set():
                    time.sleep(0.05)
                got = _after_warm_up(_notify_messages(reader, path), token)
                who = f"reader {number} of GET {path}" if len(group) > 1 else f"a reader of GET {path}"
                assert got == texts, (f"{len(texts)} messages were published (every reader should get each one, "
                                      f"in order): {texts!r}; {who} got {got!r}")
    finally:
        for group in readers.values():
            for reader in group:
                reader.close()
    through_redis = watch.messages()
    assert all(text in through_redis for text in texts), (
        "the /stream readers got the messages, but not through the Redis at REDIS_URL: read REDIS_URL from the "
        "environment for app.config[\"REDIS_URL\"]")
    assert all(message not in ("", None) for message in through_redis), (
        "a request without a message was published anyway: refuse it before publishing anything")
