"""Checks for notebook 04 (SSE without a Blueprint).

4.1-4.3 are functions. 4.4 and 4.5 are built as files, as the course notes build them: 4.4's
cell *is* ``app.py`` (run here as ``python app.py``, with a private Redis), and 4.5's page
(``INDEX_HTML``) runs in headless Chromium.
"""

from __future__ import annotations

import ast
import json
import random
import re
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from labs.core.sse import Event, EventStreamDecoder, decode
from labs.exercises import Answer, exercise
from labs.exercises.remote import RemoteObject
from labs.exercises.support import browser_for_check, random_text, run_with_limit, serve_wsgi


def _as_text(value: Any, call: str) -> str:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8")
    if not isinstance(value, str):
        raise AssertionError(f"{call} should return event-stream text (a str); it returned {value!r}")
    return value


def _is_comment_only(text: str) -> bool:
    """True for text that dispatches nothing and holds at least one comment line (a keep-alive)."""
    return decode(text) == [] and any(line.startswith(":") for line in text.splitlines())


def _json_of(event: Event, where: str) -> Any:
    try:
        return event.json()
    except ValueError:
        raise AssertionError(f"{where}: the data of a `{event.type}` event should be JSON such as "
                             f"{{\"message\": \"...\"}}; it was {event.data!r}") from None


def _multi_line(rng: random.Random) -> str:
    return f"{random_text(rng)}\ndata: a second line {secrets.token_hex(2)}"


# ------------------------------------------------------------------ 4.1

def _replay_history(rng: random.Random) -> tuple[list[int], dict[int, str], int]:
    """Kept ids with gaps (the counter is shared with other channels), texts, and `forgotten`."""
    ids = [rng.randint(10, 400)]
    steps = [rng.randint(2, 9)] + [rng.choice([1, 1, 2, 3, 5, 8]) for _ in range(rng.randint(3, 5))]
    rng.shuffle(steps)
    for step in steps:
        ids.append(ids[-1] + step)
    texts = {ident: random_text(rng) for ident in ids}
    texts[rng.choice(ids)] = _multi_line(rng)  # a newline must not break the framing
    forgotten = ids[0] - rng.randint(1, 6)
    return ids, texts, forgotten


def _shuffled(texts: dict[int, str], rng: random.Random) -> dict[int, str]:
    order = list(texts)
    while len(order) > 1 and order == sorted(order):
        rng.shuffle(order)
    return {ident: texts[ident] for ident in order}


def _replay_cases(ids: list[int], forgotten: int, rng: random.Random) -> list[tuple[int, str | None, bool, list[int]]]:
    """(forgotten, last_event_id, gap expected, ids expected) for one history."""
    middle = rng.choice(ids[1:-1])
    cases = [
        (forgotten, None, False, []),
        (forgotten, str(middle), False, [i for i in ids if i > middle]),
        (forgotten, str(ids[-1]), False, []),
        (forgotten, str(forgotten), False, ids),
        (forgotten, str(forgotten - rng.randint(1, min(9, forgotten))), True, ids),
        (forgotten, f"tab-{secrets.token_hex(3)}", True, ids),
        (0, str(ids[0] - rng.randint(1, 5)), False, ids),
    ]
    if ids[0] - forgotten > 1:  # an id between the forgotten ones and the kept ones: nothing lost
        cases.append((forgotten, str(rng.randint(forgotten + 1, ids[0] - 1)), False, ids))
    rng.shuffle(cases)
    return cases


