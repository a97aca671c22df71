"""Lab ``websockets``: Flask-SocketIO over a real WebSocket, real Redis between processes,
and the page in a real Chromium."""

from __future__ import annotations

import re
import threading
import time

import pytest
import requests
import socketio

from labs.harness.launcher import LabServer
from labs.websockets import MAX_CHAT_BYTES

WAIT = 10.0  # seconds: an upper bound for something to arrive, never an assertion on speed


class Recorder:
    """A python-socketio client over the WebSocket transport that remembers every event."""

    def __init__(self, url: str) -> None:
        self.events: list[tuple[str, object]] = []
        self._changed = threading.Condition()
        self.client = socketio.Client(reconnection=False)
        self.client.on("*", self._record)
        self.client.connect(url, transports=["websocket"], wait_timeout=WAIT)

    def _record(self, event, data=None):
        with self._changed:
            self.events.append((event, data))
            self._changed.notify_all()

    def of(self, event: str) -> list:
        with self._changed:
            return [data for name, data in self.events if name == event]

    def wait_for(self, event: str, count: int = 1) -> list:
        deadline = time.monotonic() + WAIT
        with self._changed:
            while len(self.of(event)) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"expected {count} {event!r} event(s), got {self.events!r}")
                self._changed.wait(left)
            return self.of(event)[:count]

    def call(self, event: str, data=None):
        return self.client.call(event, data, timeout=WAIT)

    def close(self) -> None:
        self.client.disconnect()


@pytest.fixture(scope="module")
def shared_lab():
    """One lab for the many small cases below (starting a lab costs seconds on a busy machine).

    Each case uses rooms of its own and waits for everything it sends, so cases cannot
    see each other's messages.
    """
    lab = LabServer("websockets").start()
    yield lab
    lab.stop()


@pytest.fixture
def clients():
    """``connect(url)`` returns a connected Recorder; all are disconnected after the test."""
    made: list[Recorder] = []

    def connect(url: str) -> Recorder:
        recorder = Recorder(url)
        made.append(recorder)
        return recorder

    yield connect
    for recorder in made:
        recorder.close()


def test_two_clients_chat_over_a_real_websocket(shared_lab, clients):
    lab = shared_lab
    alice, bob = clients(lab.url), clients(lab.url)
    assert alice.client.transport() == "websocket"
    assert bob.client.transport() == "websocket"

    assert alice.call("join", {"room": "kitchen"}) == {"ok": True, "room": "kitchen", "rooms": ["kitchen"]}
    assert bob.call("join", {"room": "kitchen"})["ok"] is True
    ack = alice.call("chat", {"room": "kitchen", "name": "alice", "text": "pizza?"})
    assert ack["ok"] is True

    expected = {"id": ack["id"], "room": "kitchen", "name": "alice", "text": "pizza?"}
    assert bob.wait_for("chat") == [expected]
    assert alice.wait_for("chat") == [expected]  # the sender sees the room's order too

    answer = bob.call("chat", {"room": "kitchen", "text": "yes"})
    assert alice.wait_for("chat", 2)[1] == {"id": answer["id"], "room": "kitchen", "name": "anonymous",
                                            "text": "yes"}


def test_rooms_keep_messages_to_their_members(shared_lab, clients):
    lab = shared_lab
    alice, bob, carol = clients(lab.url), clients(lab.url), clients(lab.url)
    for who in (alice, bob):
        assert who.call("join", {"room": "blue"})["ok"]
    assert carol.call("join", {"room": "red"})["ok"]

    alice.call("chat", {"room": "blue", "text": "for blue"})
    carol.call("chat", {"room": "red", "text": "for red"})
    assert [m["text"] for m in bob.wait_for("chat")] == ["for blue"]
    assert [m["text"] for m in carol.wait_for("chat")] == ["for red"]

    # After leaving, bob gets nothing more from the room, and may not send to it.
    assert bob.call("leave", {"room": "blue"}) == {"ok": True, "room": "blue", "rooms": []}
    refused = bob.call("chat", {"room": "blue", "text": "still here?"})
    assert refused["ok"] is False and refused["error"] == "not in that room"
    alice.call("chat", {"room": "blue", "text": "second"})
    assert [m["text"] for m in alice.wait_for("chat", 2)] == ["for blue", "second"]
    # A publish to everyone is a marker: once bob has it, an earlier room message would be there too.
    lab.publish("marker")
    bob.wait_for("notify")
    assert [m["text"] for m in bob.of("chat")] == ["for blue"]


def test_a_notification_reaches_every_client(lab_server, clients):
    lab = lab_server("websockets")
    readers = [clients(lab.url) for _ in range(3)]
    response = lab.publish("<b>exam moved</b> to Friday")
    assert response.status_code == 200
    assert response.json() == {"status": "sent", "message": "<b>exam moved</b> to Friday"}
    for reader in readers:
        assert reader.wait_for("notify") == [{"message": "<b>exam moved</b> to Friday"}]
    assert lab.get("/stats").json()["clients"] == 3


