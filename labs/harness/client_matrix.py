"""The client matrix: the SSE clients people use, reading the kit's stream through real faults.

::

    with start_lab("manual_sse", config={"RETRY_MS": 300}) as lab:
        results = run_matrix(lab)              # every client, every cut: see CUTS
    print(table(results))

Each client runs in its own process (:func:`start_reader`) behind its own chaos relay
(:mod:`labs.harness.relay`), so a cut hits one reader's connection the way a network does.
A run cuts every reader twice, once **before its first message** (right after the stream's
opening ``connected`` event) and once **after** messages, each time with two messages
published that the cut connection never delivers (see :func:`_cut`).  What the clients then
received is compared, message by message, with what the kit's own reader got straight from
the lab: ``missed``, ``repeated``, and whether every ``id`` and ``data`` is byte-identical and
in order.

The clients (:data:`CLIENTS`), as a student meets them:

- ``httpx-sse`` and ``sseclient-py`` parse; they never reconnect.  The reader here resumes
  **by hand**: on an error or the end of the stream it waits ``retry:`` and opens a new request
  with ``Last-Event-ID`` set to the last ``id`` it saw.
- ``requests-sse`` and npm's ``eventsource`` reconnect on their own, with ``Last-Event-ID``.
- ``aiohttp-sse-client2`` reconnects on its own after a **clean end** only; on a mid-stream
  FIN or RST it raises out of its iterator, so the reader here resumes by hand after that.

npm's ``eventsource`` needs Node (>= 20) and ``npm ci`` in ``tools/node``
(:func:`node_status`, :func:`install_node_client`).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labs.harness.processes import ManagedProcess, python_argv

NODE_DIR = Path(__file__).resolve().parents[2] / "tools" / "node"
CLIENTS = ("httpx-sse", "sseclient-py", "requests-sse", "aiohttp-sse-client2", "eventsource")
# How each client comes back, in its own words (the reader's notes say when it was by hand).
RESUMES = {"httpx-sse": "by hand", "sseclient-py": "by hand", "requests-sse": "on its own",
           "aiohttp-sse-client2": "on its own after a clean end; by hand after FIN or RST",
           "eventsource": "on its own"}
# The runs: (cut before the first message, cut after messages).  "fin" and "rst" are the
# relay's close and reset (the network); "end" is the server ending every stream cleanly.
CUTS = (("fin", "rst"), ("rst", "fin"), ("end", "end"))
# Messages that a careless parser would change: spaces at the ends, a colon after a field
# name, line breaks of three kinds, non-ASCII, quotes and backslashes (all inside JSON).
TEXTS = ("  spaces at both ends  ", "data: not a field", "line\nbreak, cr\r, crlf\r\n", "naïve ☃ 😀",
         'quote " and backslash \\')


# ------------------------------------------------------------------ one reader process

def _emit(record: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


def _event(kind: str | None, ident: str | None, data: str | None) -> None:
    _emit({"event": kind or "message", "id": ident, "data": data})


def _read_httpx_sse(url: str) -> None:
    import httpx
    import httpx_sse
    last, retry = None, 1.0
    with httpx.Client(timeout=httpx.Timeout(10.0, read=None)) as client:
        while True:
            headers = {"Last-Event-ID": last} if last else {}
            try:
                with httpx_sse.connect_sse(client, "GET", url, headers=headers) as source:
                    for sse in source.iter_sse():
                        _event(sse.event, sse.id, sse.data)
                        last = sse.id or last
                        retry = sse.retry / 1000 if sse.retry is not None else retry
                _emit({"note": "the stream ended; reconnecting by hand"})
            except httpx.HTTPError as exc:
                _emit({"note": f"{type(exc).__name__}; reconnecting by hand"})
            time.sleep(retry)


def _read_sseclient_py(url: str) -> None:
    import requests
    import sseclient
    last, retry = None, 1.0
    while True:
        headers = {"Accept": "text/event-stream", **({"Last-Event-ID": last} if last else {})}
        try:
            with requests.get(url, stream=True, headers=headers, timeout=(5, None)) as response:
                for event in sseclient.SSEClient(response).events():
                    _event(event.event, event.id, event.data)
                    last = event.id or last
                    retry = int(event.retry) / 1000 if event.retry else retry  # a str here, unlike the others
            _emit({"note": "the stream ended; reconnecting by hand"})
        except requests.RequestException as exc:
            _emit({"note": f"{type(exc).__name__}; reconnecting by hand"})
        time.sleep(retry)


def _read_requests_sse(url: str) -> None:
    from datetime import timedelta

    import requests_sse
    with requests_sse.EventSource(url, reconnection_time=timedelta(seconds=1), max_connect_retry=20,
                                  timeout=(5, None)) as source:
        for event in source:
            _event(event.type, event.last_event_id, event.data)


def _read_aiohttp_sse_client2(url: str) -> None:
    import asyncio
    from datetime import timedelta

    import aiohttp
    from aiohttp_sse_client2 import client as sse_client

    async def read() -> None:
        last, retry = "", 1.0
        while True:
            headers = {"Last-Event-ID": last} if last else {}
            try:
                async with sse_client.EventSource(url, reconnection_time=timedelta(seconds=1), headers=headers,
                                                  timeout=aiohttp.ClientTimeout(total=None, sock_connect=5)) as source:
                    async for event in source:
                        _event(event.type, event.last_event_id, event.data)
                        last = event.last_event_id or last
                        retry = source._reconnection_time.total_seconds()
            except (aiohttp.ClientError, ConnectionError) as exc:
                _emit({"note": f"raised {type(exc).__name__}; reconnecting by hand"})
            await asyncio.sleep(retry)

    asyncio.run(read())


READERS = {"httpx-sse": _read_httpx_sse, "sseclient-py": _read_sseclient_py, "requests-sse": _read_requests_sse,
           "aiohttp-sse-client2": _read_aiohttp_sse_client2}


def _reader_main(client: str, url: str) -> None:
    def lifeline() -> None:  # whoever started us closed our stdin (or died): stop
        sys.stdin.read()
        os._exit(0)

    threading.Thread(target=lifeline, daemon=True).start()
    try:
        READERS[client](url)
    except Exception as exc:  # the matrix reports how a client gave up
        _emit({"note": f"gave up: {type(exc).__name__}: {exc}"})
    _emit({"note": "the reader stopped"})


# ------------------------------------------------------------------ Node

def node_status() -> tuple[bool, str]:
    """``(True, "")`` when npm's eventsource can run here, else ``(False, why not)``."""
    node = shutil.which("node")
    if node is None:
        return False, "Node is not installed (Debian/Ubuntu: apt-get install nodejs npm): npm's eventsource cannot run"
    version = subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip()
    if int(version.lstrip("v").split(".")[0] or 0) < 20:
        return False, f"npm's eventsource 4 needs Node >= 20; this machine has {version}"
    if shutil.which("npm") is None and not _installed():
        return False, "npm is not installed (apt-get install npm), so tools/node cannot be set up"
    return True, ""