def _judge_replay(events: list[Event], call: str, header: str | None, forgotten: int,
                  gap: bool, want: list[int], texts: dict[int, str]) -> None:
    if header is None:
        assert not events, f"{call}: a new reader (no Last-Event-ID) gets nothing replayed; you sent {events!r}"
        return
    gaps = [e for e in events if e.type == "gap"]
    if gap:
        why = ("is not an id at all" if not header.lstrip("-").isdigit()
               else f"is older than the newest forgotten id {forgotten}")
        assert events and events[0].type == "gap", (
            f"{call}: the reader's last id {header!r} {why}, so it may have missed messages: "
            f"start with a `gap` event; you sent {[e.type for e in events] or 'nothing'}")
        data = _json_of(events[0], call)
        assert isinstance(data, dict) and data.get("last_event_id") == header, (
            f"{call}: the gap event's data should be JSON with the reader's \"last_event_id\" ({header!r}); "
            f"it was {events[0].data!r}")
        assert len(gaps) == 1, f"{call}: send one gap event, not {len(gaps)}"
        events = events[1:]
    else:
        why = ("nothing was forgotten (forgotten=0)" if forgotten == 0 else
               f"the reader's last id {header} is not older than the newest forgotten id {forgotten}")
        assert not gaps, f"{call}: {why}, so the reader missed nothing: send no gap event"
    kinds = sorted({e.type for e in events} - {"notify"})
    assert not kinds, f"{call}: the replayed messages should be `notify` events; you sent {kinds}"
    got_ids, want_ids = [e.id for e in events], [str(i) for i in want]
    unordered = got_ids != want_ids and sorted(got_ids) == sorted(want_ids)
    assert got_ids == want_ids, (
        f"{call}: send the kept messages after {header}, oldest first, each with its id: ids {want}; "
        f"your events carried the ids {got_ids}" + (" (the history dict is in no particular order)" if unordered
                                                     else " (an event without an `id:` line keeps the one before)"
                                                     if "" in got_ids or len(set(got_ids)) < len(got_ids) else ""))
    for event, ident in zip(events, want, strict=True):
        data = _json_of(event, call)
        assert data == {"message": texts[ident]}, (
            f"{call}: event {ident} should carry the data {json.dumps({'message': texts[ident]})}; it carried "
            f"{event.data!r}")


@exercise("4.1", hints=[
    "Four situations: a new reader, a reader who missed nothing that was forgotten, one who may have missed "
    "something, and a header that is not a number. Write down what each should get before you code.",
    "The ids have gaps, so count nothing: compare. A message is replayed when its id is greater than the "
    "reader's; a gap is possible only when the reader's id is below `forgotten`. Sort the history by id.",
    "Build the text from pieces that notebook 01's encoder makes (it takes `event=` and `id=`), one per "
    "event, and join them. A header that `int()` cannot read counts as \"may have missed something\".",
])
def check_4_1(answer: Answer) -> None:
    replay_text = answer.function("replay_text")
    rng = random.Random()
    for _ in range(3):
        ids, texts, forgotten = _replay_history(rng)
        for kept_forgotten, header, gap, want in _replay_cases(ids, forgotten, rng):
            history = _shuffled(texts, rng)
            given = dict(history)
            call = (f"replay_text(history with ids {sorted(history)}, forgotten={kept_forgotten}, "
                    f"last_event_id={header!r})")
            text = _as_text(replay_text(history, kept_forgotten, header), call)
            assert history == given, f"{call} changed the history it was given; only read it"
            _judge_replay(decode(text), call, header, kept_forgotten, gap, want, texts)


# ------------------------------------------------------------------ 4.2

class _GuardedSet(set):
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
    setattr(_GuardedSet, _name, _guarded(_name))

_END = object()


def _advance(stream: Any, late: str) -> Any:
    chunk = run_with_limit(next, stream, _END, limit=3, late=late)
    if chunk is _END:
        raise AssertionError("your stream ended on its own; it should go on for as long as the reader stays")
    return chunk


def _stream_events(stream: Any, count: int, late: str) -> list[Event]:
    decoder, events = EventStreamDecoder(), []
    for _ in range(4 * count + 3):  # a chunk may hold part of an event, or a keep-alive
        if len(events) >= count:
            break
        events += decoder.feed(_as_text(_advance(stream, late), "each chunk your stream yields"))
    return events


