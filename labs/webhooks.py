"""Lab ``webhooks``: signed, replay-safe webhook receivers that push into an SSE stream.

The whole chain::

    outside service --POST /webhook/...--> this Flask app --SSE /stream--> browser

Two receivers, each trusting nothing it has not verified:

``POST /webhook/github``   GitHub-style: ``X-Hub-Signature-256`` over the raw body,
                           ``X-GitHub-Event`` (``ping``, ``push``; others ignored),
                           ``X-GitHub-Delivery`` and a digest of the body remembered so a
                           redelivery or replay is not pushed twice.
``POST /webhook/standard`` Standard Webhooks: ``webhook-id`` / ``webhook-timestamp`` /
                           ``webhook-signature``; timestamps more than 5 minutes away are
                           refused and ids remembered.

Order of the checks, in both: signature (401) -> timestamp (400, Standard only) ->
duplicate (200, nothing pushed) -> body (400) -> push.  Nothing is parsed before the
signature is verified, and nothing is pushed unless every check passed.  Each receiver
below is written as exactly those steps, numbered, one after the other.

Also ``POST /send_notification`` (the kit's common interface), ``GET /stream`` (``notify``
events with the notifications, ``delivery`` events with every delivery's outcome),
``GET /deliveries`` (the recent log) and ``GET /stats``.

How the module reads, top to bottom (the shape of Flask's tutorial app, "flaskr"):

1. ``Webhooks``, everything the lab remembers between requests, in one object that
   ``create_app`` keeps in ``app.extensions["webhooks"]`` and ``lab()`` finds; and ``SeenIds``,
   the memory of deliveries already handled;
2. the two receivers, routes of the blueprint ``bp``, then the small steps they share;
3. the kit's common routes;
4. ``create_app``: a lab app, that object, and the blueprint.

The stream is the ``manual_sse`` lab's (:mod:`labs.core.broker` and :mod:`labs.core.sse_response`):
ids on every event, a replay of what a reconnecting reader missed, keep-alives, slow
readers cut off.  Its broker and the delivery ids it remembers are in this process:
serve it with the development server or one worker.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import hashlib
import sys
import threading
import urllib.parse
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from labs.core import signatures
from labs.core.broker import Broker
from labs.core.errors import ApiError
from labs.core.event_log import MemoryEventLog
from labs.core.notify import is_unicode_text, parse_json_object, read_message, read_notification
from labs.core.sse_response import StreamCounter, stream_response
from labs.core.stream_guard import capacity
from labs.core.webapp import create_lab_app

# Used only when neither config nor environment sets WEBHOOK_SECRET (see labs.core.signatures).
DEVELOPMENT_SECRET = signatures.DEVELOPMENT_SECRET

# How many delivery ids each receiver remembers.  Bounded so a flood of deliveries cannot
# grow memory without limit; the oldest ids are forgotten first.
SEEN_IDS = 10_000
# Longer ids are refused: an attacker-chosen header must not decide how much we remember.
MAX_ID_LENGTH = 200
DELIVERY_LOG = 100          # recent deliveries kept for GET /deliveries
QUEUE_SIZE = 100            # events waiting for one stream reader before it is dropped
HISTORY = 200               # events kept to replay to a reader that reconnects
KEEPALIVE_SECONDS = 15.0    # a comment on quiet streams, so proxies don't close them
RETRY_MS = 2000             # how soon a browser reconnects after losing the stream

STANDARD_NEWS = ("repository.push", "notification.created")  # the Standard types pushed to readers
OUTCOMES = ("accepted", "pong", "ignored", "duplicate", "rejected")  # what /stats counts

bp = Blueprint("webhooks", __name__)


# --------------------------------------------------------------------------- state

class SeenIds:
    """Delivery ids already handled, oldest forgotten first once ``capacity`` is reached.

    ``claim`` is check-and-add under one lock, so two copies of a delivery arriving at the
    same moment cannot both be pushed.  A claim is released if handling then fails, so a
    provider's retry of that delivery is not mistaken for a duplicate.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._ids: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._lock = threading.Lock()

    def claim(self, *keys: str) -> bool:
        """Record every key and return True, or return False if any was seen already."""
        with self._lock:
            if any(key in self._ids for key in keys):
                return False
            for key in keys:
                self._ids[key] = None
            while len(self._ids) > self.capacity:
                self._ids.popitem(last=False)
            return True

    def release(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._ids.pop(key, None)

    @contextlib.contextmanager
    def released_on_error(self, *keys: str) -> Iterator[None]:
        """Forget ``keys`` again if the block fails: the provider's retry must not be a "duplicate"."""
        try:
            yield
        except BaseException:
            self.release(*keys)
            raise

    def __len__(self) -> int:
        return len(self._ids)


@dataclasses.dataclass
class Webhooks:
    """Everything the lab keeps between requests: ``app.extensions["webhooks"]``."""

    secret: str = dataclasses.field(repr=False)  # never shown, not even in a repr
    development_secret: bool        # True when WEBHOOK_SECRET was not set: anyone can sign
    tolerance: float                # seconds a Standard Webhooks timestamp may be off
    keepalive_seconds: float
    # The same broker and stream as the manual_sse lab: every event has an id, and a
    # reader that reconnects is replayed what it missed (Last-Event-ID).
    broker: Broker
    seen: dict[str, SeenIds]        # per receiver ("github", "standard")
    streams: StreamCounter = dataclasses.field(default_factory=StreamCounter)
    log: collections.deque = dataclasses.field(default_factory=lambda: collections.deque(maxlen=DELIVERY_LOG))
    counts: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    logged: int = 0                 # deliveries logged so far: numbers the log's entries ("n")
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Webhooks:
        secret, is_default = signatures.shared_secret(config.get("WEBHOOK_SECRET"))
        check_secret(secret)
        seen_ids = int(config.get("WEBHOOK_SEEN_IDS", SEEN_IDS))
        return cls(
            secret=secret,
            development_secret=is_default,
            tolerance=float(config.get("WEBHOOK_TOLERANCE_SECONDS", signatures.DEFAULT_TOLERANCE_SECONDS)),
            keepalive_seconds=float(config.get("KEEPALIVE_SECONDS", KEEPALIVE_SECONDS)),
            broker=Broker(MemoryEventLog(int(config.get("HISTORY", HISTORY))),
                          int(config.get("QUEUE_SIZE", QUEUE_SIZE))),
            seen={"github": SeenIds(seen_ids), "standard": SeenIds(seen_ids)},
        )

    def push(self, message: str) -> int:
        """Send ``message`` to every stream reader (``event: notify``); return how many there are."""
        with self.lock:
            self.counts["notifications"] += 1
        self.broker.publish(message)
        return self.streams.count

    def record(self, entry: dict) -> None:
        """Log a delivery's outcome and show it to stream readers as a ``delivery`` event."""
        with self.lock:
            self.logged += 1
            entry = {"n": self.logged, **entry}
            self.log.append(entry)
            self.counts[entry["outcome"]] += 1
        self.broker.publish_event("delivery", entry)


def check_secret(secret: str) -> None:
    """Refuse at start-up a ``whsec_`` secret with no usable key, rather than 500 on every
    Standard delivery.  The message never repeats the secret."""
    try:
        key = signatures.standard_key(secret)
    except UnicodeEncodeError:  # undecodable bytes in the environment variable
        raise ValueError("WEBHOOK_SECRET is not valid UTF-8 text") from None
    except ValueError:
        raise ValueError("WEBHOOK_SECRET starts with 'whsec_' but what follows is not valid base64: "
                         "write 'whsec_' + base64 of the key bytes, or a secret without the 'whsec_' "
                         "prefix (used as UTF-8 bytes)") from None
    if not key:
        raise ValueError("WEBHOOK_SECRET is empty after 'whsec_': the base64 part holds no key bytes")


def lab() -> Webhooks:
    """The state of the app handling this request."""
    return current_app.extensions["webhooks"]


# --------------------------------------------------------------------------- GitHub

@bp.post("/webhook/github")
def github():
    state = lab()
    entry = log_entry("github", request.headers.get("X-GitHub-Delivery"), request.headers.get("X-GitHub-Event"))
    with rejections_logged(state, entry):
        # 1. Signature: authenticate the raw bytes before looking at anything they say.
        raw = request.get_data(cache=True)
        signatures.verify_github(state.secret, raw, request.headers.get("X-Hub-Signature-256"))
        event = request.headers.get("X-GitHub-Event", "")
        if not event:
            raise ApiError(400, "missing header 'X-GitHub-Event'", "say which event this is")
        ident = delivery_id("X-GitHub-Delivery")
        # 2. Timestamp: GitHub signs none, so step 3 alone stops a replay.
        # 3. Duplicate: the id, and a digest of the body.  Only the body is signed, so an
        #    attacker can replay a captured body under a made-up id; its digest gives it away.
        keys = (f"id:{ident}", "body:" + hashlib.sha256(raw).hexdigest())
        if not state.seen["github"].claim(*keys):
            return answer(state, entry, duplicate(ident), 200)
        with state.seen["github"].released_on_error(*keys):
            # 4. Body: JSON, or a form carrying the JSON (both are GitHub options).
            payload = parse_github_body(raw)
            if event == "ping":
                # Sent when a hook is created: answer so the provider marks the hook healthy.
                zen = unicode_text(str(payload.get("zen", ""))[:200], "'zen'")
                reply, status = {"status": "pong", "delivery": ident, "zen": zen}, 200
            elif event == "push":
                message = read_message({"message": push_message(payload)})
                # 5. Push.
                clients = state.push(message)
                reply, status = {"status": "accepted", "delivery": ident, "message": message, "clients": clients}, 200
            else:
                # Subscribed to more than we handle: acknowledge, so it is not retried.
                reply, status = {"status": "ignored", "delivery": ident, "event": event}, 202
    return answer(state, entry, reply, status)


def parse_github_body(raw: bytes) -> dict:
    """GitHub sends JSON, or a form with the JSON in ``payload=`` (both are options)."""
    text = decode_utf8(raw)
    if request.mimetype == "application/x-www-form-urlencoded":
        fields = urllib.parse.parse_qs(text, keep_blank_values=True)
        if "payload" not in fields:
            raise ApiError(400, "invalid form body", "a form delivery carries its JSON in 'payload='")
        text = fields["payload"][0]
    return parse_object(text)


def push_message(payload: dict) -> str:
    """``"<pusher> pushed to <branch>"`` from a push payload, or a 400 saying what is missing."""
    ref = payload.get("ref")
    pusher = payload.get("pusher")
    name = pusher.get("name") if isinstance(pusher, dict) else None
    if not isinstance(ref, str) or not ref:
        raise ApiError(400, "invalid push payload", "'ref' must be a string such as 'refs/heads/main'")
    if not isinstance(name, str) or not name.strip():
        raise ApiError(400, "invalid push payload", "'pusher.name' must be a non-empty string")
    branch = ref.removeprefix("refs/heads/")
    return f"{name} pushed to {branch}"


# --------------------------------------------------------------------------- Standard Webhooks

@bp.post("/webhook/standard")
def standard():
    state = lab()
    entry = log_entry("standard", request.headers.get("webhook-id"), None)  # the type is known once parsed
    with rejections_logged(state, entry):
        # 1. Signature, then 2. timestamp window: only a delivery we really signed is called stale.
        raw = request.get_data(cache=True)
        headers = request.headers
        signatures.verify_standard(state.secret, headers.get("webhook-id"), headers.get("webhook-timestamp"), raw,
                                   headers.get("webhook-signature"), tolerance=state.tolerance)
        ident = delivery_id("webhook-id")
        # 3. Duplicate: the id is signed, so remembering ids is enough here.
        keys = (f"id:{ident}",)
        if not state.seen["standard"].claim(*keys):
            return answer(state, entry, duplicate(ident), 200)
        with state.seen["standard"].released_on_error(*keys):
            # 4. Body: {"type": ..., "timestamp": ..., "data": {...}}.
            kind, data = parse_standard_body(raw)
            if kind in ("ping", "webhook.test"):
                reply, status = {"status": "pong", "delivery": ident, "type": kind}, 200
            elif kind in STANDARD_NEWS:
                message = read_message({"message": standard_message(kind, data)})
                # 5. Push.
                clients = state.push(message)
                reply, status = {"status": "accepted", "delivery": ident, "type": kind, "message": message,
                                 "clients": clients}, 200
            else:
                reply, status = {"status": "ignored", "delivery": ident, "type": kind}, 202
    return answer(state, {**entry, "event": _short(kind)}, reply, status)


def parse_standard_body(raw: bytes) -> tuple[str, dict]:
    """The payload's ``type`` and ``data``, or a 400 saying what is wrong."""
    payload = parse_object(decode_utf8(raw))
    kind = payload.get("type")
    data = payload.get("data")
    if not isinstance(kind, str) or not isinstance(data, dict):
        raise ApiError(400, "invalid payload", 'expected {"type": "...", "timestamp": "...", "data": {...}}')
    unicode_text(kind, "'type'")  # echoed in the answer, the log and the stream
    return kind, data


def standard_message(kind: str, data: dict) -> str:
    """The notification a ``repository.push`` or ``notification.created`` delivery carries."""
    if kind == "repository.push":
        return push_message({"ref": data.get("branch"), "pusher": {"name": data.get("pusher")}})
    return read_message(data)


# --------------------------------------------------------------------------- steps both receivers share

def log_entry(scheme: str, ident: str | None, event: str | None) -> dict:
    """The start of a delivery's log entry; header values are attacker-chosen, so kept short."""
    return {"scheme": scheme, "id": _short(ident), "event": _short(event)}


@contextlib.contextmanager
def rejections_logged(state: Webhooks, entry: dict) -> Iterator[None]:
    """Log a refused delivery (and show it on the stream), then let its 4xx answer go out.

    A failed signature or timestamp (``signatures.VerificationError``) becomes the ApiError
    the lab answers with; ApiErrors and Werkzeug's HTTP errors (a body over the size limit)
    pass through unchanged.
    """
    try:
        yield
    except signatures.VerificationError as exc:
        state.record({**entry, "outcome": "rejected", "status": exc.status, "reason": exc.error})
        raise ApiError(exc.status, exc.error, exc.detail) from None
    except ApiError as exc:
        state.record({**entry, "outcome": "rejected", "status": exc.status, "reason": exc.error})
        raise
    except HTTPException as exc:
        state.record({**entry, "outcome": "rejected", "status": exc.code or 400, "reason": exc.name.lower()})
        raise


def answer(state: Webhooks, entry: dict, reply: dict, status: int):
    """Log what became of a delivery that passed every check, and answer the provider."""
    state.record({**entry, "outcome": reply["status"], "status": status,
                  **({"message": reply["message"]} if "message" in reply else {})})
    return jsonify(reply), status


def duplicate(ident: str) -> dict:
    """Idempotency: providers retry whenever they miss our answer, so duplicates are normal.
    A 200 tells them to stop retrying; nothing is pushed again."""
    return {"status": "duplicate", "delivery": ident, "detail": "already received; acknowledged, not pushed again"}


def delivery_id(header: str) -> str:
    ident = request.headers.get(header, "")
    if not ident:
        raise ApiError(400, f"missing header {header!r}", "every delivery carries a unique id")
    if len(ident) > MAX_ID_LENGTH:
        raise ApiError(400, f"header {header!r} too long", f"at most {MAX_ID_LENGTH} characters")
    return ident


def decode_utf8(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "invalid JSON", "the body is not valid UTF-8") from None


def parse_object(text: str) -> dict:
    # Only the fields a receiver reads are checked for lone surrogates (unicode_text,
    # read_message): a provider's payload is large, and most of it is never used here.
    return parse_json_object(text, example="the provider's JSON object", whole_text=False)


def unicode_text(value: str, what: str) -> str:
    """``value``, or a 400 if it holds a lone surrogate: json.loads accepts "\\ud800" alone,
    but that is not text (no UTF-8 for it), so keep it out of answers, the log and the stream.
    Pushed messages get the same check from read_message."""
    if not is_unicode_text(value):
        raise ApiError(400, "invalid text", f"{what} holds a lone surrogate (such as \\ud800), "
                       "which is not valid Unicode text")
    return value


def _short(value: str | None, limit: int = 80) -> str | None:
    """Header values are attacker-chosen: keep what we log and show short."""
    if value is None:
        return None
    return value if len(value) <= limit else value[:limit] + "…"


# --------------------------------------------------------------------------- the kit's common routes

@bp.post("/send_notification")
def send_notification():
    message = read_notification()  # validated (and token-checked) before anything is pushed
    clients = lab().push(message)
    return jsonify(status="published", message=message, clients=clients)


@bp.get("/stream")
def stream():
    state = lab()
    return stream_response(state.broker, state.streams, keepalive_seconds=state.keepalive_seconds,
                           retry_ms=RETRY_MS)


@bp.get("/deliveries")
def deliveries():
    state = lab()
    with state.lock:
        recent = list(state.log)
    return jsonify(deliveries=recent)


@bp.get("/stats")
def stats():
    state = lab()
    with state.lock:
        counted = dict(state.counts)
    return jsonify(clients=state.streams.count, notifications=counted.pop("notifications", 0),
                   deliveries={outcome: counted.get(outcome, 0) for outcome in OUTCOMES},
                   development_secret=state.development_secret, capacity=capacity())


# --------------------------------------------------------------------------- app

def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = create_lab_app("webhooks", config)
    state = Webhooks.from_config(app.config)
    if state.development_secret:
        print("WARNING webhooks: WEBHOOK_SECRET is not set; using the public DEVELOPMENT secret "
              f"{DEVELOPMENT_SECRET!r}. Anyone can sign deliveries with it: set WEBHOOK_SECRET "
              "(config or environment) for anything but local practice.", file=sys.stderr, flush=True)
    app.extensions["webhooks"] = state
    app.register_blueprint(bp)
    return app
