"""Clients that hold one connection open: an SSE reader and a Socket.IO WebSocket client.

Both parse the wire themselves (the kit's :class:`~labs.sse.EventStreamDecoder` for SSE,
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
from benchmarks.minihttp import HttpError, ResponseParser, request_bytes
from labs.sse import EventStreamDecoder

MAX_RECONNECTS = 5  # bounded: a server that keeps dropping us is a result, not a loop


class SSEClient(Client):
    """``GET /stream`` read as EventSource would: ``notify`` events go to the tally."""

    def __init__(self, host, port, tally, path: str = "/stream") -> None:
        super().__init__(host, port, tally)
        self.path = path
        self.last_event_id: str | None = None

    async def run(self, stop: asyncio.Event) -> None:
        for attempt in range(MAX_RECONNECTS + 1):
            if stop.is_set():
                return
            if attempt:
                self.reconnects += 1
                await asyncio.sleep(ERROR_PAUSE)
            try:
                await self._read_stream()
            except (OSError, HttpError, ValueError):
                self.errors += 1

    async def _read_stream(self) -> None:
        conn = self.connection()
        await conn.connect()
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
        if self.last_event_id:
            headers["Last-Event-ID"] = self.last_event_id
        conn.send(request_bytes("GET", self.path, f"{self.host}:{self.port}", headers))
        self.requests += 1
        parser, decoder = ResponseParser(), EventStreamDecoder()
        try:
            while True:
                data = await conn.read()
                now = time.time()
                if not data:
                    return
                head, chunks, done = parser.feed(data)
                if head is not None and head.status != 200:
                    raise HttpError(f"stream answered {head.status}")
                for chunk in chunks:
                    for event in decoder.feed(chunk):
                        if event.type == "notify":
                            self.tally.record(json.loads(event.data).get("message"), now)
                if decoder.last_event_id:
                    self.last_event_id = decoder.last_event_id
                if done:
                    return
        finally:
            conn.close()


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


class SocketIOClient(Client):
    """Engine.IO 4 / Socket.IO 5 over a WebSocket from the first byte (no polling).

    The protocol, as much as a notification reader needs: the server opens with ``0{...}``,
    we join the default namespace with ``40``, events arrive as ``42["notify", {...}]``, and
    the server's ping ``2`` must be answered ``3`` or it drops us.
    """

    PATH = "/socket.io/?EIO=4&transport=websocket"

    async def run(self, stop: asyncio.Event) -> None:
        for attempt in range(MAX_RECONNECTS + 1):
            if stop.is_set():
                return
            if attempt:
                self.reconnects += 1
                await asyncio.sleep(ERROR_PAUSE)
            try:
                await self._session()
            except (OSError, HttpError, ValueError):
                self.errors += 1

    async def _session(self) -> None:
        conn = self.connection()
        await conn.connect()
        key = base64.b64encode(os.urandom(16)).decode()
        conn.send(request_bytes("GET", self.PATH, f"{self.host}:{self.port}", {
            "Upgrade": "websocket", "Connection": "Upgrade",
            "Sec-WebSocket-Key": key, "Sec-WebSocket-Version": "13"}))
        self.requests += 1
        parser, frames = ResponseParser(no_body=True), FrameReader()
        try:
            while parser.head is None:
                data = await conn.read()
                if not data:
                    raise HttpError("closed during the WebSocket handshake")
                parser.feed(data)
            if parser.head.status != 101:
                raise HttpError(f"upgrade answered {parser.head.status}")
            pending = parser.leftover
            while True:
                now = time.time()
                for opcode, payload in frames.feed(pending):
                    if opcode == 8:  # close
                        return
                    if opcode == 9:  # ping frame: pong with the same payload
                        conn.send(bytes([0x8A, 0x80 | len(payload)]) + b"\0\0\0\0" + payload)
                    elif opcode == 1:
                        self._packet(conn, payload.decode(), now)
                pending = await conn.read()
                if not pending:
                    return
        finally:
            conn.close()

    def _packet(self, conn, packet: str, now: float) -> None:
        if packet.startswith("0"):  # Engine.IO open: connect to the default namespace
            conn.send(ws_frame("40"))
        elif packet == "2":  # Engine.IO ping
            conn.send(ws_frame("3"))
        elif packet.startswith("42"):
            name, *args = json.loads(packet[2:])
            if name == "notify" and args and isinstance(args[0], dict):
                self.tally.record(args[0].get("message"), now)
        elif packet.startswith("44"):  # namespace connection refused
            raise HttpError(f"Socket.IO refused the connection: {packet[2:200]}")
