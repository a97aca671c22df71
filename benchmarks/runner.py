"""One measurement: start a lab, connect N clients, publish M messages at a fixed rate.

The phases of a run, each bounded in time:

1. start the lab with gunicorn + one gevent worker (the production set-up) and sample
   its process tree;
2. connect N clients (batches of 100, so the listen queue never overflows) and publish
   warm-up messages until every client has received one: now every client is really
   receiving, whatever its transport (flask-sse sends no headers before the first
   event, so "connected" cannot be seen any other way);
3. the measured window: M stamped messages at ``rate`` per second, then wait until every
   client has all of them or the transport's drain time has passed;
4. stop the clients and the lab.

Requests, bytes and CPU are counted over the measured window only (connection set-up is
reported apart); peak memory is over the whole run.
"""

from __future__ import annotations

import asyncio
import collections
import math
import os
import secrets
import signal
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from urllib.parse import urlsplit

from benchmarks.clients import Client, Publisher
from benchmarks.procstats import TreeSampler
from benchmarks.reconnect import probe
from benchmarks.transports import Transport
from benchmarks.webhook import drive_webhook
from benchmarks.workload import Tally, stamp, summarize, warm_up
from labs.harness.launcher import LabServer

SETUP_TIMEOUT = 30.0  # seconds for N clients to connect and receive a warm-up message
CONNECT_BATCH = 100
# Sending M messages may take at most this long (factor x planned + extra seconds): one POST
# at a time to a server that answers slowly must not stretch a run without bound.
SEND_LIMIT_FACTOR, SEND_LIMIT_EXTRA = 3.0, 20.0
SETTLE = 0.2


@dataclass
class Result:
    transport: str
    label: str
    clients: int
    requested_clients: int
    messages: int
    rate: float
    published: int = 0
    expected: int = 0
    delivered: int = 0
    lost: int = 0
    duplicated: int = 0
    p50_ms: float = math.nan
    p99_ms: float = math.nan
    max_ms: float = math.nan
    requests: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    bytes_per_msg: float = math.nan
    requests_per_client_min: float = math.nan
    cpu_s: float = math.nan
    client_cpu_s: float = math.nan  # this process (all clients): near 1 s/s means the clients limit
    peak_mib: float = math.nan
    setup_s: float = math.nan
    setup_requests: int = 0
    window_s: float = math.nan
    not_ready: int = 0
    errors: int = 0
    reconnects: int = 0
    note: str = ""
    on_reconnect: str = ""  # what the reconnect probe saw (benchmarks.reconnect)

    def row(self) -> dict:
        return asdict(self)


def _totals(clients: list[Client]) -> tuple[int, int, int]:
    requests = bytes_in = bytes_out = 0
    for client in clients:
        r, i, o = client.counters()
        requests, bytes_in, bytes_out = requests + r, bytes_in + i, bytes_out + o
    return requests, bytes_in, bytes_out


async def _wait(predicate, timeout: float, step: float = 0.02) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(step)
    return True


@dataclass
class _Window:
    """What the measured window saw: the client counters at its edges and what was sent."""
    published: set[int] = field(default_factory=set)
    before: tuple[int, int, int] = (0, 0, 0)
    after: tuple[int, int, int] = (0, 0, 0)
    sending_s: float = 0.0


async def drive(transport: Transport, host: str, port: int, result: Result,
                sampler: TreeSampler | None = None,
                window_hook: Callable[[str], Awaitable[None]] | None = None,
                publisher: Publisher | None = None) -> list[Client]:
    """Phases 2 and 3 against a server at host:port; fills in ``result``; returns the clients.

    ``window_hook``: for tests, awaited with ``"start"`` and ``"end"`` just before the clients'
    counters are read at each edge of the measured window (nothing runs in between), so a
    test can read a server's own counters at the same instants.  ``publisher``: one of the
    caller's (e.g. one that times each POST); default one keep-alive :class:`Publisher`.
    """
    run, stop = secrets.token_hex(4), asyncio.Event()
    clients = [transport.client(host, port, Tally(run)) for _ in range(result.clients)]
    publisher = publisher or Publisher(host, port)
    tasks: list[asyncio.Task] = []
    window = _Window()
    try:
        await _set_up(transport, clients, publisher, run, result, stop, tasks)
        await _measure(transport, clients, publisher, run, result, window, sampler, window_hook)
    finally:
        await _stop_clients(transport, clients, publisher, stop, tasks)
    _count(result, clients, publisher, window)
    _explain(result, clients, publisher, window)
    return clients


