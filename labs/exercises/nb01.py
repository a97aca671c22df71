"""Checks for notebook 01 (the event-stream format).

Every check decodes with the kit's browser-exact decoder (:mod:`labs.core.sse`), so an
answer is judged by what a browser would dispatch, never by how its bytes are spelled.
"""

from __future__ import annotations

import ast
import random
import re
import secrets
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from labs.core.sse import EventStreamDecoder, decode
from labs.exercises import Answer, exercise
from labs.exercises.support import serve_in_thread

_WORDS = ["alpha", "bravo", "café", "delta", "écho", "foxtrot", "golf", "hôtel", "india", "juliett",
          "kilo", "lima", "mike", "naïve", "oscar", "papa", "quebec", "romeo", "sierra", "tango", "✓"]


def _words(count: int) -> str:
    return " ".join(random.choice(_WORDS) for _ in range(count))


def _as_browser_sees(text: str) -> str:
    """What survives a trip through data: lines: CR and CRLF come back as LF."""
    return re.sub(r"\r\n|\r", "\n", text)


# ------------------------------------------------------------------ Exercise 1.1

def _tricky_messages() -> list[str]:
    """One message of every kind that trips an encoder up, with random words in each."""
    return [
        _words(3),
        f"{_words(2)}\n{_words(2)}\r\n{_words(1)}\r{_words(2)}",  # all three line ends
        f" {_words(2)}\n  {_words(1)}",                           # lines that start with spaces
        f"{_words(2)}\n\nevent: admin\nid: 999\ndata: {_words(1)}",  # a blank line and fake fields
        f"{_words(2)}\n",                                          # ends with a line break
        "",                                                        # empty
        f"{_words(1)}: {_words(2)}",                               # a colon of its own
    ]


def _why_different(text: str, got: str) -> str:
    expected = _as_browser_sees(text)
    lines, got_lines = expected.split("\n"), got.split("\n")
    if len(got_lines) == len(lines) and any(
            want.startswith(" ") and have == want[1:] for want, have in zip(lines, got_lines, strict=True)):
        return (" A line that starts with a space lost it: the browser removes one space after "
                "the colon, so a `data:` line needs that space before the line's own text.")
    if len(got_lines) < len(lines):
        return " Some of its lines are missing: every line, even an empty one, needs its own `data:` line."
    return ""


def _check_backlog(encode, messages: list[str], first_id: int, retry_ms: int) -> None:
    out = encode(list(messages), first_id, retry_ms)
    assert isinstance(out, str), f"encode_backlog should return a str, not a {type(out).__name__}"
    decoder = EventStreamDecoder()
    events = decoder.feed(out)
    decoder.close()
    if len(events) > len(messages):
        raise AssertionError(
            f"for {len(messages)} messages the browser dispatched {len(events)} events: the text of a "
            "message ended its event early (a blank line in it?) and the rest was read as new fields. "
            "Each message must become exactly one event, whatever its text holds.")
    if len(events) < len(messages):
        raise AssertionError(
            f"for {len(messages)} messages the browser dispatched only {len(events)} event(s): events "
            "ran together (each one ends with a blank line), or one had no `data:` line at all "
            "(an empty message still needs one).")
    datas, wanted = [e.data for e in events], [_as_browser_sees(text) for text in messages]
    assert datas == wanted or sorted(datas) != sorted(wanted), (
        "every message arrived, but not in the order given: send them in the order of the list")
    for number, (text, event) in enumerate(zip(messages, events, strict=True), start=1):
        assert event.type == "notify", (
            f"event {number} has the type {event.type!r}; every event should be a 'notify' event")
        assert event.data == _as_browser_sees(text), (
            f"message {number}, {text!r}, arrived as {event.data!r}.{_why_different(text, event.data)}")
        want_id = str(first_id + number - 1)
        assert event.id == want_id, (
            f"event {number} carries the id {event.id!r}, but it should be {want_id!r} "
            f"(ids count up from first_id={first_id})")
    assert decoder.retry is not None, (
        f"your stream never tells the browser how long to wait before reconnecting: send a `retry:` "
        f"field with the {retry_ms} ms you were given")
    assert decoder.retry == retry_ms, (
        f"after your stream the browser would wait {decoder.retry} ms before reconnecting, not the "
        f"{retry_ms} ms you were given")


_KIT_ENCODERS = {"encode_event", "encode_json_event"}


def _uses_kit_encoder(source: str) -> bool:
    for node in ast.walk(ast.parse(source)):
        names = {getattr(node, "id", None), getattr(node, "attr", None)}
        if isinstance(node, ast.ImportFrom):
            names |= {alias.name for alias in node.names}
        if names & _KIT_ENCODERS:
            return True
    return False


@exercise("1.1", hints=[
    "Decode what your function returns with `decode` (from `labs.core.sse`) and compare the "
    "events with the messages you gave it: which message came back different, and how?",
    "A line may end with \\n, \\r\\n or a lone \\r, and the browser treats all three alike: each "
    "line of a message, even an empty one, needs a `data:` line of its own.",
    "The browser removes exactly one space after a field's colon, and `str.splitlines()` forgets "
    "a final empty line. Each event needs its own `id:` line; one `retry:` line is enough.",
])
def check_1_1(answer: Answer) -> None:
    encode = answer.function("encode_backlog")
    assert not _uses_kit_encoder(answer.source), (
        "this exercise is about writing the lines yourself: leave the kit's encode_event out of it")
    rounds = [_tricky_messages(), random.sample(_tricky_messages(), 3), [_words(4)]]
    random.shuffle(rounds[0])
    for messages in rounds:
        _check_backlog(encode, messages, random.randint(1, 10**6), random.choice([250, 1500, 3000, 10000]))


