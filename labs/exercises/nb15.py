"""Checks for notebook 15 (LLM streams and resumable generations).

15.1 runs the student's JavaScript ``readTokens`` in headless Chromium on token streams cut at
places it cannot predict.  15.2 serves the student's generator with Werkzeug, hangs up in the
middle of an answer (also while the "model" is silent) and times how soon the generator lets it
stop.  (Both were notebook 12's 12.2 and 12.3.)  15.3 hands the student's ``read_message``
Anthropic Messages streams of its own making, cut anywhere: pings, event types nobody has seen,
a thinking block, an ``event: error`` in the middle, a connection that drops before
``message_stop``.  15.4 writes a generation's Redis Stream on a private Redis while the student's
``replay_then_follow`` reads it: a replay from a random id, entries added while the generator is
paused at a yield and while it waits, and the ends (done, error, a reader already caught up).
"""

from __future__ import annotations

import json
import queue
import random
import re
import secrets
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from labs.core.sse import EventStreamDecoder
from labs.exercises import Answer, exercise
from labs.exercises.remote import AnswerGone, AnswerTimeout
from labs.exercises.support import browser_for_check, serve_wsgi

_WORDS = ["stream", "origin", "ticket", "token", "cookie", "preflight", "chunk", "reader", "café", "naïve",
          "5 €", "🙂", "日本", "Grüße", "señor", "\"quoted\"", "a\nb", "<b>x</b>"]


def _tokens(rng: random.Random, count: int) -> list[str]:
    return [rng.choice(["", " "]) + rng.choice(_WORDS) + rng.choice(["", str(rng.randint(0, 99))])
            for _ in range(count)]


# ------------------------------------------------------------------ 15.1: the JavaScript loop

def _is_the_stub(source: str) -> bool:
    """True for the shipped cell's JavaScript (comments and spacing aside): the stub, untouched."""
    code = re.sub(r"//[^\n]*|/\*.*?\*/|\s+", "", source, flags=re.S)
    return code == 'asyncfunctionreadTokens(response,onToken){thrownewError("notimplemented");}'


def _token_stream(tokens: list[str], ending: str, done: bool, rng: random.Random) -> bytes:
    """A token stream; some events spread their JSON over two ``data:`` lines, as some servers write it."""
    blocks = [": connected"]
    two_lines = {rng.randrange(len(tokens))} | {i for i in range(len(tokens)) if rng.random() < 0.3}
    for index, token in enumerate(tokens):
        if rng.random() < 0.3:
            blocks.append(": keep-alive")
        text = json.dumps({"index": index, "token": token}, ensure_ascii=False)
        if index in two_lines:  # a reader that joins the data lines with a line break gets the same JSON
            text = text.replace(", ", ",\n", 1)
        blocks.append(ending.join("data: " + line for line in text.split("\n")))
    if done:
        blocks.append("data: [DONE]")
    return "".join(block + ending * 2 for block in blocks).encode("utf-8")


def _hard_cuts(raw: bytes, rng: random.Random) -> list[int]:
    """Cut points inside UTF-8 characters, after every CR (between it and its LF, if it has one),
    and elsewhere at random."""
    inside = [i for i in range(1, len(raw)) if raw[i] & 0xC0 == 0x80]
    after_cr = [i + 1 for i in range(len(raw) - 1) if raw[i:i + 1] == b"\r"]
    points = rng.sample(inside, min(len(inside), 8)) + after_cr
    return sorted(set(points + [rng.randrange(1, len(raw)) for _ in range(8)]))


def _cut(raw: bytes, points: list[int]) -> list[list[int]]:
    edges = [0, *points, len(raw)]
    return [list(raw[a:b]) for a, b in zip(edges, edges[1:], strict=False) if b > a]


# The harness: a Response whose body delivers exactly these chunks (and, if `hold`, never
# ends), handed to the student's readTokens.
_HARNESS = """async ([chunks, hold]) => {
  if (typeof readTokens !== "function") return {missing: true};
  const body = new ReadableStream({start(controller) {
    for (const chunk of chunks) controller.enqueue(new Uint8Array(chunk));
    if (!hold) controller.close();
  }});
  const response = new Response(body, {headers: {"Content-Type": "text/event-stream"}});
  const tokens = [];
  const timeout = new Promise((resolve) => setTimeout(() => resolve("timeout"), 3000));
  try {
    const done = await Promise.race([readTokens(response, (token) => { tokens.push(token); }), timeout]);
    return {tokens, done};
  } catch (error) {
    return {tokens, error: String(error && error.message || error)};
  }
}"""


