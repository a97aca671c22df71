"""``python -m benchmarks.cluster_fanout``: manual_sse on 1, 2 and 3 nodes behind nginx, and a rolling restart.

    python -m benchmarks.cluster_fanout                    # 1-3 nodes x 1,000 and 3,000 readers, then the restarts
    python -m benchmarks.cluster_fanout --nodes 1,2 --readers 200 --restart-readers 200 --messages 20

**Fan-out.** For each number of nodes, one cluster (:func:`labs.harness.cluster.start_cluster`:
``manual_sse`` under gunicorn with one gevent worker per node, one Redis, nginx round robin
in front).  The readers and the publisher talk to nginx only, so each message is published
on one node and reaches the readers of every node through Redis.  The measurement is the
showdown's (:func:`benchmarks.runner.drive`: warm-up until every reader receives, then M
stamped messages at a fixed rate); over the measured window it also takes the CPU seconds of
each node, of nginx and of Redis, and how many readers each node held.

**Rolling restart.** Three nodes, N readers (:mod:`benchmarks.cluster_readers`, each an
``EventSource`` with ``Last-Event-ID``) and a publisher at ``rate`` per second through nginx,
while every node in turn is stopped (SIGTERM: each of its readers gets a goodbye with a
``retry:``) and started again.  Three ways to come back: a **fixed** ``retry:`` (2 s for
every reader), a **jittered** one (0.5-3.5 s, per reader), and **client back-off** (the
readers ignore ``retry:`` and wait a random 0-4 s, "full jitter").  Each way: messages lost
and repeated over all readers, and reconnects per half second (the plot).

Everything runs on this machine: the readers share its cores with the servers, so the
figures say what one machine shows, not what N machines would (see RESULTS.md for a reading).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import requests

from benchmarks import _raise_file_limit
from benchmarks.cluster_readers import ReaderPool, Reconnect, per_second
from benchmarks.procstats import TreeSampler
from benchmarks.proxy_fanout import cpu_model, nginx_master
from benchmarks.report import machine, machine_line
from benchmarks.runner import Result, drive, run_async
from benchmarks.transports import TRANSPORTS
from labs.harness.cluster import Cluster, start_cluster

RESULTS_DIR = Path(__file__).resolve().parent / "results"
WAYS = {  # name: (the goodbye's retry: on the nodes, the readers' reconnect policy)
    "fixed retry: 2 s": (2000, Reconnect("server")),
    "jittered retry: 0.5-3.5 s": ([500, 3500], Reconnect("server")),
    "client back-off (full jitter, 0-4 s)": ([500, 3500], Reconnect("backoff", base_s=4.0)),
}
BIN_S = 0.5


# ---------------------------------------------------------------------- fan-out over N nodes

def _samplers(cluster: Cluster) -> dict[str, TreeSampler]:
    found = {node.name: TreeSampler(node.pid) for node in cluster.nodes}
    found["nginx"] = TreeSampler(nginx_master(cluster.nginx))
    if cluster.redis is not None and cluster.redis.pid:
        found["redis"] = TreeSampler(cluster.redis.pid)
    return {name: sampler.start() for name, sampler in found.items()}


def measure_fanout(cluster: Cluster, readers: int, messages: int, rate: float) -> dict:
    """One pass of the showdown's workload through nginx; CPU per process over the window."""
    transport = TRANSPORTS["manual_sse"]
    result = Result(transport.name, f"{len(cluster.nodes)} node(s)", readers, readers, messages, rate)
    samplers = _samplers(cluster)
    edges: dict[str, dict[str, float]] = {}
    held: dict[str, int] = {}
    load_before = os.getloadavg()[0]

    async def at_edge(edge: str) -> None:
        for sampler in samplers.values():
            sampler.sample()
        edges[edge] = {name: sampler.cpu_seconds() for name, sampler in samplers.items()}
        if edge == "start":  # how nginx spread the readers (each node's own count)
            held.update({node.name: node.stats()["clients"] for node in cluster.nodes})

    address = urlsplit(cluster.url)
    try:
        run_async(drive(transport, address.hostname, address.port, result, window_hook=at_edge))
    finally:
        for sampler in samplers.values():
            sampler.stop()
    cpu = {name: edges["end"][name] - edges["start"][name] for name in edges.get("end", {})}
    row = result.row()
    row.update(nodes=len(cluster.nodes), node_cpu_s=[round(cpu.get(n.name, math.nan), 2) for n in cluster.nodes],
               nginx_cpu_s=cpu.get("nginx", math.nan), redis_cpu_s=cpu.get("redis", math.nan),
               readers_per_node=[held.get(n.name, 0) for n in cluster.nodes], load_before=load_before,
               load_after=os.getloadavg()[0])
    return row


