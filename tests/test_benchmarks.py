"""The showdown harness counts right: deliveries, requests and bytes match what servers saw.

A tiny deterministic server here (asyncio, in a thread) counts every request and every
byte it sends to clients; the harness's clients must arrive at the same numbers.  Then a
few real labs with N=2 clients and M=3 messages.  No timing assertions: performance
belongs to ``python -m benchmarks``.
"""

from __future__ import annotations

import asyncio
import csv
import json
import subprocess
import sys
import threading
from urllib.parse import parse_qs, urlsplit

import pytest

from benchmarks.minihttp import ResponseParser
from benchmarks.reconnect import probe
from benchmarks.runner import Result, drive
from benchmarks.transports import TRANSPORTS, Transport, select
from benchmarks.webhook import drive_webhook
from benchmarks.workload import Tally, percentile, stamp, summarize, warm_up
from labs.webapp import REPO_ROOT

N, M = 2, 3


class TinyServer:
    """``/updates`` (JSON, ETag, 304), ``/stream`` (chunked SSE) and ``/send_notification``."""

    def __init__(self) -> None:
        self.log: list[str] = []
        self.streams: list[asyncio.StreamWriter] = []
        self.requests = {"updates": 0, "stream": 0, "publish": 0}
        self.bytes_to_readers = 0  # everything sent on /updates and /stream connections
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "TinyServer":
        self.thread.start()
        assert self.ready.wait(5)
        return self

    def __exit__(self, *exc) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self.ready.set()
        self.loop.run_forever()
        # Shut down cleanly: end the handlers still reading, then the server and the loop.
        server.close()
        pending = asyncio.all_tasks(self.loop)
        for task in pending:
            task.cancel()
        self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self.loop.close()

    def _send(self, writer, data: bytes, reader_side: bool = True) -> None:
        writer.write(data)
        if reader_side:
            self.bytes_to_readers += len(data)

    async def _handle(self, reader, writer) -> None:
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
                method, target, _ = head[0].split(" ")
                headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in head[1:] if line)}
                body = await reader.readexactly(int(headers.get("content-length", 0)))
                url = urlsplit(target)
                if method == "POST":
                    self._publish(writer, json.loads(body)["message"])
                elif url.path == "/updates":
                    self._updates(writer, int(parse_qs(url.query)["since"][0]), headers.get("if-none-match"))
                elif url.path == "/stream":
                    self.requests["stream"] += 1
                    self._send(writer, b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                                       b"Transfer-Encoding: chunked\r\n\r\n")
                    self.streams.append(writer)
                    await reader.read()  # until the client hangs up
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def _publish(self, writer, message: str) -> None:
        self.requests["publish"] += 1
        self.log.append(message)
        event = f"id: {len(self.log)}\nevent: notify\ndata: {json.dumps({'message': message})}\n\n".encode()
        for stream in self.streams:
            if not stream.is_closing():
                self._send(stream, b"%x\r\n%s\r\n" % (len(event), event))
        self._send(writer, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", reader_side=False)

    def _updates(self, writer, since: int, etag: str | None) -> None:
        self.requests["updates"] += 1
        tag = f'"{len(self.log)}"'
        if since == len(self.log) and etag == tag:
            self._send(writer, f"HTTP/1.1 304 Not Modified\r\nETag: {tag}\r\n\r\n".encode())
            return
        body = json.dumps({"messages": [{"id": i + 1, "message": m} for i, m in enumerate(self.log) if i >= since],
                           "cursor": len(self.log)}).encode()
        self._send(writer, f"HTTP/1.1 200 OK\r\nETag: {tag}\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)


def run_drive(transport: Transport, port: int, clients: int = N, messages: int = M):
    result = Result(transport.name, transport.label, clients, clients, messages, rate=20.0)
    clients_used = asyncio.run(drive(transport, "127.0.0.1", port, result))
    return result, clients_used


def totals(clients) -> tuple[int, int]:
    return sum(c.requests for c in clients), sum(c.bytes_in for c in clients)


def test_short_polling_counts_what_the_server_saw():
    poll = Transport("poll", "poll", "none", "poll", interval=0.1)
    with TinyServer() as server:
        result, clients = run_drive(poll, server.port)
    assert (result.published, result.expected, result.delivered) == (M, N * M, N * M)
    assert (result.lost, result.duplicated, result.errors) == (0, 0, 0)
    assert totals(clients) == (server.requests["updates"], server.bytes_to_readers)
    assert 0 < result.requests <= server.requests["updates"]
    assert server.requests["publish"] >= M + 1  # the warm-ups, then the measured messages


def test_sse_reader_counts_every_byte_and_one_request_per_client():
    sse = Transport("sse", "sse", "none", "sse")
    with TinyServer() as server:
        result, clients = run_drive(sse, server.port)
    assert (result.delivered, result.lost, result.duplicated) == (N * M, 0, 0)
    assert totals(clients) == (N, server.bytes_to_readers) == (server.requests["stream"], server.bytes_to_readers)
    assert result.requests == 0  # streams were opened before the measured window
    # The window holds at least the measured events, chunk framing included (a late
    # warm-up may still be on its way when the window opens).
    framed = [len(b"%x\r\n" % len(e)) + len(e) + 2 for e in (
        f"id: {i + 1}\nevent: notify\ndata: {json.dumps({'message': m})}\n\n".encode()
        for i, m in enumerate(server.log))]
    assert N * sum(framed[-M:]) <= result.bytes_in <= server.bytes_to_readers


def test_tally_counts_duplicates_strays_and_first_arrival_only():
    tally = Tally("run1")
    tally.record(stamp("run1", 0, 100.0), now=100.5)
    tally.record(stamp("run1", 0, 100.0), now=101.0)  # a repeat: counted, not re-timed
    tally.record(stamp("other", 1, 100.0), now=100.5)
    tally.record("not json at all", now=100.5)
    tally.record(warm_up("run1", 0), now=100.5)
    assert (tally.delivered, tally.duplicates, tally.strays, tally.warm) == (1, 1, 2, 1)
    summary = summarize([tally, Tally("run1")], published={0, 1})
    assert (summary["expected"], summary["delivered"], summary["lost"], summary["duplicated"]) == (4, 1, 3, 1)
    assert summary["p50_ms"] == pytest.approx(500.0)
    assert percentile([3.0, 1.0, 2.0, 4.0], 50) == 2.0 and percentile([5.0], 99) == 5.0


def test_response_parser_handles_chunks_split_anywhere():
    raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\nNEXT"
    for step in (1, 3, 7, len(raw)):
        parser, body, done = ResponseParser(), b"", False
        for i in range(0, len(raw), step):
            _, chunks, done = parser.feed(raw[i:i + step])
            body += b"".join(chunks)
            if done:
                break
        assert (done, body, parser.head.status) == (True, b"hello world", 200)


@pytest.mark.parametrize("name", ["polling_0.5s", "long_polling", "manual_sse", "sse_blueprint", "websockets"])
def test_real_lab_delivers_every_message_once(lab_server, name):
    transport = TRANSPORTS[name]
    lab = lab_server(transport.lab, workers=1)
    port = urlsplit(lab.url).port
    result, clients = run_drive(transport, port)
    assert (result.published, result.delivered, result.lost, result.duplicated) == (M, N * M, 0, 0), result
    if transport.kind in ("sse", "websocket"):
        assert totals(clients)[0] == N  # one request each, nothing re-opened
    if transport.lab == "polling":
        # The lab counts every /updates request it answered: the clients made exactly those.
        assert lab.get("/stats").json()["requests"] == totals(clients)[0]
    # The reconnect probe: a client that drops, misses one message and comes back.
    expected = {"polling_0.5s": "arrived", "long_polling": "arrived", "manual_sse": "replayed",
                "sse_blueprint": "lost", "websockets": "lost"}[name]
    assert expected in probe(transport, lab)


def test_webhook_row_counts_one_accepted_post_per_message(lab_server):
    transport = TRANSPORTS["webhooks"]
    lab = lab_server("webhooks", workers=1, config=transport.config)
    result = Result(transport.name, transport.label, 1, 1, M, rate=20.0)
    asyncio.run(drive_webhook(transport, "127.0.0.1", urlsplit(lab.url).port, result))
    assert (result.delivered, result.lost, result.requests) == (M, 0, M)
    stats = lab.get("/stats").json()
    assert stats["deliveries"]["accepted"] == stats["notifications"] == M + 1  # and the warm-up
    assert result.bytes_per_msg > 0 and "probe failed" not in probe(transport, lab)


def test_command_line_writes_table_markdown_csv_and_plot(tmp_path):
    out = tmp_path / "results"
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--transports", "manual_sse", "--clients", "2",
         "--messages", "3", "--out", str(out)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=90)
    assert completed.returncode == 0, completed.stderr
    assert "p99 ms" in completed.stdout and "SSE (by hand)" in completed.stdout
    rows = list(csv.DictReader((out / "showdown.csv").open()))
    assert [(r["transport"], r["clients"], r["delivered"], r["lost"]) for r in rows] == [("manual_sse", "2", "6", "0")]
    assert "| transport | clients |" in (out / "showdown.md").read_text()
    assert (out / "showdown.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_transport_selection_by_name_or_lab():
    assert [t.name for t in select("polling,manual_sse")] == ["polling_0.5s", "polling_2s", "manual_sse"]
    with pytest.raises(SystemExit):
        select("carrier_pigeon")
