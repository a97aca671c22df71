"""Clients that hold one connection open: an SSE reader and a Socket.IO WebSocket client.

Both take the wire apart themselves (the kit's :class:`~labs.core.sse.EventStreamDecoder` for SSE,
a minimal RFC 6455 framer for the WebSocket) so that every byte is counted and a
thousand of them fit in one process.  A dropped connection is re-opened the way each
transport's browser client would: EventSource by itself with ``Last-Event-ID``; the
Socket.IO client with its own reconnection (nothing is replayed).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import struct
import time

from benchmarks.clients import ERROR_PAUSE, Client
from benchmarks.minihttp import HttpError, ResponseParser, open_recorder, request_bytes
from labs.core.sse import EventStreamDecoder

MAX_RECONNECTS = 5  # bounded: a server that keeps dropping us is a result, not a loop


def quick_counts(data: bytes) -> tuple[int, int]:
    """(warm-ups, measured messages) in a chunk, without parsing: the keys of the stamps.

    Only the harness's waiting uses these; the results come from the real parse.  A key
    split across two chunks is missed, which at worst makes the harness wait its drain time.
    """
    return data.count(b"warm"), data.count(b"seq")


class StreamClient(Client):
    """A client on one long-lived connection: counts stamps as bytes arrive, parses later."""

    def __init__(self, host, port, tally) -> None:
        super().__init__(host, port, tally)
        self.seen = [0, 0]

    def _count(self, data: bytes) -> None:
        warm, measured = quick_counts(data)
        self.seen[0] += warm
        self.seen[1] += measured

    def progress(self) -> tuple[int, int]:
        return self.seen[0], self.seen[1]

    async def run(self, stop: asyncio.Event) -> None:
        """One connection after another until ``stop``: when one ends, the next opens after a pause,
        as the transport's browser client would reconnect (at most ``MAX_RECONNECTS`` times)."""
        for attempt in range(MAX_RECONNECTS + 1):
            if stop.is_set():
                return
            if attempt:
                self.reconnects += 1
                await asyncio.sleep(ERROR_PAUSE)
            try:
                await self._session()
            except (OSError, HttpError, ValueError) as exc:
                self.failed(str(exc)[:40] if isinstance(exc, HttpError) else type(exc).__name__)

    async def _session(self) -> None:
        """One connection, read until it closes."""
        raise NotImplementedError


class SSEClient(StreamClient):
    """``GET /stream`` read as EventSource would: ``notify`` events go to the tally.

    The bytes are recorded as they arrive and decoded afterwards by the kit's own
    browser-exact decoder (:class:`labs.core.sse.EventStreamDecoder`); see
    :class:`~benchmarks.minihttp.Recorder` for why.
    """

    def __init__(self, host, port, tally, path: str = "/stream") -> None:
        super().__init__(host, port, tally)
        self.path = path
        self.last_event_id: str | None = None
        self._parsed: set[int] = set()

    async def _session(self) -> None:
        recorder = await open_recorder(self.host, self.port, self._count)
        self._conns.append(recorder)
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
        if self.last_event_id:  # resume as EventSource does
            headers["Last-Event-ID"] = self.last_event_id
        recorder.send(request_bytes("GET", self.path, f"{self.host}:{self.port}", headers))
        self.requests += 1
        await recorder.closed  # the server ended the stream
        self._parse(len(self._conns) - 1)

    def _parse(self, index: int) -> None:
        if index in self._parsed:
            return
        self._parsed.add(index)
        parser, decoder = ResponseParser(), EventStreamDecoder()
        try:
            for now, data in self._conns[index].chunks:
                head, chunks, _done = parser.feed(data)
                if head is not None and head.status != 200:
                    raise HttpError(f"HTTP {head.status}")
                for chunk in chunks:
                    for event in decoder.feed(chunk):
                        if event.type == "notify":
                            self.tally.record(json.loads(event.data).get("message"), now)
        except (HttpError, ValueError) as exc:
            self.failed(str(exc)[:40] if isinstance(exc, HttpError) else "bad event")
        if decoder.last_event_id:
            self.last_event_id = decoder.last_event_id

    def finish(self) -> None:
        for index in range(len(self._conns)):
            self._parse(index)


# ---------------------------------------------------------------------- Socket.IO

