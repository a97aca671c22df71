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
signature is verified, and nothing is pushed unless every check passed.

Also ``POST /send_notification`` (the kit's common interface), ``GET /stream`` (``notify``
events with the notifications, ``delivery`` events with every delivery's outcome),
``GET /deliveries`` (the recent log) and ``GET /stats``.

The stream is the ``manual_sse`` lab's (:mod:`labs.runtime.broker` and :mod:`labs.runtime.sse_response`):
ids on every event, a replay of what a reconnecting reader missed, keep-alives, slow
readers cut off.  Its broker and the delivery ids it remembers are in this process:
serve it with the development server or one worker.
"""

from __future__ import annotations

import collections
import hashlib
import sys
import threading
import urllib.parse
from typing import Any, Callable

from flask import jsonify, request
from werkzeug.exceptions import HTTPException

from labs.runtime import signatures
from labs.runtime.errors import ApiError
from labs.runtime.notify import is_unicode_text, parse_json_object, read_message, read_notification
from labs.runtime.broker import MemoryBroker
from labs.runtime.sse_response import StreamCounter, stream_response
from labs.runtime.webapp import create_lab_app

# Used only when neither config nor environment sets WEBHOOK_SECRET (see labs.runtime.signatures).
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


def webhook_secret(config: dict[str, Any]) -> tuple[str, bool]:
    """The shared secret (config, then environment) and whether it is the public default."""
    return signatures.shared_secret(config.get("WEBHOOK_SECRET"))


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

    def __len__(self) -> int:
        return len(self._ids)


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


# --------------------------------------------------------------------------- app

def create_app(config=None):
    app = create_lab_app("webhooks", config)
    secret, is_default = webhook_secret(app.config)
    check_secret(secret)
    if is_default:
        print("WARNING webhooks: WEBHOOK_SECRET is not set; using the public DEVELOPMENT secret "
              f"{DEVELOPMENT_SECRET!r}. Anyone can sign deliveries with it: set WEBHOOK_SECRET "
              "(config or environment) for anything but local practice.", file=sys.stderr, flush=True)
    tolerance = float(app.config.get("WEBHOOK_TOLERANCE_SECONDS", signatures.DEFAULT_TOLERANCE_SECONDS))
    keepalive_seconds = float(app.config.get("KEEPALIVE_SECONDS", KEEPALIVE_SECONDS))
    seen = {"github": SeenIds(int(app.config.get("WEBHOOK_SEEN_IDS", SEEN_IDS))),
            "standard": SeenIds(int(app.config.get("WEBHOOK_SEEN_IDS", SEEN_IDS)))}
    # The same broker and stream as the manual_sse lab: every event has an id, and a
    # reader that reconnects is replayed what it missed (Last-Event-ID).
    hub = MemoryBroker(int(app.config.get("HISTORY", HISTORY)), int(app.config.get("QUEUE_SIZE", QUEUE_SIZE)))
    streams = StreamCounter()
    log: collections.deque[dict] = collections.deque(maxlen=DELIVERY_LOG)
    counts = collections.Counter()
    lock = threading.Lock()
    sequence = [0]

    def push_notification(message: str) -> int:
        with lock:
            counts["notifications"] += 1
        hub.publish(message)
        return streams.count

    def record(entry: dict) -> None:
        """Log a delivery's outcome and show it to stream readers as a ``delivery`` event."""
        with lock:
            sequence[0] += 1
            entry = {"n": sequence[0], **entry}
            log.append(entry)
            counts[entry["outcome"]] += 1
        hub.publish_event("delivery", entry)

    def receive(scheme: str, ident_header: str, event_of: Callable[[], str | None],
                handle: Callable[[], tuple[dict, int]]):
        """Run one receiver, logging what became of the delivery whatever happens."""
        entry = {"scheme": scheme, "id": _short(request.headers.get(ident_header)), "event": _short(event_of())}
        try:
            body, status = handle()
        except signatures.VerificationError as exc:
            record({**entry, "outcome": "rejected", "status": exc.status, "reason": exc.error})
            raise ApiError(exc.status, exc.error, exc.detail) from None
        except (ApiError, HTTPException) as exc:
            status = exc.status if isinstance(exc, ApiError) else (exc.code or 400)
            reason = exc.error if isinstance(exc, ApiError) else exc.name.lower()
            record({**entry, "outcome": "rejected", "status": status, "reason": reason})
            raise
        if entry["event"] is None and "type" in body:  # Standard: the type is known once parsed
            entry["event"] = _short(body["type"])
        record({**entry, "outcome": body["status"], "status": status,
                **({"message": body["message"]} if "message" in body else {})})
        return jsonify(body), status

    def delivery_id(header: str) -> str:
        ident = request.headers.get(header, "")
        if not ident:
            raise ApiError(400, f"missing header {header!r}", "every delivery carries a unique id")
        if len(ident) > MAX_ID_LENGTH:
            raise ApiError(400, f"header {header!r} too long", f"at most {MAX_ID_LENGTH} characters")
        return ident

    def once(scheme: str, ident: str, handle: Callable[[], tuple[dict, int]],
             body: bytes | None = None) -> tuple[dict, int]:
        """Idempotency: a delivery already handled is acknowledged, never pushed again.

        Providers retry whenever they miss our answer, so duplicates are normal; 200 tells
        them to stop retrying.  ``body``, when given, is remembered too (as a digest): in
        GitHub's scheme only the body is signed, so an attacker can replay a captured body
        under a new, made-up delivery id; the body's digest still gives it away.
        """
        keys = [f"id:{ident}"]
        if body is not None:
            keys.append("body:" + hashlib.sha256(body).hexdigest())
        if not seen[scheme].claim(*keys):
            return {"status": "duplicate", "delivery": ident,
                    "detail": "already received; acknowledged, not pushed again"}, 200
        try:
            return handle()
        except BaseException:
            seen[scheme].release(*keys)
            raise

    # ------------------------------------------------------------------ GitHub

    @app.post("/webhook/github")
    def github():
        def handle():
            # 1. Authenticate the raw bytes before looking at anything they say.
            raw = request.get_data(cache=True)
            signatures.verify_github(secret, raw, request.headers.get("X-Hub-Signature-256"))
            event = request.headers.get("X-GitHub-Event", "")
            if not event:
                raise ApiError(400, "missing header 'X-GitHub-Event'", "say which event this is")
            ident = delivery_id("X-GitHub-Delivery")
            return once("github", ident, lambda: github_event(event, ident, raw), body=raw)

        return receive("github", "X-GitHub-Delivery", lambda: request.headers.get("X-GitHub-Event"), handle)

    def github_event(event: str, ident: str, raw: bytes) -> tuple[dict, int]:
        payload = parse_github_body(raw)
        if event == "ping":
            # Sent when a hook is created: answer so the provider marks the hook healthy.
            zen = unicode_text(str(payload.get("zen", ""))[:200], "'zen'")
            return {"status": "pong", "delivery": ident, "zen": zen}, 200
        if event != "push":
            # Subscribed to more than we handle: acknowledge, so it is not retried.
            return {"status": "ignored", "delivery": ident, "event": event}, 202
        message = read_message({"message": push_message(payload)})
        clients = push_notification(message)
        return {"status": "accepted", "delivery": ident, "message": message, "clients": clients}, 200

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
        ref = payload.get("ref")
        pusher = payload.get("pusher")
        name = pusher.get("name") if isinstance(pusher, dict) else None
        if not isinstance(ref, str) or not ref:
            raise ApiError(400, "invalid push payload", "'ref' must be a string such as 'refs/heads/main'")
        if not isinstance(name, str) or not name.strip():
            raise ApiError(400, "invalid push payload", "'pusher.name' must be a non-empty string")
        branch = ref.removeprefix("refs/heads/")
        return f"{name} pushed to {branch}"

    # ------------------------------------------------------------------ Standard Webhooks

    @app.post("/webhook/standard")
    def standard():
        def handle():
            raw = request.get_data(cache=True)
            headers = request.headers
            ident = headers.get("webhook-id")
            # Signature, then timestamp window: only a delivery we really signed is called stale.
            signatures.verify_standard(secret, ident, headers.get("webhook-timestamp"), raw,
                                       headers.get("webhook-signature"), tolerance=tolerance)
            ident = delivery_id("webhook-id")
            return once("standard", ident, lambda: standard_event(ident, raw))

        return receive("standard", "webhook-id", lambda: None, handle)

    def standard_event(ident: str, raw: bytes) -> tuple[dict, int]:
        payload = parse_object(decode_utf8(raw))
        kind = payload.get("type")
        data = payload.get("data")
        if not isinstance(kind, str) or not isinstance(data, dict):
            raise ApiError(400, "invalid payload", 'expected {"type": "...", "timestamp": "...", "data": {...}}')
        unicode_text(kind, "'type'")  # echoed in the answer, the log and the stream
        if kind in ("ping", "webhook.test"):
            return {"status": "pong", "delivery": ident, "type": kind}, 200
        if kind == "repository.push":
            message = push_message({"ref": data.get("branch"), "pusher": {"name": data.get("pusher")}})
        elif kind == "notification.created":
            message = read_message(data)
        else:
            return {"status": "ignored", "delivery": ident, "type": kind}, 202
        message = read_message({"message": message})
        clients = push_notification(message)
        return {"status": "accepted", "delivery": ident, "type": kind, "message": message, "clients": clients}, 200

    def decode_utf8(raw: bytes) -> str:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ApiError(400, "invalid JSON", "the body is not valid UTF-8") from None

    def parse_object(text: str) -> dict:
        # Only the fields a receiver reads are checked for lone surrogates (unicode_text,
        # read_message): a provider's payload is large, and most of it is never used here.
        return parse_json_object(text, example="the provider's JSON object", whole_text=False)

    # ------------------------------------------------------------------ the kit's common routes

    @app.post("/send_notification")
    def send_notification():
        message = read_notification()  # validated (and token-checked) before anything is pushed
        clients = push_notification(message)
        return jsonify(status="published", message=message, clients=clients)

    @app.get("/stream")
    def stream():
        return stream_response(hub, streams, keepalive_seconds=keepalive_seconds, retry_ms=RETRY_MS)

    @app.get("/deliveries")
    def deliveries():
        with lock:
            recent = list(log)
        return jsonify(deliveries=recent)

    @app.get("/stats")
    def stats():
        with lock:
            counted = dict(counts)
        return jsonify(clients=streams.count, notifications=counted.pop("notifications", 0),
                       deliveries={k: counted.get(k, 0)
                                   for k in ("accepted", "pong", "ignored", "duplicate", "rejected")},
                       development_secret=is_default)

    return app