def _judge_js_run(seen: dict, tokens: list[str], done: bool, how: str) -> None:
    if seen.get("error") == "not implemented":
        raise NotImplementedError
    if seen.get("error"):
        why = (" (an event's data may come in several `data:` lines, to be joined with a line break, and a chunk "
               "may end anywhere)" if "JSON" in seen["error"] else "")
        raise AssertionError(f"readTokens threw on {how}: {seen['error']}{why}")
    if seen["done"] == "timeout":
        extra = " (it must stop at [DONE]: the server may keep the connection open)" if done else ""
        raise AssertionError(f"readTokens did not finish within 3 s on {how}{extra}; it delivered "
                             f"{len(seen['tokens'])} of {len(tokens)} tokens")
    if seen["tokens"] != tokens:
        got = seen["tokens"]
        pairs = enumerate(zip(got, tokens, strict=False))
        first = next((i for i, (a, b) in pairs if a != b), min(len(got), len(tokens)))
        raise AssertionError(f"on {how}, the tokens differ from token {first} on: expected "
                             f"{tokens[first:first + 3]!r}, got {got[first:first + 3]!r} ({len(got)} tokens "
                             f"instead of {len(tokens)})")
    if seen["done"] is not done:
        raise AssertionError(f"on {how}, readTokens resolved with {seen['done']!r}; it should resolve with "
                             f"{str(done).lower()} ({'[DONE] came' if done else 'the stream ended without [DONE]'})")


def _js_cases(rng: random.Random) -> list[tuple[str, list[list[int]], bool, list[str], bool]]:
    """(what, chunks, hold the body open, expected tokens, expected done)."""
    cases = []
    tokens = _tokens(rng, rng.randint(6, 10))
    lf = _token_stream(tokens, "\n", True, rng)
    cases.append(("a stream in one chunk", _cut(lf, []), False, tokens, True))
    cases.append(("a stream delivered one byte at a time", _cut(lf, list(range(1, len(lf)))), False, tokens, True))
    crlf_tokens = _tokens(rng, rng.randint(6, 10))
    crlf = _token_stream(crlf_tokens, "\r\n", True, rng)
    cases.append(("a CRLF stream cut inside UTF-8 characters and between CR and LF", _cut(crlf, _hard_cuts(crlf, rng)),
                  False, crlf_tokens, True))
    cr_tokens = _tokens(rng, rng.randint(6, 10))
    cr = _token_stream(cr_tokens, "\r", True, rng)
    cases.append(("a stream whose lines end in a bare CR (\\r), cut after every CR and at random places",
                  _cut(cr, _hard_cuts(cr, rng)), False, cr_tokens, True))
    for ending in rng.sample(["\n", "\r\n", "\r"], 3):
        raw = _token_stream(tokens, ending, True, rng)
        cases.append(("a stream cut at random places", _cut(raw, _hard_cuts(raw, rng)), False, tokens, True))
    held = _token_stream(tokens, "\n", True, rng) + b"data: " + json.dumps({"token": "after DONE"}).encode() + b"\n\n"
    cases.append(("a stream whose connection stays open after [DONE]", _cut(held, _hard_cuts(held, rng)), True,
                  tokens, True))
    short = tokens[:rng.randint(2, 4)]
    cut_short = _token_stream(short, rng.choice(["\n", "\r\n", "\r"]), False, rng)
    cases.append(("a stream that ends without [DONE]", _cut(cut_short, _hard_cuts(cut_short, rng)), False, short,
                  False))
    return cases


