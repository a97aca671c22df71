"""Checks for notebook 12 (auth, CORS and streaming with fetch).

12.1 wires the student's ``cors_headers`` into a tiny app served over real HTTP and sends it
the preflight and the request a browser would, from the allowed origin and from look-alikes,
then applies the browser's own CORS checks (the Fetch Standard's) to the answers.  12.2 runs
the student's JavaScript in headless Chromium on token streams cut at places it cannot
predict.  12.3 serves the student's generator with Werkzeug, hangs up in the middle of an
answer (also while the "model" is silent) and times how soon the generator lets it stop.
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

from labs.runtime.exercises import Answer, exercise
from labs.runtime.exercises.remote import AnswerGone, AnswerTimeout
from labs.runtime.exercises.support import browser_for_check, serve_wsgi
from labs.runtime.sse import EventStreamDecoder

_WORDS = ["stream", "origin", "ticket", "token", "cookie", "preflight", "chunk", "reader", "café", "naïve",
          "5 €", "🙂", "日本", "Grüße", "señor", "\"quoted\"", "a\nb", "<b>x</b>"]


def _tokens(rng: random.Random, count: int) -> list[str]:
    return [rng.choice(["", " "]) + rng.choice(_WORDS) + rng.choice(["", str(rng.randint(0, 99))])
            for _ in range(count)]


# ------------------------------------------------------------------ 12.1: the CORS headers

def _cors_app(cors_headers: Callable, allowed: str):
    """A tiny API whose every answer carries the headers ``cors_headers`` returns."""
    from flask import Flask, jsonify, request

    app = Flask("exercise_12_1")

    @app.route("/notes", methods=["POST", "OPTIONS"])
    def notes():
        preflight = request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers
        headers = cors_headers(request.headers.get("Origin"), allowed, preflight)
        if not isinstance(headers, dict):
            return jsonify(error=f"cors_headers returned {type(headers).__name__}, not a dict"), 599
        answer = app.response_class(status=204) if preflight else jsonify(saved=True)
        for name, value in headers.items():
            answer.headers[str(name)] = str(value)
        return answer

    return app


def _header(answer, name: str) -> str | None:
    return answer.headers.get(name)  # requests' headers are case-insensitive, as HTTP's are


def _listed(value: str | None) -> set[str]:
    return {part.strip().lower() for part in (value or "").split(",") if part.strip()}


def _cors_check(answer, origin: str, what: str) -> None:
    """The Fetch Standard's CORS check for a request with credentials, as Chromium applies it."""
    allow_origin = _header(answer, "Access-Control-Allow-Origin")
    if allow_origin is None:
        raise AssertionError(f"{what} from the allowed origin {origin} has no Access-Control-Allow-Origin: "
                             "the browser would keep the answer from the page")
    if allow_origin.strip() == "*":
        raise AssertionError(f"{what}: Access-Control-Allow-Origin is '*'; a request with credentials (cookies) "
                             "needs the exact origin, and the browser refuses a wildcard")
    if allow_origin != origin:
        raise AssertionError(f"{what}: Access-Control-Allow-Origin is {allow_origin!r}; for this request it must be "
                             f"exactly {origin!r}")
    if _header(answer, "Access-Control-Allow-Credentials") != "true":
        raise AssertionError(f"{what}: the request carries cookies, so the answer needs "
                             "Access-Control-Allow-Credentials: true (exactly that, lower case)")
    if "origin" not in _listed(_header(answer, "Vary")):
        raise AssertionError(f"{what}: the answer depends on the request's Origin, so say so with Vary: Origin "
                             "(or a cache may hand one origin's answer to another)")


def _preflight_check(answer, origin: str) -> None:
    assert 200 <= answer.status_code < 300, f"the preflight got status {answer.status_code}: it must be 2xx"
    _cors_check(answer, origin, "the preflight")
    methods = _listed(_header(answer, "Access-Control-Allow-Methods"))
    assert "post" in methods, ("the preflight must allow the method: Access-Control-Allow-Methods should list POST "
                               f"(with credentials '*' is not a wildcard); it is {methods or 'missing'}")
    headers = _listed(_header(answer, "Access-Control-Allow-Headers"))
    missing = sorted({"content-type", "authorization"} - headers)
    assert not missing, (f"the preflight must allow the request's headers: Access-Control-Allow-Headers lacks "
                         f"{', '.join(missing)} (with credentials '*' is not a wildcard, and never covers "
                         "Authorization)")


