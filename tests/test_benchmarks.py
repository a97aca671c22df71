"""The showdown harness counts right: deliveries, requests and bytes match what servers saw.

Every count the harness reports is compared with one made independently, over the same
measured window:

- a tiny deterministic server here (asyncio, in a thread) counts every request and every
  byte it sends to clients;
- the labs' own ``/stats`` counters (polling requests, webhook deliveries);
- a counting TCP relay (:class:`CountingProxy`) between the harness and the server, which
  counts the requests and bytes that really crossed, per connection.

The harness's ``window_hook`` lets a test read those counts at the very instants the
harness reads its own, after waiting until nothing is on its way (short polls are held at
the relay for that moment; long polls are held by the server; streams go quiet).  Then
the process side: CPU and memory of a real process tree, and no process left behind.
N=2 clients and M=3 messages.  No timing assertions: performance belongs to
``python -m benchmarks``.
"""

from __future__ import annotations

import asyncio
import csv
import json
import math
import os
import select as select_io
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import psutil
import pytest

from benchmarks import showdown
from benchmarks.minihttp import ResponseParser
from benchmarks.procstats import TreeSampler
from benchmarks.reconnect import probe
from benchmarks.runner import Result, drive, run_async
from benchmarks.transports import TRANSPORTS, Transport, select
from benchmarks.webhook import drive_webhook
from benchmarks.workload import Tally, percentile, stamp, summarize, warm_up
from labs.core.webapp import REPO_ROOT
from labs.harness.client import EventStream
from labs.harness.processes import wait_until

N, M = 2, 3
EDGE_TIMEOUT = 10.0  # seconds to wait at a window edge until nothing is on its way


