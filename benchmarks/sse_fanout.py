"""``python -m benchmarks.sse_fanout``: the manual_sse lab's fan-out on one server process.

    python -m benchmarks.sse_fanout                    # 1,000 readers, 50 messages at 10/s
    python -m benchmarks.sse_fanout --readers 200 --messages 20

The lab runs as in production (gunicorn, one gevent worker); the readers are the
showdown's asyncio SSE clients (:mod:`benchmarks.stream_clients`, each parsing with the
kit's decoder and resuming with ``Last-Event-ID`` if dropped), all in this process,
all on 127.0.0.1.  The measurement itself is the showdown's :func:`benchmarks.runner.drive`
(warm-up until every reader receives, then M stamped messages at a fixed rate), so the
figures compare directly with ``python -m benchmarks``.  This script adds what the
showdown does not print: the server's memory per open connection.

Target: 1,000 concurrent readers, nothing lost, nothing duplicated, p99 < 100 ms.
"""

from __future__ import annotations

import argparse
import sys
import time
from urllib.parse import urlsplit

from benchmarks import _raise_file_limit
from benchmarks.procstats import TreeSampler
from benchmarks.report import DELIVERY_COLUMNS, aligned_table, machine, machine_line
from benchmarks.runner import Result, drive, run_async, start_lab, stop_fast
from benchmarks.transports import TRANSPORTS

TARGET_P99_MS = 100.0


def measure(readers: int = 1000, messages: int = 50, rate: float = 10.0) -> dict:
    """One run; returns the showdown's Result fields plus the memory per connection."""
    _raise_file_limit()
    transport = TRANSPORTS["manual_sse"]
    result = Result(transport.name, transport.label, readers, readers, messages, rate)
    lab = start_lab(transport, workers=1)
    try:
        address = urlsplit(lab.url)
        sampler = TreeSampler(lab.pid).start()
        idle_rss = sampler.peak_rss  # the whole server tree, before any reader connects
        try:
            run_async(drive(transport, address.hostname, address.port, result, sampler))
        finally:
            sampler.stop()
    finally:
        stop_fast(lab)
    row = result.row()
    row["idle_mib"] = idle_rss / 2**20
    row["peak_mib"] = sampler.peak_rss / 2**20
    row["kib_per_reader"] = (sampler.peak_rss - idle_rss) / 1024 / readers
    return row


COLUMNS = [  # (header, key, format)
    ("readers", "clients", "{:d}"),
    ("messages", "published", "{:d}"),
    *DELIVERY_COLUMNS,
    ("server CPU s", "cpu_s", "{:.2f}"),
    ("idle MiB", "idle_mib", "{:.1f}"),
    ("peak MiB", "peak_mib", "{:.1f}"),
    ("KiB/reader", "kib_per_reader", "{:.1f}"),
    ("reconnects", "reconnects", "{:d}"),
    ("errors", "errors", "{:d}"),
]


def table(rows: list[dict]) -> str:
    return aligned_table(COLUMNS, rows)


def fanout_arguments(prog: str, description: str, argv: list[str] | None, *,
                     rounds: bool = False) -> argparse.Namespace:
    """The fan-out benchmarks' options, checked: --readers, --messages, --rate, and with ``rounds``
    --rounds (:mod:`benchmarks.proxy_fanout`'s passes)."""
    parser = argparse.ArgumentParser(prog=prog, description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--readers", type=int, default=1000, help="concurrent stream readers (1..5000)")
    parser.add_argument("--messages", type=int, default=50,
                        help=f"messages published{' per pass' if rounds else ''} (default 50)")
    parser.add_argument("--rate", type=float, default=10.0, help="messages per second (default 10)")
    if rounds:
        parser.add_argument("--rounds", type=int, default=1, help="direct + nginx passes, this many times (default 1)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if not 1 <= args.readers <= 5000 or args.messages < 1 or args.rate <= 0 or getattr(args, "rounds", 1) < 1:
        limits = ["--readers must be 1..5000", "--messages >= 1", "--rate > 0"] + (["--rounds >= 1"] if rounds else [])
        parser.error(", ".join(limits[:-1]) + " and " + limits[-1])
    return args


def main(argv: list[str] | None = None) -> int:
    args = fanout_arguments("python -m benchmarks.sse_fanout", __doc__, argv)
    print(f"manual_sse fan-out, gunicorn + 1 gevent worker, on {machine_line(machine())}", flush=True)
    started = time.monotonic()
    row = measure(args.readers, args.messages, args.rate)
    print(table([row]))
    if row["note"]:
        print("note:", row["note"])
    verdict = row["lost"] == 0 and row["duplicated"] == 0 and row["p99_ms"] < TARGET_P99_MS
    print(f"target (nothing lost or repeated, p99 < {TARGET_P99_MS:.0f} ms): {'met' if verdict else 'NOT met'}; "
          f"run took {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