# ------------------------------------------------------------------ Exercise 1.2

# The stream of exercise 1.2, exactly as the notebook shows it.
PREDICT_STREAM = (
    b"event: notify\n"
    b"data:first\n"
    b"data:  second\n"
    b"\n"
    b"id: 7\n"
    b"\n"
    b"event: update\n"
    b"\n"
    b"data: third\r\n"
    b"Data: shouted\r\n"
    b"\r\n"
    b": ping\n"
    b"retry: 1000\n"
    b"\n"
    b"id\n"
    b"data\n"
    b"\n"
    b"event: lost\n"
    b"data: never finished"
)


def _prediction_items(prediction) -> list[tuple]:
    assert isinstance(prediction, (list, tuple)), (
        f"write your prediction as a list of (type, data, lastEventId) tuples, not a {type(prediction).__name__}")
    items = []
    for number, item in enumerate(prediction, start=1):
        assert isinstance(item, (list, tuple)) and len(item) == 3 and all(isinstance(x, str) for x in item), (
            f"item {number} of your prediction should be a (type, data, lastEventId) tuple of three "
            f"strings, not {item!r}")
        items.append(tuple(item))
    return items


@exercise("1.2", hints=[
    "Go through the stream one line at a time with the table in section 3 beside you: a blank "
    "line dispatches an event, but only when some `data` was collected before it.",
    "Look closely at the spaces after each colon, at the lines that have no colon at all, and at a "
    "field name whose capital letter makes it a different name.",
    "An id stays in force for every later event until another `id` line changes it, even when the "
    "block that set it dispatched nothing. The last block never gets its blank line.",
])
def check_1_2(answer: Answer) -> None:
    prediction = answer.literal("prediction")
    assert not any(isinstance(node, ast.Call) for node in ast.walk(ast.parse(answer.source))), (
        "a prediction cell holds only your prediction, written out: run nothing in it")
    mine = _prediction_items(prediction)
    actual = [(e.type, e.data, e.id) for e in decode(PREDICT_STREAM)]
    if len(mine) != len(actual):
        more_or_fewer = "fewer" if len(actual) < len(mine) else "more"
        raise AssertionError(f"you predicted {len(mine)} events; the browser dispatches {more_or_fewer}")
    fields = ("type", "data", "lastEventId")
    for number, (guess, real) in enumerate(zip(mine, actual, strict=True), start=1):
        wrong = [name for name, a, b in zip(fields, guess, real, strict=True) if a != b]
        assert not wrong, (f"event {number}: your {' and '.join(wrong)} "
                           f"{'is' if len(wrong) == 1 else 'are'} not what the browser has; look again")


# ------------------------------------------------------------------ Exercise 1.3

def _event_bytes(ident: str, line_end: str, first: bool) -> bytes:
    style = random.choice(["data: ", "data:"])
    # The first event's text looks like a field: only a real parser tells them apart.
    text = f"see id: {random.randint(10, 99)}" if first else random.choice(
        [_words(3), '{"message": "' + _words(2) + '"}'])
    lines = [f"id: {ident}", f"{style}{text}"]
    random.shuffle(lines)  # the order of fields inside an event does not matter
    return (line_end.join(lines) + line_end * 2).encode()


@contextmanager
def resumable_server(ids: list[str]):
    """A stream server that resumes after the ``Last-Event-ID`` it is sent (204 when done)."""
    seen: list[str | None] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # the name http.server calls
            last = self.headers.get("Last-Event-ID")
            seen.append(last)
            rest = ids[ids.index(last) + 1:] if last in ids else ids
            if not rest:
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            line_end = random.choice(["\n", "\r\n"])
            body = b": resuming" + line_end.encode() * 2 if last else f"retry: 500{line_end}{line_end}".encode()
            body += b"".join(_event_bytes(ident, line_end, n == 0) for n, ident in enumerate(rest))
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    with serve_in_thread(ThreadingHTTPServer(("127.0.0.1", 0), Handler)) as url:
        yield url + "/stream", seen


@exercise("1.3", hints=[
    "Look at what a reconnecting EventSource sends: which request header tells the server where "
    "to carry on?",
    "Read the whole answer's bytes (`response.content`) and let the kit's `decode` find the "
    "events; each `Event` has an `.id`.",
    "A `204 No Content` answer has no body, so it holds no events at all.",
])
def check_1_3(answer: Answer) -> None:
    resume = answer.function("resume")
    ids = [secrets.token_hex(3) for _ in range(random.randint(5, 8))]
    with resumable_server(ids) as (url, seen):
        for position in sorted(random.sample(range(len(ids) - 1), 2)):
            got = resume(url, ids[position])
            if seen and seen[-1] is None:
                raise AssertionError("the server saw no Last-Event-ID header, so it sent the stream from "
                                     "the start: send the last id you saw in that header")
            assert isinstance(got, list), f"resume should return a list of ids, not a {type(got).__name__}"
            expected = ids[position + 1:]
            assert got == expected, (
                f"after id {ids[position]!r} the server resent {len(expected)} events with the ids "
                f"{expected!r}; you returned {got!r}")
        got = resume(url, ids[-1])
        assert got == [], f"after the last id the server answers 204 No Content (no events); you returned {got!r}"

