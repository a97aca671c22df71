"""``python -m benchmarks.asgi``: "why not FastAPI?", measured: the kit's stream on WSGI and on ASGI,
the two ASGI libraries people use, and the floor, side by side.

    python -m benchmarks.asgi                          # 1,000 and 5,000 readers, 3 rounds at 1,000
    python -m benchmarks.asgi --readers 1000 --rounds 1 --messages 20

Stacks (each one process; the ASGI ones on uvicorn[standard], i.e. uvloop and httptools):

- ``manual_sse``: the kit's Flask lesson, gunicorn + 1 gevent worker (as the showdown runs it);
- ``quart_sse``: the same lesson on Quart (the same broker, queues and encoder; asyncio);
- ``sse_starlette``: Starlette + sse-starlette (``benchmarks/peers/starlette_app.py``);
- ``fastapi``: FastAPI's own SSE, ``fastapi.sse`` (``benchmarks/peers/fastapi_app.py``);
- ``floor``: raw asyncio writing each event's bytes to every socket (``benchmarks/peers/floor.py``).

Each round is the showdown's measurement (:func:`benchmarks.runner.drive`: N asyncio SSE readers
in this process, warm-up, M messages at R/s, latency from just before the POST to the read),
plus memory per reader (the server's peak RSS above its idle RSS, over N) and the time the
server takes to notice that its readers left (all N close at once at the end of the round;
time until its ``/stats`` says 0 clients).  Stacks alternate within a round, so a busy spell
on this shared machine falls on all of them; the table gives medians over rounds.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import requests

from benchmarks import _raise_file_limit
from benchmarks.peers import PeerServer
from benchmarks.procstats import TreeSampler
from benchmarks.report import aligned_table, machine, machine_line
from benchmarks.runner import Result, drive, run_async, stop_fast
from benchmarks.transports import Transport
from labs.harness.launcher import LabServer

OUT = Path(__file__).resolve().parent / "results"
NOTICE_LIMIT_S = 40.0  # past the 15 s keep-alives of every stack, with room

STACKS = {  # name: (label, how it is started)
    "manual_sse": ("manual_sse (Flask, gunicorn + gevent)", lambda: LabServer("manual_sse", workers=1)),
    "quart_sse": ("quart_sse (Quart, uvicorn)", lambda: LabServer("quart_sse")),
    "sse_starlette": ("sse-starlette (uvicorn)", lambda: PeerServer("starlette")),
    "fastapi": ("FastAPI fastapi.sse (uvicorn)", lambda: PeerServer("fastapi")),
    "floor": ("floor: raw asyncio bytes", lambda: PeerServer("floor")),
}
SSE = Transport("asgi", "SSE", "manual_sse", "sse")


def clients_of(url: str) -> int | None:
    try:
        return int(requests.get(url + "/stats", timeout=5).json()["clients"])
    except (requests.RequestException, ValueError, KeyError):
        return None


def one_run(stack: str, readers: int, messages: int, rate: float) -> dict:
    """Start ``stack``, measure one round, time how soon it notices its readers left, stop it."""
    server = STACKS[stack][1]().start()
    try:
        address = urlsplit(server.url)
        sampler = TreeSampler(server.pid).start()
        idle = sampler.peak_rss
        result = Result(stack, STACKS[stack][0], readers, readers, messages, rate)
        load = os.getloadavg()[0]
        try:
            run_async(drive(SSE, address.hostname, address.port, result, sampler))
        finally:
            left = time.monotonic()  # drive() has just closed every reader
            sampler.stop()
        notice = NOTICE_LIMIT_S
        while time.monotonic() - left < NOTICE_LIMIT_S:
            if clients_of(server.url) == 0:
                notice = time.monotonic() - left
                break
            time.sleep(0.05)
    finally:
        stop_fast(server)
    row = result.row()
    row.update(stack=stack, load_1min=round(load, 2), idle_mib=idle / 2**20, peak_mib=sampler.peak_rss / 2**20,
               kib_per_reader=(sampler.peak_rss - idle) / 1024 / readers, notice_s=notice)
    return row


MEASURES = ["p50_ms", "p99_ms", "max_ms", "cpu_s", "kib_per_reader", "notice_s", "lost", "duplicated"]


def medians(rows: list[dict]) -> list[dict]:
    """One row per (stack, readers): the median of each measure over the rounds."""
    out = []
    for key in dict.fromkeys((r["stack"], r["clients"]) for r in rows):
        runs = [r for r in rows if (r["stack"], r["clients"]) == key]
        row = {"stack": key[0], "label": STACKS[key[0]][0], "readers": key[1], "rounds": len(runs),
               "notes": "; ".join(sorted({r["note"] for r in runs if r["note"]}))[:200]}
        row.update({m: statistics.median(r[m] for r in runs) for m in MEASURES})
        out.append(row)
    return out


COLUMNS = [("stack", "label", "{}"), ("readers", "readers", "{:d}"), ("rounds", "rounds", "{:d}"),
           ("lost", "lost", "{:.0f}"), ("dup", "duplicated", "{:.0f}"), ("p50 ms", "p50_ms", "{:.0f}"),
           ("p99 ms", "p99_ms", "{:.0f}"), ("max ms", "max_ms", "{:.0f}"), ("server CPU s", "cpu_s", "{:.2f}"),
           ("KiB/reader", "kib_per_reader", "{:.1f}"), ("notices readers left, s", "notice_s", "{:.1f}")]


def markdown(table: list[dict]) -> str:
    lines = ["| " + " | ".join(h for h, _, _ in COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(fmt.format(row[key]) for _, key, fmt in COLUMNS) + " |" for row in table]
    return "\n".join(lines)


def plot(table: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted({row["readers"] for row in table})
    stacks = list(dict.fromkeys(row["stack"] for row in table))
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    for ax, (key, title) in zip(axes, [("p99_ms", "p99 latency, ms (log)"), ("cpu_s", "server CPU s, 50 messages"),
                                       ("kib_per_reader", "KiB per reader")], strict=True):
        width = 0.8 / len(sizes)
        for i, size in enumerate(sizes):
            values = [next((r[key] for r in table if r["stack"] == s and r["readers"] == size), 0) for s in stacks]
            ax.bar([x + i * width for x in range(len(stacks))], values, width, label=f"{size:,} readers")
        ax.set_xticks([x + width * (len(sizes) - 1) / 2 for x in range(len(stacks))], stacks, rotation=25,
                      ha="right", fontsize=8)
        ax.set_title(title, fontsize=10)
        if key == "p99_ms":
            ax.set_yscale("log")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(rows: list[dict], table: list[dict], info: dict, args, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "asgi.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    (out / "asgi.json").write_text(json.dumps({"machine": info, "medians": table}, indent=1), encoding="utf-8")
    text = (f"# WSGI, ASGI and the floor: one SSE fan-out, five stacks\n\nMachine: {machine_line(info)}; "
            f"**shared with other developers' work: the numbers are noisy** (load average of each run in "
            f"asgi.csv).\nWorkload: {args.messages} messages at {args.rate:g}/s to N readers; medians of "
            f"{args.rounds} alternating rounds at {args.readers[0]:,} readers"
            + (f", {args.big_rounds} at the larger sizes" if len(args.readers) > 1 else "") + ".\n\n"
            + markdown(table) + "\n")
    (out / "asgi.md").write_text(text, encoding="utf-8")
    plot(table, out / "asgi.png")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.asgi", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--readers", default="1000,5000", help="comma-separated reader counts (default 1000,5000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds at the first count (default 3)")
    parser.add_argument("--big-rounds", type=int, default=1, help="rounds at the other counts (default 1)")
    parser.add_argument("--messages", type=int, default=50)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--stacks", default=",".join(STACKS), help=f"from: {', '.join(STACKS)}")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    args.readers = [int(n) for n in args.readers.split(",")]
    stacks = [s for s in args.stacks.split(",") if s]
    if any(s not in STACKS for s in stacks) or any(not 1 <= n <= 5000 for n in args.readers):
        parser.error(f"--stacks from {', '.join(STACKS)}; --readers 1..5000")
    _raise_file_limit()
    info = machine()
    print(f"ASGI comparison on {machine_line(info)}", flush=True)
    rows = []
    for size in args.readers:
        for round_ in range(args.rounds if size == args.readers[0] else args.big_rounds):
            order = stacks if round_ % 2 == 0 else stacks[::-1]  # alternate, so no stack always goes first
            for stack in order:
                row = one_run(stack, size, args.messages, args.rate)
                row["round"] = round_ + 1
                rows.append(row)
                print(f"{stack:<14} N={size:<5} round {round_ + 1}: p99 {row['p99_ms']:.0f} ms, CPU "
                      f"{row['cpu_s']:.2f} s, {row['kib_per_reader']:.1f} KiB/reader, noticed in "
                      f"{row['notice_s']:.1f} s, lost {row['lost']}, load {row['load_1min']} {row['note']}", flush=True)
    info["load_1min_end"] = round(os.getloadavg()[0], 2)
    table = medians(rows)
    print(aligned_table(COLUMNS, table))
    write(rows, table, info, args, args.out)
    print(f"wrote {args.out}/asgi.md, asgi.csv, asgi.json, asgi.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