class ThreadedServer:
    """An asyncio server on 127.0.0.1 in a thread of its own; subclasses define ``_handle``."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self.thread.start()
        assert self.ready.wait(5)
        return self

    def __exit__(self, *exc) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
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

    async def _serve(self, reader, writer) -> None:
        try:
            await self._handle(reader, writer)
        except asyncio.CancelledError:  # shutting down: end quietly
            writer.close()

    async def _handle(self, reader, writer) -> None:
        raise NotImplementedError


class TinyServer(ThreadedServer):
    """``/updates`` (JSON, ETag, 304), ``/stream`` (chunked SSE) and ``/send_notification``."""

    def __init__(self) -> None:
        super().__init__()
        self.log: list[str] = []
        self.streams: list[asyncio.StreamWriter] = []
        self.requests = {"updates": 0, "stream": 0, "publish": 0}
        self.bytes_to_readers = 0  # everything sent on /updates and /stream connections

    async def counts(self) -> dict[str, int]:
        """For :class:`Edges`: what this server counted so far."""
        return {**self.requests, "bytes": self.bytes_to_readers}

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


REQUEST_LINE_END = b" HTTP/1.1\r\n"  # ends every request line the harness's clients send


@dataclass(frozen=True)
class Counts:
    connections: int = 0
    requests: int = 0  # request lines the clients sent
    up: int = 0  # bytes from the clients (held ones included)
    down: int = 0  # bytes to the clients

    def __sub__(self, other: Counts) -> Counts:
        return Counts(self.connections - other.connections, self.requests - other.requests,
                      self.up - other.up, self.down - other.down)


class Relayed:
    """One client connection through :class:`CountingProxy`, and what crossed it."""

    def __init__(self) -> None:
        self.first_line = ""
        self.requests = self.up = self.down = 0
        self.held = bytearray()  # what the client sent while the relay was holding
        self.open = True
        self.upstream: asyncio.StreamWriter | None = None
        self._start = bytearray()
        self._tail = b""

    @property
    def path(self) -> str:
        parts = self.first_line.split(" ")
        return parts[1] if len(parts) > 2 else ""

    def from_client(self, data: bytes) -> None:
        self.up += len(data)
        if not self.first_line:
            self._start += data
            if b"\r\n" in self._start:
                self.first_line = bytes(self._start).split(b"\r\n", 1)[0].decode("latin-1")
        seen = self._tail + data  # a request line split across two reads is counted once
        self.requests += seen.count(REQUEST_LINE_END)
        self._tail = seen[-(len(REQUEST_LINE_END) - 1):]


class CountingProxy(ThreadedServer):
    """A TCP relay to a server on 127.0.0.1, counting requests and bytes per connection.

    Independent of the harness: it sees only what crossed.  ``hold()`` keeps back whatever
    clients send from then on and ``release()`` passes it on, so a test can stop short
    polls at a window's edge with every answer already read by its client.
    """

    def __init__(self, upstream: int) -> None:
        super().__init__()
        self.upstream = upstream
        self.conns: list[Relayed] = []
        self.holding = False

    async def _handle(self, reader, writer) -> None:
        conn = Relayed()
        self.conns.append(conn)
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream)
        except OSError:
            conn.open = False
            writer.close()
            return
        conn.upstream = up_writer

        async def client_to_server() -> None:
            while data := await reader.read(65536):
                conn.from_client(data)
                if self.holding:
                    conn.held += data
                else:
                    up_writer.write(data)
                    await up_writer.drain()
            up_writer.close()

        async def server_to_client() -> None:
            while data := await up_reader.read(65536):
                conn.down += len(data)
                writer.write(data)
                await writer.drain()
            writer.close()

        try:
            await asyncio.gather(client_to_server(), server_to_client())
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            conn.open = False
            writer.close()
            up_writer.close()

    def hold(self) -> None:
        self.loop.call_soon_threadsafe(setattr, self, "holding", True)

    def release(self) -> None:
        def release() -> None:
            self.holding = False
            for conn in self.conns:
                if conn.held and conn.open and conn.upstream is not None:
                    conn.upstream.write(bytes(conn.held))
                conn.held.clear()
        self.loop.call_soon_threadsafe(release)

    def readers(self, prefix: str) -> list[Relayed]:
        return [c for c in list(self.conns) if c.path.startswith(prefix)]

    def totals(self, prefix: str) -> Counts:
        conns = self.readers(prefix)
        return Counts(len(conns), sum(c.requests for c in conns), sum(c.up for c in conns),
                      sum(c.down for c in conns))

    def waiting(self, prefix: str) -> int:
        """Open connections whose client has a whole request held here."""
        return sum(1 for c in self.readers(prefix) if c.open and bytes(c.held).endswith(b"\r\n\r\n"))


async def until(check, what: str, timeout: float = EDGE_TIMEOUT) -> None:
    """Wait until ``check()`` (a bool, or an awaitable of one) is true; bounded."""
    deadline = time.monotonic() + timeout
    while True:
        ok = check()
        if asyncio.iscoroutine(ok):
            ok = await ok
        if ok:
            return  # no await after the last check: the caller goes on at this instant
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g} s: {what}")
        await asyncio.sleep(0.02)


class Edges:
    """A ``window_hook``: at each edge of the measured window, wait until nothing is on its
    way, then read the relay's counts and the server's own at that same instant.

    ``quiet``: ``"hold"`` (short polls: every client's next request is held at the relay,
    so every answer so far has been read), ``"held"`` (long polls: the server holds one
    request of every client, per its /stats ``waiting``) or ``"still"`` (streams and
    webhooks: nothing crossed the relay for a while).
    """

    QUIET_S = 0.3

    def __init__(self, proxy: CountingProxy, prefix: str, quiet: str, server_counts=None, clients: int = N) -> None:
        self.proxy, self.prefix, self.quiet = proxy, prefix, quiet
        self.server_counts, self.clients = server_counts, clients
        self.at: dict[str, tuple[Counts, dict]] = {}

    async def __call__(self, phase: str) -> None:
        server: dict = {}
        if self.quiet == "hold":
            self.proxy.hold()
            await until(lambda: self.proxy.waiting(self.prefix) == self.clients,
                        f"{self.clients} requests held at the relay ({phase})")
            server = await self.server_counts()  # nothing reaches the server meanwhile
        elif self.quiet == "held":
            async def all_held() -> bool:
                server.clear()
                server.update(await self.server_counts())
                return server.get("waiting") == self.clients
            await until(all_held, f"{self.clients} requests held by the server ({phase})")
        else:
            await self._still(phase)
            if self.server_counts is not None:
                server = await self.server_counts()
        self.at[phase] = (self.proxy.totals(self.prefix), dict(server))
        self.proxy.release()

    async def _still(self, phase: str) -> None:
        last, since = self.proxy.totals(self.prefix), time.monotonic()
        deadline = since + EDGE_TIMEOUT
        while time.monotonic() - since < self.QUIET_S:
            if time.monotonic() > deadline:
                raise AssertionError(f"the relay never went quiet ({phase})")
            await asyncio.sleep(0.05)
            now = self.proxy.totals(self.prefix)
            if now != last:
                last, since = now, time.monotonic()

    def relayed(self) -> Counts:
        return self.at["end"][0] - self.at["start"][0]

    def server(self, name: str) -> int:
        return self.at["end"][1].get(name, 0) - self.at["start"][1].get(name, 0)


def lab_counts(lab):
    """For :class:`Edges`: a lab's ``/stats``, read beside the harness (not through the relay)."""
    async def counts() -> dict:
        stats = await asyncio.to_thread(lambda: lab.get("/stats").json())
        return {**stats, **stats.get("deliveries", {})}  # the webhooks lab nests its counters
    return counts


