"""``python -m benchmarks.proxy_fanout``: manual_sse's fan-out direct and through nginx, in one run.

    python -m benchmarks.proxy_fanout                  # 1,000 readers, 50 messages at 10/s, direct then nginx
    python -m benchmarks.proxy_fanout --rounds 2       # direct, nginx, direct, nginx
    python -m benchmarks.proxy_fanout --readers 200 --messages 20

One lab (``manual_sse`` under gunicorn with one gevent worker, as in
:mod:`benchmarks.sse_fanout`) and one nginx in front of it (:func:`labs.harness.nginx.start_proxy`:
nginx's defaults, with room for two connections per reader).  Each pass is the showdown's
measurement (:func:`benchmarks.runner.drive`: warm-up until every reader receives, then M
stamped messages at a fixed rate), with the readers and the publisher talking either to the
lab itself or to nginx.  Both paths run against the same lab in the same run, one after the
other, so what differs is the proxy.

Per pass: latency from publishing to reading (p50, p99, max), nothing lost or repeated, the
CPU seconds of the lab's process tree and of nginx (master and worker) over the measured
window, and their peak memory; nginx's memory per reader is what its two connections per
reader cost (one to the reader, one to the lab).  Anything nginx logs at ``warn`` or worse
during a pass goes in the row's note.
"""

from __future__ import annotations

import sys
import time
from urllib.parse import urlsplit

import psutil

from benchmarks import _raise_file_limit
from benchmarks.procstats import TreeSampler
from benchmarks.report import DELIVERY_COLUMNS, aligned_table, machine, machine_line
from benchmarks.runner import Result, drive, run_async, start_lab, stop_fast
from benchmarks.sse_fanout import fanout_arguments
from benchmarks.transports import TRANSPORTS
from labs.harness.nginx import start_proxy

PATHS = ("direct", "through nginx")


def cpu_model() -> str:
    """The processor's name, to say which machine a table comes from."""
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


def nginx_master(proxy) -> int:
    """nginx's master process (the watchdog's child); its worker is the master's child."""
    masters = [p.pid for p in psutil.Process(proxy.pid).children() if "nginx" in p.name()]
    if not masters:
        raise RuntimeError(f"no nginx under {proxy!r}")
    return masters[0]


def measure_pass(path: str, lab, proxy, readers: int, messages: int, rate: float) -> dict:
    """One pass of the workload on ``path`` (``"direct"`` or ``"through nginx"``)."""
    transport = TRANSPORTS["manual_sse"]
    result = Result(transport.name, f"manual_sse, {path}", readers, readers, messages, rate)
    target = urlsplit(lab.url if path == "direct" else proxy.url)
    lab_tree, nginx_tree = TreeSampler(lab.pid).start(), TreeSampler(nginx_master(proxy)).start()
    idle_lab, idle_nginx = lab_tree.peak_rss, nginx_tree.peak_rss
    nginx_cpu: dict[str, float] = {}
    log_before = len(proxy.log.splitlines())

    async def at_window_edge(edge: str) -> None:  # nginx's CPU over exactly the lab's window
        nginx_tree.sample()
        nginx_cpu[edge] = nginx_tree.cpu_seconds()

    try:
        clients = run_async(drive(transport, target.hostname, target.port, result, lab_tree,
                                    window_hook=at_window_edge))
    finally:
        lab_tree.stop()
        nginx_tree.stop()
    _explain_losses(result, clients)
    complaints = [line for line in proxy.log.splitlines()[log_before:]
                  if any(f"[{level}]" in line for level in ("warn", "error", "crit", "alert", "emerg"))]
    if complaints:
        note = f"nginx logged {len(complaints)} warnings or errors, the first: {complaints[0][:300]}"
        result.note = f"{result.note}; {note}" if result.note else note
    row = result.row()
    row.update(path=path, lab_cpu_s=result.cpu_s, nginx_cpu_s=nginx_cpu["end"] - nginx_cpu["start"],
               lab_peak_mib=lab_tree.peak_rss / 2**20, lab_idle_mib=idle_lab / 2**20,
               nginx_idle_mib=idle_nginx / 2**20, nginx_peak_mib=nginx_tree.peak_rss / 2**20,
               nginx_kib_per_reader=(nginx_tree.peak_rss - idle_nginx) / 1024 / readers)
    return row


