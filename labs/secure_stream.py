"""Lab ``secure_stream``: streams that need a login, and who may read them from another origin.

A notification stream is often personal: Alice's must never show Bob's messages.  So the
stream needs to know who is asking, and ``EventSource`` makes that awkward: it sends only
a GET, with **no headers of its own** (no ``Authorization``), and sends cookies to another
origin only with ``withCredentials``.  Three ways that work, each with its weakness:

1. **A session cookie** (``POST /login`` sets it; ``HttpOnly``, ``SameSite=Lax``).
   ``new EventSource("stream")`` sends it by itself.  Weakness: the browser sends it by
   itself with *every* request to this site, whoever's page made it (cross-site request
   forgery): every state-changing request must check ``Origin``, as this lab does.
   Across origins it needs ``withCredentials`` and an exact CORS answer (below).
2. **A one-time stream ticket** in the URL: an authenticated ``POST /stream-ticket``
   returns a random ticket, good for one stream within ``TICKET_SECONDS``;
   ``new EventSource("stream?ticket=...")``.  URLs are written down everywhere (proxy and
   server access logs, browser history, ``Referer``), so a secret in a URL leaks; a
   ticket that is already spent, or expired, is worth nothing to whoever reads the log.
   A **long-lived token** in the URL is the real leak: ``?access_token=`` is refused unless
   ``TOKEN_IN_URL`` is on (the mistake, kept for the demonstration).  Weakness: one more
   request, and ``EventSource`` reconnects with the *same* URL, whose ticket is spent: the
   reconnect gets a 401 and ``EventSource`` gives up, so the page must fetch a new ticket.
3. **``fetch()`` with ``Authorization: Bearer <token>``** and a stream reader (the
   ``token_stream`` lab's client).  Not sent by itself, so no forgery; works across
   origins without cookies.  Weakness: the page's JavaScript holds the token, so any
   script injected into the page can read it; and ``fetch`` does not reconnect by itself.

**Per-user channels**: the stream's user is whoever authenticated, never a parameter; a
``?user=`` naming someone else is a 403.  ``POST /send`` delivers to one user's streams.
Each user has a channel of their own: a broker of the lesson core (:mod:`labs.core.broker`,
streamed by :mod:`labs.core.sse_response`, as in ``manual_sse``), so every stream of that
user, and only those, gets the message, each through its own bounded queue.  A stream that
falls ``QUEUE_SIZE`` messages behind is cut off rather than holding up the sender, and a
reconnecting ``EventSource`` gets what it missed from that user's channel (``Last-Event-ID``).

**CORS** (``ALLOWED_ORIGINS``: a list of exact origins such as
``["http://127.0.0.1:8001"]``, or ``"*"``, the mistake): for an allowed origin the lab
answers ``Access-Control-Allow-Origin: <that origin>``, ``Vary: Origin`` and
``Access-Control-Allow-Credentials: true``, and answers the preflight (``OPTIONS`` with
``Access-Control-Request-Method``) that a browser sends before a cross-origin POST with
JSON or an ``Authorization`` header.  With ``"*"`` it answers ``Access-Control-Allow-
Origin: *``, and the browser refuses to hand a credentialed response (cookies) to the
page.  A request whose ``Origin`` is neither this lab's own nor allowed is a 403: CORS is
enforced by browsers, for the reader's sake; the server must still refuse for its own.

Secrets: session ids, tokens and tickets are random (``secrets.token_urlsafe``), kept only
as SHA-256 digests (a copy of the server's memory lets nobody in), and compared in constant
time (``hmac.compare_digest``; see :class:`SecretStore`); passwords too.  Every 401 and 403
is JSON.

The second origin, another port serving ``static/secure_stream/elsewhere.html``, is the
harness's (:mod:`labs.harness.second_origin`; ``python -m labs second-origin --api URL --port 8001``).

Config: ``USERS`` ({"alice": "wonderland", "bob": "builder"}), ``ALLOWED_ORIGINS`` ([]),
``TICKET_SECONDS`` (30), ``SESSION_SECONDS`` (3600), ``TOKEN_SECONDS`` (3600),
``TOKEN_IN_URL`` (False), ``KEEPALIVE_SECONDS`` (15), ``STREAM_SECONDS`` (3600: then the stream
ends and the client reconnects), ``RETRY_MS`` (2000), ``QUEUE_SIZE`` (100), ``HISTORY`` (100: messages
each user's channel keeps for a reconnecting stream).
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import hmac
import secrets
import threading
import time
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request

from labs.core.broker import Broker
from labs.core.errors import ApiError
from labs.core.event_log import MemoryEventLog
from labs.core.notify import read_json_object, read_message
from labs.core.sse import encode_event, encode_json_event
from labs.core.sse_response import StreamCounter, stream_response
from labs.core.stream_guard import capacity
from labs.core.webapp import create_lab_app

USERS = {"alice": "wonderland", "bob": "builder"}  # demo accounts: name -> password
SESSION_COOKIE = "stream_session"
SESSION_SECONDS = 3600
TOKEN_SECONDS = 3600         # a bearer token lives an hour: far too long to sit in a log
TICKET_SECONDS = 30          # a ticket lives seconds, and only for one stream
KEEPALIVE_SECONDS = 15.0
STREAM_SECONDS = 3600.0      # a stream ends after this long and the client reconnects (deploys, rebalancing)
RETRY_MS = 2000
QUEUE_SIZE = 100            # messages a stream may fall behind before it is cut off
HISTORY = 100               # messages each user's channel keeps, for a stream that reconnects
MAX_SECRETS = 10_000         # sessions, tokens or tickets kept at most (oldest dropped)
ALLOWED_METHODS = "GET, POST"
ALLOWED_HEADERS = "Content-Type, Authorization"
PREFLIGHT_MAX_AGE = 600      # seconds a browser may remember a preflight's answer

bp = Blueprint("secure_stream", __name__)


# --------------------------------------------------------------------------- secrets

def digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()


@dataclasses.dataclass
class Grant:
    user: str
    digest: bytes = dataclasses.field(repr=False)  # SHA-256 of the secret part: the secret is not kept
    expires: float = 0.0    # time.monotonic() after which it is no good
    spent: bool = False     # one-time secrets (tickets) are marked, not forgotten, once used


class SecretStore:
    """Random secrets that stand for a user: sessions, bearer tokens or stream tickets.

    A secret reads ``<id>.<secret part>``.  The id is not secret: it only finds the grant
    (a dictionary lookup, whose timing may say something about the id and nothing else).
    The secret part is then hashed and compared with the stored digest by
    ``hmac.compare_digest``, which takes the same time wherever the first difference is,
    so response times cannot reveal it byte by byte.  Only digests are kept: a copy of
    the server's memory lets nobody in.
    """

    def __init__(self, kind: str, seconds: float, *, one_time: bool = False) -> None:
        self.kind = kind
        self.seconds = seconds
        self.one_time = one_time
        self._grants: collections.OrderedDict[str, Grant] = collections.OrderedDict()
        self._lock = threading.Lock()

    def issue(self, user: str) -> str:
        ident, secret = secrets.token_urlsafe(9), secrets.token_urlsafe(32)
        with self._lock:
            self._grants[ident] = Grant(user, digest(secret), time.monotonic() + self.seconds)
            while len(self._grants) > MAX_SECRETS:
                self._grants.popitem(last=False)
        return f"{ident}.{secret}"

    def check(self, presented: str) -> str:
        """The user ``presented`` stands for (spending it, if one-time), or a 401 saying why not."""
        ident, _, secret = presented.partition(".")
        with self._lock:
            grant = self._grants.get(ident)
            if grant is None or not hmac.compare_digest(grant.digest, digest(secret)):
                raise unauthorized(f"unknown {self.kind}", f"this {self.kind} was never issued here (or was revoked)")
            if grant.spent:
                raise unauthorized(f"{self.kind} already used", f"a {self.kind} is good for one stream only: "
                                   "ask for a new one (POST /stream-ticket)")
            if time.monotonic() > grant.expires:
                raise unauthorized(f"{self.kind} expired", f"a {self.kind} is good for {self.seconds:g} s")
            grant.spent = self.one_time
            return grant.user

    def revoke(self, presented: str) -> None:
        ident, _, secret = presented.partition(".")
        with self._lock:
            grant = self._grants.get(ident)
            if grant is not None and hmac.compare_digest(grant.digest, digest(secret)):
                del self._grants[ident]

    def __len__(self) -> int:
        now = time.monotonic()
        with self._lock:
            return sum(1 for grant in self._grants.values() if not grant.spent and grant.expires >= now)


def unauthorized(error: str, detail: str) -> ApiError:
    return ApiError(401, error, detail)


# --------------------------------------------------------------------------- state

@dataclasses.dataclass
class SecureStream:
    """Everything the lab keeps between requests: ``app.extensions["secure_stream"]``."""

    users: dict[str, str] = dataclasses.field(repr=False)  # passwords: never shown
    allowed_origins: tuple[str, ...] | str                  # exact origins, or "*" (the mistake)
    token_in_url: bool
    sessions: SecretStore
    tokens: SecretStore
    tickets: SecretStore
    channels: dict[str, Broker]  # one per user: a message reaches that user's streams only
    keepalive_seconds: float
    stream_seconds: float
    retry_ms: int
    streams: StreamCounter = dataclasses.field(default_factory=StreamCounter)  # open streams, all users
    counts: collections.Counter = dataclasses.field(default_factory=collections.Counter)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> SecureStream:
        origins = config.get("ALLOWED_ORIGINS", [])
        if origins != "*":
            if isinstance(origins, str) or not all(isinstance(o, str) and "://" in o for o in origins):
                raise ValueError('ALLOWED_ORIGINS is a list of origins like "http://127.0.0.1:8001", or "*"')
            origins = tuple(origin.rstrip("/") for origin in origins)
        users = dict(config.get("USERS", USERS))
        history, queue_size = int(config.get("HISTORY", HISTORY)), int(config.get("QUEUE_SIZE", QUEUE_SIZE))
        return cls(users=users, allowed_origins=origins,
                   token_in_url=bool(config.get("TOKEN_IN_URL", False)),
                   sessions=SecretStore("session", float(config.get("SESSION_SECONDS", SESSION_SECONDS))),
                   tokens=SecretStore("token", float(config.get("TOKEN_SECONDS", TOKEN_SECONDS))),
                   tickets=SecretStore("ticket", float(config.get("TICKET_SECONDS", TICKET_SECONDS)), one_time=True),
                   channels={user: Broker(MemoryEventLog(history), queue_size) for user in users},
                   keepalive_seconds=float(config.get("KEEPALIVE_SECONDS", KEEPALIVE_SECONDS)),
                   stream_seconds=float(config.get("STREAM_SECONDS", STREAM_SECONDS)),
                   retry_ms=int(config.get("RETRY_MS", RETRY_MS)))

    def password_ok(self, user: str, password: str) -> bool:
        # Digests of equal length, compared in constant time; an unknown user costs the same.
        # (A real service stores a slow salted hash such as scrypt, never the password.)
        known = self.users.get(user)
        expected = digest(known if known is not None else secrets.token_hex(16))
        return hmac.compare_digest(digest(password), expected) and known is not None


def lab() -> SecureStream:
    return current_app.extensions["secure_stream"]


# --------------------------------------------------------------------------- origins (CORS)

def own_origin() -> str:
    return request.host_url.rstrip("/")


def foreign_origin() -> str | None:
    """The request's ``Origin`` when it is another origin than this lab's, else None."""
    origin = request.headers.get("Origin")
    return origin if origin is not None and origin != own_origin() else None


def origin_allowed(state: SecureStream, origin: str) -> bool:
    return state.allowed_origins == "*" or origin in state.allowed_origins


@bp.before_request
def check_origin():
    """Refuse other origins the lab does not know; answer the preflight of those it does."""
    state = lab()
    origin = foreign_origin()
    if origin is not None and not origin_allowed(state, origin):
        state.counts["refused origins"] += 1
        raise ApiError(403, "origin not allowed", f"{origin} is not in this lab's ALLOWED_ORIGINS")
    if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
        state.counts["preflights"] += 1
        answer = Response(status=204)
        answer.headers["Access-Control-Allow-Methods"] = ALLOWED_METHODS
        answer.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
        answer.headers["Access-Control-Max-Age"] = str(PREFLIGHT_MAX_AGE)
        return answer  # the CORS headers are added below, like on every answer
    return None


@bp.after_request
def cors_headers(response: Response) -> Response:
    state = lab()
    if response.status_code == 401 and "Authorization" in request.headers:
        response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'  # RFC 6750's way to say it
    origin = foreign_origin()
    if origin is not None and origin_allowed(state, origin):
        if state.allowed_origins == "*":
            # The mistake: a wildcard cannot be combined with credentials; browsers refuse.
            response.headers["Access-Control-Allow-Origin"] = "*"
        else:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.vary.add("Origin")  # caches must not hand this answer to another origin
        response.headers["Access-Control-Allow-Credentials"] = "true"
    return response


# --------------------------------------------------------------------------- who is asking

def bearer_token() -> str | None:
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized("malformed Authorization header", "send 'Authorization: Bearer <token>'")
    return token.strip()


def authenticate() -> tuple[str, str]:
    """``(user, how)`` from a bearer token or the session cookie, or a 401 saying why not.

    A request that presents a credential is judged on it alone: a bad bearer token is
    refused even if a good cookie came along.
    """
    state = lab()
    token = bearer_token()
    if token is not None:
        return state.tokens.check(token), "bearer token"
    session = request.cookies.get(SESSION_COOKIE)
    if session is not None:
        return state.sessions.check(session), "session cookie"
    raise unauthorized("not logged in", "log in first (POST /login), then send the session cookie, "
                       "an 'Authorization: Bearer <token>' header, or a stream ticket")


def authenticate_stream() -> tuple[str, str]:
    """As :func:`authenticate`, plus the two ways a URL can carry a credential."""
    state = lab()
    ticket = request.args.get("ticket")
    if ticket is not None:
        return state.tickets.check(ticket), "ticket"
    token = request.args.get("access_token")
    if token is not None:
        if not state.token_in_url:
            raise unauthorized("no tokens in URLs", "a URL is written into access logs, browser history and "
                               "Referer headers, so a long-lived token in it leaks: POST /stream-ticket for "
                               "a one-time ticket, or send 'Authorization: Bearer <token>'")
        return state.tokens.check(token), "token in the URL"
    return authenticate()


# --------------------------------------------------------------------------- routes

@bp.post("/login")
def login():
    state = lab()
    data = read_json_object()
    user, password = data.get("user"), data.get("password")
    if not isinstance(user, str) or not isinstance(password, str):
        raise ApiError(400, "send a user and a password", 'send {"user": "alice", "password": "..."}')
    if not state.password_ok(user, password):
        state.counts["failed logins"] += 1
        raise unauthorized("wrong user name or password", "the demo users are in the lab's USERS config")
    answer = jsonify(user=user, access_token=state.tokens.issue(user), token_expires_in=state.tokens.seconds)
    answer.set_cookie(SESSION_COOKIE, state.sessions.issue(user), max_age=int(state.sessions.seconds),
                      httponly=True, samesite="Lax", path="/")
    answer.headers["Cache-Control"] = "no-store"  # it carries a token: no cache keeps it
    return answer


@bp.post("/logout")
def logout():
    state = lab()
    token, session = bearer_token(), request.cookies.get(SESSION_COOKIE)
    for store, secret in ((state.tokens, token), (state.sessions, session)):
        if secret is not None:
            store.revoke(secret)
    answer = jsonify(status="logged out")
    answer.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="Lax")
    return answer


@bp.get("/me")
def me():
    user, how = authenticate()
    return jsonify(user=user, via=how)


@bp.post("/stream-ticket")
def stream_ticket():
    state = lab()
    user, _ = authenticate()
    ticket = state.tickets.issue(user)
    answer = jsonify(ticket=ticket, expires_in=state.tickets.seconds, url=f"stream?ticket={ticket}")
    answer.headers["Cache-Control"] = "no-store"
    return answer


@bp.post("/send")
def send():
    state = lab()
    sender, _ = authenticate()
    data = read_json_object()
    to = data.get("to")
    if not isinstance(to, str) or to not in state.users:
        raise ApiError(404, "no such user", f"send to one of {sorted(state.users)}")
    message = read_message(data)
    channel = state.channels[to]
    streams = channel.subscriber_count()  # each gets it (one too far behind is cut off, and catches up)
    channel.publish_event("notify", {"from": sender, "message": message})
    return jsonify(status="sent", to=to, streams=streams)


@bp.get("/stream")
def stream():
    """One user's stream: who you are, then the messages sent to you, with keep-alives.

    It ends after ``stream_seconds`` (servers do, to move long connections on during a
    deploy); ``EventSource`` then reconnects with the same URL and credentials.
    """
    state = lab()
    user, how = authenticate_stream()
    asked = request.args.get("user")
    if asked is not None and asked != user:
        raise ApiError(403, "not your channel", f"you are {user}: you may only read your own channel")
    state.counts[f"streams via {how}"] += 1
    hello = (encode_event(retry=state.retry_ms, comment="connected")
             + encode_json_event({"user": user, "via": how}, event="hello")).encode()
    return stream_response(state.channels[user], state.streams, keepalive_seconds=state.keepalive_seconds,
                           retry_ms=state.retry_ms, opening=hello, seconds=state.stream_seconds)


@bp.get("/stats")
def stats():
    state = lab()
    streams = {user: count for user, channel in sorted(state.channels.items())
               if (count := channel.subscriber_count())}
    return jsonify(clients=state.streams.count, streams=streams, sessions=len(state.sessions),
                   tokens=len(state.tokens), tickets=len(state.tickets),
                   cut_slow=sum(channel.stats()["cut_slow"] for channel in state.channels.values()),
                   allowed_origins=state.allowed_origins if state.allowed_origins == "*"
                   else list(state.allowed_origins), counts=dict(sorted(state.counts.items())), capacity=capacity())


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = create_lab_app("secure_stream", config)
    app.extensions["secure_stream"] = SecureStream.from_config(app.config)
    app.register_blueprint(bp)
    return app
