"""Checks for notebook 07 (WebSockets with Flask-SocketIO)."""

from __future__ import annotations

import base64
import hashlib
import os
import random
import re
import secrets
import socket
from urllib.parse import urlsplit

from labs.exercises import Answer, exercise
from labs.exercises.remote import RemoteObject, _type_name
from labs.exercises.support import lab_in_thread, random_text, run_with_limit
from labs.harness.processes import wait_until

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
RFC_KEY, RFC_ACCEPT = "dGhlIHNhbXBsZSBub25jZQ==", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def server_accept(url: str, key: str) -> str:
    """The ``Sec-WebSocket-Accept`` a live server answers to an upgrade request with ``key``."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as sock:
        sock.sendall((f"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                      "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                      f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode("ascii"))
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(4096)
            if not chunk:
                break
            head += chunk
    found = re.search(rb"Sec-WebSocket-Accept: (\S+)", head)
    if not found:
        raise RuntimeError(f"the lab did not accept the upgrade: {head[:200]!r}")
    return found.group(1).decode("ascii")


def _expected_accept(key: str) -> str:
    return base64.b64encode(hashlib.sha1((key + GUID).encode("ascii")).digest()).decode("ascii")


@exercise("7.1", hints=[
    "Re-read the paragraph under the handshake in section 1: three steps, in order, starting from the key "
    "exactly as the client sent it.",
    "The key stays as it is (base64 text; don't decode it). SHA-1 works on bytes, and it is the raw digest "
    "(20 bytes), not its hex form, that gets encoded.",
    "`hashlib.sha1(...)` and `base64.b64encode(...)` both take and give bytes; a header value is a str.",
])
def check_7_1(answer: Answer) -> None:
    websocket_accept = answer.function("websocket_accept")
    got = websocket_accept(RFC_KEY)
    assert isinstance(got, str), f"return the header value as a str, not {type(got).__name__}"
    assert got == RFC_ACCEPT, \
        f"for RFC 6455's example key {RFC_KEY!r} the answer is {RFC_ACCEPT!r}; you returned {got!r}"
    for _ in range(3):
        key = base64.b64encode(os.urandom(16)).decode("ascii")
        got = websocket_accept(key)
        assert got == _expected_accept(key), \
            f"for the key {key!r} you returned {got!r}, which is not base64(SHA-1(key + GUID))"
    with lab_in_thread("websockets") as lab:
        key = base64.b64encode(os.urandom(16)).decode("ascii")
        server_says = server_accept(lab.url, key)
    got = websocket_accept(key)
    assert got == server_says, f"for a fresh key {key!r} the live lab answered {server_says!r}; you returned {got!r}"


@exercise("7.2", hints=[
    "Two things must work: the connection (which transport does the lab accept? section 2) and the handler "
    "(for which event, registered when?).",
    "A handler receives the event's data, a dict like {\"message\": \"...\"}: append only the string. "
    "Register it before you connect, so that no event arrives before its handler.",
    "Section 2 connects Alice exactly the way this exercise needs; `@client.on(...)` is one way to "
    "register a handler.",
])
def check_7_2(answer: Answer) -> None:
    notification_client = answer.function("notification_client")

    with lab_in_thread("websockets") as lab:
        try:  # the inbox stays on the answer's side, where its handler fills it: read it from there
            kept = run_with_limit(answer.inside, "call_keeping", notification_client, lab.url, [], limit=15, late=(
                "notification_client had not returned 15 s after it was called: connect and return"))
        except ConnectionError as exc:  # socketio's ConnectionError, as it comes back from the answer
            if "400" in str(exc):
                raise AssertionError(
                    f"the lab refused your connection ({exc}): it accepts the WebSocket transport only, and "
                    "a client left to its defaults starts with HTTP long-polling; ask for WebSocket only "
                    "(section 2)") from None
            raise AssertionError(f"your client could not connect to the lab: {exc}") from None
        client, inbox = kept.result, lambda: kept.args[1]
        is_client = isinstance(client, RemoteObject) and client.is_a("socketio.client.Client")
        try:
            assert is_client, f"return the socketio.Client you connected, not {_type_name(client)}"
            assert client.connected, "connect the client before returning it"
            assert client.transport() == "websocket", \
                f"the client is connected over {client.transport()!r}; use the WebSocket transport only"
            texts = [random_text(), random_text()]
            for text in texts:
                lab.publish(text)
            if not wait_until(lambda: len(inbox()) >= 2, 4, interval=0.02):
                assert inbox(), "two notifications were published and nothing reached inbox: " \
                                "register a handler for the event 'notify'"
            got = inbox()
            assert got == texts, f"inbox should hold the two messages, {texts!r}; it holds {got!r}"
        finally:
            if is_client:
                client.disconnect()


def _client(url: str):
    import socketio

    inbox: list = []
    client = socketio.Client(reconnection=False)
    client.on("*", lambda event, data=None: inbox.append((event, data)))
    client.connect(url, transports=["websocket"], wait_timeout=10)
    return client, inbox


def _of(inbox: list, event: str) -> list:
    return [data for name, data in inbox if name == event]


@exercise("7.3", hints=[
    "Two events, in order: first the join, then the chat. What does the server answer to a chat from a "
    "client that has not joined yet? (Section 4 shows it.)",
    "`emit` sends and goes on at once; `call` sends and waits for the server's acknowledgement, and "
    "returns it. Wait for the join before you chat.",
    "The chat's data is a dict with the room and the text; return what `call` returns for the chat, "
    "not for the join.",
])
def check_7_3(answer: Answer) -> None:
    join_and_say = answer.function("join_and_say")
    room, other = f"room-{secrets.token_hex(3)}", f"room-{secrets.token_hex(3)}"
    text = random_text(random.Random())
    clients = []
    with lab_in_thread("websockets") as lab:
        try:
            speaker = answer.inside("socketio_client", lab.url)  # made where the answer runs
            member, member_inbox = _client(lab.url)
            outsider, outsider_inbox = _client(lab.url)
            clients += [speaker, member, outsider]
            member.call("join", {"room": room})
            outsider.call("join", {"room": other})
            ack = run_with_limit(join_and_say, speaker, room, text, limit=15, late=(
                "join_and_say had not returned 15 s after it was called"))
            assert isinstance(ack, dict) and ack.get("ok") is True, \
                f"return the server's acknowledgement of the chat, which says ok; you returned {ack!r}"
            if not wait_until(lambda: _of(member_inbox, "chat"), 4, interval=0.02):
                raise AssertionError(f"a member of the room {room!r} received no chat message")
            chats = _of(member_inbox, "chat")
            assert [m.get("text") for m in chats] == [text], \
                f"the room's member should receive your text once, {text!r}; it received {chats!r}"
            assert ack.get("id") == chats[0].get("id"), \
                f"return the acknowledgement of the chat (it carries the message's id), not of the join: {ack!r}"
            lab.publish("marker")  # once the outsider has this, a chat sent earlier would be there too
            wait_until(lambda: _of(outsider_inbox, "notify"), 4, interval=0.02)
            assert _of(outsider_inbox, "chat") == [], "a client in another room received your chat message"
        finally:
            for client in clients:
                client.disconnect()