def _assert_locked(subscribers: Any) -> None:
    unguarded = subscribers.unguarded  # a _GuardedSet on the answer's side: its list, read through the proxy
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
    subscribers = answer.inside("new", "labs.exercises.nb04._GuardedSet", lock)
    stream = notify_stream(subscribers, lock)
    assert isinstance(stream, RemoteObject) and stream.is_a("builtins.generator"), (
        f"notify_stream should be a generator (a function that yields); calling it returned {stream!r}")
    first = _as_text(_advance(stream, "your stream had not yielded its first chunk 3 s after it started: yield "
                                      "the ': connected' comment before waiting for a message"), "the first chunk")
    assert _is_comment_only(first), (
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

    texts = [random_text(rng), _multi_line(rng)]
    for text in texts:
        mine.put(text)
    late = (f"{len(texts)} messages were put in the stream's queue, but it had not yielded them 3 s later: "
            "take them from the queue your stream registered")
    events = _stream_events(stream, len(texts), late)
    got = [(e.type, _json_of(e, "your stream")) for e in events]
    want = [("notify", {"message": text}) for text in texts]
    assert got == want, f"for the messages {texts!r} the stream should send the events {want!r}; it sent {got!r}"
    solo = random_text(rng)
    theirs.put(solo)
    got = [(e.type, _json_of(e, "your stream")) for e in _stream_events(other, 1, late)]
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


# ------------------------------------------------------------------ 4.3

def _one_notify(chunk: Any, call: str, text: str) -> None:
    events = decode(_as_text(chunk, call))
    got = [(e.type, _json_of(e, call)) for e in events]
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
    text = _as_text(quiet, call)
    assert _is_comment_only(text), (
        f"{call} should return a keep-alive comment (a line starting with ':', no event); it returned {quiet!r}")
    assert waited >= 0.6 * wait, (
        f"{call} returned after {waited:.2f} s: wait up to keepalive_seconds for a message before giving up")

    first, second = random_text(rng), _multi_line(rng)
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


# ------------------------------------------------------------------ 4.4: app.py

_STUBS_4_4 = 3  # `raise NotImplementedError` lines in the notebook's app.py skeleton
WARM_UP_SECONDS = 6  # for every reader to get a first message (flask-sse subscribes in well under 1 s)
_PAGE = "<!DOCTYPE html><title>page</title><ul id='notifications'></ul>\n"


def _stubs_left(source: str, total: int) -> None:
    """NotImplementedError when no stub was replaced; AssertionError naming a stub still left."""
    lines = sorted(node.lineno for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Raise)
                   and node.exc is not None and "NotImplementedError" in ast.unparse(node.exc))
    if len(lines) >= total:
        raise NotImplementedError
    if lines:
        raise AssertionError(f"line {lines[0]} of your file still raises NotImplementedError: replace it too")


def _flask_app(answer: Answer):
    apps = [value for value in map(answer.get, answer.names())
            if isinstance(value, RemoteObject) and value.is_a("flask.app.Flask")]
    assert len(apps) == 1, f"your file should make one Flask app (app = Flask(__name__)); it makes {len(apps)}"
    return apps[0]


def _check_routes(answer: Answer, app) -> None:
    rules = [(rule, endpoint, set(methods)) for rule, endpoint, methods in answer.inside("url_rules", app)]
    uses = answer.inside("flask_sse_views", app)  # endpoint -> "blueprint", "uses" or ""
    mounted = [rule for rule, endpoint, _ in rules if uses.get(endpoint) == "blueprint"]
    assert mounted, "register flask-sse's Blueprint (`sse`) on your app, as the notes do"
    assert "/stream" in mounted, f"flask-sse's Blueprint answers at {mounted[0]}; mount it at /stream"
    by_path = {rule: (endpoint, methods) for rule, endpoint, methods in rules}
    send = by_path.get("/send_notification")
    assert send is not None and "POST" in send[1], "your app needs a route POST /send_notification"
    manual = by_path.get("/manual-stream")
    assert manual is not None and "GET" in manual[1], "your app needs a route GET /manual-stream"
    assert not uses.get(manual[0]), (
        "GET /manual-stream should stream without flask-sse: a Response built from a generator of your own "
        "(it uses flask-sse's stream/messages)")