def run_drive(transport: Transport, port: int, clients: int = N, messages: int = M, hook=None):
    result = Result(transport.name, transport.label, clients, clients, messages, rate=20.0)
    clients_used = run_async(drive(transport, "127.0.0.1", port, result, window_hook=hook))
    return result, clients_used


def totals(clients) -> tuple[int, int]:
    return sum(c.requests for c in clients), sum(c.bytes_in for c in clients)


def test_short_polling_counts_what_the_server_saw():
    poll = Transport("poll", "poll", "none", "poll", interval=0.1)
    with TinyServer() as server, CountingProxy(server.port) as proxy:
        edges = Edges(proxy, "/updates", "hold", server.counts)
        result, clients = run_drive(poll, proxy.port, hook=edges)
    assert (result.published, result.expected, result.delivered) == (M, N * M, N * M)
    assert (result.lost, result.duplicated, result.errors) == (0, 0, 0)
    assert totals(clients) == (server.requests["updates"], server.bytes_to_readers)
    # Over the measured window: the requests the server answered, the bytes it sent.
    relayed = edges.relayed()
    assert result.requests == edges.server("updates") == relayed.requests >= N
    assert result.bytes_in == edges.server("bytes") == relayed.down
    assert result.bytes_out == relayed.up
    assert result.bytes_per_msg == pytest.approx(edges.server("bytes") / (N * M))
    assert server.requests["publish"] >= M + 1  # the warm-ups, then the measured messages


def test_sse_reader_counts_every_byte_and_one_request_per_client():
    sse = Transport("sse", "sse", "none", "sse")
    with TinyServer() as server, CountingProxy(server.port) as proxy:
        edges = Edges(proxy, "/stream", "still", server.counts)
        result, clients = run_drive(sse, proxy.port, hook=edges)
    assert (result.delivered, result.lost, result.duplicated) == (N * M, 0, 0)
    assert totals(clients) == (N, server.bytes_to_readers) == (server.requests["stream"], server.bytes_to_readers)
    assert result.requests == 0 == edges.relayed().requests  # streams were opened before the window
    # The window holds exactly the measured events (the warm-ups had all landed), chunk
    # framing included.
    framed = [len(b"%x\r\n" % len(e)) + len(e) + 2 for e in (
        f"id: {i + 1}\nevent: notify\ndata: {json.dumps({'message': m})}\n\n".encode()
        for i, m in enumerate(server.log))]
    assert result.bytes_in == edges.server("bytes") == edges.relayed().down == N * sum(framed[-M:])
    assert result.bytes_per_msg == pytest.approx(sum(framed[-M:]) / M)


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


# How a real lab's window edges are made quiet, and which relayed connections are its readers.
QUIET = {"poll": ("hold", "/updates"), "long_poll": ("held", "/updates"), "sse": ("still", "/stream"),
         "websocket": ("still", "/socket.io/")}


