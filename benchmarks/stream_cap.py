"""``python -m benchmarks.stream_cap``: do publishes get in when a server is full of readers?

    python -m benchmarks.stream_cap                     # the four runs below, 20 messages at 2/s each
    python -m benchmarks.stream_cap --runs capped       # one of them

``manual_sse`` under gunicorn with one gevent worker; N readers (the showdown's asyncio SSE
clients, :mod:`benchmarks.stream_clients`) connect, then 20 messages are published, each by a
**new connection** (``POST /send_notification``, as separate publishers would: a connection
that must be accepted), timed from connect to answer, and ``/health`` is timed the same way
after each.  While the readers hold the server, 50 more streams are opened: each should get a
``goodbye`` with a ``retry:`` (told to come back) when the cap is reached.

Runs:

- ``before``: no stream cap (``MAX_STREAMS`` 0) and the old ``worker_connections`` 5,000,
  with 5,000 readers: the worker stops accepting, publishes wait;
- ``default``: 5,000 readers under the defaults (10,000 connections, cap 9,500);
- ``capped``: 5,000 readers on a cap of exactly 5,000 (connections 5,500): full, yet publishes get in;
- ``10k``: 10,000 readers, cap 10,000 (connections 10,500), where the client keeps up.

The clients run in this process on the same two cores as the server, so latency here is an
upper bound on a busy machine; the load average is printed and stored with the results.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import math
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from benchmarks import _raise_file_limit
from benchmarks.clients import Publisher
from benchmarks.minihttp import Connection, HttpError, request_bytes
from benchmarks.report import machine, machine_line
from benchmarks.runner import Result, drive, run_async, stop_fast
from benchmarks.transports import TRANSPORTS
from labs.harness.launcher import LabServer

RESULTS = Path(__file__).parent / "results"
RUNS = {  # name: (readers, config)
    "before": (5000, {"MAX_STREAMS": 0, "WORKER_CONNECTIONS": 5000}),
    "default": (5000, {}),
    "capped": (5000, {"MAX_STREAMS": 5000, "WORKER_CONNECTIONS": 5500}),
    "10k": (10000, {"MAX_STREAMS": 10000, "WORKER_CONNECTIONS": 10500}),
}
LATE_READERS = 50
ANSWER_LIMIT = 30.0  # a publish that takes longer counts as not answered


def percentile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class TimedPublisher(Publisher):
    """Each publish on a new connection, timed from connect to answer; then ``/health`` likewise."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(host, port)
        self.publish_ms: list[float] = []  # the measured window's publishes
        self.warm_up_ms: list[float] = []  # the set-up's, sent while the readers were still connecting
        self.health_ms: list[float] = []
        self.unanswered = 0

    async def _timed(self, request: bytes) -> tuple[bool, float]:
        conn, started = Connection(self.host, self.port), time.monotonic()
        try:
            head, _ = await asyncio.wait_for(conn.exchange(request), timeout=ANSWER_LIMIT)
            return head.status < 300, (time.monotonic() - started) * 1000
        except (TimeoutError, OSError, HttpError):
            return False, math.inf
        finally:
            conn.close()

    async def publish(self, message: str) -> bool:
        body = json.dumps({"message": message}).encode()
        ok, ms = await self._timed(request_bytes("POST", self.path, f"{self.host}:{self.port}",
                                                 {"Content-Type": "application/json"}, body))
        if ok:
            (self.warm_up_ms if '"warm"' in message else self.publish_ms).append(ms)  # workload.warm_up's key
        else:
            self.failures += 1
            self.unanswered += 1
        health_ok, health = await self._timed(request_bytes("GET", "/health", f"{self.host}:{self.port}"))
        self.health_ms.append(health if health_ok else math.inf)
        return ok


async def late_readers(host: str, port: int, count: int) -> tuple[int, int]:
    """Open ``count`` more streams: (told to come back with a goodbye, admitted or no answer)."""
    async def one() -> bool:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 10)
        except (TimeoutError, OSError):
            return False
        try:
            writer.write(request_bytes("GET", "/stream", f"{host}:{port}", {"Accept": "text/event-stream"}))
            data = b""
            deadline = time.monotonic() + 10
            while b"\n\n" not in data.split(b"\r\n\r\n", 1)[-1] and time.monotonic() < deadline:
                chunk = await asyncio.wait_for(reader.read(4096), max(0.1, deadline - time.monotonic()))
                if not chunk:
                    break
                data += chunk
            return b"event: goodbye" in data and b"retry: " in data
        except (TimeoutError, OSError):
            return False
        finally:
            writer.close()

    told = sum(await asyncio.gather(*(one() for _ in range(count))))
    return told, count - told