def _said(app) -> str:
    error = app.last_error()
    return f" (your app printed: {error})" if error else ""


def _post(app, payload: Any):
    import requests

    return requests.post(app.url + "/send_notification", json=payload, timeout=10)


def _check_publishes(app, text: str) -> None:
    answer = _post(app, {"message": text})
    if answer.status_code >= 500:
        raise AssertionError(f"POST /send_notification with a message answered {answer.status_code}{_said(app)}")
    assert 200 <= answer.status_code < 300, (
        f"POST /send_notification with a message should succeed (2xx); it answered {answer.status_code}")
    assert "json" in answer.headers.get("Content-Type", ""), (
        "POST /send_notification with a message should answer JSON (jsonify); it answered Content-Type "
        f"{answer.headers.get('Content-Type')!r}")


def _check_refuses_empty(app) -> None:
    for payload in ({"message": ""}, {}):
        answer = _post(app, payload)
        shown = json.dumps(payload)
        if answer.status_code >= 500:
            raise AssertionError(f"POST /send_notification with {shown} answered {answer.status_code}"
                                 f"{_said(app)}: refuse it with a 400 instead")
        assert 400 <= answer.status_code < 500, (
            f"POST /send_notification with {shown} has no message to send: answer 400, not {answer.status_code}")
        assert "json" in answer.headers.get("Content-Type", ""), (
            f"answer POST /send_notification with {shown} with a JSON error (jsonify), so a page can read it; "
            f"it answered Content-Type {answer.headers.get('Content-Type')!r}")


def _check_local_only(app) -> None:
    exposed = [f"{ip}:{port}" for ip, port in app.listening() if ip not in ("127.0.0.1", "::1")]
    assert not exposed, (f"your app listens on {exposed[0]}, open to the whole network: serve on 127.0.0.1 "
                         "(app.run(host=\"127.0.0.1\", ...))")


def _notify_messages(reader, path: str) -> list[Any]:
    found = []
    for event in list(reader.events):
        if event.type == "notify":
            data = _json_of(event, f"GET {path}")
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
        return f"GET {path} answered {reader.status}{_said(app) if reader.status >= 500 else ''}"
    kind = reader.headers.get("Content-Type", "")
    if not kind.startswith("text/event-stream"):
        return f"GET {path} answered Content-Type {kind!r}; a stream must be text/event-stream"
    other = sorted({e.type for e in reader.events} - {"notify"})
    if other:
        return f"GET {path} sent events of type {other}, but the page listens for `notify` events"
    if reader.ended.is_set():
        return f"GET {path} ended its response instead of staying open{_said(app)}"
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
        _check_publishes(app, f"{token} {count}")
        count += 1
        time.sleep(0.3)
    for path, group in readers.items():
        for reader in group:
            if not any(str(m).startswith(token) for m in _notify_messages(reader, path)):
                raise AssertionError(_diagnose(reader, path, app))


def _after_warm_up(messages: list[Any], token: str) -> list[Any]:
    last = max((i for i, m in enumerate(messages) if str(m).startswith(token)), default=-1)
    return messages[last + 1:]


class _ChannelWatch:
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


def _clients(app) -> Any:
    import requests

    answer = requests.get(app.url + "/stats", timeout=5)
    assert answer.status_code == 200, (
        f"GET /stats answered {answer.status_code}{_said(app) if answer.status_code >= 500 else ''}: it should "
        "answer JSON {\"clients\": N}, N the number of open /manual-stream readers")
    try:
        data = answer.json()
    except ValueError:
        data = None
    assert isinstance(data, dict) and "clients" in data, (
        f"GET /stats should answer JSON {{\"clients\": N}}; it answered {answer.text[:200]!r}")
    return data["clients"]


def _check_clients(app, count: int, when: str) -> None:
    clients = _clients(app)
    assert clients == count, f"{when}, GET /stats says {{\"clients\": {clients!r}}}; it should count {count}"