@pytest.mark.parametrize("name", ["polling_0.5s", "long_polling", "manual_sse", "sse_blueprint", "websockets"])
def test_real_lab_delivers_every_message_once(lab_server, name):
    transport = TRANSPORTS[name]
    lab = lab_server(transport.lab, workers=1)
    quiet, prefix = QUIET[transport.kind]
    counts = lab_counts(lab) if transport.lab in ("polling", "long_polling") else None
    with CountingProxy(urlsplit(lab.url).port) as proxy:
        edges = Edges(proxy, prefix, quiet, counts)
        result, clients = run_drive(transport, proxy.port, hook=edges)
        connections = proxy.totals(prefix).connections
    assert (result.published, result.delivered, result.lost, result.duplicated) == (M, N * M, 0, 0), result
    # Requests and bytes of the window: what crossed the relay, both ways.
    relayed = edges.relayed()
    assert (result.requests, result.bytes_in, result.bytes_out) == (relayed.requests, relayed.down, relayed.up)
    assert result.bytes_per_msg == pytest.approx(relayed.down / (N * M))
    if transport.kind in ("sse", "websocket"):
        assert totals(clients)[0] == N == connections  # one request each, nothing re-opened
        assert result.requests == 0 and result.bytes_in > 0
    else:
        # The lab counts every /updates request it answered: over the window, as many.
        assert result.requests == edges.server("requests") >= N
    if transport.lab == "polling":
        # ... and over the whole run, exactly the requests the clients made.
        assert lab.get("/stats").json()["requests"] == totals(clients)[0]
    if transport.kind == "long_poll":
        # No hold timed out, so every answer carried news: each client's held request was
        # answered, and no client got more answers than there were messages.
        assert edges.server("timeouts") == 0 and edges.server("with_messages") == result.requests
        assert N <= result.requests <= N * M
    # The reconnect probe: a client that drops, misses one message and comes back.
    expected = {"polling_0.5s": "arrived", "long_polling": "arrived", "manual_sse": "replayed",
                "sse_blueprint": "lost", "websockets": "lost"}[name]
    assert expected in probe(transport, lab)


def test_webhook_row_counts_the_posts_the_receiver_answered(lab_server):
    transport = TRANSPORTS["webhooks"]
    lab = lab_server("webhooks", workers=1, config=transport.config)
    result = Result(transport.name, transport.label, 1, 1, M, rate=20.0)
    stream = EventStream(lab.url + "/stream")  # a reader of what the receiver pushed
    try:
        with CountingProxy(urlsplit(lab.url).port) as proxy:
            edges = Edges(proxy, "/webhook/", "still", lab_counts(lab))
            run_async(drive_webhook(transport, "127.0.0.1", proxy.port, result, window_hook=edges))
        pushed = [e.json()["message"] for e in stream.wait_for(M + 1, type="notify")]
    finally:
        stream.close()
    # The receiver's own counters over the window: every POST answered, each accepted.
    answered = sum(edges.server(k) for k in ("accepted", "pong", "ignored", "duplicate", "rejected"))
    assert result.requests == answered == edges.relayed().requests == M
    assert result.delivered == edges.server("accepted") == edges.server("notifications") == M
    assert result.lost == 0
    relayed = edges.relayed()
    assert (result.bytes_in, result.bytes_out) == (relayed.up, relayed.down)  # the receiver got / answered
    assert result.bytes_per_msg == pytest.approx(relayed.up / M)
    # And the stream reader got each measured message once, in order, after the warm-up.
    assert pushed[0] == "warm-up" and len({json.loads(m)["bench"] for m in pushed[1:]}) == 1
    assert [json.loads(m)["seq"] for m in pushed[1:]] == list(range(M))
    assert "probe failed" not in probe(transport, lab)


# A process that burns about 0.6 s of CPU and keeps 50 MiB resident, then waits to be told
# to end; run as the grandchild of the sampled process (as a lab's gunicorn worker is), so
# the whole tree must be summed.
BURN = """
import sys, time
block = b"x" * (50 << 20)
while time.process_time() < 0.6:
    pass
print("done", len(block), flush=True)
sys.stdin.read()
"""
CHAIN = "import subprocess, sys; subprocess.run([sys.executable, '-c', *sys.argv[1:]])"  # runs argv[1]