def fanout(node_counts: list[int], reader_counts: list[int], messages: int, rate: float, log=print) -> list[dict]:
    rows = []
    most = max(reader_counts)
    for nodes in node_counts:
        with start_cluster("manual_sse", nodes, workers=1, worker_connections=4 * most + 100) as cluster:
            for readers in sorted(reader_counts):
                row = measure_fanout(cluster, readers, messages, rate)
                rows.append(row)
                log(fanout_line(row))
    return rows


def fanout_line(row: dict) -> str:
    per_node = "/".join(f"{cpu:.2f}" for cpu in row["node_cpu_s"])
    return (f"{row['nodes']} node(s), {row['clients']:>5} readers: lost {row['lost']}, dup {row['duplicated']}, "
            f"p50 {row['p50_ms']:.0f} ms, p99 {row['p99_ms']:.0f} ms, CPU s per node {per_node}, "
            f"nginx {row['nginx_cpu_s']:.2f}, Redis {row['redis_cpu_s']:.2f}, readers per node "
            f"{row['readers_per_node']}, load {row['load_before']:.1f}{' | ' + row['note'] if row['note'] else ''}")


# ---------------------------------------------------------------------- the rolling restart

class Publisher(threading.Thread):
    """POSTs through nginx at ``rate`` per second; keeps the ids that were acknowledged."""

    def __init__(self, url: str, rate: float) -> None:
        super().__init__(daemon=True)
        self.url, self.interval = url + "/send_notification", 1 / rate
        self.ids: list[int] = []
        self.failures = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        session = requests.Session()
        while not self.stopping.wait(self.interval):
            try:
                self.ids.append(session.post(self.url, json={"message": "rolling"}, timeout=10).json()["id"])
            except (requests.RequestException, ValueError, KeyError):
                self.failures += 1  # a 502 while a node stops: not acknowledged, so not counted

    def stop(self) -> None:
        self.stopping.set()
        self.join(15)


def rolling_restart(readers: int, rate: float, log=print) -> list[dict]:
    """The three ways, one after the other, on one cluster (each restart deploys the next way's retry)."""
    rows = []
    names = list(WAYS)
    first_retry = WAYS[names[0]][0]
    with start_cluster("manual_sse", 3, workers=1, config={"SHUTDOWN_RETRY_MS": first_retry},
                       worker_connections=4 * readers + 100) as cluster:
        for i, name in enumerate(names):
            following = WAYS[names[i + 1]][0] if i + 1 < len(names) else WAYS[name][0]
            rows.append(restart_once(cluster, name, readers, rate, {"SHUTDOWN_RETRY_MS": following}))
            log(restart_line(rows[-1]))
    return rows