def _check_readers_leave(app, rng: random.Random) -> None:
    """After the readers hung up (``_check_streams`` closed them), a message or two makes the server
    notice (a write to a closed connection fails): then nothing of theirs may be left."""
    deadline = time.monotonic() + 3
    while (clients := _clients(app)) != 0 and time.monotonic() < deadline:
        _check_publishes(app, random_text(rng))
        time.sleep(0.2)
    assert clients == 0, (
        f"every reader of GET /manual-stream hung up, and messages were published since, yet GET /stats still "
        f"counts {clients!r} clients: a reader that leaves must leave nothing behind (its queue too)")


def _check_streams(app, watch: _ChannelWatch, rng: random.Random) -> None:
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
        _check_clients(app, len(readers["/manual-stream"]), "while two readers of GET /manual-stream are open")
        texts = [random_text(rng) for _ in range(rng.randint(2, 4))] + [_multi_line(rng)]
        rng.shuffle(texts)
        for text in texts:
            _check_publishes(app, text)
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


@exercise("4.4", hints=[
    "Do the skeleton's numbered steps in order, and run your file from a terminal as section 8 shows: a "
    "traceback there tells you more than any check.",
    "flask-sse only serves /stream. Your /manual-stream needs each message too, so POST /send_notification "
    "must also hand it to every open manual stream: one queue per reader, as in section 3 and exercise 4.2.",
    "The manual route returns a Response built from a generator, with the event-stream mimetype; the "
    "generator registers its queue, yields one notify event per message and unregisters in `finally`. The "
    "port arrives as text in the environment.",
], timeout=90)
def check_4_4(answer: Answer) -> None:
    from labs.exercises.apps import run_app
    from labs.harness.redis_server import RedisServer

    _stubs_left(answer.source, _STUBS_4_4)
    _check_routes(answer, _flask_app(answer))
    rng = random.Random()
    with RedisServer(private=True) as redis_server:
        watch = _ChannelWatch(redis_server)
        try:
            with run_app(answer.source, env={"REDIS_URL": redis_server.url},
                         files={"templates/index.html": _PAGE}) as app:
                _check_local_only(app)
                _check_publishes(app, random_text(rng))
                _check_refuses_empty(app)
                _check_streams(app, watch, rng)
                _check_readers_leave(app, rng)
        finally:
            watch.close()


# ------------------------------------------------------------------ 4.5: index.html

def _script_code(page: str) -> str:
    """The page's inline JavaScript, without comments and blank space."""
    code = " ".join(re.findall(r"<script\b[^>]*>(.*?)</script\s*>", page, flags=re.S | re.I))
    code = re.sub(r"/\*.*?\*/", " ", code, flags=re.S)
    code = re.sub(r"(^|\s)//[^\n]*", " ", code)
    return code.strip()


@contextmanager
def _page_server(page: str, redis_url: str) -> Iterator[str]:
    """The notes' app in miniature: the page at /, flask-sse's Blueprint at /stream, and
    POST /send_notification, served from a thread of this process."""
    import logging

    from flask import Flask, Response, request
    from flask_sse import sse

    app = Flask("exercise_4_5_server")
    app.config["REDIS_URL"] = redis_url
    app.register_blueprint(sse, url_prefix="/stream")
    app.add_url_rule("/", "index", lambda: Response(page, mimetype="text/html"))

    @app.post("/send_notification")
    def send_notification():
        sse.publish({"message": request.get_json()["message"]}, type="notify")
        return {"status": "success"}

    # Once Redis stops, flask-sse's stream threads that outlived their page log an error: not the page's.
    with serve_wsgi(app, quiet_below=logging.CRITICAL) as url:
        yield url


_READ_LIST = """() => {
  const list = document.getElementById("notifications");
  if (!list) return null;
  return {items: Array.from(list.children, (item) => item.textContent.trim()),
          markup: list.querySelectorAll("b, img").length, text: list.textContent.slice(0, 300)};
}"""


def _listening(client) -> int:
    return dict(client.pubsub_numsub("sse")).get("sse", 0)


