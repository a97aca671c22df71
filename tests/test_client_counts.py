"""The connected-clients count (``GET /stats`` → ``clients``, shown on every page) follows
readers joining *and* leaving, for every notification lab, each with its own transport.

Leaving is the hard half: a stream server only learns that a reader hung up when it next
writes to it (a keep-alive, or flask-sse's heartbeat in ``sse_blueprint``), and a poller
is only "gone" once it has been silent for the lab's ``CLIENT_WINDOW``.  Short intervals
below make that happen within a second or two; the waits are bounds, not timings.
"""

from __future__ import annotations

import threading
import uuid

import pytest
import requests
import socketio

from labs.harness.client import EventStream
from labs.harness.processes import wait_until


class Poller:
    """A page that polls ``/updates`` with its own client id until it leaves."""

    def __init__(self, url: str, params: dict) -> None:
        self.url, self.params = url + "/updates", {"client": uuid.uuid4().hex, **params}
        self.left = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        with requests.Session() as session:
            while not self.left.is_set():
                session.get(self.url, params=self.params, timeout=10)
                self.left.wait(0.1)

    def close(self) -> None:
        self.left.set()
        self.thread.join(15)


class SocketReader:
    def __init__(self, url: str) -> None:
        self.client = socketio.Client(reconnection=False)
        self.client.connect(url, transports=["websocket"], wait_timeout=10)

    def close(self) -> None:
        self.client.disconnect()


def stream_reader(lab):
    return EventStream(lab.url + "/stream", wait_connected=False)


# lab -> (config that makes leaving noticed quickly, how one reader connects)
READERS = {
    "sse_blueprint": ({"KEEPALIVE_SECONDS": 0.3}, stream_reader),
    "manual_sse": ({"KEEPALIVE_SECONDS": 0.3}, stream_reader),
    "webhooks": ({"KEEPALIVE_SECONDS": 0.3}, stream_reader),
    "polling": ({"CLIENT_WINDOW": 1.0}, lambda lab: Poller(lab.url, {})),
    "long_polling": ({"CLIENT_WINDOW": 1.5}, lambda lab: Poller(lab.url, {"timeout": 0.5})),
    "websockets": ({}, lambda lab: SocketReader(lab.url)),
}


@pytest.mark.parametrize("name", list(READERS))
def test_the_count_follows_readers_joining_and_leaving(name, lab_server):
    config, connect = READERS[name]
    lab = lab_server(name, config=config)

    def clients() -> int:
        return lab.get("/stats").json()["clients"]

    def settles_at(count: int) -> None:
        assert wait_until(lambda: clients() == count, 15), f"expected {count} client(s), /stats says {clients()}"

    first, second = connect(lab), connect(lab)
    try:
        settles_at(2)
        first.close()
        settles_at(1)
    finally:
        first.close()
        second.close()
    settles_at(0)