async def _set_up(transport: Transport, clients: list[Client], publisher: Publisher, run: str,
                  result: Result, stop: asyncio.Event, tasks: list[asyncio.Task]) -> None:
    """Phase 2: connect every client, then publish warm-ups until each has received one."""
    started = time.monotonic()
    for i, client in enumerate(clients):
        tasks.append(asyncio.create_task(client.run(stop)))
        if i % CONNECT_BATCH == CONNECT_BATCH - 1:
            await asyncio.sleep(0.05)

    def ready() -> bool:
        return all(c.progress()[0] for c in clients)

    deadline = time.monotonic() + SETUP_TIMEOUT
    k = 0
    while not ready() and time.monotonic() < deadline:
        await publisher.publish(warm_up(run, k))
        k += 1
        await _wait(ready, 0.3 + transport.interval)
    await asyncio.sleep(SETTLE)  # warm-ups still on their way land before the window
    result.not_ready = sum(1 for c in clients if not c.progress()[0])
    result.setup_s = time.monotonic() - started
    result.setup_requests = _totals(clients)[0]


async def _measure(transport: Transport, clients: list[Client], publisher: Publisher, run: str,
                   result: Result, window: _Window, sampler: TreeSampler | None,
                   window_hook: Callable[[str], Awaitable[None]] | None) -> None:
    """Phase 3: M stamped messages at the planned rate, then wait for them to arrive."""
    if window_hook is not None:
        await window_hook("start")
    window.before = _totals(clients)
    cpu_before = _server_cpu(sampler)
    window_start, client_cpu = time.monotonic(), time.process_time()
    await _publish_stamped(publisher, run, result, window, window_start)
    window.sending_s = time.monotonic() - window_start

    def complete() -> bool:
        return all(c.progress()[1] >= len(window.published) for c in clients)

    await _wait(complete, transport.drain_seconds)
    if window_hook is not None:
        await window_hook("end")
    result.window_s = time.monotonic() - window_start
    result.client_cpu_s = time.process_time() - client_cpu
    window.after = _totals(clients)
    if sampler is not None:
        result.cpu_s = _server_cpu(sampler) - cpu_before


async def _publish_stamped(publisher: Publisher, run: str, result: Result, window: _Window,
                           window_start: float) -> None:
    send_limit = SEND_LIMIT_FACTOR * result.messages / result.rate + SEND_LIMIT_EXTRA
    for seq in range(result.messages):
        if time.monotonic() - window_start > send_limit:
            break  # the server takes the POSTs too slowly: the row says so (published < M)
        await asyncio.sleep(max(0.0, window_start + seq / result.rate - time.monotonic()))
        if await publisher.publish(stamp(run, seq, time.time())):
            window.published.add(seq)


def _server_cpu(sampler: TreeSampler | None) -> float:
    if sampler is None:
        return math.nan
    sampler.sample()
    return sampler.cpu_seconds()


async def _stop_clients(transport: Transport, clients: list[Client], publisher: Publisher,
                        stop: asyncio.Event, tasks: list[asyncio.Task]) -> None:
    """Phase 4 for the clients (the lab is stopped by the caller)."""
    stop.set()
    # Short polls in flight are let finish, so what the clients counted is what the
    # server saw; held requests and streams never finish by themselves.
    if tasks and transport.stop_grace:
        await asyncio.wait(tasks, timeout=transport.stop_grace)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for client in clients:
        client.close()
        client.finish()
    publisher.close()


def _count(result: Result, clients: list[Client], publisher: Publisher, window: _Window) -> None:
    """Deliveries, latency and traffic over the measured window."""
    summary = summarize([c.tally for c in clients], window.published)
    result.published = len(window.published)
    result.expected, result.delivered, result.lost = summary["expected"], summary["delivered"], summary["lost"]
    result.duplicated = summary["duplicated"]
    result.p50_ms, result.p99_ms, result.max_ms = summary["p50_ms"], summary["p99_ms"], summary["max_ms"]
    result.requests, result.bytes_in, result.bytes_out = (
        after - before for after, before in zip(window.after, window.before, strict=True))
    if result.delivered:
        result.bytes_per_msg = result.bytes_in / result.delivered
    if clients and result.window_s:
        result.requests_per_client_min = result.requests / len(clients) / result.window_s * 60
    result.errors = sum(c.errors for c in clients) + publisher.failures
    result.reconnects = sum(c.reconnects for c in clients)