def _look_alikes(allowed: str, rng: random.Random) -> list[str]:
    host, port = allowed.removeprefix("http://").split(":")
    others = [f"http://{host}:{int(port) + rng.randint(1, 50)}", f"https://{host}:{port}",
              f"http://localhost:{port}", f"{allowed}.evil.example", f"http://evil.example/{allowed}", "null",
              f"http://{host}:{port}0"]
    rng.shuffle(others)
    return others


@exercise("12.1", hints=[
    "Two kinds of request reach the function: the preflight (preflight=True), which asks whether a POST with "
    "JSON and an Authorization header may be sent, and the request itself. Both answers must name the origin.",
    "Compare the whole origin with ==, never startswith/in (look-alike origins exist). With cookies the browser "
    "needs the exact origin (not '*') and Access-Control-Allow-Credentials: true; add Vary: Origin.",
    "For the preflight also list what may be used: Access-Control-Allow-Methods (POST) and "
    "Access-Control-Allow-Headers (Content-Type, Authorization). Any other origin gets {}.",
])
def check_12_1(answer: Answer) -> None:
    import requests

    cors_headers = answer.function("cors_headers")
    rng = random.Random()
    allowed = f"http://127.0.0.1:{rng.randint(2000, 60000)}"
    first = cors_headers(allowed, allowed, True)  # here, not in the server: a stub's NotImplementedError counts
    assert isinstance(first, dict), f"cors_headers should return a dict of headers; it returned {first!r}"
    post = {"Content-Type": "application/json", "Authorization": f"Bearer {secrets.token_hex(8)}"}
    ask = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"}
    with serve_wsgi(_cors_app(cors_headers, allowed)) as url:
        preflight = requests.options(url + "/notes", headers={"Origin": allowed, **ask}, timeout=10)
        assert preflight.status_code != 599, preflight.json()["error"]
        _preflight_check(preflight, allowed)
        sent = requests.post(url + "/notes", data=b"{}", headers={"Origin": allowed, **post}, timeout=10)
        _cors_check(sent, allowed, "the POST itself")
        for other in _look_alikes(allowed, rng):
            for kind, answered in (("preflight", requests.options(url + "/notes", headers={"Origin": other, **ask},
                                                                  timeout=10)),
                                   ("POST", requests.post(url + "/notes", data=b"{}",
                                                          headers={"Origin": other, **post}, timeout=10))):
                given = _header(answered, "Access-Control-Allow-Origin")
                assert given is None, (f"a {kind} from {other!r} (not the allowed {allowed!r}) got "
                                       f"Access-Control-Allow-Origin: {given}: that origin's page could read the "
                                       "answer. Let exactly one origin in")


# ------------------------------------------------------------------ 12.2: the JavaScript loop

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


@exercise("12.2", hints=[
    "Read response.body with getReader() in a loop; each read() gives a Uint8Array of whatever arrived. Nothing "
    "says a chunk ends where an event ends: keep what is unfinished for the next read.",
    "Decode bytes with one TextDecoder and {stream: true} (it keeps half a character for later); keep a text "
    "buffer, and only handle lines that are complete. A line may end in \\r\\n, whose \\r and \\n can arrive "
    "in two reads.",
    "Per line: skip comments (':'), collect what follows 'data:' (one optional space). At a blank line the event "
    "is complete: join its data lines with '\\n'; '[DONE]' resolves true (stop reading), anything else is JSON "
    "whose .token goes to onToken.",
])
def check_12_2(answer: Answer) -> None:
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
        tab.set_content("<!doctype html><title>exercise 12.2</title>")
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


# ------------------------------------------------------------------ 12.3: stop when the client goes

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

    app = Flask("exercise_12_3")

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


@exercise("12.3", hints=[
    "Run the check and read what it says: a generator is only told that its reader left when the server's write "
    "fails, or when the server closes it (GeneratorExit at its yield). Where does your generator release the model?",
    "Set `stop` in a `finally:` around the whole loop: it runs when the answer is done, when the server closes the "
    "generator, and when anything fails.",
    "While the model is silent your generator is blocked in tokens.get(), so it never writes and never learns the "
    "reader left. Wait with a timeout (get(timeout=...)) and yield a comment (': keep-alive') when nothing came.",
])
def check_12_3(answer: Answer) -> None:
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
