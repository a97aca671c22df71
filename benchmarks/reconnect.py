"""The comparison table's "on reconnect" column, measured rather than asserted.

One client receives a message, loses its connection, misses one message while away,
and comes back the way its transport's browser client would (EventSource sends
``Last-Event-ID``; a polling client keeps its cursor; Socket.IO simply connects again).
The probe reports whether the message sent while it was away reached it.  For the
webhook, the "reconnect" is the sender's retry: the same delivery sent twice must be
pushed once.

Every wait here is bounded (a few seconds); the probe uses the kit's own clients.
"""

from __future__ import annotations

import json
import threading
import time
import uuid

import requests

from labs.harness.client import EventStream
from labs.harness.launcher import LabServer
from labs.harness.processes import wait_until

WAIT = 5.0  # seconds for any one step


def _publish_until_seen(lab: LabServer, seen, text: str) -> bool:
    """Publish ``text`` until ``seen(text)``: a stream may subscribe a moment after it opens."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        lab.publish(text)
        if wait_until(lambda: seen(text), 0.3):
            return True
    return False


def probe_sse(lab: LabServer) -> str:
    tag = uuid.uuid4().hex[:6]
    first = EventStream(lab.url + "/stream", wait_connected=False)
    try:
        if not _publish_until_seen(lab, lambda t: t in first.messages, f"before-{tag}"):
            return "probe failed: the first stream received nothing"
        last_id = first.events[-1].id if first.events else ""
    finally:
        first.close()
    lab.publish(f"away-{tag}")
    second = EventStream(lab.url + "/stream", last_event_id=last_id or None, wait_connected=False)
    try:
        if not _publish_until_seen(lab, lambda t: t in second.messages, f"after-{tag}"):
            return "probe failed: the reconnected stream received nothing"
        got = f"away-{tag}" in second.messages
    finally:
        second.close()
    if got:
        return "reconnects with Last-Event-ID: the missed message was replayed"
    hint = "Last-Event-ID sent but ignored" if last_id else "no event id to resume from"
    return f"reconnects, but the missed message was lost ({hint})"


def _read_all(lab: LabServer, cursor: int, params: dict) -> tuple[int, list[str]]:
    """Every message after ``cursor``, following ``more`` (answers come in batches)."""
    messages: list[str] = []
    for _page in range(100):  # bounded: 100 batches is far more than any run leaves behind
        answer = lab.get("/updates", params={"since": cursor, **params}).json()
        messages += [str(m.get("message", "")) for m in answer["messages"]]
        cursor = answer["cursor"]
        if not answer.get("more"):
            break
    return cursor, messages


def probe_polling(lab: LabServer, hold: bool) -> str:
    params = {"timeout": "0"} if hold else {}
    cursor, _ = _read_all(lab, 0, params)  # up to date, as a client that has been polling
    away = f"away-{uuid.uuid4().hex[:6]}"
    lab.publish(away)  # the client is "away": it does not ask
    _, messages = _read_all(lab, cursor, params)
    return ("asks again from its cursor: the missed message arrived" if away in messages
            else "asks again from its cursor, yet the missed message did not arrive")


def probe_socketio(lab: LabServer) -> str:
    import socketio  # python-socketio's own client, as a page's Socket.IO would behave

    tag = uuid.uuid4().hex[:6]
    received: list[str] = []
    lock = threading.Lock()

    def connect():
        client = socketio.Client(reconnection=False)

        @client.on("notify")
        def on_notify(data):
            with lock:
                received.append(data.get("message"))

        client.connect(lab.url, transports=["websocket"], wait_timeout=WAIT)
        return client

    def seen(text: str) -> bool:
        return text in received

    client = connect()
    try:
        if not _publish_until_seen(lab, seen, f"before-{tag}"):
            return "probe failed: the first connection received nothing"
    finally:
        client.disconnect()
    lab.publish(f"away-{tag}")
    client = connect()
    try:
        if not _publish_until_seen(lab, seen, f"after-{tag}"):
            return "probe failed: the new connection received nothing"
    finally:
        client.disconnect()
    return ("connects again: the missed message was replayed" if f"away-{tag}" in received
            else "connects again; the missed message was lost (nothing is replayed)")


def probe_webhook(lab: LabServer, secret: str) -> str:
    from labs.harness.webhook_sender import standard_delivery

    delivery = standard_delivery(lab.url, "notification.created", {"message": "retried"}, secret)
    outcomes = [requests.post(delivery.url, data=delivery.body, headers=delivery.headers, timeout=WAIT).json()
                for _ in range(2)]  # the provider did not see our first answer, so it retries
    statuses = [outcome.get("status") for outcome in outcomes]
    if statuses == ["accepted", "duplicate"]:
        return "the sender retries; the receiver pushed the retried delivery once"
    return f"retry answered {json.dumps(statuses)}"


def probe(transport, lab: LabServer) -> str:
    """One sentence on what this transport's client gets after a dropped connection."""
    try:
        if transport.kind == "sse":
            return probe_sse(lab)
        if transport.kind in ("poll", "long_poll"):
            return probe_polling(lab, hold=transport.kind == "long_poll")
        if transport.kind == "websocket":
            return probe_socketio(lab)
        if transport.kind == "webhook":
            return probe_webhook(lab, transport.config["WEBHOOK_SECRET"])
    except Exception as exc:  # the probe is a note; it never fails a run
        return f"probe failed: {type(exc).__name__}: {exc}"[:120]
    return ""