@exercise("15.1", hints=[
    "Read response.body with getReader() in a loop; each read() gives a Uint8Array of whatever arrived. Nothing "
    "says a chunk ends where an event ends: keep what is unfinished for the next read.",
    "Decode bytes with one TextDecoder and {stream: true} (it keeps half a character for later); keep a text "
    "buffer, and only handle lines that are complete. A line may end in \\r\\n, whose \\r and \\n can arrive "
    "in two reads.",
    "Per line: skip comments (':'), collect what follows 'data:' (one optional space). At a blank line the event "
    "is complete: join its data lines with '\\n'; '[DONE]' resolves true (stop reading), anything else is JSON "
    "whose .token goes to onToken.",
])
def check_15_1(answer: Answer) -> None:
    source = answer.value("READ_TOKENS_JS")
    assert isinstance(source, str), f"READ_TOKENS_JS should be JavaScript source, a str; it is {type(source).__name__}"
    if _is_the_stub(source):
        raise NotImplementedError  # untouched: "not started", with a browser or without
    rng = random.Random()
    with browser_for_check("your JavaScript") as browser:
        from playwright.sync_api import Error as PlaywrightError

        tab = browser.new_page()
        errors: list[str] = []
        tab.on("pageerror", lambda error: errors.append(str(error)))
        tab.set_content("<!doctype html><title>exercise 15.1</title>")
        try:
            tab.add_script_tag(content=source + "\ntry { window.readTokens = readTokens; } catch (e) {}")
        except PlaywrightError as exc:
            raise AssertionError(f"your JavaScript does not load: {str(exc).splitlines()[0]}") from None
        for how, chunks, hold, tokens, done in _js_cases(rng):
            seen = tab.evaluate(_HARNESS, [chunks, hold])
            if seen.get("missing"):
                loaded = f" (it did not load: {errors[0]})" if errors else ""
                raise AssertionError("READ_TOKENS_JS should define a function readTokens(response, onToken)"
                                     + loaded)
            _judge_js_run(seen, tokens, done, how)


# ------------------------------------------------------------------ 15.2: stop when the client goes

class _Model:
    """A model that writes tokens into a queue from its own thread, until told to stop."""

    def __init__(self, answer: Answer, tokens: list[str], *, gap: float, pause_after: int | None = None,
                 pause: float = 0.0) -> None:
        self.tokens, self.gap = tokens, gap
        self.pause_after, self.pause = pause_after, pause
        # the queue and the event live where the answer runs (it gets them as they are); here, proxies
        self.stop, self.queue = answer.inside("new", "threading.Event"), answer.inside("new", "queue.Queue")
        self.produced = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _wait(self, seconds: float) -> bool:
        return self.stop.wait(seconds)  # True: told to stop

    def _run(self) -> None:
        try:
            for index, token in enumerate(self.tokens):
                if self._wait(self.gap if index != self.pause_after else self.pause):
                    return
                self.queue.put(token)
                self.produced += 1
            self.queue.put(None)  # the end of the answer
        except (AnswerGone, AnswerTimeout):
            return  # the check is over and the answer's process with it: nobody reads the model any more


def _stream_app(token_events: Callable, models: queue.Queue):
    from flask import Flask, Response

    app = Flask("exercise_15_2")

    @app.post("/generate")
    def generate():
        model = models.get_nowait()
        model.thread.start()
        body = token_events(model.queue, model.stop)
        return Response(body, mimetype="text/event-stream")

    return app