def test_tree_sampler_sees_cpu_and_memory_of_a_real_process_tree():
    parent = subprocess.Popen([sys.executable, "-c", CHAIN, CHAIN, BURN], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        sampler = TreeSampler(parent.pid, interval=0.05).start()
        base_rss = sampler.peak_rss
        ready, _, _ = select_io.select([parent.stdout], [], [], 30)
        assert ready and parent.stdout.readline().startswith("done"), "the burner did not finish"
        sampler.sample()  # the grandchild is alive, holding its block: its last CPU reading
        sampler.stop()
        cpu, peak = sampler.cpu_seconds(), sampler.peak_rss
    finally:
        parent.stdin.close()
        parent.wait(10)
    assert math.isfinite(cpu) and cpu >= 0.3, cpu
    assert math.isfinite(peak) and peak - base_rss >= 40 * 2**20, (base_rss, peak)


def _is_gone(proc: psutil.Process) -> bool:
    try:
        return not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


class ChildWatcher:
    """Every process descended from this one that starts after it, with its command line.

    ``look()`` takes one reading; as a context manager it looks every 50 ms in a thread.
    The command line kept is the latest one that says something: a fork reads as its
    parent's until it execs, and a process that is exiting (its memory already released)
    or a zombie reads as an empty one (psutil returns ``[]`` or raises), which must not
    overwrite what it ran.
    """

    def __init__(self) -> None:
        self.me = psutil.Process()
        self.before = {p.pid for p in self.me.children(recursive=True)}
        self.seen: dict[int, psutil.Process] = {}
        self.started: dict[int, str] = {}
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def look(self) -> None:
        try:
            children = self.me.children(recursive=True)
        except psutil.Error:
            return
        for proc in children:
            if proc.pid in self.before:
                continue
            proc = self.seen.setdefault(proc.pid, proc)
            try:
                line = " ".join(proc.cmdline()).strip()
            except psutil.Error:
                continue
            if line:
                self.started[proc.pid] = line

    def _watch(self) -> None:
        while not self._done.wait(0.05):
            self.look()

    def __enter__(self) -> ChildWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join(5)


# Waits for a byte on stdin, then replaces itself (execve) with a Python whose argument list
# is empty: its command line then reads as empty, as an exiting process's does.  The new
# Python reads its program from stdin.
EXEC_WITHOUT_ARGUMENTS = """
import ctypes, os, sys
os.read(0, 1)
libc = ctypes.CDLL(None, use_errno=True)
libc.execve(sys.executable.encode(), (ctypes.c_char_p * 1)(None), (ctypes.c_char_p * 1)(None))
raise SystemExit(f"execve failed: errno {ctypes.get_errno()}")
"""


def _cmdline_reads_empty(pid: int) -> bool:
    with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
        return cmdline.read().strip(b"\0") == b""


def test_child_watcher_keeps_a_command_line_that_later_reads_empty_or_as_a_zombie():
    watcher = ChildWatcher()
    child = subprocess.Popen([sys.executable, "-c", EXEC_WITHOUT_ARGUMENTS], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        proc = psutil.Process(child.pid)
        # Seen while it runs what it was started with (a fork reads as its parent at first).
        assert wait_until(lambda: watcher.look() or "import ctypes" in watcher.started.get(child.pid, ""), 10)
        good = watcher.started[child.pid]
        child.stdin.write("\n")
        child.stdin.flush()
        # Then its command line reads empty, as an exiting process's does: psutil says [''] or [].
        assert wait_until(lambda: _cmdline_reads_empty(child.pid), 10)
        assert " ".join(proc.cmdline()).strip() == ""
        watcher.look()
        assert watcher.started[child.pid] == good
        # Then a real zombie: it exited, and nobody has reaped it yet.
        child.stdin.write("print('bye', flush=True)\n")
        child.stdin.close()
        assert child.stdout.readline() == "bye\n"
        assert wait_until(lambda: proc.status() == psutil.STATUS_ZOMBIE, 10)
        assert _cmdline_reads_empty(child.pid)
        watcher.look()
        assert watcher.started[child.pid] == good and _is_gone(proc)
    finally:
        child.kill()
        child.wait(10)


def test_harness_leaves_no_lab_or_redis_process_behind(monkeypatch):
    monkeypatch.delenv("REDIS_URL", raising=False)  # so the lab starts a Redis of its own
    with ChildWatcher() as watcher:
        results = showdown(transports="sse_blueprint", clients=[N], messages=M, log=None)
    assert [(r.transport, r.delivered) for r in results] == [("sse_blueprint", N * M)], results

    started = watcher.started
    assert any("labs run" in line for line in started.values()), started
    assert any("redis-server" in os.path.basename(line.split(" ")[0]) for line in started.values()), started
    # a bound for the redis watchdog to notice, not a measurement
    wait_until(lambda: all(_is_gone(p) for p in watcher.seen.values()), 10)
    left = {pid: started.get(pid, "?") for pid, proc in watcher.seen.items() if not _is_gone(proc)}
    assert not left, f"still running after the harness returned: {left}"


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