def restart_once(cluster: Cluster, name: str, readers: int, rate: float, next_config: dict) -> dict:
    with ReaderPool(cluster.url, readers, WAYS[name][1], seed=len(name)) as pool:
        publisher = Publisher(cluster.url, rate)
        publisher.start()
        began, load_before = time.time(), os.getloadavg()[0]
        try:
            steps = cluster.rolling_restart(config=next_config,
                                            between=lambda node: pool.wait_connected(timeout=30))
        finally:
            publisher.stop()
        complete = pool.wait_for(publisher.ids, 30)
        ended = time.time()
        tally = pool.tally(publisher.ids)
        stops = [t - began for t, _node, what in cluster.timeline if what == "stopping" and t >= began]
        series = per_second(pool.reconnect_times(), began, ended - began, BIN_S)
    return {"way": name, "readers": readers, "published": len(publisher.ids), "publish_failures": publisher.failures,
            "complete": complete, **tally, "peak_per_s": max(series), "seconds": ended - began,
            "series": series, "stops": stops, "steps": steps, "load_before": load_before}


def restart_line(row: dict) -> str:
    return (f"{row['way']:<38} {row['readers']} readers: published {row['published']}, "
            f"missed {row['missed']}, repeated {row['repeated']}, reconnects {row['reconnects']}, "
            f"peak {row['peak_per_s']:.0f}/s, publish failures {row['publish_failures']}, "
            f"{row['seconds']:.0f} s, load {row['load_before']:.1f}")


# ---------------------------------------------------------------------- outputs

def fanout_table(rows: list[dict]) -> str:
    lines = ["| nodes | readers | readers per node | lost | dup | p50 ms | p99 ms | CPU s per node | nginx CPU s "
             "| Redis CPU s | load |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['nodes']} | {r['clients']:,} | {' / '.join(map(str, r['readers_per_node']))} | "
                     f"{r['lost']} | {r['duplicated']} | {r['p50_ms']:.0f} | {r['p99_ms']:.0f} | "
                     f"{' / '.join(f'{c:.2f}' for c in r['node_cpu_s'])} | {r['nginx_cpu_s']:.2f} | "
                     f"{r['redis_cpu_s']:.2f} | {r['load_before']:.1f} |")
    return "\n".join(lines)


def restart_table(rows: list[dict]) -> str:
    lines = ["| way | readers | published | missed | repeated | reconnects | peak reconnects/s | load |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['way']} | {r['readers']:,} | {r['published']} | {r['missed']} | {r['repeated']} | "
                     f"{r['reconnects']:,} | {r['peak_per_s']:.0f} | {r['load_before']:.1f} |")
    return "\n".join(lines)