def measure(name: str, messages: int, rate: float) -> dict:
    readers, config = RUNS[name]
    transport = TRANSPORTS["manual_sse"]
    result = Result(transport.name, transport.label, readers, readers, messages, rate)
    lab = LabServer("manual_sse", workers=1, config=config).start()
    row: dict = {"run": name, "readers": readers, "max_streams": config.get("MAX_STREAMS", 9500),
                 "worker_connections": config.get("WORKER_CONNECTIONS", 10000)}
    try:
        address = urlsplit(lab.url)
        publisher = TimedPublisher(address.hostname, address.port)
        late: dict = {}

        async def hook(edge: str) -> None:
            if edge == "start":
                late["told"], late["not_told"] = await late_readers(address.hostname, address.port, LATE_READERS)

        started = time.monotonic()
        run_async(drive(transport, address.hostname, address.port, result, window_hook=hook, publisher=publisher))
        row["run_s"] = time.monotonic() - started
        try:
            row["capacity"] = json.dumps(lab.get("/stats", timeout=30).json()["capacity"])
        except Exception as exc:  # a server too busy to answer is a result too
            row["capacity"] = f"no answer: {type(exc).__name__}"
    finally:
        stop_fast(lab)
    row.update(published=result.published, delivered=result.delivered, expected=result.expected, lost=result.lost,
               not_ready=result.not_ready, deliver_p99_ms=result.p99_ms,
               publish_p50_ms=percentile(publisher.publish_ms, 0.5),
               publish_p99_ms=percentile(publisher.publish_ms, 0.99),
               publish_max_ms=max(publisher.publish_ms, default=math.nan), unanswered=publisher.unanswered,
               health_p99_ms=percentile(publisher.health_ms, 0.99),
               late_told=late.get("told", 0), late_not_told=late.get("not_told", LATE_READERS), note=result.note,
               warm_up_max_ms=max(publisher.warm_up_ms, default=math.nan),
               publish_ms_each=json.dumps([round(ms) for ms in publisher.publish_ms]))
    return row


COLUMNS = ["run", "readers", "max_streams", "worker_connections", "published", "unanswered", "publish_p50_ms",
           "publish_p99_ms", "publish_max_ms", "warm_up_max_ms", "health_p99_ms", "deliver_p99_ms", "lost", "not_ready",
           "late_told", "late_not_told"]


def markdown(rows: list[dict]) -> str:
    def fmt(value) -> str:
        if isinstance(value, float):
            return "–" if math.isnan(value) else ("∞" if math.isinf(value) else f"{value:.0f}")
        return str(value)

    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(fmt(row[c]) for c in COLUMNS) + " |" for row in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.stream_cap", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", nargs="*", default=list(RUNS), choices=list(RUNS))
    parser.add_argument("--messages", type=int, default=20)
    parser.add_argument("--rate", type=float, default=2.0)
    parser.add_argument("--out", default=str(RESULTS / "stream_cap"), help="results: OUT.csv and OUT.md")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    _raise_file_limit()
    info = machine()
    print(f"manual_sse, gunicorn + 1 gevent worker, on {machine_line(info)}", flush=True)
    rows = []
    for name in args.runs:
        row = measure(name, args.messages, args.rate)
        row["load_1min"] = info["load_1min"]
        rows.append(row)
        print(markdown([row]).splitlines()[-1], row["note"], row["capacity"], flush=True)
    info["load_1min_end"] = machine()["load_1min"]
    out = Path(args.out)
    with open(out.with_suffix(".csv"), "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    out.with_suffix(".md").write_text(f"Machine: {machine_line(info)}\n\n{markdown(rows)}\n\n"
                                      + "\n".join(f"- {r['run']}: {r['note'] or 'ok'}; /stats capacity {r['capacity']}"
                                                  for r in rows) + "\n")
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
