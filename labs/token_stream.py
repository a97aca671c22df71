"""Lab ``token_stream``: an LLM-style token stream, a POST answered with ``text/event-stream``.

This is how most SSE on the web looks today: a chat page sends its prompt with
``fetch("/generate", {method: "POST", body: ...})`` and reads the answer token by token
from ``response.body``.  ``EventSource`` cannot do it at all (it only sends GET, with no
body and no headers of its own), so the page reads the stream itself: see
``static/common/fetch-stream.js`` (the browser's side) and :mod:`labs.harness.token_client`
(Python's), both on the kit's one decoder.

The wire, for ``POST /generate`` with ``{"prompt": "Hi", "max_tokens": 3}``::

    HTTP/1.1 200 OK
    Content-Type: text/event-stream; charset=utf-8

    : generating

    data: {"index": 0, "token": "Hello"}

    data: {"index": 1, "token": " café"}

    data: {"index": 2, "token": " 🙂"}

    data: [DONE]

Read the module in this order:

1. :class:`FakeModel`: a deterministic stand-in for a language model (no download): the
   same prompt always gives the same tokens, among them multi-byte characters ("é", "€",
   "🙂") so that a client that splits a UTF-8 character across two network chunks shows it.
   A prompt containing the word ``overload`` makes it fail after ``FAIL_AT`` tokens.
2. ``POST /generate``: **everything is checked before the stream starts** (content type,
   JSON, fields, sizes, ranges), because that is the last moment a 4xx JSON answer is
   possible.  Once the first byte of the 200 has gone, the status cannot change: an error
   after that is an ``event: error`` with a JSON body, and the stream still ends cleanly.
3. :func:`token_events`: the generator, one event per token at a steady pace
   (``TOKEN_INTERVAL`` seconds), then ``data: [DONE]``.
4. **Stopping when the reader goes.**  A server learns that its client left in two ways:
   a write fails (but only a *later* write: the first write after the client closed still
   succeeds, the peer answers it with a reset, and the write after that raises), or the
   socket says so (it becomes readable, and reading it gives end-of-file).  The generator
   looks at the socket before every token (:func:`client_gone`) and writes small events at
   a steady pace, so either way it stops within a token or two, never generating for
   nobody.  A real model pays for every token in GPU time; this is what that saves.
   ``GET /stats`` shows it: ``generating`` (streams generating right now) and
   ``tokens_sent`` (a running total that stops growing when the readers are gone).
   A reader that vanishes without a word (no FIN, no RST) is found by the kernel:
   ``TCP_USER_TIMEOUT`` (:mod:`labs.core.dead_readers`) ends a connection whose data goes
   unacknowledged, and the socket check sees it.  And ``[DONE]`` counts as ``done`` only once
   the reader's TCP has acknowledged every byte; otherwise the stream counts as ``client gone``.

Request fields: ``prompt`` (a non-empty string, at most ``MAX_PROMPT_CHARS`` characters),
``max_tokens`` (a whole number from 1 to ``MAX_TOKENS``), and optionally ``line_ending``
(``"lf"``, the default, or ``"crlf"`` as sse-starlette writes, or ``"cr"``): the format
allows all three, and a client must handle a CR and its LF arriving in different chunks.

Config: ``TOKEN_INTERVAL`` (0.1 s), ``MAX_TOKENS`` (500), ``MAX_PROMPT_CHARS`` (2000),
``FAIL_AT`` (3), ``WATCH_SOCKET`` (True; False leaves only failed writes to tell).  Works on
the development server and under gunicorn + gevent.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import random
import re
import select
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request, send_from_directory
from werkzeug.exceptions import RequestEntityTooLarge

from labs.core import llm_formats
from labs.core.dead_readers import connection_socket, wait_acknowledged
from labs.core.errors import REDIS_DOWN, ApiError
from labs.core.generations import GenerationStore, parse_last_event_id
from labs.core.notify import parse_json_object, read_message
from labs.core.sse import encode_event
from labs.core.stream_guard import capacity
from labs.core.webapp import STATIC_DIR, create_lab_app

TOKEN_INTERVAL = 0.1        # seconds between two tokens
MAX_TOKENS = 500            # the most a request may ask for
MAX_PROMPT_CHARS = 2000     # a longer prompt is refused (413) before anything is generated
FAIL_AT = 3                 # tokens sent before a prompt with the trigger word fails
TRIGGER_WORD = "overload"   # a prompt containing it makes the fake model fail mid-stream
DONE = "[DONE]"             # the last event's data: the stream ended normally
LINE_ENDINGS = {"lf": "\n", "crlf": "\r\n", "cr": "\r"}
FIELDS = ("prompt", "max_tokens", "line_ending")
EXAMPLE = '{"prompt": "Tell me about SSE", "max_tokens": 20}'

log = logging.getLogger("labs.token_stream")
bp = Blueprint("token_stream", __name__)


# --------------------------------------------------------------------------- the fake model

# Words the model picks from.  Several are one multi-byte character on their own ("é" is
# 2 bytes of UTF-8, "€" 3, "🙂" 4), so their bytes are easily cut apart by a network chunk.
VOCABULARY = (
    " the", " stream", " event", " data", " token", " server", " browser", " reads", " writes",
    " é", "€", " 🙂", " café", " naïve", " Grüße", " 日本語", " señor", " 5 €", " ok",
    ",", ".", ":", " and", " then", "\n", " line\nbreak", " \"quoted\"", " {json}",
)


class ModelFailed(RuntimeError):
    """The model stopped in the middle of an answer (here: on purpose, for the lesson)."""


@dataclasses.dataclass
class FakeModel:
    """A deterministic stand-in for a language model: ``iter(model)`` gives its tokens.

    The tokens depend only on the prompt (a generator seeded with the prompt's SHA-256),
    so a test or a notebook can predict them, and two clients reading the same prompt
    must decode the same text.
    """

    prompt: str
    max_tokens: int
    fail_at: int = FAIL_AT

    def tokens(self) -> list[str]:
        """All the tokens this prompt gives, without waiting (what a client should decode)."""
        seed = int.from_bytes(hashlib.sha256(self.prompt.encode("utf-8")).digest()[:8], "big")
        rng = random.Random(seed)
        words = [" " + word for word in self.prompt.split()[:20]] or [" hello"]
        first = words[0].lstrip().capitalize()
        return [first] + [rng.choice(VOCABULARY + tuple(words)) for _ in range(self.max_tokens - 1)]

    def fails(self) -> bool:
        return TRIGGER_WORD in self.prompt.lower()

    def __iter__(self) -> Iterator[str]:
        for index, token in enumerate(self.tokens()):
            if self.fails() and index == self.fail_at:
                raise ModelFailed(f"the fake model was told to fail ({TRIGGER_WORD!r} is in the prompt) "
                                  f"after {self.fail_at} tokens")
            yield token


# --------------------------------------------------------------------------- state

@dataclasses.dataclass
class TokenStream:
    """Everything the lab keeps between requests: ``app.extensions["token_stream"]``."""

    interval: float
    max_tokens: int
    max_prompt_chars: int
    fail_at: int
    watch_socket: bool = True  # look at the socket before each token (False: learn only from failed writes)
    ack_wait: float = 21.0   # how long [DONE] may wait for the reader's acknowledgement before "client gone"
    generating: int = 0      # generators running right now
    tokens_sent: int = 0     # tokens handed to the server, all streams together
    outcomes: dict[str, int] = dataclasses.field(
        default_factory=lambda: {"done": 0, "client gone": 0, "error": 0})
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> TokenStream:
        return cls(interval=float(config.get("TOKEN_INTERVAL", TOKEN_INTERVAL)),
                   max_tokens=int(config.get("MAX_TOKENS", MAX_TOKENS)),
                   max_prompt_chars=int(config.get("MAX_PROMPT_CHARS", MAX_PROMPT_CHARS)),
                   fail_at=int(config.get("FAIL_AT", FAIL_AT)),
                   watch_socket=bool(config.get("WATCH_SOCKET", True)),
                   # As long as the kernel itself waits for an acknowledgement (TCP_USER_TIMEOUT), plus 1 s.
                   ack_wait=float(config.get("TCP_USER_TIMEOUT_SECONDS") or 4.0) + 1.0)

    def count(self, *, generating: int = 0, tokens: int = 0, outcome: str | None = None) -> None:
        with self.lock:
            self.generating += generating
            self.tokens_sent += tokens
            if outcome is not None:
                self.outcomes[outcome] += 1


def lab() -> TokenStream:
    return current_app.extensions["token_stream"]


# --------------------------------------------------------------------------- the request

def read_generate_request(state: TokenStream, fields: tuple[str, ...] = FIELDS) -> tuple[str, int, str]:
    """``(prompt, max_tokens, line ending)`` from the request, or the 4xx ApiError saying why."""
    if not request.is_json:
        raise ApiError(415, "unsupported content type",
                       f"expected 'Content-Type: application/json', got {request.content_type or 'none'!r}")
    data = parse_json_object(request.get_data(cache=True), example=EXAMPLE)
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ApiError(400, f"unknown field {unknown[0]!r}", f"the fields are {', '.join(fields)}")
    prompt = read_message(data, "prompt")
    if len(prompt) > state.max_prompt_chars:
        raise ApiError(413, "prompt too long",
                       f"{len(prompt)} characters; the limit is {state.max_prompt_chars}")
    if "max_tokens" not in data:
        raise ApiError(400, "missing field 'max_tokens'", f"send {EXAMPLE}")
    max_tokens = data["max_tokens"]
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int):
        raise ApiError(400, "field 'max_tokens' must be a whole number",
                       f"got {json.dumps(max_tokens)[:40]}")
    if not 1 <= max_tokens <= state.max_tokens:
        raise ApiError(400, "field 'max_tokens' is out of range",
                       f"got {max_tokens}; ask for 1 to {state.max_tokens} tokens")
    ending = data.get("line_ending", "lf")
    if ending not in LINE_ENDINGS:
        raise ApiError(400, "field 'line_ending' must be one of " + ", ".join(map(repr, LINE_ENDINGS)),
                       f"got {json.dumps(ending)[:40]}")
    return prompt, max_tokens, LINE_ENDINGS[ending]


@bp.post("/generate")
def generate():
    state = lab()
    # Every check happens here, before the Response exists: after its first byte, the
    # status is 200 for good and no error can become a 4xx JSON answer any more.
    prompt, max_tokens, line_ending = read_generate_request(state)
    model = FakeModel(prompt, max_tokens, state.fail_at)
    sock = request.environ.get("werkzeug.socket") or request.environ.get("gunicorn.socket")
    if not state.watch_socket:
        sock = None  # for the lesson: then only a failed write tells the generator its reader left
    body = token_events(state, model, sock, line_ending)
    return Response(body, mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


# --------------------------------------------------------------------------- the stream

def client_gone(sock: socket.socket | None) -> bool:
    """True when the client has closed its side of the connection.

    The request was read whole before the stream began, so a connection that turns
    readable now has nothing more to say: reading it gives end-of-file (the client
    closed) or fails (the connection was reset).  ``MSG_PEEK`` looks without taking.
    Works on both servers (under gevent, ``select`` is gevent's and does not block).
    """
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):  # reset, or already closed under us
        return True


def token_events(state: TokenStream, model: FakeModel, sock, line_ending: str = "\n") -> Iterator[bytes]:
    """The body of one ``POST /generate`` answer: a comment, the tokens, then ``[DONE]``.

    However it ends (done, failed, or the server closing it because a write failed),
    its ``finally`` counts it out of ``generating``.
    """

    def wire(text: str) -> bytes:
        return text.replace("\n", line_ending).encode("utf-8")

    state.count(generating=1)
    outcome = "client gone"  # unless the loop below reaches the end
    try:
        yield wire(encode_event(comment="generating"))  # the 200 and its headers go out now
        for index, token in enumerate(model):
            time.sleep(state.interval)  # the model "thinking": here, a steady pace
            if client_gone(sock):
                return  # nobody is reading: stop before paying for another token
            # ensure_ascii=False: the UTF-8 bytes of "é" go on the wire, as real APIs send them.
            yield wire(encode_event(json.dumps({"index": index, "token": token}, ensure_ascii=False)))
            state.count(tokens=1)  # the server came back for more: the write went through
        yield wire(encode_event(DONE))
        # Handed to the kernel is not delivered: "done" only once the reader's TCP has
        # acknowledged every byte (a reader gone without a word never does).
        if wait_acknowledged(sock, state.ack_wait, client_gone):
            outcome = "done"
    except ModelFailed as exc:
        outcome = "error"
        yield wire(error_event("model failed", str(exc)))
    except Exception:  # never a broken stream, never a trace: say it in-band and end
        log.exception("the token stream failed")
        outcome = "error"
        yield wire(error_event("internal error", "the model failed; see the lab server's log"))
    finally:
        state.count(generating=-1, outcome=outcome)


def error_event(error: str, detail: str) -> str:
    """``event: error`` with a JSON body: how a stream that has started reports a failure."""
    return encode_event(json.dumps({"error": error, "detail": detail}, ensure_ascii=False), event="error")


# --------------------------------------------------------------------------- three vendors' formats
#
# The same fake model, spoken as the APIs people call: OpenAI Chat Completions, OpenAI
# Responses and Anthropic Messages.  Their official SDKs read it as the real thing
# (``openai.OpenAI(base_url=LAB + "/v1", api_key="any")``, ``anthropic.Anthropic(base_url=LAB,
# api_key="any")``).  What each format writes lives in :mod:`labs.core.llm_formats`; here
# it gets the lab's pacing, its check for a reader that left, and its counts in /stats,
# exactly as /generate does.  Bad input is refused before any stream, in the vendor's shape.

@bp.post("/v1/chat/completions")
def chat_completions():
    return answer_as(llm_formats.ChatCompletions)


@bp.post("/v1/responses")
def responses():
    return answer_as(llm_formats.Responses)


@bp.post("/v1/messages")
def messages():
    return answer_as(llm_formats.Messages)


@bp.errorhandler(llm_formats.FormatError)
def format_error(exc: llm_formats.FormatError):
    return jsonify(exc.body), exc.status


def answer_as(kind: type[llm_formats.Answer]):
    """Read the request as ``kind`` (every check before the stream), then stream or answer whole."""
    state = lab()
    try:
        raw = request.get_data(cache=True)
    except RequestEntityTooLarge:
        raise kind.error(413, f"the request is larger than {current_app.config['MAX_CONTENT_LENGTH']} bytes") from None
    limits = llm_formats.Limits(state.max_tokens, state.max_prompt_chars)
    asked = llm_formats.read_request(kind, raw, request.is_json, limits)
    model = FakeModel(asked.prompt, asked.max_tokens, state.fail_at)
    if not asked.stream:
        return jsonify(whole_answer(state, model, kind(asked)))
    sock = connection_socket(request.environ) if state.watch_socket else None
    return Response(format_events(state, model, sock, kind(asked)), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def format_events(state: TokenStream, model: FakeModel, sock, answer: llm_formats.Answer) -> Iterator[bytes]:
    """:func:`token_events` in a vendor's format: its opening, one delta per token, its closing."""
    state.count(generating=1)
    outcome = "client gone"
    try:
        yield answer.opening().encode("utf-8")  # the 200 and its headers go out now
        for token in model:
            time.sleep(state.interval)
            if client_gone(sock):
                return
            yield answer.delta(token).encode("utf-8")
            state.count(tokens=1)
        yield answer.closing().encode("utf-8")
        if wait_acknowledged(sock, state.ack_wait, client_gone):
            outcome = "done"
    except ModelFailed as exc:
        outcome = "error"
        yield answer.failure(str(exc)).encode("utf-8")
    except Exception:
        log.exception("the %s stream failed", type(answer).__name__)
        outcome = "error"
        yield answer.failure("internal error; see the lab server's log").encode("utf-8")
    finally:
        state.count(generating=-1, outcome=outcome)


def whole_answer(state: TokenStream, model: FakeModel, answer: llm_formats.Answer) -> dict[str, Any]:
    """``stream: false``: the reader waits for the whole answer, then gets it as one JSON object."""
    state.count(generating=1)
    outcome = "error"
    try:
        tokens = list(model)
        time.sleep(state.interval * len(tokens))  # the same model, the same pace: just nothing to see meanwhile
        state.count(tokens=len(tokens))
        outcome = "done"
        return answer.whole(tokens)
    except ModelFailed as exc:
        raise answer.failed_whole(str(exc)) from None
    finally:
        state.count(generating=-1, outcome=outcome)


# --------------------------------------------------------------------------- the rest

@bp.get("/stats")
def stats():
    state = lab()
    store = current_app.extensions.get("token_stream.generations")
    # Nothing that can wait (under gevent: yield) while the lock is held.
    generations, full = (store.counters.as_dict() if store else None), capacity()
    with state.lock:
        counts = dict(generating=state.generating, tokens_sent=state.tokens_sent, clients=state.generating,
                      outcomes=dict(state.outcomes))
    return jsonify(**counts, token_interval=state.interval, max_tokens=state.max_tokens,
                   watch_socket=state.watch_socket, pid=os.getpid(), generations=generations, capacity=full)


@bp.post("/tokens")
def tokens():
    """What ``POST /generate`` would stream for the same request, in one JSON answer (for checks)."""
    state = lab()
    prompt, max_tokens, _ = read_generate_request(state)
    model = FakeModel(prompt, max_tokens, state.fail_at)
    planned = model.tokens()
    return jsonify(tokens=planned[:state.fail_at] if model.fails() else planned, fails=model.fails())


# --------------------------------------------------------------------------- resumable generations
#
# Disconnect is not stop.  POST /generate ties an answer to its connection; these routes
# keep it in Redis (labs.core.generations), so a reader that drops, reloads or lands on
# another node reads on from its Last-Event-ID, and only POST .../stop stops it.
#
#   POST /generations {"prompt", "max_tokens"}   201 {"id"}: generating starts, apart from any reader
#   GET  /generations/<id>/stream                 every token after Last-Event-ID (or ?lastEventId=),
#                                                 then live: data: {"token": ...} with id: 1, 2, 3 ...;
#                                                 ends with data: [DONE] (stopped: event: stopped first;
#                                                 failed: event: error)
#   POST /generations/<id>/stop                   stops it within a second; the partial answer stays
#   GET  /generations/<id>                        {"id", "state", "text", "tokens"}
#   GET  /resumable                               a page whose answer survives a reload, with a Stop button
#
# Without Redis (start the lab with --redis, in a cluster, or with --workers 2) they answer 503.
# Settings (labs.core.generations): GENERATION_TTL_SECONDS (3600: keys expire this long after the
# last write), GENERATION_MAX_EVENTS (1000: the stream's cap; max_tokens must stay below it),
# GENERATION_HEARTBEAT_SECONDS (2: a generator silent this long is dead, its readers get event: error),
# GENERATION_MAX_RUNNING (200 per process, then 429), GENERATION_KEEPALIVE_SECONDS, GENERATION_RETRY_MS.

GENERATION_FIELDS = ("prompt", "max_tokens")
GENERATION_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def generations() -> GenerationStore:
    store = current_app.extensions.get("token_stream.generations")
    if store is None:
        raise ApiError(503, "resumable generations need Redis",
                       "start the lab with Redis: python -m labs run token_stream --redis "
                       "(or give it REDIS_URL in its config)")
    return store


def unknown_generation(gen_id: str) -> ApiError:
    return ApiError(404, "unknown generation", f"no generation {gen_id[:64]!r}: it never existed or has expired")


def generation_status(store: GenerationStore, gen_id: str) -> dict[str, Any]:
    answer = store.status(gen_id) if GENERATION_ID.fullmatch(gen_id) else None
    if answer is None:
        raise unknown_generation(gen_id)
    return answer


@bp.get("/resumable")
def resumable_page():
    # Served here, not from /static/, so that its relative URLs (generations, stats) reach the lab.
    return send_from_directory(STATIC_DIR / "token_stream", "resumable.html")


@bp.post("/generations")
def start_generation():
    state, store = lab(), generations()
    prompt, max_tokens, _ = read_generate_request(state, GENERATION_FIELDS)
    if max_tokens >= store.max_events:
        raise ApiError(400, "field 'max_tokens' is out of range",
                       f"a resumable generation keeps at most {store.max_events} events (GENERATION_MAX_EVENTS): "
                       f"ask for 1 to {store.max_events - 1} tokens")
    try:
        gen_id = store.start(FakeModel(prompt, max_tokens, state.fail_at), state.interval, max_tokens,
                             expected_errors=(ModelFailed,))
    except OverflowError as exc:
        raise ApiError(429, "too many generations", str(exc)) from None
    return jsonify(id=gen_id), 201, {"Location": f"generations/{gen_id}"}


@bp.get("/generations/<gen_id>")
def show_generation(gen_id: str):
    return jsonify(generation_status(generations(), gen_id))


@bp.post("/generations/<gen_id>/stop")
def stop_generation(gen_id: str):
    store = generations()
    answer = store.stop(gen_id) if GENERATION_ID.fullmatch(gen_id) else None
    if answer is None:
        raise unknown_generation(gen_id)
    return jsonify(answer)


@bp.get("/generations/<gen_id>/stream")
def read_generation(gen_id: str):
    store = generations()
    try:
        after = parse_last_event_id(request.headers.get("Last-Event-ID"), request.args.get("lastEventId"))
    except ValueError as exc:
        raise ApiError(400, "bad Last-Event-ID", str(exc)) from None
    generation_status(store, gen_id)  # a 404 now, before the stream starts
    sock = request.environ.get("werkzeug.socket") or request.environ.get("gunicorn.socket")
    body = (part.encode("utf-8") for part in store.events(gen_id, after, gone=lambda: client_gone(sock)))
    return Response(body, mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def setup_generations(app: Flask) -> None:
    """The generation store when the app has Redis (``REDIS_URL``); 503 JSON while Redis is down."""
    store = GenerationStore.from_config(app.config)
    if store is None:
        return
    import redis

    app.extensions["token_stream.generations"] = store

    def redis_down(exc):
        log.warning("Redis at %s does not answer: %s", app.config["REDIS_URL"], exc)
        return jsonify(ApiError(503, REDIS_DOWN, "no answer from Redis; try again when it is back").body()), 503

    app.register_error_handler(redis.RedisError, redis_down)


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = create_lab_app("token_stream", config)
    app.extensions["token_stream"] = TokenStream.from_config(app.config)
    app.register_blueprint(bp)
    setup_generations(app)
    return app