def _open(url: str) -> tuple[socket.socket, Any]:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.sendall(b"POST /generate HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
    return sock, sock.makefile("rb")


def _read_tokens(reader, want: int | None, deadline: float) -> tuple[list[str], bool]:
    """Read the chunked answer's events until `want` tokens (or the end); returns (tokens, done)."""
    decoder, tokens = EventStreamDecoder(), []
    while reader.readline().strip():  # the status line and headers
        pass
    while time.monotonic() < deadline:
        size = int(reader.readline().split(b";")[0] or b"0", 16)
        if size == 0:
            return tokens, False
        chunk = reader.read(size + 2)[:size]
        for event in decoder.feed(chunk):
            if event.data == "[DONE]":
                return tokens, True
            try:
                tokens.append(json.loads(event.data)["token"])
            except (ValueError, KeyError, TypeError):
                raise AssertionError(f"each token's event should carry JSON like {{\"token\": ...}}; one carried "
                                     f"{event.data!r}") from None
            if want is not None and len(tokens) >= want:
                return tokens, False
    raise AssertionError("the stream sent nothing for 10 s")


def _hang_up(sock: socket.socket, reader) -> None:
    reader.close()  # the file object holds the socket open too
    sock.close()


def _stopped_within(stop: threading.Event, seconds: float) -> float | None:
    start = time.monotonic()
    return time.monotonic() - start if stop.wait(seconds) else None


@exercise("15.2", hints=[
    "Run the check and read what it says: a generator is only told that its reader left when the server's write "
    "fails, or when the server closes it (GeneratorExit at its yield). Where does your generator release the model?",
    "Set `stop` in a `finally:` around the whole loop: it runs when the answer is done, when the server closes the "
    "generator, and when anything fails.",
    "While the model is silent your generator is blocked in tokens.get(), so it never writes and never learns the "
    "reader left. Wait with a timeout (get(timeout=...)) and yield a comment (': keep-alive') when nothing came.",
])
def check_15_2(answer: Answer) -> None:
    token_events = answer.function("token_events")
    tokens, stop = answer.inside("new", "queue.Queue"), answer.inside("new", "threading.Event")
    probe = token_events(tokens, stop)  # here, not in the server: a stub's error counts
    if hasattr(probe, "close"):
        probe.close()
    rng = random.Random()
    models: queue.Queue = queue.Queue()
    with serve_wsgi(_stream_app(token_events, models)) as url:
        whole = _tokens(rng, rng.randint(4, 7))
        model = _Model(answer, whole, gap=0.01)
        models.put(model)
        sock, reader = _open(url)
        got, done = _read_tokens(reader, None, time.monotonic() + 10)
        _hang_up(sock, reader)
        assert got == whole, f"a complete answer should carry the model's tokens {whole!r}; it carried {got!r}"
        assert done, "a complete answer ends with `data: [DONE]`"
        assert _stopped_within(model.stop, 2) is not None, "set `stop` when the answer is complete too"
        for pause in (None, 5.0):
            _check_hang_up(answer, url, models, rng, pause)


def _check_hang_up(answer: Answer, url: str, models: queue.Queue, rng: random.Random, pause: float | None) -> None:
    read = rng.randint(2, 4)
    model = _Model(answer, _tokens(rng, 400), gap=0.02, pause_after=read if pause else None,
                   pause=pause or 0.0)
    models.put(model)
    sock, reader = _open(url)
    _read_tokens(reader, read, time.monotonic() + 10)
    _hang_up(sock, reader)  # the reader goes
    took = _stopped_within(model.stop, 1.5)
    if took is None:
        when = (f"while the model was silent (it paused {pause:g} s after {read} tokens)" if pause
                else "while tokens kept coming")
        raise AssertionError(f"the reader hung up {when}, and 1.5 s later `stop` was still not set: the model "
                             f"kept working for nobody ({model.produced} tokens made so far)")


# ------------------------------------------------------------------ 15.3: a client for Anthropic's events

_MODELS = ["claude-anything", "claude-test", "a-model"]
_NEW_EVENTS = ["message_annotation", "content_block_citation", "server_notice", "usage_update"]


def _anthropic_event(name: str, data: dict) -> str:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


class _Stream:
    """One Anthropic Messages stream as the check writes it, and what a good reader makes of it."""

    def __init__(self, rng: random.Random, *, thinking: bool, extras: bool) -> None:
        self.rng, self.extras, self.blocks, self.thinking_text = rng, extras, [], ""
        self.text, self.index, self.deltas = "", 0, 0
        self.input_tokens = rng.randint(5, 900)
        self.message_id = "msg_01" + secrets.token_hex(10)
        self.add("message_start", {"type": "message_start", "message": {
            "id": self.message_id, "type": "message", "role": "assistant", "model": rng.choice(_MODELS),
            "content": [], "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": self.input_tokens, "output_tokens": 1}}})
        self.add("ping", {"type": "ping"})
        if thinking:
            self.thinking_block()

    def add(self, name: str, data: dict) -> None:
        self.blocks.append(_anthropic_event(name, data))
        if self.extras and self.rng.random() < 0.25:
            self.blocks.append(_anthropic_event("ping", {"type": "ping"}))
        if self.extras and self.rng.random() < 0.12:
            kind = self.rng.choice(_NEW_EVENTS)
            self.blocks.append(_anthropic_event(kind, {"type": kind, "note": self.rng.choice(_WORDS)}))

    def thinking_block(self) -> None:
        self.add("content_block_start", {"type": "content_block_start", "index": self.index,
                                         "content_block": {"type": "thinking", "thinking": "", "signature": ""}})
        for token in _tokens(self.rng, self.rng.randint(2, 5)):
            self.thinking_text += token
            self.add("content_block_delta", {"type": "content_block_delta", "index": self.index,
                                             "delta": {"type": "thinking_delta", "thinking": token}})
            self.deltas += 1
        self.add("content_block_delta", {"type": "content_block_delta", "index": self.index,
                                         "delta": {"type": "signature_delta", "signature": secrets.token_hex(16)}})
        self.add("content_block_stop", {"type": "content_block_stop", "index": self.index})
        self.index += 1

    def text_block(self, count: int, close: bool = True) -> None:
        self.add("content_block_start", {"type": "content_block_start", "index": self.index,
                                         "content_block": {"type": "text", "text": ""}})
        for token in _tokens(self.rng, count):
            self.text += token
            self.add("content_block_delta", {"type": "content_block_delta", "index": self.index,
                                             "delta": {"type": "text_delta", "text": token}})
            self.deltas += 1
        if close:
            self.add("content_block_stop", {"type": "content_block_stop", "index": self.index})
            self.index += 1

    def finish(self, stop_reason: str) -> dict:
        output_tokens = self.deltas + self.rng.randint(0, 3)
        self.add("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop_reason,
                                                                      "stop_sequence": None},
                                   "usage": {"output_tokens": output_tokens}})
        self.blocks.append(_anthropic_event("message_stop", {"type": "message_stop"}))
        return {"text": self.text, "stop_reason": stop_reason, "output_tokens": output_tokens, "error": None}

    def fail(self) -> dict:
        error = {"type": self.rng.choice(["overloaded_error", "api_error"]),
                 "message": self.rng.choice(["Overloaded", "Internal server error"]) + f" ({secrets.token_hex(3)})"}
        self.blocks.append(_anthropic_event("error", {"type": "error", "error": error}))
        return {"text": self.text, "error": error}

    def chunks(self, ending: str) -> list[bytes]:
        raw = "".join(self.blocks).replace("\n", ending).encode("utf-8")
        return [bytes(chunk) for chunk in _cut(raw, _hard_cuts(raw, self.rng))]