def _wait_for_listener(client, errors: list[str], seconds: float = 5) -> None:
    """Until the page's EventSource is subscribed; a page whose script failed gets a second."""
    started = time.monotonic()
    while _listening(client) < 1:
        waited = time.monotonic() - started
        if waited > seconds or (errors and waited > 1):
            failed = f" (its JavaScript failed: {errors[0]})" if errors else ""
            raise AssertionError(f"your page did not open an EventSource on /stream within {waited:.0f} s{failed}")
        time.sleep(0.1)


def _read_page(tab, count: int) -> dict | None:
    deadline = time.monotonic() + 4
    seen = tab.evaluate(_READ_LIST)
    while seen is not None and len(seen["items"]) < count and time.monotonic() < deadline:
        time.sleep(0.1)
        seen = tab.evaluate(_READ_LIST)
    return seen


def _judge_page(seen: dict | None, texts: list[str], probe_fired: bool, errors: list[str]) -> None:
    assert seen is not None, "your page needs the list the messages go into: an element with id=\"notifications\""
    items = seen["items"]
    if probe_fired or seen["markup"]:
        happened = ("an <img> in a message ran its onerror JavaScript in your page" if probe_fired
                    else "the markup in a message became elements of your page")
        raise AssertionError(f"messages were inserted as HTML: {happened}. A message is text from anyone: "
                             "insert it as text, never as HTML")
    if not items:
        failed = f" Your page's JavaScript failed: {errors[0]}" if errors else ""
        raise AssertionError(f"your page had an EventSource open on /stream and {len(texts)} notify events were "
                             f"sent, but #notifications stayed empty.{failed}")
    if all(item.startswith("{") for item in items):
        raise AssertionError(f"the list shows each event's data as it came, JSON text such as {items[0]!r}: parse "
                             "it and show its message")
    assert items in (texts, texts[::-1]), (
        f"{len(texts)} messages were sent, and the list should show them as text, one item each, in the order "
        f"they came (or newest first): {texts!r}; it shows {items!r}")


@exercise("4.5", hints=[
    "Three steps, in the page's <script>: open a connection to the stream, react to each event the server "
    "sends, and put its message on the page. Try your page in the app of exercise 4.4, with the browser's "
    "developer console open.",
    "The server names its events (`event: notify`): `onmessage` only sees events without a name. "
    "`event.data` is a string: it holds JSON.",
    "One new element per message in #notifications, its text set as text: a message is text from anyone, "
    "and markup in it must show as typed, not run.",
])
def check_4_5(answer: Answer) -> None:
    page = answer.value("INDEX_HTML")
    if isinstance(page, bytes):
        page = page.decode("utf-8")
    assert isinstance(page, str), f"INDEX_HTML should be the page's HTML, a str; it is {type(page).__name__}"
    if not _script_code(page):
        raise NotImplementedError  # the skeleton's <script> holds only comments
    from labs.harness.redis_server import RedisServer

    rng = random.Random()
    flag = f"sseKitProbe{secrets.token_hex(4)}"
    texts = [random_text(rng), f'<img src="x-{secrets.token_hex(2)}" onerror="window.{flag}=1">',
             random_text(rng), f"Tom & Jerry's \"{secrets.token_hex(2)}\" café"]
    rng.shuffle(texts)
    with RedisServer(private=True) as redis_server, _page_server(page, redis_server.url) as url, \
            browser_for_check("your page") as browser:
        client = redis_server.client()
        try:
            tab = browser.new_page()
            errors: list[str] = []
            tab.on("pageerror", lambda error: errors.append(str(error)))
            tab.goto(url + "/", wait_until="load", timeout=10_000)
            _wait_for_listener(client, errors)
            import requests

            for text in texts:
                requests.post(url + "/send_notification", json={"message": text}, timeout=10).raise_for_status()
            seen = _read_page(tab, len(texts))
            probe_fired = bool(tab.evaluate(f"() => window.{flag} === 1"))
            _judge_page(seen, texts, probe_fired, errors)
        finally:
            client.close()
