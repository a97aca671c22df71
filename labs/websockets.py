"""Lab ``websockets``: Flask-SocketIO over a real WebSocket, both ways.

What the lab offers (notebook 07 walks through it):

- the notification interface every transport shares: ``POST /send_notification`` with
  ``{"message": "..."}`` (validated by :func:`labs.core.notify.read_notification`) emits a
  Socket.IO event ``notify`` ``{"message": ...}`` to every connected client;
- a chat with rooms: clients ``join`` / ``leave`` a room and send ``chat`` messages that
  the server broadcasts to that room.  Every client event is answered with an
  acknowledgement (``{"ok": true, ...}`` or ``{"ok": false, "error": ...}``), and anything
  malformed also gets an ``error`` event back to its sender only; nothing malformed is
  ever broadcast;
- ``GET /stats``: ``{"clients": N}`` (every process's clients when Redis is shared).

Transport: WebSocket only.  Socket.IO normally starts with HTTP long-polling and upgrades;
this lab refuses polling so that what a student sees on the wire is the WebSocket.  It also
matters with several server processes: a polling client's requests could land on a
worker that has never heard of its session (polling needs sticky sessions), whereas a
WebSocket is one TCP connection held by one worker for its whole life.

Several processes (``python -m labs run websockets --workers 2``, or two lab processes
given the same ``REDIS_URL``) share a Redis message queue, so an ``emit`` in one process
reaches the clients connected to every process.

How the module reads, top to bottom (the shape of every lesson, and of Flask-SocketIO's examples):

1. ``WebSockets``, everything the lab keeps, in one object that ``create_app`` puts in
   ``app.extensions["websockets"]``, and ``lab()``, which finds it;
2. the two HTTP routes (``bp``);
3. ``Chat``, a class-based Socket.IO namespace: one ``on_<event>`` method per event a client
   may send.  A method that finds something wrong raises ``ClientError``, and ``refuse``
   turns it into the sender's ``error`` event and a ``{"ok": false}`` acknowledgement, the
   way an ``ApiError`` raised in a Flask view becomes a 4xx JSON answer;
4. ``create_app``: a lab app, the ``SocketIO`` server, the chat namespace, the blueprint.

The plumbing you can skip on a first read (the client count shared through Redis, the async
mode, and two fixes for Werkzeug's development server) is in :mod:`labs.core.socketio_setup`.
"""

from __future__ import annotations

import dataclasses
import hmac
import os
import uuid
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify, request
from flask_socketio import Namespace, SocketIO, emit, join_room, leave_room, rooms

from labs.core.errors import ApiError
from labs.core.notify import LONE_SURROGATE, is_unicode_text, read_notification
from labs.core.socketio_setup import ClientCount, choose_async_mode, fit_for_werkzeug
from labs.core.webapp import MAX_CONTENT_LENGTH, create_lab_app

# No GUNICORN_WORKER_CLASS here: gunicorn's default gevent worker serves WebSockets (through
# simple-websocket, as gevent-websocket is not installed) when Flask-SocketIO runs in its
# "gevent" async mode, which choose_async_mode() picks once gevent has patched the standard
# library.  tests/test_websockets.py checks the transport under `--workers 2`.

# Limits on what a client may send.  A chat line is short; the notification limit (64 KiB)
# is for the instructor's POSTs, not for every browser in the room.
MAX_CHAT_BYTES = 4 * 1024
MAX_ROOM_CHARS = 40
MAX_NAME_CHARS = 32
MAX_ROOMS_PER_CLIENT = 20  # each room a client joins costs server memory until it leaves

# Chat rooms live under this prefix in Socket.IO's room table.  Every client is also alone
# in a room named after its session id (that is how a message reaches one client); without
# the prefix, a client could "join" another client's session id and read its private events.
ROOM_PREFIX = "chat:"

# The Redis channel the processes of one lab share (config SOCKETIO_CHANNEL); two labs on
# one Redis with different channels do not hear each other.
DEFAULT_CHANNEL = "labs-websockets"


