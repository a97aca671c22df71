"""Just enough HTTP/1.1 for the benchmark's clients, on raw asyncio streams.

Why not ``requests`` or ``aiohttp``: a thousand clients in one process must cost little,
and the showdown counts every byte that reaches a client, headers and chunk framing
included.  A library would hide both.  :class:`ResponseParser` is incremental: feed it
whatever ``read()`` returned and it hands back the pieces of the response as they end.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

MAX_HEAD = 64 * 1024  # a response head bigger than this is a broken server, not a benchmark


class HttpError(RuntimeError):
    pass


def request_bytes(method: str, path: str, host: str, headers: dict[str, str] | None = None,
                  body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    if body or method in ("POST", "PUT"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


@dataclass
class Head:
    status: int
    headers: dict[str, str] = field(default_factory=dict)  # names lower-cased

    def keep_alive(self) -> bool:
        return "close" not in self.headers.get("connection", "").lower()


class ResponseParser:
    """Feed bytes; ``feed()`` returns ``(head, body_chunks, done)`` for what just arrived.

    ``head`` is set once (the call in which the head completes), ``body_chunks`` is the
    decoded body that arrived (chunked framing removed), ``done`` says the response ended.
    Bodies end by Content-Length, by the last chunk, or (neither given) at EOF via
    :meth:`eof`.  ``no_body=True`` is for HEAD requests; 1xx/204/304 never have one.
    """

    def __init__(self, no_body: bool = False) -> None:
        self.no_body = no_body
        self.head: Head | None = None
        self._buffer = bytearray()
        self._remaining: int | None = None  # bytes left in the body (or in this chunk)
        self._chunked = False
        self._chunk_state = "size"  # size -> data -> crlf -> size ... -> trailer
        self.done = False
        self.leftover = b""  # bytes after the end of this response (pipelining)

    def feed(self, data: bytes) -> tuple[Head | None, list[bytes], bool]:
        new_head = None
        chunks: list[bytes] = []
        self._buffer += data
        if self.head is None:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buffer) > MAX_HEAD:
                    raise HttpError("response head too large")
                return None, chunks, False
            self.head = new_head = self._parse_head(bytes(self._buffer[:end]))
            del self._buffer[:end + 4]
        if not self.done:
            self._body(chunks)
        return new_head, chunks, self.done

    def eof(self) -> bool:
        """The connection closed: True if that ended the response (a body read to EOF)."""
        if self.head is not None and not self.done and self._remaining is None and not self._chunked:
            self.done = True
        return self.done

    def _parse_head(self, raw: bytes) -> Head:
        lines = raw.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/"):
            raise HttpError(f"not an HTTP response: {lines[0][:80]!r}")
        head = Head(int(parts[1]))
        for line in lines[1:]:
            name, _, value = line.partition(":")
            head.headers[name.strip().lower()] = value.strip()
        if self.no_body or head.status in (204, 304) or 100 <= head.status < 200:
            self._remaining = 0
        elif "chunked" in head.headers.get("transfer-encoding", "").lower():
            self._chunked = True
        elif "content-length" in head.headers:
            self._remaining = int(head.headers["content-length"])
        return head

    def _body(self, chunks: list[bytes]) -> None:
        if not self._chunked:
            if self._remaining is None:  # until EOF
                if self._buffer:
                    chunks.append(bytes(self._buffer))
                    self._buffer.clear()
                return
            take = min(self._remaining, len(self._buffer))
            if take:
                chunks.append(bytes(self._buffer[:take]))
                del self._buffer[:take]
                self._remaining -= take
            if self._remaining == 0:
                self._finish()
            return
        while not self.done:
            if self._chunk_state == "size":
                end = self._buffer.find(b"\r\n")
                if end < 0:
                    return
                size = int(bytes(self._buffer[:end]).split(b";")[0].strip() or b"0", 16)
                del self._buffer[:end + 2]
                self._remaining = size
                self._chunk_state = "data" if size else "trailer"
            elif self._chunk_state == "data":
                take = min(self._remaining, len(self._buffer))
                if not take:
                    return
                chunks.append(bytes(self._buffer[:take]))
                del self._buffer[:take]
                self._remaining -= take
                if self._remaining == 0:
                    self._chunk_state = "crlf"
            elif self._chunk_state == "crlf":
                if len(self._buffer) < 2:
                    return
                del self._buffer[:2]
                self._chunk_state = "size"
            else:  # trailer: lines until an empty one
                end = self._buffer.find(b"\r\n")
                if end < 0:
                    return
                del self._buffer[:end + 2]
                if end == 0:
                    self._finish()

    def _finish(self) -> None:
        self.done = True
        self.leftover = bytes(self._buffer)
        self._buffer.clear()


class Connection:
    """One keep-alive client connection that counts what it sends and receives."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.bytes_in = 0
        self.bytes_out = 0
        self.connects = 0

    @property
    def open(self) -> bool:
        return self.writer is not None and not self.writer.is_closing()

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.connects += 1

    def send(self, data: bytes) -> None:
        assert self.writer is not None
        self.writer.write(data)
        self.bytes_out += len(data)

    async def read(self, size: int = 65536) -> bytes:
        assert self.reader is not None
        data = await self.reader.read(size)
        self.bytes_in += len(data)
        return data

    async def exchange(self, request: bytes, no_body: bool = False) -> tuple[Head, bytes]:
        """Send one request and read its whole response (reconnecting first if needed)."""
        if not self.open:
            await self.connect()
        self.send(request)
        parser = ResponseParser(no_body=no_body)
        body = bytearray()
        while True:
            data = await self.read()
            if not data:
                if parser.eof():
                    break
                self.close()
                raise HttpError("connection closed before the response ended")
            _head, chunks, done = parser.feed(data)
            for chunk in chunks:
                body += chunk
            if done:
                break
        assert parser.head is not None
        if not parser.head.keep_alive():
            self.close()
        return parser.head, bytes(body)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


class Recorder(asyncio.Protocol):
    """A connection that only keeps what arrives, with its arrival time.

    For long-lived streams with a thousand readers in one process, parsing each chunk as
    it arrives would cost more CPU than the server spends sending it, and the readers'
    own backlog would show up as latency.  So a chunk is stamped and stored (and handed
    to ``on_data`` for cheap counting); parsing happens after the measured window, in
    order, with each event stamped by the chunk that completed it.
    """

    def __init__(self, on_data=None) -> None:
        self.on_data = on_data
        self.chunks: list[tuple[float, bytes]] = []
        self.bytes_in = 0
        self.bytes_out = 0
        self.transport: asyncio.Transport | None = None
        self.closed: asyncio.Future = asyncio.get_running_loop().create_future()

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.chunks.append((time.time(), data))
        self.bytes_in += len(data)
        if self.on_data is not None:
            self.on_data(data)

    def connection_lost(self, exc) -> None:
        if not self.closed.done():
            self.closed.set_result(exc)

    def send(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)
        self.bytes_out += len(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def open_recorder(host: str, port: int, on_data=None) -> Recorder:
    loop = asyncio.get_running_loop()
    _transport, recorder = await loop.create_connection(lambda: Recorder(on_data), host, port)
    return recorder