def _anthropic_cases(rng: random.Random) -> list[tuple[str, list[bytes], dict]]:
    """(what the stream is, its chunks, what read_message should return, or part of it)."""
    cases = []
    plain = _Stream(rng, thinking=False, extras=False)
    plain.text_block(rng.randint(3, 6))
    cases.append(("a short answer with a ping", plain.finish("end_turn"), plain))
    extras = _Stream(rng, thinking=False, extras=True)
    extras.text_block(rng.randint(6, 10))
    cases.append(("an answer with pings and event types added after your client was written (Anthropic may add "
                  "new ones: a client ignores what it does not know)", extras.finish("max_tokens"), extras))
    thinking = _Stream(rng, thinking=True, extras=True)
    thinking.text_block(rng.randint(3, 6))
    cases.append(("an answer that starts with a thinking block (thinking_delta and signature_delta deltas)",
                  thinking.finish("end_turn"), thinking))
    failing = _Stream(rng, thinking=rng.random() < 0.5, extras=True)
    failing.text_block(rng.randint(2, 5), close=False)
    cases.append(("a stream with an `event: error` in the middle (the model was overloaded)", failing.fail(), failing))
    cut = _Stream(rng, thinking=False, extras=True)
    cut.text_block(rng.randint(2, 5), close=False)
    cases.append(("a stream whose connection dropped before message_stop (no error event: it just ended)",
                  {"text": cut.text, "error": {"type": "incomplete"}}, cut))
    return [(how, stream.chunks(rng.choice(["\n", "\r\n"])), want) for how, want, stream in cases]