class ClientError(ApiError):
    """Something a client sent that the server refuses; the client is told, nobody else.

    The same ``{"error", "detail"}`` body as an HTTP 400, sent back as an ``error`` event.
    """

    def __init__(self, error: str, detail: str = "") -> None:
        super().__init__(400, error, detail)


# --------------------------------------------------------------------------- state

@dataclasses.dataclass
class WebSockets:
    """Everything the lab keeps: ``app.extensions["websockets"]``."""

    socketio: SocketIO
    clients: ClientCount
    message_queue: bool             # True when processes share a Redis message queue
    # Classroom mode (config PUBLISH_TOKEN): the chat's broadcast, like POST
    # /send_notification, is the instructor's.  A client proves it at connect time with
    # Socket.IO's auth payload {"token": ...}; reading needs nothing.
    token: str = ""
    may_chat: set[str] = dataclasses.field(default_factory=set)  # session ids allowed to chat


def lab() -> WebSockets:
    """The state of the app handling this request or Socket.IO event."""
    return current_app.extensions["websockets"]


# --------------------------------------------------------------------------- HTTP

bp = Blueprint("websockets", __name__)


@bp.post("/send_notification")
def send_notification():
    message = read_notification()  # every check first: nothing is ever half-sent
    lab().socketio.emit("notify", {"message": message})
    return jsonify(status="sent", message=message)


@bp.get("/stats")
def stats():
    state = lab()
    return jsonify(clients=state.clients.total(), this_process=len(state.clients.local),
                   async_mode=state.socketio.async_mode, message_queue=state.message_queue,
                   pid=os.getpid())  # which process answered (several behind a load balancer)


# --------------------------------------------------------------------------- Socket.IO

class Chat(Namespace):
    """The events a client may send: ``connect``, ``join``, ``leave``, ``chat`` (and ``disconnect``).

    Each ``on_<event>`` method runs in a Flask request context (``request.sid`` is the
    sender's session id) and its return value is the acknowledgement the client gets.
    """

    EVENTS = ("connect", "disconnect", "join", "leave", "chat")

    def trigger_event(self, event, *args):
        # Flask-SocketIO calls on_<event> and silently ignores any other event.  Any event
        # not in EVENTS (whatever its name, even one that is not a string) goes to
        # on_unknown_event instead, so the client hears that it was refused.
        if event in self.EVENTS:
            return super().trigger_event(event, *args)
        sid, *data = args
        return super().trigger_event("unknown_event", sid, event, *data)

    def on_connect(self, auth=None):
        state = lab()
        state.clients.add(request.sid)
        given = str(auth.get("token", "")) if isinstance(auth, dict) else ""
        if not state.token or hmac.compare_digest(given.encode(), state.token.encode()):
            state.may_chat.add(request.sid)

    def on_disconnect(self, reason=None):
        # Nothing is kept for a client that left: unlike SSE's Last-Event-ID, a Socket.IO
        # client that reconnects gets only what is sent after it is back.
        state = lab()
        state.clients.discard(request.sid)
        state.may_chat.discard(request.sid)

    def on_join(self, data=None):
        room = read_room(data)
        if room not in chat_rooms() and len(chat_rooms()) >= MAX_ROOMS_PER_CLIENT:
            raise ClientError("too many rooms", f"leave one first; the limit is {MAX_ROOMS_PER_CLIENT}")
        join_room(ROOM_PREFIX + room)
        return {"ok": True, "room": room, "rooms": chat_rooms()}

    def on_leave(self, data=None):
        room = read_room(data)
        leave_room(ROOM_PREFIX + room)
        return {"ok": True, "room": room, "rooms": chat_rooms()}

    def on_chat(self, data=None):
        room = read_room(data)
        text = _text(data, "text", max_bytes=MAX_CHAT_BYTES)
        name = _text(data, "name", max_chars=MAX_NAME_CHARS, default="anonymous")
        if room not in chat_rooms():
            raise ClientError("not in that room", f"join {room!r} before sending to it")
        if request.sid not in lab().may_chat:
            raise ClientError("chatting needs the instructor's token",
                              "classroom mode: connect with auth {\"token\": \"<token>\"}")
        message = {"id": uuid.uuid4().hex[:12], "room": room, "name": name, "text": text}
        # To everyone in the room, the sender included, on every process (via Redis).
        emit("chat", message, to=ROOM_PREFIX + room)
        return {"ok": True, "id": message["id"]}

    def on_unknown_event(self, event, data=None):
        # Any other event name is a client bug worth telling the client about.
        raise ClientError("unknown event", f"{event!r}; this server handles join, leave and chat")


