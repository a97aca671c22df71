"""Lab ``event_stream``: crafted ``text/event-stream`` responses, byte for byte.

``GET /examples`` lists the named examples; ``GET /stream/<name>`` serves one.  Each is
written as exact bytes (not with the encoder) on purpose: the point is to see what a
browser does with streams a careless server might send.  ``GET /raw?b64=...`` serves any
bytes you like (bounded), optionally cut into chunks, so tests can compare the kit's
decoder with a real ``EventSource`` on the very same bytes.  ``GET /stream`` is the plain
notification stream every SSE lab has.
"""

from __future__ import annotations

import base64
import binascii
import threading
import time
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request

from labs.core.errors import ApiError
from labs.core.sse import encode_event, encode_json_event, keep_alive
from labs.core.webapp import create_lab_app

# /raw refuses more than this: a lab is no open relay for large payloads.
MAX_RAW_BYTES = 16 * 1024
MAX_PIECES = 64
MAX_PAUSE_MS = 500


@dataclass(frozen=True)
class Example:
    name: str
    title: str
    explain: str
    chunks: tuple[bytes, ...]
    pause: float = 0.0  # seconds between chunks, so each one is its own network read


EXAMPLES: dict[str, Example] = {e.name: e for e in [
    Example("basic", "Two plain messages",
            "No event: field, so both arrive as 'message' events (onmessage sees them).",
            (b"data: hello\n\n", b"data: world\n\n")),
    Example("multiline", "Multi-line data",
            "Each data: line adds a line; the browser joins them with \\n.",
            (encode_event("line one\nline two\nline three").encode(),
             b"data:no space after the colon\ndata:  two spaces: one is kept\n\n")),
    Example("named", "Named events",
            "event: notify needs addEventListener('notify'); onmessage only sees unnamed events.",
            (encode_json_event({"message": "Hello"}, event="notify").encode(),
             b"data: an unnamed event is a 'message'\n\n",
             encode_json_event({"message": "Update!"}, event="update").encode())),
    Example("ids", "Event ids",
            "id: sets the last event ID; it stays for later events until an id: changes it.",
            (b"id: 1\ndata: first\n\n", b"data: no id line: still 1\n\n",
             b"id: 2\n\n", b"data: the id-only block above moved it to 2\n\n",
             b"id\ndata: an empty id resets it\n\n")),
    Example("reconnect", "Ids and a reconnect",
            "The stream ends after id 3; the browser reconnects by itself with Last-Event-ID: 3 "
            "and the server resumes.  Once done, it answers 204, which stops reconnecting.",
            ()),
    Example("retry", "retry:",
            "retry: sets how long the browser waits before reconnecting; only digits count.",
            (b"retry: 250\ndata: reconnect after 250 ms\n\n", b"retry: 1.5\ndata: 'retry: 1.5' is ignored\n\n")),
    Example("keepalive", "Comments as keep-alives",
            "Lines starting with ':' are ignored by the browser but keep proxies from closing a quiet stream.",
            (b"data: before\n\n", keep_alive().encode(), keep_alive().encode(), b"data: after\n\n"),
            pause=0.3),
    Example("cut", "A stream cut mid-event",
            "The last event has no blank line before the stream ends: it is never dispatched.",
            (b"data: complete\n\n", b"data: incomplete, the connection closes here\n")),
    Example("line_endings", "CR, LF and CRLF",
            "Any of CR, LF or CRLF ends a line, even a CRLF split across two network reads.",
            (b"data: lf\n\n", b"data: cr\r\r", b"data: crlf\r\n\r\n", b"data: split\r", b"\n\r\n")),
    Example("tricky", "Edge cases",
            "A field with no colon, unknown fields, an id containing NUL, and invalid UTF-8.",
            (b"data\n\n", b"dataset: ignored\ndata: x\n\n", b"id: 7\0\ndata: id with NUL ignored\n\n",
             b"data: bad byte \xff here\n\n", b"event\ndata: empty event name: a message\n\n")),
]}


