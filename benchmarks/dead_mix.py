"""Healthy readers beside dead ones: ``python -m benchmarks.dead_readers --mix [--quick]``.

``manual_sse`` on each server (Werkzeug; gunicorn + one gevent worker).  N healthy readers
connect straight to the lab; M more connect through the chaos relay and are broken in one of
four ways (close, reset, stall, black hole).  A publisher sends a stamped message every
``1/rate`` seconds throughout.  Per run:

- **released after**: seconds from the fault until ``/stats`` counts only the healthy readers;
- **memory held**: the lab's RSS (whole process tree) with the dead readers connected, minus
  before they came, and again once released (kernel socket buffers are not in RSS);
- **healthy p99** publish-to-receipt latency before the fault, while the dead are held, after.

Then the trade-off of a short ``TCP_USER_TIMEOUT``: one reader through the relay is cut off
(black hole) for a while and healed, as a phone in a tunnel is; did its connection survive (it
catches up on the same connection) or was it dropped (a reconnect and a ``Last-Event-ID`` replay)?
"""

from __future__ import annotations

import csv
import json
import re
import socket
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

import psutil
import requests

from benchmarks.raw_readers import held, open_reader, stream_request
from benchmarks.report import machine, machine_line
from labs.harness.launcher import LabServer
from labs.harness.processes import wait_until
from labs.harness.relay import RelayServer

RESULTS = Path(__file__).parent / "results"
MODES = ("close", "reset", "stall", "blackhole")
SERVERS = {"werkzeug": None, "gunicorn+gevent": 1}
STAMP = re.compile(rb"p(\d+)@(\d+\.\d+)")