def refuse(exc: Exception) -> dict:
    """The namespace's error handler (``socketio.on_error``): a ClientError from any handler
    becomes an ``error`` event to the sender only, and the acknowledgement says the same.
    Anything else is a bug in the server and is raised on."""
    if not isinstance(exc, ClientError):
        raise exc
    emit("error", exc.body(), to=request.sid)
    return {"ok": False, **exc.body()}


def read_room(data: Any) -> str:
    """The ``room`` a ``join``, ``leave`` or ``chat`` event names, checked."""
    return _text(_object(data), "room", max_chars=MAX_ROOM_CHARS)


def chat_rooms() -> list[str]:
    """The chat rooms this client is in, by the names the client uses."""
    return sorted(r[len(ROOM_PREFIX):] for r in rooms() if r.startswith(ROOM_PREFIX))


def _text(data: dict, field: str, *, max_chars: int | None = None, max_bytes: int | None = None,
          default: str | None = None) -> str:
    """``data[field]`` as a non-empty string within its limit, or a ClientError."""
    value = data.get(field, default)
    if value is None:
        raise ClientError(f"missing field {field!r}", f'send {{"{field}": "..."}}')
    if not isinstance(value, str):
        raise ClientError(f"field {field!r} must be a string", f"got {type(value).__name__}")
    value = value.strip()
    if not value:
        raise ClientError(f"field {field!r} is empty", "send some text")
    if not is_unicode_text(value):
        raise ClientError(f"field {field!r} is not valid text", LONE_SURROGATE)
    if max_chars is not None and len(value) > max_chars:
        raise ClientError(f"field {field!r} is too long", f"{len(value)} characters; the limit is {max_chars}")
    if max_bytes is not None:
        size = len(value.encode("utf-8"))
        if size > max_bytes:
            raise ClientError("message too large", f"{size} bytes of UTF-8; the limit is {max_bytes} bytes")
    return value


def _object(data: Any) -> dict:
    if not isinstance(data, dict):
        raise ClientError("expected an object", f"send {{...}}, not {type(data).__name__}")
    return data


# --------------------------------------------------------------------------- app

def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = create_lab_app("websockets", config)
    redis_url = app.config.get("REDIS_URL")
    channel = app.config.get("SOCKETIO_CHANNEL", DEFAULT_CHANNEL)
    socketio = SocketIO(
        app,
        async_mode=choose_async_mode(),
        # Several processes share one Redis queue: emit() here reaches clients everywhere.
        message_queue=redis_url or None,
        channel=channel,
        # WebSocket only (see the module doc): polling is refused with 400.  Config
        # SOCKETIO_TRANSPORTS=["polling", "websocket"] allows Socket.IO's usual start, to show
        # what it needs behind a load balancer (sticky sessions: notebook 13).
        transports=list(app.config.get("SOCKETIO_TRANSPORTS", ["websocket"])),
        # Same limit as HTTP bodies; a bigger frame closes the connection.  Messages between
        # MAX_CHAT_BYTES and this get a polite `error` event instead.
        max_http_buffer_size=MAX_CONTENT_LENGTH,
        # cors_allowed_origins is left at its default (same origin only): a page on another
        # site cannot open a socket here with the visitor's cookies.
    )
    socketio.on_namespace(Chat("/"))
    socketio.on_error("/")(refuse)
    state = WebSockets(socketio, ClientCount(redis_url, channel), message_queue=bool(redis_url),
                       token=str(app.config.get("PUBLISH_TOKEN") or ""))
    app.extensions["websockets"] = state
    app.register_blueprint(bp)
    fit_for_werkzeug(app)  # after SocketIO(app): it wraps SocketIO's middleware
    state.clients.keep_alive(socketio)  # with Redis: keep this process's count from expiring
    return app