def _explain_losses(result: Result, clients) -> None:
    """If anything was lost: how many readers missed something, and which messages."""
    if not result.lost:
        return
    short = [c for c in clients if len(c.tally.latencies) < result.published]
    missing = sorted({seq for c in short for seq in range(result.messages) if seq not in c.tally.latencies})
    note = (f"{len(short)} readers missed messages (seq {missing[0]}..{missing[-1]}, {len(missing)} distinct); "
            f"reconnects {result.reconnects}")
    result.note = f"{result.note}; {note}" if result.note else note


def settle(lab, timeout: float = 30.0) -> bool:
    """Wait until the lab holds no stream from the last pass, so passes do not share work.

    A stream's generator learns that its reader left only when a write fails (the first write
    after the reader hung up still succeeds): unstamped messages make the dead streams find out
    now rather than at the next 15 s keep-alive."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if lab.get("/stats").json()["clients"] == 0:
            return True
        lab.publish("settle")
        time.sleep(0.3)
    return False


def measure(readers: int = 1000, messages: int = 50, rate: float = 10.0, rounds: int = 1) -> list[dict]:
    """``rounds`` times: a direct pass, then a pass through nginx; one row per pass."""
    _raise_file_limit()  # nginx inherits it: 1,000 readers are 2,000 of its connections
    lab = start_lab(TRANSPORTS["manual_sse"], workers=1)
    try:
        # Two connections a reader (to the reader, to the lab), and room to spare: short of
        # connections, nginx resets new ones ("worker_connections are not enough").
        with start_proxy(lab, worker_connections=max(1024, 4 * readers)) as proxy:
            rows = []
            for _ in range(rounds):
                for path in PATHS:
                    settled = settle(lab)
                    rows.append(measure_pass(path, lab, proxy, readers, messages, rate))
                    if not settled:
                        rows[-1]["note"] = "; ".join(filter(None, [rows[-1]["note"], "started with streams left over"]))
            return rows
    finally:
        stop_fast(lab)


COLUMNS = [  # (header, key, format)
    ("path", "path", "{}"),
    ("readers", "clients", "{:d}"),
    *DELIVERY_COLUMNS,
    ("lab CPU s", "lab_cpu_s", "{:.2f}"),
    ("nginx CPU s", "nginx_cpu_s", "{:.2f}"),
    ("lab peak MiB", "lab_peak_mib", "{:.1f}"),
    ("nginx peak MiB", "nginx_peak_mib", "{:.1f}"),
    ("nginx KiB/reader", "nginx_kib_per_reader", "{:.1f}"),
    ("errors", "errors", "{:d}"),
]


def table(rows: list[dict]) -> str:
    return aligned_table(COLUMNS, rows)


def main(argv: list[str] | None = None) -> int:
    args = fanout_arguments("python -m benchmarks.proxy_fanout", __doc__, argv, rounds=True)
    info = machine()
    print(f"manual_sse fan-out, direct and through nginx, gunicorn + 1 gevent worker, on {cpu_model()}, "
          f"{machine_line(info)}", flush=True)
    started = time.monotonic()
    rows = measure(args.readers, args.messages, args.rate, args.rounds)
    print(table(rows))
    for row in rows:
        if row["note"]:
            print(f"note ({row['path']}):", row["note"])
    rounds = list(zip(rows[0::2], rows[1::2], strict=True))  # (direct, through nginx), round by round
    added = ", ".join(f"{b['p50_ms'] - a['p50_ms']:+.1f} / {b['p99_ms'] - a['p99_ms']:+.1f}" for a, b in rounds)
    print(f"through nginx minus direct, p50 / p99 ms, round by round: {added}; "
          f"run took {time.monotonic() - started:.0f} s, load average {machine()['load_1min']} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
