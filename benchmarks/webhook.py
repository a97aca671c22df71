"""The server-to-server row: signed webhook deliveries to the ``webhooks`` lab.

A webhook has no browser client: one service POSTs each event to another.  So the same
workload (M stamped messages at a fixed rate) goes out as Standard Webhooks deliveries,
signed as a provider signs them (:mod:`labs.harness.webhook_sender`), over one keep-alive
connection.  Latency is the POST's round trip: the receiver has verified the signature,
checked the id and pushed the message before it answers.  Bytes are what the receiver
gets: the whole signed request, head included.

Counted, not assumed: ``requests`` is the POSTs the receiver answered (any HTTP status),
``delivered`` those it answered ``accepted``.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from benchmarks.minihttp import Connection, HttpError, request_bytes
from benchmarks.workload import percentile, stamp
from labs.harness.webhook_sender import standard_delivery

# The receiver and the sender share this secret (the lab is started with it).
SECRET = "whsec_" + "c2hvd2Rvd24tYmVuY2htYXJrLXNlY3JldC0wMTIz"


async def drive_webhook(_transport, host: str, port: int, result, sampler=None,
                        window_hook: Callable[[str], Awaitable[None]] | None = None) -> None:
    """Send ``result.messages`` deliveries at ``result.rate``; fill in ``result``.

    ``window_hook``: as for :func:`benchmarks.runner.drive` (tests read the receiver's own
    counters with it at the edges of the measured window).
    """
    conn = Connection(host, port)
    url, run = f"http://{host}:{port}", secrets.token_hex(4)
    latencies: list[float] = []
    answered = 0
    before = (0, 0)
    try:
        await _deliver(conn, url, "warm-up")  # the connection and the lab's first request
        if window_hook is not None:
            await window_hook("start")
        before = (conn.bytes_in, conn.bytes_out)
        cpu_before = _cpu(sampler)
        start = time.monotonic()
        for seq in range(result.messages):
            await asyncio.sleep(max(0.0, start + seq / result.rate - time.monotonic()))
            sent = time.time()
            got_answer, accepted = await _deliver(conn, url, stamp(run, seq, sent))
            answered += got_answer
            if accepted:
                latencies.append(time.time() - sent)
        if window_hook is not None:
            await window_hook("end")
        result.window_s = time.monotonic() - start
        if sampler is not None:
            result.cpu_s = _cpu(sampler) - cpu_before
    finally:
        conn.close()
    result.published = result.expected = result.messages
    result.delivered = len(latencies)
    result.lost = result.messages - len(latencies)
    result.requests = answered
    result.bytes_in = conn.bytes_out - before[1]  # what the receiving server got
    result.bytes_out = conn.bytes_in - before[0]  # its answers
    if latencies:
        result.p50_ms, result.p99_ms = percentile(latencies, 50) * 1000, percentile(latencies, 99) * 1000
        result.max_ms = max(latencies) * 1000
        result.bytes_per_msg = result.bytes_in / len(latencies)
    result.requests_per_client_min = result.requests / result.window_s * 60
    result.note = (result.note + "; " if result.note else "") + "latency = the signed POST answered"


async def _deliver(conn: Connection, url: str, message: str) -> tuple[bool, bool]:
    """POST one delivery: (the receiver answered, it answered ``accepted``)."""
    delivery = standard_delivery(url, "notification.created", {"message": message}, SECRET)
    target = urlsplit(delivery.url)
    request = request_bytes("POST", target.path, target.netloc, delivery.headers, delivery.body)
    try:
        head, body = await asyncio.wait_for(conn.exchange(request), timeout=10)
    except (TimeoutError, OSError, HttpError):
        conn.close()
        return False, False
    try:
        accepted = head.status == 200 and json.loads(body).get("status") == "accepted"
    except (ValueError, AttributeError):  # not JSON, or not an object
        accepted = False
    return True, accepted


def _cpu(sampler) -> float:
    if sampler is None:
        return 0.0
    sampler.sample()
    return sampler.cpu_seconds()
