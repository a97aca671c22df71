"""The floor: a raw asyncio server that writes the stream's bytes and does nothing else.

No framework, no per-reader queue, no history: a publish encodes the event once and writes
the same bytes to every open stream's transport.  It answers ``GET /health``, ``GET /stream``
(the response head, then events until the reader leaves) and ``POST /send_notification``
(``{"message": ...}``, else 400); nothing more.  What any stack costs above this is what
its framework, queues and guarantees cost.
"""

from __future__ import annotations

import asyncio
import json

from labs.core.sse import encode_json_event

STREAM_HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
               b"Connection: close\r\n\r\n")


def answer(status: str, body: dict) -> bytes:
    data = json.dumps(body).encode()
    return (f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
            .encode() + data)


class Floor:
    def __init__(self) -> None:
        self.streams: set[asyncio.StreamWriter] = set()
        self.last_id = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                method, path = head.split(b" ", 2)[:2]
                headers = {k.strip().lower(): v.strip() for k, _, v in
                           (line.partition(b":") for line in head.split(b"\r\n")[1:] if line)}
                body = await reader.readexactly(int(headers.get(b"content-length", 0)))
                if path == b"/stream":
                    await self.stream(reader, writer)
                    return
                writer.write(self.route(method, path, body))
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            writer.close()

    def route(self, method: bytes, path: bytes, body: bytes) -> bytes:
        if path == b"/health":
            return answer("200 OK", {"status": "ok", "lab": "floor"})
        if path == b"/stats":
            return answer("200 OK", {"clients": len(self.streams), "last_id": self.last_id})
        if path == b"/send_notification" and method == b"POST":
            try:
                message = json.loads(body)["message"]
            except (ValueError, KeyError, TypeError):
                return answer("400 Bad Request", {"error": "send {\"message\": \"...\"}"})
            self.last_id += 1
            event = encode_json_event({"message": message}, event="notify", id=self.last_id).encode()
            for stream in self.streams:
                stream.write(event)  # the kernel's buffer, then the transport's: no queue of ours
            return answer("200 OK", {"status": "published", "id": self.last_id})
        return answer("404 Not Found", {"error": "not found"})

    async def stream(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(STREAM_HEAD + encode_json_event({}, event="connected", id=self.last_id, retry=3000).encode())
        self.streams.add(writer)
        try:
            await reader.read()  # returns at EOF: the reader left
        finally:
            self.streams.discard(writer)


def serve(sock) -> None:
    async def main() -> None:
        floor = Floor()
        server = await asyncio.start_server(floor.handle, sock=sock, limit=2**21)
        async with server:
            await server.serve_forever()

    try:
        import uvloop

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())
