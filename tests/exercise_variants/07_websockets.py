# Other answers to the exercises of notebook 07, judged by tests/test_exercise_checks.py.
# "correct" sections must be solved, "wrong" sections must not.

# %% Exercise 7.1 correct: bytes all the way, decoded at the end; `from ... import`
from base64 import b64encode
from hashlib import sha1

WEBSOCKET_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def websocket_accept(key):
    return b64encode(sha1(key.encode() + WEBSOCKET_GUID).digest()).decode()

# %% Exercise 7.1 correct: hashlib.new("sha1") fed in two updates, codecs for base64
import codecs
import hashlib

WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def websocket_accept(key):
    h = hashlib.new("sha1")
    h.update(key.encode("ascii"))
    h.update(WEBSOCKET_GUID.encode("ascii"))
    return codecs.encode(h.digest(), "base64").decode("ascii").strip()

# %% Exercise 7.1 wrong: decodes the key first (the key is used as sent)
import base64
import hashlib

WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def websocket_accept(key):
    return base64.b64encode(hashlib.sha1(base64.b64decode(key) + WEBSOCKET_GUID.encode()).digest()).decode()

# %% Exercise 7.1 wrong: base64 of the hex digest
import base64
import hashlib

WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def websocket_accept(key):
    return base64.b64encode(hashlib.sha1((key + WEBSOCKET_GUID).encode()).hexdigest().encode()).decode()

# %% Exercise 7.1 wrong: returns bytes
import base64
import hashlib

WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def websocket_accept(key):
    return base64.b64encode(hashlib.sha1((key + WEBSOCKET_GUID).encode()).digest())

# %% Exercise 7.1 wrong: SHA-256 instead of SHA-1
import base64
import hashlib

WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def websocket_accept(key):
    return base64.b64encode(hashlib.sha256((key + WEBSOCKET_GUID).encode()).digest()).decode()

# %% Exercise 7.1 wrong: hard-coded RFC example
def websocket_accept(key):
    return "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

# %% Exercise 7.2 correct: client.on(event, handler) without the decorator, default reconnection
import socketio


def notification_client(url, inbox):
    client = socketio.Client()
    client.on("notify", lambda data: inbox.append(data["message"]))
    client.connect(url, transports=["websocket"], wait_timeout=10)
    return client

# %% Exercise 7.2 correct: a catch-all handler that keeps only notify events
import socketio


def notification_client(url, inbox):
    client = socketio.Client(reconnection=False)

    def on_any(event, data=None):
        if event == "notify":
            inbox.append(data.get("message"))

    client.on("*", on_any)
    client.connect(url, transports=("websocket",))
    return client

# %% Exercise 7.2 wrong: the default transports (the lab answers 400 to long-polling)
import socketio


def notification_client(url, inbox):
    client = socketio.Client(reconnection=False)
    client.on("notify", lambda data: inbox.append(data["message"]))
    client.connect(url)
    return client

# %% Exercise 7.2 wrong: appends the whole dict
import socketio


def notification_client(url, inbox):
    client = socketio.Client(reconnection=False)
    client.on("notify", inbox.append)
    client.connect(url, transports=["websocket"])
    return client

# %% Exercise 7.2 wrong: a handler for the wrong event name
import socketio


def notification_client(url, inbox):
    client = socketio.Client(reconnection=False)
    client.on("notification", lambda data: inbox.append(data["message"]))
    client.connect(url, transports=["websocket"])
    return client

# %% Exercise 7.2 wrong: does not return the client
import socketio


def notification_client(url, inbox):
    client = socketio.Client(reconnection=False)
    client.on("notify", lambda data: inbox.append(data["message"]))
    client.connect(url, transports=["websocket"])

# %% Exercise 7.2 wrong: hard-coded inbox, no connection
import socketio


def notification_client(url, inbox):
    inbox.append("exercise 7.2 <ok>")
    return socketio.Client()

# %% Exercise 7.3 correct: no check of the join's answer, keyword arguments, a timeout
def join_and_say(client, room, text):
    client.call("join", data={"room": room}, timeout=10)
    return client.call("chat", data={"text": text, "room": room}, timeout=10)

# %% Exercise 7.3 correct: emit with a callback, waiting on an Event for the join
import threading


def join_and_say(client, room, text):
    joined = threading.Event()
    client.emit("join", {"room": room}, callback=lambda *answer: joined.set())
    if not joined.wait(10):
        raise TimeoutError("no answer to join")
    return client.call("chat", {"room": room, "name": "me", "text": text})

# %% Exercise 7.3 wrong: never joins (the server refuses the chat)
def join_and_say(client, room, text):
    return client.call("chat", {"room": room, "text": text})

# %% Exercise 7.3 wrong: returns the join's acknowledgement
def join_and_say(client, room, text):
    joined = client.call("join", {"room": room})
    client.call("chat", {"room": room, "text": text})
    return joined

# %% Exercise 7.3 wrong: emits the chat and returns nothing
def join_and_say(client, room, text):
    client.call("join", {"room": room})
    client.emit("chat", {"room": room, "text": text})

# %% Exercise 7.3 wrong: hard-coded acknowledgement, nothing sent
def join_and_say(client, room, text):
    return {"ok": True}