def _judge_message(got, want: dict, how: str) -> None:
    assert isinstance(got, dict), f"read_message should return a dict; on {how} it returned {got!r:.80}"
    missing = sorted({"text", "stop_reason", "output_tokens", "error"} - set(got))
    assert not missing, f"the dict read_message returns needs the keys text, stop_reason, output_tokens and error; " \
                        f"it lacks {', '.join(missing)}"
    if got["text"] != want["text"]:
        raise AssertionError(f"on {how}, text is {got['text']!r:.120}; it should be {want['text']!r:.120} (the "
                             "text of the text_delta deltas, in order: a thinking_delta or a signature_delta is "
                             "not text)")
    if want["error"] is None:
        assert got["error"] is None, f"on {how}, error should be None (the message ended with message_stop); " \
                                     f"it is {got['error']!r:.120}"
        assert got["stop_reason"] == want["stop_reason"], (
            f"on {how}, stop_reason is {got['stop_reason']!r}; it should be {want['stop_reason']!r} (message_delta "
            "says it, near the end)")
        assert got["output_tokens"] == want["output_tokens"], (
            f"on {how}, output_tokens is {got['output_tokens']!r}; it should be {want['output_tokens']!r}: the count "
            "in message_delta's usage, the last word (message_start's usage is the count so far, at the start)")
        return
    error = got["error"]
    if want["error"]["type"] == "incomplete":
        assert isinstance(error, dict) and error.get("type") == "incomplete", (
            f"on {how}, error is {error!r:.120}; the stream ended before message_stop, so this is not a whole answer: "
            "error should be a dict whose type is 'incomplete'")
        return
    assert error == want["error"], (f"on {how}, error is {error!r:.120}; it should be the error event's error object "
                                    f"{want['error']!r} (a partial answer must not pass for a whole one)")


@exercise("15.3", hints=[
    "Dispatch on the event's type (event.type, or the 'type' in its JSON): only a few types matter for the text, "
    "the stop reason and the usage. What should happen to every other type, including ones you have never seen?",
    "content_block_delta carries deltas of several kinds: look at delta['type'], and take only text_delta's text. "
    "The final output_tokens comes in message_delta's usage; message_start's usage is an early count.",
    "An `event: error` ends the stream: keep the text so far and return its data's 'error' object. If the chunks "
    "run out before message_stop (and no error came), return error {'type': 'incomplete', ...}.",
])
def check_15_3(answer: Answer) -> None:
    read_message = answer.function("read_message")
    rng = random.Random()
    for how, chunks, want in _anthropic_cases(rng):
        try:
            got = read_message(chunks)
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
            raise AssertionError(f"read_message raised {type(exc).__name__}: {str(exc)[:120]} on {how}") from None
        _judge_message(got, want, how)


# ------------------------------------------------------------------ 15.4: replay, then follow

def _pull(events: Any, decoder: EventStreamDecoder, pending: list, waiting_for: str) -> Any:
    """The next whole event the answer's generator writes (None when it ended), within 3 s."""
    from labs.exercises.support import run_with_limit

    deadline = time.monotonic() + 3
    while not pending:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"waited 3 s for {waiting_for}, and your generator wrote no event")
        try:
            piece = run_with_limit(next, events, _END, limit=left,
                                   late=f"waited 3 s for {waiting_for}: your generator is still waiting"
                                   + _LOST * ("already in the stream" in waiting_for))
        except (AssertionError, NotImplementedError):
            raise
        except Exception as exc:
            raise AssertionError(f"your generator raised {type(exc).__name__} ({str(exc)[:120]}) while the check "
                                 f"waited for {waiting_for}") from None
        if piece is _END:
            return None
        if not isinstance(piece, (str, bytes)):
            raise AssertionError(f"the generator should yield event-stream text (str or bytes); it yielded "
                                 f"{type(piece).__name__}")
        pending.extend(decoder.feed(piece))
    return pending.pop(0)


_END = "\x00the generator ended\x00"
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
        token = _tokens(self.rng, 1)[0]
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
    error = {"error": "model failed", "detail": rng.choice(_WORDS)}
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