def ws_frame(text: str) -> bytes:
    """A masked text frame (RFC 6455 section 5.3: every client frame is masked)."""
    payload = text.encode()
    mask = os.urandom(4)
    size = len(payload)
    if size < 126:
        head = struct.pack("!BB", 0x81, 0x80 | size)
    elif size < 65536:
        head = struct.pack("!BBH", 0x81, 0x80 | 126, size)
    else:
        head = struct.pack("!BBQ", 0x81, 0x80 | 127, size)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + masked


class FrameReader:
    """Incremental parser of (unmasked) server frames: yields ``(opcode, payload)``."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self._fragments: list[bytes] = []
        self._first_opcode = 0

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        self.buffer += data
        frames = []
        while len(self.buffer) >= 2:
            fin, opcode = self.buffer[0] & 0x80, self.buffer[0] & 0x0F
            masked, size, offset = self.buffer[1] & 0x80, self.buffer[1] & 0x7F, 2
            if size == 126:
                if len(self.buffer) < 4:
                    break
                size, offset = struct.unpack("!H", self.buffer[2:4])[0], 4
            elif size == 127:
                if len(self.buffer) < 10:
                    break
                size, offset = struct.unpack("!Q", self.buffer[2:10])[0], 10
            key = b""
            if masked:
                key, offset = bytes(self.buffer[offset:offset + 4]), offset + 4
            if len(self.buffer) < offset + size:
                break
            payload = bytes(self.buffer[offset:offset + size])
            del self.buffer[:offset + size]
            if key:
                payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
            if opcode >= 8:  # control frames are never fragmented
                frames.append((opcode, payload))
                continue
            if opcode:
                self._first_opcode = opcode
            self._fragments.append(payload)
            if fin:
                frames.append((self._first_opcode, b"".join(self._fragments)))
                self._fragments = []
        return frames


class SocketIOClient(StreamClient):
    """Engine.IO 4 / Socket.IO 5 over a WebSocket from the first byte (no polling).

    The protocol, as much as a notification reader needs: the server opens with ``0{...}``,
    we join the default namespace with ``40``, events arrive as ``42["notify", {...}]``, and
    the server's ping ``2`` must be answered ``3`` or it drops us.  Frames are taken apart
    as they arrive (pings cannot wait); the events' JSON is parsed after the run.
    """

    PATH = "/socket.io/?EIO=4&transport=websocket"

    def __init__(self, host, port, tally) -> None:
        super().__init__(host, port, tally)
        self.events: list[tuple[float, str]] = []

    async def _session(self) -> None:
        parser, frames = ResponseParser(no_body=True), FrameReader()
        state = {"recorder": None}

        def on_data(data: bytes) -> None:
            recorder = state["recorder"]
            if parser.head is None:
                parser.feed(data)
                if parser.head is None:
                    return
                if parser.head.status != 101:
                    recorder.close()
                    return
                data = parser.leftover
            now = time.time()
            for opcode, payload in frames.feed(data):
                if opcode == 8:  # close
                    recorder.close()
                elif opcode == 9:  # ping frame: pong with the same payload
                    recorder.send(bytes([0x8A, 0x80 | len(payload)]) + b"\0\0\0\0" + payload)
                elif opcode == 1:
                    self._packet(recorder, payload, now)

        recorder = await open_recorder(self.host, self.port, on_data)
        state["recorder"] = recorder
        self._conns.append(recorder)
        key = base64.b64encode(os.urandom(16)).decode()
        recorder.send(request_bytes("GET", self.PATH, f"{self.host}:{self.port}", {
            "Upgrade": "websocket", "Connection": "Upgrade",
            "Sec-WebSocket-Key": key, "Sec-WebSocket-Version": "13"}))
        self.requests += 1
        try:
            await recorder.closed
        finally:
            recorder.close()
        if parser.head is not None and parser.head.status != 101:
            raise HttpError(f"HTTP {parser.head.status}")

    def _packet(self, recorder, payload: bytes, now: float) -> None:
        if payload[:2] == b"42":
            self.events.append((now, payload[2:].decode()))
            self._count(payload)
        elif payload[:1] == b"0":  # Engine.IO open: connect to the default namespace
            recorder.send(ws_frame("40"))
        elif payload == b"2":  # Engine.IO ping
            recorder.send(ws_frame("3"))
        elif payload[:2] == b"44":  # namespace connection refused
            self.failed("Socket.IO connect refused")
            recorder.close()

    def finish(self) -> None:
        for now, packet in self.events:
            name, *args = json.loads(packet)
            if name == "notify" and args and isinstance(args[0], dict):
                self.tally.record(args[0].get("message"), now)
        self.events.clear()