def _explain(result: Result, clients: list[Client], publisher: Publisher, window: _Window) -> None:
    """Notes for whatever makes the row less than the planned run."""
    kinds = sum((c.error_kinds for c in clients), collections.Counter())
    if kinds:
        result.note = _join(result.note, "client errors: " + ", ".join(f"{k} ×{v}" for k, v in kinds.most_common(3)))
    if publisher.failures:
        result.note = _join(result.note, f"{publisher.failures} publishes failed")
    if len(window.published) + publisher.failures < result.messages:
        result.note = _join(result.note, f"only {len(window.published) + publisher.failures} of "
                                         f"{result.messages} sent within the time limit")
    planned_s = (result.messages - 1) / result.rate
    if result.messages > 1 and window.sending_s > 1.5 * planned_s + 0.5:
        # The publisher sends one POST at a time: a server slow to answer them cannot be
        # sent the planned rate.  Say so, since latency is then measured at a lower rate.
        result.note = _join(result.note, f"sending took {window.sending_s:.0f} s, not {planned_s:.0f} s: "
                                         "the server answered the POSTs slowly")


def run_async(coroutine):
    """``asyncio.run``, also where a loop is already running (a Jupyter kernel has one):
    then the clients get a fresh loop in a thread of their own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def stop_fast(lab: LabServer) -> None:
    """End a benchmark's lab at once.

    gunicorn's graceful stop takes about 3 s (its gevent worker looks for the signal once a
    second, then waits ``graceful_timeout``), and a benchmark's server has nothing to save.
    Its private Redis runs under a watchdog that exits when the lab's pipe closes.
    """
    if lab.process is not None and lab.process.alive():  # not reaped: the pid is still ours
        try:
            os.killpg(lab.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    lab.stop()


def start_lab(transport: Transport, workers: int = 1) -> LabServer:
    """Phase 1: the transport's lab under gunicorn with ``workers`` gevent workers."""
    lab = LabServer(transport.lab, workers=workers, config=transport.config)
    try:
        return lab.start()
    except BaseException:
        stop_fast(lab)
        raise


def run_transport(transport: Transport, counts: list[int], messages: int, rate: float, *,
                  lab: LabServer | None = None, deadline: float | None = None,
                  log: Callable[[Result], None] | None = None) -> list[Result]:
    """Phases 1 to 4 for one transport at each client count (ascending, capped).

    One server serves the whole sweep: starting and stopping it costs more than a small run,
    and going up in N means a run never inherits more connections than it makes itself
    (each run's sampler starts afresh; peak memory is per run).  ``lab``: one already
    started (the harness starts them all at once); it is stopped here either way.
    """
    results: list[Result] = []
    for n in sorted(counts):
        capped = min(n, transport.max_clients)
        if results and results[-1].clients == capped:
            results.pop()  # the same run again: keep one row, for the largest N asked
        result = Result(transport.name, transport.label, capped, n, messages, rate)
        if capped < n:
            result.note = f"capped at {capped} (of {n}): {transport.cap_reason}"
        results.append(result)
    try:
        lab = lab or start_lab(transport)
        address = urlsplit(lab.url)
        for result in results:
            if deadline is not None and time.monotonic() > deadline:
                result.note = "skipped: the time budget was spent"
                continue
            sampler = TreeSampler(lab.pid).start()
            try:
                run = drive_webhook if transport.kind == "webhook" else drive
                run_async(run(transport, address.hostname, address.port, result, sampler))
            except Exception as exc:  # a failed run is a row that says why
                result.note = _join(result.note, f"failed: {type(exc).__name__}: {exc}"[:160])
            finally:
                sampler.stop()
            result.peak_mib = sampler.peak_rss / 2**20
            if result.not_ready:
                result.note = _join(result.note, f"{result.not_ready} clients never got a warm-up")
            if log is not None:
                log(result)
        # After the load, one client drops, misses a message and comes back: what it got.
        reconnect = probe(transport, lab)
        for result in results:
            result.on_reconnect = reconnect
    except Exception as exc:  # e.g. the lab does not exist yet
        for result in results:
            if not result.published:
                result.note = _join(result.note, f"failed: {type(exc).__name__}: {str(exc).splitlines()[0]}"[:160])
    finally:
        if lab is not None:
            stop_fast(lab)
    return results


def _join(note: str, more: str) -> str:
    return f"{note}; {more}" if note else more