@pytest.mark.parametrize("kwargs, status, error", [
    ({"data": "message=hi", "headers": {"Content-Type": "application/x-www-form-urlencoded"}},
     415, "unsupported content type"),
    ({"data": "{not json", "headers": {"Content-Type": "application/json"}}, 400, "invalid JSON"),
    ({"json": {"message": ""}}, 400, "field 'message' is empty"),
    ({"json": {"message": 42}}, 400, "field 'message' must be a string"),
    ({"json": {"text": "hi"}}, 400, "missing field 'message'"),
    ({"json": {"message": "x" * (64 * 1024 + 1)}}, 413, "message too large"),
    # a lone surrogate
    ({"data": b'{"message": "\\ud800"}', "headers": {"Content-Type": "application/json"}}, 400, "invalid JSON"),
])
def test_bad_notifications_are_refused_and_not_sent(shared_lab, clients, kwargs, status, error):
    lab = shared_lab
    reader = clients(lab.url)
    response = lab.post("/send_notification", **kwargs)
    assert response.status_code == status
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json()["error"] == error
    lab.publish("after")
    assert reader.wait_for("notify") == [{"message": "after"}]  # the refused one never came


def test_classroom_token_guards_notifications(lab_server, clients):
    lab = lab_server("websockets", config={"PUBLISH_TOKEN": "s3cret"})
    reader = clients(lab.url)
    assert lab.publish("no token").status_code == 401
    assert lab.publish("with token", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert reader.wait_for("notify") == [{"message": "with token"}]


@pytest.mark.parametrize("event, payload, error", [
    ("chat", {"room": "lobby", "text": 42}, "field 'text' must be a string"),
    ("chat", {"room": "lobby", "text": "x" * (MAX_CHAT_BYTES + 1)}, "message too large"),
    ("chat", {"room": "lobby", "text": "é" * (MAX_CHAT_BYTES // 2 + 1)}, "message too large"),  # bytes, not chars
    ("chat", {"room": "lobby", "text": "   "}, "field 'text' is empty"),
    ("chat", {"room": "lobby", "text": "hi \ud800"}, "field 'text' is not valid text"),  # a lone surrogate
    ("chat", {"room": "lobby"}, "missing field 'text'"),
    ("chat", "just a string", "expected an object"),
    ("chat", ["a", "list"], "expected an object"),
    ("chat", {"room": "nowhere", "text": "hi"}, "not in that room"),
    ("chat", {"room": "lobby", "text": "hi", "name": ["x"]}, "field 'name' must be a string"),
    ("join", {"room": "r" * 41}, "field 'room' is too long"),
    ("join", {"room": 7}, "field 'room' must be a string"),
    ("shout", {"text": "hi"}, "unknown event"),
])
def test_invalid_client_messages_get_an_error_and_are_not_broadcast(shared_lab, clients, event, payload, error,
                                                                   request):
    lab = shared_lab
    room = f"room-{request.node.callspec.id}"[:40]  # a room of this case's own
    if isinstance(payload, dict) and payload.get("room") == "lobby":
        payload = {**payload, "room": room}
    sender, other = clients(lab.url), clients(lab.url)
    for who in (sender, other):
        assert who.call("join", {"room": room})["ok"]

    ack = sender.call(event, payload)
    assert ack["ok"] is False and ack["error"] == error
    [told] = sender.wait_for("error")
    assert told["error"] == error and told["detail"]

    # A valid message afterwards arrives alone: nothing of the refused one went out.
    sender.call("chat", {"room": room, "text": "valid"})
    assert [m["text"] for m in other.wait_for("chat")] == ["valid"]
    assert other.of("error") == []  # only the sender is told
    assert [m["text"] for m in sender.of("chat")] == ["valid"]


def test_joining_another_clients_session_id_reveals_nothing(shared_lab, clients):
    victim, snoop = clients(shared_lab.url), clients(shared_lab.url)
    # Every client is alone in a room named after its sid; chat rooms are kept apart from those.
    assert snoop.call("join", {"room": victim.client.get_sid()})["ok"]
    victim.call("chat", {"room": "nowhere-joined", "text": "private mistake"})
    victim.wait_for("error")
    shared_lab.publish("marker for the snoop")
    snoop.wait_for("notify")
    assert snoop.of("error") == [] and snoop.of("chat") == []


def test_a_client_may_join_only_so_many_rooms(shared_lab, clients):
    from labs.websockets import MAX_ROOMS_PER_CLIENT

    joiner = clients(shared_lab.url)
    for number in range(MAX_ROOMS_PER_CLIENT):
        assert joiner.call("join", {"room": f"many-{number}"})["ok"]
    refused = joiner.call("join", {"room": "one-too-many"})
    assert refused["ok"] is False and refused["error"] == "too many rooms"
    assert joiner.call("join", {"room": "many-0"})["ok"]  # joining one it is in costs nothing
    assert joiner.call("leave", {"room": "many-0"})["ok"]
    assert joiner.call("join", {"room": "one-too-many"})["ok"]


def test_polling_is_refused_so_every_client_uses_the_websocket(shared_lab):
    lab = shared_lab
    response = lab.get("/socket.io/", params={"EIO": "4", "transport": "polling"})
    assert response.status_code == 400


def test_the_upgrade_handshake_is_a_real_101(shared_lab):
    import base64
    import hashlib
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(shared_lab.url)
    key = base64.b64encode(b"sixteen byte key").decode()
    request = (f"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: {parts.netloc}\r\n"
               f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
               f"Sec-WebSocket-Version: 13\r\n\r\n")
    with socket.create_connection((parts.hostname, parts.port), timeout=WAIT) as sock:
        sock.sendall(request.encode())
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(4096)
            assert chunk, f"connection closed after {answer!r}"
            answer += chunk
    head = answer.split(b"\r\n\r\n")[0].decode()
    assert head.startswith("HTTP/1.1 101")
    accept = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest())
    assert f"Sec-WebSocket-Accept: {accept.decode()}".lower() in head.lower()


def test_two_processes_share_messages_through_redis(lab_server, clients, redis_server):
    # Two separate lab processes, one real Redis: a client on each.
    config = {"REDIS_URL": redis_server.url, "SOCKETIO_CHANNEL": "test-websockets-two-processes"}
    first = lab_server("websockets", config=config)
    second = lab_server("websockets", config=config)
    assert first.get("/stats").json()["message_queue"] is True
    alice, bob = clients(first.url), clients(second.url)
    assert alice.client.transport() == bob.client.transport() == "websocket"

    # A chat message sent to one process reaches the room's member on the other.
    alice.call("join", {"room": "shared"})
    bob.call("join", {"room": "shared"})
    ack = alice.call("chat", {"room": "shared", "name": "alice", "text": "across processes"})
    assert bob.wait_for("chat") == [{"id": ack["id"], "room": "shared", "name": "alice",
                                     "text": "across processes"}]

    # A notification POSTed to either process reaches the clients of both.
    assert second.publish("from the second").status_code == 200
    assert alice.wait_for("notify") == bob.wait_for("notify") == [{"message": "from the second"}]

    # Each process counts its own clients; /stats adds them up through Redis.
    assert first.get("/stats").json()["clients"] == 2
    assert second.get("/stats").json()["this_process"] == 1


def test_gunicorn_workers_serve_websockets_and_share_redis(lab_server, clients):
    # `--workers 2`: gunicorn + gevent workers, Redis started by the lab itself.
    lab = lab_server("websockets", workers=2)
    stats = lab.get("/stats").json()
    assert stats["async_mode"] == "gevent" and stats["message_queue"] is True
    readers = [clients(lab.url) for _ in range(4)]
    assert {r.client.transport() for r in readers} == {"websocket"}
    for reader in readers:
        assert reader.call("join", {"room": "w"})["ok"]
    ack = readers[0].call("chat", {"room": "w", "text": "to every worker"})
    for reader in readers:
        assert reader.wait_for("chat") == [{"id": ack["id"], "room": "w", "name": "anonymous",
                                            "text": "to every worker"}]
    assert lab.publish("everyone").status_code == 200
    for reader in readers:
        assert reader.wait_for("notify") == [{"message": "everyone"}]


def test_the_server_keeps_nothing_for_a_client_that_was_away(shared_lab, clients):
    lab = shared_lab
    reader = clients(lab.url)
    lab.publish("first")
    reader.wait_for("notify")
    reader.close()
    lab.publish("while away")  # no one keeps this for the reader
    back = clients(lab.url)
    lab.publish("after")
    assert back.wait_for("notify") == [{"message": "after"}]
    assert back.of("notify") == [{"message": "after"}]


def test_werkzeug_log_hides_only_late_websocket_frames():
    import logging

    from labs.core.socketio_setup import HideWebSocketLeftovers

    def record(message, *args):
        return logging.LogRecord("werkzeug", logging.INFO, __file__, 1, message, args, None)

    keep = HideWebSocketLeftovers().filter
    assert not keep(record("%s - - code %d, message %s", "127.0.0.1", 400, "Bad request syntax ('\\x88\\x82')"))
    assert not keep(record('"%s" %s %s', "None /socket.io/?transport=websocket&EIO=4&t=1.5 HTTP/0.9", "400", "-"))
    assert keep(record('"%s" %s %s', "GET /socket.io/?EIO=4&transport=polling HTTP/1.1", "400", "-"))
    assert keep(record("%s - - code %d, message %s", "127.0.0.1", 400, "Bad request syntax ('GARBAGE')"))


def test_a_frame_over_the_size_limit_closes_only_that_connection(shared_lab, clients):
    from labs.core.webapp import MAX_CONTENT_LENGTH

    lab = shared_lab
    room = "room-huge-frame"
    sender, other = clients(lab.url), clients(lab.url)
    for who in (sender, other):
        assert who.call("join", {"room": room})["ok"]
    sender.client.emit("chat", {"room": room, "text": "x" * (MAX_CONTENT_LENGTH + 1)})
    # The server drops that connection (the frame is never read as a message) ...
    deadline = time.monotonic() + WAIT
    while sender.client.connected and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not sender.client.connected, "a frame over 1 MiB should close its connection"
    # ... and nothing of it went out; the other client, and the server, carry on.
    other.call("chat", {"room": room, "text": "still here"})
    assert [m["text"] for m in other.wait_for("chat")] == ["still here"]
    assert lab.get("/health").status_code == 200


def test_the_page_is_served_with_the_vendored_client(shared_lab):
    lab = shared_lab
    page = requests.get(lab.url + "/", timeout=WAIT)
    assert page.status_code == 200 and "static/vendor/socket.io/socket.io.min.js" in page.text
    script = requests.get(lab.url + "/static/vendor/socket.io/socket.io.min.js", timeout=WAIT)
    assert script.status_code == 200 and script.text.startswith("/*!\n * Socket.IO v4.")


# -- the page in Chromium ------------------------------------------------------------------

def _open_chat(new_page, url: str, name: str):
    page = new_page()
    page.goto(url + "/")
    page.wait_for_selector("body[data-transport]", timeout=WAIT * 1000)
    page.wait_for_function("document.getElementById('rooms').textContent === 'lobby'", timeout=WAIT * 1000)
    page.fill("#name", name)
    return page


@pytest.mark.browser
@pytest.mark.parametrize("workers", [None, 2], ids=["development-server", "gunicorn-2-workers"])
def test_two_pages_chat_and_markup_stays_text(lab_server, new_page, workers):
    # With two gunicorn workers the pages may land on different processes: Redis joins them.
    lab = lab_server("websockets", workers=workers)
    ada = _open_chat(new_page, lab.url, "ada")
    bob = _open_chat(new_page, lab.url, "bob")
    assert ada.evaluate("labSocket.io.engine.transport.name") == "websocket"
    assert bob.get_attribute("body", "data-transport") == "websocket"

    ada.fill("#text", "<img src=x onerror=alert(1)><b>hello</b>")
    ada.click("#send")
    line = "[lobby] ada: <img src=x onerror=alert(1)><b>hello</b>"
    bob.wait_for_function(f"document.querySelector('#chat li')?.textContent === {line!r}",
                          timeout=WAIT * 1000)
    assert bob.locator("#chat img, #chat b").count() == 0  # shown as text, not parsed as markup

    bob.fill("#text", "hi ada")
    bob.click("#send")
    ada.wait_for_function("document.querySelector('#chat li')?.textContent === '[lobby] bob: hi ada'",
                          timeout=WAIT * 1000)
    assert ada.locator("#chat li").all_text_contents() == ["[lobby] bob: hi ada", line]

    # The wire panel shows Socket.IO frames: "42" = Engine.IO message + Socket.IO event,
    # then the acknowledgement id the server will answer with ("43<id>[...]").
    wire = ada.locator("#wire").text_content()
    sent = re.search(r'⇒ 42(\d+)\["chat",\{"room":"lobby","name":"ada"', wire)
    assert sent, wire
    assert f'⇐ 43{sent.group(1)}[{{"ok":true' in wire

    lab.publish("<i>notice</i>")
    for page in (ada, bob):
        page.wait_for_function("document.querySelector('#notifications li')?.textContent === '<i>notice</i>'",
                               timeout=WAIT * 1000)
        assert page.locator("#notifications i").count() == 0


@pytest.mark.browser
def test_page_shows_the_servers_refusal(lab_server, page):
    lab = lab_server("websockets")
    page.goto(lab.url + "/")
    page.wait_for_selector("body[data-transport=websocket]", timeout=WAIT * 1000)
    page.fill("#room", "elsewhere")  # typed, not joined
    page.fill("#text", "hello?")
    page.click("#send")
    page.wait_for_selector("#chat li.error", timeout=WAIT * 1000)
    assert page.locator("#chat li.error").first.text_content().startswith("refused: not in that room")
