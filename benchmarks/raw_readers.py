"""Readers on plain sockets for the dead-reader measurements: open a lab's stream, count what it holds.

A :class:`RawReader` reads whatever comes, never reconnects, and remembers it; it is the reader
that :mod:`benchmarks.dead_readers` and :mod:`benchmarks.dead_mix` (and the tests of dead readers,
the relay and the stream guard) break on purpose through the chaos relay.
"""

from __future__ import annotations

import json
import socket
import threading
from urllib.parse import urlsplit

import requests

from labs.harness.launcher import LabServer
from labs.harness.processes import wait_until

SECURE_USER = {"user": "alice", "password": "wonderland"}
# A long answer: 500 tokens at the lab's TOKEN_INTERVAL, so a stream is still generating when it is broken.
GENERATE = {"prompt": "a long answer please", "max_tokens": 500}



def held(lab: LabServer) -> int:
    """What the lab holds for readers now: open streams (``generating`` for token_stream)."""
    stats = lab.get("/stats").json()
    return stats["generating"] if lab.name == "token_stream" else stats["clients"]


class RawReader:
    """A reader on a plain socket that reads whatever comes, never reconnects, and remembers it."""

    def __init__(self, url: str, request: bytes) -> None:
        parts = urlsplit(url)
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
        self.sock.settimeout(None)
        self.sock.sendall(request)
        self.received = bytearray()
        self.ended = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            while data := self.sock.recv(65536):
                self.received += data
        except OSError:
            pass
        self.ended.set()

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def stream_request(method: str, url: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    """The bytes of one HTTP/1.1 request for an event stream."""
    parts = urlsplit(url)
    lines = [f"{method} {parts.path}{'?' + parts.query if parts.query else ''} HTTP/1.1",
             f"Host: {parts.netloc}", "Accept: text/event-stream", f"Content-Length: {len(body)}",
             *(f"{key}: {value}" for key, value in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def open_reader(lab: LabServer, url: str, generate: dict | None = None) -> RawReader:
    """Open one stream of ``lab`` at ``url`` (the relay's address); wait until the lab holds it.

    ``generate``: token_stream's request (default :data:`GENERATE`, a long answer)."""
    before = held(lab)
    if lab.name == "token_stream":
        body = json.dumps(generate or GENERATE).encode()
        request = stream_request("POST", url + "/generate", {"Content-Type": "application/json"}, body)
    elif lab.name == "secure_stream":
        token = requests.post(lab.url + "/login", json=SECURE_USER, timeout=10).json()["access_token"]
        request = stream_request("GET", url + "/stream", {"Authorization": f"Bearer {token}"})
    else:
        request = stream_request("GET", url + "/stream", {})
    reader = RawReader(url, request)
    if not wait_until(lambda: held(lab) > before and len(reader.received) > 0, 10):
        raise RuntimeError(f"{lab.name}: the stream did not open; the reader got {bytes(reader.received)[:200]!r}")
    return reader


def open_many(lab: LabServer, url: str, count: int, timeout: float = 15.0) -> list[RawReader]:
    """Open ``count`` plain readers of ``lab``'s ``/stream`` at ``url`` at once; wait until the lab holds them."""
    before = held(lab)
    readers = [RawReader(url, stream_request("GET", url + "/stream", {})) for _ in range(count)]
    if not wait_until(lambda: held(lab) >= before + count, timeout):
        raise RuntimeError(f"{lab.name} holds {held(lab) - before} of {count} new readers after {timeout} s")
    return readers