def plot(path: Path, fan: list[dict], restarts: list[dict], title: str) -> None:
    """Left: latency and CPU over the number of nodes.  Right: each way's reconnects per second."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(16, 8.5))
    grid = fig.add_gridspec(6, 2, width_ratios=[1, 1.5])
    latency, cpu = fig.add_subplot(grid[0:3, 0]), fig.add_subplot(grid[3:6, 0])
    for i, readers in enumerate(sorted({r["clients"] for r in fan})):
        rows = sorted((r for r in fan if r["clients"] == readers), key=lambda r: r["nodes"])
        nodes = [r["nodes"] for r in rows]
        latency.plot(nodes, [r["p99_ms"] for r in rows], marker="o", color=f"C{i}", label=f"{readers:,} readers, p99")
        latency.plot(nodes, [r["p50_ms"] for r in rows], marker=".", linestyle=":", color=f"C{i}",
                     label=f"{readers:,} readers, p50")
        cpu.plot(nodes, [sum(r["node_cpu_s"]) for r in rows], marker="o", color=f"C{i}",
                 label=f"{readers:,}: all nodes")
        cpu.plot(nodes, [r["nginx_cpu_s"] for r in rows], marker="s", linestyle="--", color=f"C{i}",
                 label=f"{readers:,}: nginx")
    latency.set(ylabel="ms, publish to read", title="Fan-out through nginx: delivery latency")
    cpu.set(xlabel="nodes behind nginx", ylabel="CPU seconds over the window", title="CPU, all on 2 shared cores")
    for axis in (latency, cpu):
        axis.set_xticks(sorted({r["nodes"] for r in fan}))
    ways = [fig.add_subplot(grid[2 * i:2 * i + 2, 1]) for i in range(len(restarts))]
    for i, (axis, way) in enumerate(zip(ways, restarts, strict=True)):
        xs = [k * BIN_S for k in range(len(way["series"]))]
        axis.step(xs, way["series"], where="post", color="C3" if i == 0 else "C0")
        for stop in way["stops"]:
            axis.axvline(stop, color="grey", linewidth=0.8, linestyle=":")
        axis.set_title(f"rolling restart, {way['readers']:,} readers, {way['way']}: peak {way['peak_per_s']:.0f}/s, "
                       f"missed {way['missed']}, repeated {way['repeated']}", fontsize=9)
        axis.set_ylabel("reconnects/s")
        axis.set_ylim(0, 1.05 * max(max(w["series"]) for w in restarts))
    if ways:
        ways[-1].set_xlabel("seconds since the rolling restart began (dotted: a node is stopped)")
    for axis in (latency, cpu, *ways):
        axis.grid(True, alpha=0.3)
    for axis in (latency, cpu):
        axis.legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_results(fan: list[dict], restarts: list[dict], info: dict) -> dict[str, Path]:
    RESULTS_DIR.mkdir(exist_ok=True)
    paths = {"csv": RESULTS_DIR / "cluster.csv", "json": RESULTS_DIR / "cluster_restart.json",
             "png": RESULTS_DIR / "cluster.png", "md": RESULTS_DIR / "cluster.md"}
    keys = ["nodes", "clients", "readers_per_node", "delivered", "lost", "duplicated", "p50_ms", "p99_ms", "max_ms",
            "node_cpu_s", "nginx_cpu_s", "redis_cpu_s", "client_cpu_s", "load_before", "load_after", "note"]
    with paths["csv"].open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(keys)
        writer.writerows([[row[k] for k in keys] for row in fan])
    paths["json"].write_text(json.dumps({"machine": info, "restarts": restarts}, indent=1))
    paths["md"].write_text(f"Measured {info['date']} on {info['cpu']}, {machine_line(info)}.\n\n"
                           f"{fanout_table(fan)}\n\n{restart_table(restarts)}\n")
    plot(paths["png"], fan, restarts, f"manual_sse behind nginx, gunicorn + 1 gevent worker per node, one Redis; "
                                      f"{info['cores']} cores shared by servers and readers; {info['date']}")
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cluster_fanout", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", default="1,2,3", help="node counts for the fan-out (default 1,2,3)")
    parser.add_argument("--readers", default="1000,3000", help="reader counts for the fan-out (default 1000,3000)")
    parser.add_argument("--messages", type=int, default=50, help="messages per fan-out pass (default 50)")
    parser.add_argument("--rate", type=float, default=10.0, help="messages per second (default 10)")
    parser.add_argument("--restart-readers", type=int, default=1000, help="readers in the rolling restart (1,000)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave benchmarks/results alone")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    nodes = [int(n) for n in args.nodes.split(",")]
    readers = [int(n) for n in args.readers.split(",")]
    if not all(1 <= n <= 8 for n in nodes) or not all(1 <= r <= 5000 for r in readers) or args.rate <= 0:
        parser.error("--nodes must be 1..8, --readers 1..5000 and --rate > 0")
    _raise_file_limit()
    info = {**machine(), "cpu": cpu_model()}
    print(f"manual_sse behind nginx on {info['cpu']}, {machine_line(info)}", flush=True)
    started = time.monotonic()
    fan = fanout(nodes, readers, args.messages, args.rate, log=lambda line: print(line, flush=True))
    restarts = rolling_restart(args.restart_readers, args.rate, log=lambda line: print(line, flush=True))
    info["load_1min_end"] = round(os.getloadavg()[0], 2)
    print(f"\n{fanout_table(fan)}\n\n{restart_table(restarts)}\n")
    if not args.no_write:
        print("wrote", ", ".join(str(p) for p in write_results(fan, restarts, info).values()))
    print(f"run took {time.monotonic() - started:.0f} s; load average {info['load_1min']} at the start, "
          f"{info['load_1min_end']} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