def _lock_digest() -> str:
    return hashlib.sha256((NODE_DIR / "package-lock.json").read_bytes()).hexdigest()


def _installed() -> bool:
    stamp = NODE_DIR / "node_modules" / ".sse-kit-lock"
    return stamp.exists() and stamp.read_text() == _lock_digest()


def install_node_client() -> None:
    """``npm ci`` in tools/node unless node_modules already matches package-lock.json."""
    with open(NODE_DIR / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two test workers (or a notebook) at once: one installs
        if _installed():
            return
        done = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=NODE_DIR,
                              capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise RuntimeError(f"npm ci in {NODE_DIR} failed:\n{done.stdout}{done.stderr}")
        (NODE_DIR / "node_modules" / ".sse-kit-lock").write_text(_lock_digest())


# ------------------------------------------------------------------ the harness

@dataclass
class Reader:
    """One client's reader process and everything it printed (``events``, ``notes``)."""

    client: str
    process: ManagedProcess
    events: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def on_line(self, line: str) -> None:
        try:
            record = json.loads(line)
        except ValueError:
            record = {"note": line.rstrip()}
        record["at"] = time.monotonic()
        with self.changed:
            if "note" in record:
                self.notes.append(str(record["note"]))
            else:
                self.events.append(record)
            self.changed.notify_all()

    def messages(self) -> list[dict[str, Any]]:
        return [e for e in list(self.events) if e["event"] == "notify"]

    def wait(self, predicate, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self.changed:
            while not predicate(self):
                left = deadline - time.monotonic()
                if left <= 0 or not self.process.alive():
                    return predicate(self)
                self.changed.wait(min(left, 0.2))
        return True


def start_reader(client: str, url: str) -> Reader:
    """Start ``client`` (one of :data:`CLIENTS`) reading ``url`` in a process of its own."""
    if client == "eventsource":
        argv = [shutil.which("node") or "node", str(NODE_DIR / "read_stream.mjs"), url]
    else:
        argv = python_argv("-m", "labs.harness.client_matrix", "read", client, url)
    reader = Reader(client, None)  # type: ignore[arg-type]  # the process comes next
    reader.process = ManagedProcess(argv, cwd=str(NODE_DIR.parent.parent), on_line=reader.on_line)
    return reader


@dataclass
class Result:
    """What one client received in one run, against what the lab sent."""

    client: str
    cuts: tuple[str, str]  # (before the first message, after messages): fin, rst or end
    resumes: str           # on its own, or by hand (see RESUMES)
    missed: list[str]      # ids of messages it never got
    repeated: list[str]    # ids it got more than once
    identical: bool        # every id and data byte-identical, in order, nothing else
    connections: int       # how many connections it opened (one, plus one per resumption)
    resume_seconds: list[float]  # per cut: from the cut to the first message published meanwhile
    empty_messages: int    # "message" events with empty data (httpx-sse's keep-alive quirk)
    gaps: int              # "gap" events: the server could not replay (never expected here)
    notes: list[str]       # what the reader said: errors, reconnects by hand


class Publisher:
    """Publishes the next of :data:`TEXTS` to ``lab`` and remembers every id."""

    def __init__(self, lab) -> None:
        self.lab = lab
        self.texts = iter(TEXTS * 1000)
        self.ids: list[int] = []

    def __call__(self, count: int = 1) -> list[int]:
        ids = []
        for _ in range(count):
            response = self.lab.publish(next(self.texts))
            response.raise_for_status()
            ids.append(response.json()["id"])
        self.ids += ids
        return ids


def _has(ident: int):
    return lambda reader: any(e["id"] == str(ident) for e in reader.messages())


def _cut(publish: Publisher, relays: dict, how: str) -> list[int]:
    """Cut every reader's connection ``how``, with two messages published that it cannot get.

    No race with a quick reconnect: the relays first **stall** (the readers get nothing more),
    then the messages are published; a FIN or RST then throws away what the relays held.  For
    a clean end the server ends every stream while the readers are stalled, the messages go
    out to no stream, and only then do the relays pass the end on.
    """
    for relay in relays.values():
        relay.stall()
    if how == "end":
        publish.lab.post("/disconnect_all").raise_for_status()  # every stream ends cleanly
        meanwhile = publish(2)
        for relay in relays.values():
            relay.heal()
    else:
        meanwhile = publish(2)
        for relay in relays.values():
            relay.fault("close" if how == "fin" else "reset")
    return meanwhile


def _run_cuts(publish: Publisher, readers: dict[str, Reader], relays: dict, cuts: tuple[str, str], timeout: float):
    """Cut every reader twice (see :data:`CUTS`); per client, the seconds from each cut to its resumption."""
    for reader in readers.values():
        if not reader.wait(lambda r: any(e["event"] == "connected" for e in r.events), timeout):
            raise TimeoutError(f"{reader.client} received no opening event; it said {reader.notes}")
    timing: dict[str, list[float]] = {client: [] for client in readers}
    for number, how in enumerate(cuts):
        if number:  # the second cut comes after messages: make sure each reader has them
            _wait_all(readers, publish(1)[-1], timeout)
        meanwhile = _cut(publish, relays, how)
        cut_at = time.monotonic()
        for client, reader in readers.items():
            reader.wait(_has(meanwhile[0]), timeout)
            arrived = [e["at"] for e in reader.messages() if e["id"] == str(meanwhile[0])]
            timing[client].append(round(arrived[0] - cut_at, 2) if arrived else float("nan"))
        _wait_all(readers, publish(1)[-1], timeout)  # and live again
    return timing


def _wait_all(readers: dict[str, Reader], ident: int, timeout: float) -> None:
    for reader in readers.values():
        reader.wait(_has(ident), timeout)


def _result(reader: Reader, relay, expected: list[tuple[str, str]], cuts, seconds) -> Result:
    got = [(e["id"], e["data"]) for e in reader.messages()]
    ids = [ident for ident, _ in got]
    return Result(client=reader.client, cuts=cuts, resumes=RESUMES[reader.client],
                  missed=[ident for ident, _ in expected if ident not in ids],
                  repeated=sorted({ident for ident in ids if ids.count(ident) > 1}, key=int),
                  identical=got == expected, connections=len(relay.connections()), resume_seconds=seconds,
                  empty_messages=sum(e["event"] == "message" and e["data"] == "" for e in reader.events),
                  gaps=sum(e["event"] == "gap" for e in reader.events), notes=list(reader.notes))


def run_matrix(lab, clients=CLIENTS, cuts=CUTS, timeout: float = 10.0) -> list[Result]:
    """Every client in ``clients`` through every pair of cuts in ``cuts``: one :class:`Result` each.

    ``lab`` is a started ``manual_sse`` (or ``webhooks``) lab; a short ``RETRY_MS`` (e.g. 300)
    keeps it quick.  The clients of one run read at the same time, each behind its own relay.
    """
    from concurrent.futures import ThreadPoolExecutor

    from labs.harness.client import EventStream
    from labs.harness.relay import start_relay

    publish = Publisher(lab)
    results = []
    for pair in cuts:
        start = publish(1)[0]  # the run's messages come after this one
        with ThreadPoolExecutor(len(clients)) as pool:
            relays = dict(zip(clients, pool.map(lambda _: start_relay(lab), clients), strict=True))
        readers = {}
        try:
            readers = {client: start_reader(client, relays[client].url + "/stream") for client in clients}
            timing = _run_cuts(publish, readers, relays, pair, timeout)
            with EventStream(lab.url + "/stream", last_event_id=str(start)) as reference:  # the replay
                reference.wait_for(publish.ids[-1] - start, timeout, type="notify")
            expected = [(e.id, e.data) for e in reference.events if e.type == "notify"]
            results += [_result(readers[c], relays[c], expected, pair, timing[c]) for c in clients]
        finally:
            for thing in [*readers.values(), *relays.values()]:
                (thing.process if isinstance(thing, Reader) else thing).stop()
    return results


def table(results: list[Result]) -> str:
    """The results as a plain-text table, one line per client and run."""
    lines = [f"{'client':<20} {'cuts':<8} {'missed':>6} {'repeated':>8} {'identical':>9} "
             f"{'resumed after (s)':<18} resumes"]
    for r in results:
        lines.append(f"{r.client:<20} {'/'.join(r.cuts):<8} {len(r.missed):>6} {len(r.repeated):>8} "
                     f"{'yes' if r.identical else 'NO':>9} {', '.join(map(str, r.resume_seconds)):<18} {r.resumes}")
    return "\n".join(lines)


if __name__ == "__main__" and len(sys.argv) == 4 and sys.argv[1] == "read":
    _reader_main(sys.argv[2], sys.argv[3])
