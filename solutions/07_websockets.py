"""Reference answers for notebooks/07_websockets.ipynb.

Each section replaces the code of the exercise cell with the same number
(tools/solutions.py; format in CONTRIBUTING.md).
"""

# %% Exercise 7.1
import base64
import hashlib

WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def websocket_accept(key):
    # RFC 6455, section 4.2.2: base64(SHA-1(key + GUID)); the key is used as sent, still in base64.
    digest = hashlib.sha1((key + WEBSOCKET_GUID).encode("ascii")).digest()
    return base64.b64encode(digest).decode("ascii")

# %% Exercise 7.2
import socketio


def notification_client(url, inbox):
    client = socketio.Client(reconnection=False)

    @client.on("notify")
    def on_notify(data):
        inbox.append(data["message"])

    # Register handlers before connecting, so no event can arrive before its handler.
    # The lab refuses HTTP long-polling (a session spread over many requests), so ask
    # for the WebSocket transport from the start.
    client.connect(url, transports=["websocket"])
    return client

# %% Exercise 7.3
def join_and_say(client, room, text):
    # call() waits for each acknowledgement: the join is done before the chat is checked.
    joined = client.call("join", {"room": room})
    if not joined.get("ok"):
        raise RuntimeError(f"could not join {room!r}: {joined}")
    return client.call("chat", {"room": room, "text": text})