def _reconnect_chunks(last_event_id: str | None):
    """First connection: ids 1-3; resumed after 3: ids 4-5; after that: nothing more."""
    if not last_event_id:
        yield encode_event(retry=200, comment="reconnect quickly (200 ms) when this ends").encode()
        for n in (1, 2, 3):
            yield encode_event(f"event {n}", id=n).encode()
    else:
        yield encode_event(comment=f"resuming after Last-Event-ID {last_event_id}").encode()
        for n in (4, 5):
            yield encode_event(f"event {n}", id=n).encode()


class _Clients:
    """How many streams are open right now (for GET /stats)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0

    def track(self, chunks, pause: float = 0.0):
        with self._lock:
            self.count += 1
        try:
            for index, chunk in enumerate(chunks):
                if index and pause:
                    time.sleep(pause)
                yield chunk
        finally:
            with self._lock:
                self.count -= 1


@dataclass(eq=False)
class EventStream:
    """Everything the lab keeps between requests: ``app.extensions["event_stream"]``."""

    clients: _Clients = field(default_factory=_Clients)


def lab() -> EventStream:
    return current_app.extensions["event_stream"]


def _event_stream(body) -> Response:
    response = Response(body, mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"  # ask proxies (nginx) not to buffer
    return response


def _split(data: bytes, split: str) -> list[bytes]:
    if not split:
        return [data]
    try:
        points = sorted({int(p) for p in split.split(",") if p.strip()})
    except ValueError:
        raise ApiError(400, "bad split", "split is a comma-separated list of byte offsets") from None
    if len(points) >= MAX_PIECES:
        raise ApiError(400, "too many pieces", f"at most {MAX_PIECES - 1} split points")
    points = [p for p in points if 0 < p < len(data)]
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in pairwise(edges)]


bp = Blueprint("event_stream", __name__)


@bp.get("/examples")
def examples():
    return jsonify([{"name": e.name, "title": e.title, "explain": e.explain,
                     "reconnects": e.name == "reconnect"} for e in EXAMPLES.values()])


@bp.get("/stream/<name>")
def example(name: str):
    found = EXAMPLES.get(name)
    if found is None:
        raise ApiError(404, "no such example", f"GET /examples lists them: {', '.join(EXAMPLES)}")
    clients = lab().clients
    if name == "reconnect":
        last_id = request.headers.get("Last-Event-ID")
        if last_id and last_id != "3":
            # 204 No Content is the one answer that makes EventSource stop for good.
            return Response(status=204)
        return _event_stream(clients.track(_reconnect_chunks(last_id)))
    return _event_stream(clients.track(found.chunks, found.pause))


@bp.get("/raw")
def raw():
    encoded = request.args.get("b64", "")
    if len(encoded) > MAX_RAW_BYTES * 4 // 3 + 8:
        raise ApiError(413, "stream too large", f"at most {MAX_RAW_BYTES} bytes")
    try:
        # validate=True: a typo is an error, not silently skipped characters.
        data = base64.b64decode(encoded + "=" * (-len(encoded) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, "bad b64", "b64 must be URL-safe base64 of the bytes to serve") from None
    if len(data) > MAX_RAW_BYTES:
        raise ApiError(413, "stream too large", f"at most {MAX_RAW_BYTES} bytes")
    try:
        pause = min(max(int(request.args.get("pause_ms", "0")), 0), MAX_PAUSE_MS) / 1000
    except ValueError:
        raise ApiError(400, "bad pause_ms", "pause_ms is whole milliseconds") from None
    return _event_stream(lab().clients.track(_split(data, request.args.get("split", "")), pause))


@bp.get("/stream")
def stream():
    # The plain notification stream every SSE lab offers, so the kit's tools work here too.
    chunks = [encode_json_event({"message": m}, event="notify", id=n).encode()
              for n, m in enumerate(["Hello World", "Another notification"], start=1)]
    return _event_stream(lab().clients.track(chunks))


@bp.get("/stats")
def stats():
    return jsonify(clients=lab().clients.count, examples=len(EXAMPLES))


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = create_lab_app("event_stream", config)
    app.extensions["event_stream"] = EventStream()
    app.register_blueprint(bp)
    return app