class TimedReader:
    """A healthy reader on a plain socket: the latency of every stamped message it receives."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
        self.sock.settimeout(None)
        self.sock.sendall(stream_request("GET", url + "/stream", {}))
        self.latencies: list[tuple[float, float]] = []  # (receipt time, latency in ms)
        self._tail = b""
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            while data := self.sock.recv(65536):
                now = time.time()
                text = self._tail + data
                for match in STAMP.finditer(text):
                    self.latencies.append((now, (now - float(match.group(2))) * 1000))
                self._tail = text[-40:] if not text.endswith(b"\n\n") else b""
        except OSError:
            pass

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


class Publisher(threading.Thread):
    def __init__(self, lab: LabServer, rate: float) -> None:
        super().__init__(daemon=True)
        self.lab, self.rate, self.stop, self.sent = lab, rate, threading.Event(), 0
        self.session = requests.Session()

    def run(self) -> None:
        while not self.stop.wait(1 / self.rate):
            try:
                self.session.post(self.lab.url + "/send_notification", timeout=10,
                                  json={"message": f"p{self.sent}@{time.time():.6f}"})
                self.sent += 1
            except requests.RequestException:
                pass


def rss_mib(pid: int) -> float:
    try:
        process = psutil.Process(pid)
        return sum(p.memory_info().rss for p in [process, *process.children(recursive=True)]) / 2**20
    except psutil.Error:
        return float("nan")


def p99(readers: list[TimedReader], start: float, end: float) -> float:
    values = sorted(ms for r in readers for t, ms in r.latencies if start <= t < end)
    return values[min(len(values) - 1, int(0.99 * len(values)))] if values else float("nan")


@dataclass
class MixRow:
    settings: str
    server: str
    mode: str
    healthy: int
    dead: int
    released_s: float | None
    rss_before_mib: float
    held_mib: float
    after_mib: float
    p99_before_ms: float
    p99_during_ms: float
    p99_after_ms: float


def config_for(settings: dict) -> dict:
    return {"KEEPALIVE_SECONDS": settings["keepalive"], "TCP_USER_TIMEOUT_SECONDS": settings["user_timeout"],
            "TCP_KEEPALIVE_SECONDS": settings["keepalive"], "WRITE_DEADLINE_SECONDS": settings["write_deadline"]}


def mix_run(label: str, settings: dict, server: str, mode: str, healthy: int, dead: int, rate: float,
            phase: float) -> MixRow:
    lab = LabServer("manual_sse", workers=SERVERS[server], config=config_for(settings)).start()
    publisher = Publisher(lab, rate)
    readers: list[TimedReader] = []
    try:
        with RelayServer(lab) as relay:
            readers = [TimedReader(lab.url) for _ in range(healthy)]
            wait_until(lambda: held(lab) >= healthy, 20)
            publisher.start()
            rss_before, t0 = rss_mib(lab.pid), time.time()
            time.sleep(phase)
            t1 = time.time()
            ghosts = [open_reader(lab, relay.url) for _ in range(dead)]
            rss_held = rss_mib(lab.pid)
            relay.fault(mode)
            fault_at = time.monotonic()
            released = wait_until(lambda: held(lab) <= healthy, settings["limit"], interval=0.2)
            released_s = time.monotonic() - fault_at if released else None
            t2 = time.time()
            rss_after = rss_mib(lab.pid)
            time.sleep(phase)
            t3 = time.time()
            if mode in ("stall", "blackhole"):
                relay.heal()
            for ghost in ghosts:
                ghost.close()
    finally:
        publisher.stop.set()
        for reader in readers:
            reader.close()
        lab.stop()
    return MixRow(label, server, mode, healthy, dead, released_s, round(rss_before, 1), round(rss_held - rss_before, 1),
                  round(rss_after - rss_before, 1), p99(readers, t0, t1), p99(readers, t1, t2), p99(readers, t2, t3))


@dataclass
class OutageRow:
    user_timeout: float
    outage_s: float
    survived: bool
    lab_dropped_it: bool
    missed_on_that_connection: int


def outage_run(user_timeout: float, outage: float, workers: int | None = 1) -> OutageRow:
    """One reader through the relay: black hole for ``outage`` s while messages flow, then heal."""
    config = {"TCP_USER_TIMEOUT_SECONDS": user_timeout, "KEEPALIVE_SECONDS": 15, "TCP_KEEPALIVE_SECONDS": 15}
    with LabServer("manual_sse", workers=workers, config=config).start() as lab, RelayServer(lab) as relay:
        reader = open_reader(lab, relay.url)
        relay.blackhole()
        sent = []
        ends = time.monotonic() + outage
        while time.monotonic() < ends:
            text = f"outage-{len(sent)}"
            if lab.publish(text, timeout=5).ok:
                sent.append(text)
            time.sleep(0.5)
        relay.heal()
        wait_until(lambda: all(t.encode() in reader.received for t in sent) or reader.ended.is_set(), 10)
        missed = sum(1 for t in sent if t.encode() not in reader.received)
        dropped = held(lab) == 0
        reader.close()
    return OutageRow(user_timeout, outage, not dropped and missed == 0, dropped, missed)


def write_results(rows: list[MixRow], outages: list[OutageRow], info: dict, stem: str) -> None:
    RESULTS.mkdir(exist_ok=True)
    with open(RESULTS / f"{stem}.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(asdict(rows[0])))
        writer.writeheader()
        writer.writerows(asdict(row) for row in rows)
    lines = [f"Machine: {machine_line(info)}", "",
             "| settings | server | mode | healthy | dead | released after | RSS before MiB | held MiB | after MiB "
             "| healthy p99 before ms | during | after |", "|" + "---|" * 12]
    for r in rows:
        released = f"{r.released_s:.1f} s" if r.released_s is not None else "not within the limit"
        lines.append(f"| {r.settings} | {r.server} | {r.mode} | {r.healthy} | {r.dead} | {released} | "
                     f"{r.rss_before_mib} | {r.held_mib} | {r.after_mib} | {r.p99_before_ms:.0f} | "
                     f"{r.p99_during_ms:.0f} | {r.p99_after_ms:.0f} |")
    lines += ["", "| TCP_USER_TIMEOUT s | outage s | same connection caught up | lab dropped it (reconnect + replay) "
              "| missed on that connection |", "|---|---|---|---|---|"]
    lines += [f"| {o.user_timeout:g} | {o.outage_s:g} | {'yes' if o.survived else 'no'} | "
              f"{'yes' if o.lab_dropped_it else 'no'} | {o.missed_on_that_connection} |" for o in outages]
    (RESULTS / f"{stem}.md").write_text("\n".join(lines) + "\n")
    (RESULTS / f"{stem}_outages.json").write_text(json.dumps([asdict(o) for o in outages], indent=1) + "\n")
    plot(rows, info, RESULTS / f"{stem}.png")


def plot(rows: list[MixRow], info: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.8))
    labels = [f"{r.settings}\n{r.server.split('+')[0]}\n{r.mode}" for r in rows]
    limit = max((r.released_s or 0) for r in rows) * 1.1 or 1
    values = [r.released_s if r.released_s is not None else limit for r in rows]
    colours = ["tab:blue" if r.released_s is not None else "tab:red" for r in rows]
    left.bar(range(len(rows)), values, color=colours)
    left.set_xticks(range(len(rows)), labels, fontsize=6)
    left.set_ylabel("seconds until released (red: not within the limit)")
    left.set_title("Dead readers: time to release")
    phases = (("p99_before_ms", "before"), ("p99_during_ms", "during"), ("p99_after_ms", "after"))
    for i, (key, name) in enumerate(phases):
        right.bar([x + (i - 1) * 0.27 for x in range(len(rows))], [getattr(r, key) for r in rows],
                  width=0.27, label=name)
    right.set_xticks(range(len(rows)), labels, fontsize=6)
    right.set_ylabel("healthy readers' p99 latency, ms")
    right.set_title("Healthy readers beside them")
    right.legend()
    fig.suptitle(f"manual_sse, {rows[0].healthy} healthy + {rows[0].dead} dead readers; {machine_line(info)}",
                 fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


SETTINGS = {  # --mix: the defaults, and short ones
    "default": {"keepalive": 15.0, "user_timeout": 20.0, "write_deadline": 30.0, "limit": 75.0},
    "short": {"keepalive": 1.0, "user_timeout": 1.0, "write_deadline": 2.0, "limit": 15.0},
}
OUTAGES = ((20.0, 10.0), (20.0, 30.0), (2.0, 1.0), (2.0, 4.0))  # (TCP_USER_TIMEOUT, outage) seconds


def run_mix(args) -> int:
    """``python -m benchmarks.dead_readers --mix``: every run, printed as it ends, then the results."""
    info = machine()
    print(f"{args.healthy} healthy + {args.dead} dead readers, manual_sse, on {machine_line(info)}", flush=True)
    rows = []
    for label in (["short"] if args.quick else ["short", "default"]):
        for server in SERVERS:
            for mode in MODES:
                row = mix_run(label, SETTINGS[label], server, mode, args.healthy, args.dead, rate=5.0, phase=4.0)
                rows.append(row)
                print(row, flush=True)
    outages = [outage_run(timeout, outage) for timeout, outage in (OUTAGES[2:] if args.quick else OUTAGES)]
    for outage in outages:
        print(outage, flush=True)
    info["load_1min_end"] = machine()["load_1min"]
    write_results(rows, outages, info, "dead_readers_quick" if args.quick else "dead_readers")
    return 0
