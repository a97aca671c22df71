"""How long a lab holds a reader that is gone: each way of going, each streaming lab, each server.

    python -m benchmarks.dead_readers                       # the defaults (keep-alive 15 s, user timeout 20 s)
    python -m benchmarks.dead_readers --user-timeout 0      # the kernel's defaults: "before"
    python -m benchmarks.dead_readers --quick               # short settings (1 s), a minute in all
    python -m benchmarks.dead_readers --mix                 # N healthy + M dead of each mode, both servers,
                                                            # default and short settings; results + plot

A reader connects through the chaos relay (:mod:`labs.harness.relay`), the relay breaks its
connection (close, reset, black hole), and we time how long the lab takes to let go of it:
its ``/stats`` count (``clients``; ``generating`` for ``token_stream``) back to what it was.
A stalled reader (its kernel still ACKs) is not in this table: the slow-reader rule (or the write
deadline, ``WRITE_DEADLINE_SECONDS``) cuts it once its buffers fill, which depends on how much is
published, not on a timeout.  ``--mix`` (:mod:`benchmarks.dead_mix`) measures all four ways beside
healthy readers: release time, memory held, healthy p99 before, during and after, and what a short
``TCP_USER_TIMEOUT`` costs a reader that is only out of reach for a while.

The tests (``tests/test_dead_readers.py``) use the same pieces with short settings.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import dataclass

import psutil

from benchmarks.dead_mix import run_mix
from benchmarks.raw_readers import held, open_reader
from labs.harness.launcher import LabServer
from labs.harness.processes import wait_until
from labs.harness.relay import RelayServer

STREAMING_LABS = ("manual_sse", "webhooks", "sse_blueprint", "token_stream", "secure_stream")
def lab_config(name: str, *, keepalive: float, user_timeout: float, tcp_keepalive: float | None = None) -> dict:
    """The lab's settings for the measurement: its keep-alive, and the dead-reader timeouts."""
    config = {"TCP_USER_TIMEOUT_SECONDS": user_timeout,
              "TCP_KEEPALIVE_SECONDS": keepalive if tcp_keepalive is None else tcp_keepalive}
    if name == "token_stream":
        config["TOKEN_INTERVAL"] = 0.05
    else:
        config["KEEPALIVE_SECONDS"] = keepalive
    return config


def start(name: str, config: dict, workers: int | None) -> LabServer:
    return LabServer(name, config=config, workers=workers, redis=name == "sse_blueprint").start()


def time_release(lab: LabServer, relay: RelayServer, mode: str, limit: float) -> float | None:
    """Break every relayed connection with ``mode``; seconds until the lab holds none, None if > ``limit``."""
    relay.fault(mode)
    started = time.monotonic()
    if wait_until(lambda: held(lab) == 0, limit, interval=0.05):
        return time.monotonic() - started
    return None


def socket_holder(lab: LabServer, peer_port: int) -> tuple[str, str] | None:
    """Where the lab holds its socket to the reader at ``peer_port``: ``(/proc/PID/fd/N, socket:[inode])``.

    A socket the kernel has given up on (an RST, ETIMEDOUT) leaves ``/proc/net/tcp`` at once, while
    the lab may still hold it; its file descriptor is what tells when the lab let go."""
    root = psutil.Process(lab.pid)
    for process in (root, *root.children(recursive=True)):
        try:
            for connection in process.net_connections(kind="tcp"):
                if connection.raddr and connection.raddr.port == peer_port and connection.fd != -1:
                    path = f"/proc/{process.pid}/fd/{connection.fd}"
                    return path, os.readlink(path)
        except (psutil.NoSuchProcess, FileNotFoundError):
            continue
    return None


def still_held(holder: tuple[str, str]) -> bool:
    """True while the lab's file descriptor still refers to the same socket."""
    try:
        return os.readlink(holder[0]) == holder[1]
    except OSError:
        return False


def race(lab: LabServer, relay: RelayServer, modes: list[str], limit: float) -> dict[str, float | None]:
    """One reader per mode through ``relay``, all broken at once, each its own way: per mode, the
    seconds until the lab closed that reader's socket (None: still held after ``limit`` s)."""
    readers, faults = {}, {}
    for mode in modes:
        readers[mode] = open_reader(lab, relay.url)
        newest = max(relay.wait_for_connections(len(readers)), key=lambda c: c["id"])
        holder = socket_holder(lab, newest["upstream_port"])
        if holder is None:
            raise RuntimeError(f"{lab.name} holds no socket to the relay's port {newest['upstream_port']}")
        faults[mode] = (newest["id"], holder)
    started = time.monotonic()
    for mode, (ident, _) in faults.items():
        relay.fault(mode, ident)
    released: dict[str, float | None] = dict.fromkeys(modes)
    while time.monotonic() - started < limit and None in released.values():
        for mode, (_, holder) in faults.items():
            if released[mode] is None and not still_held(holder):
                released[mode] = time.monotonic() - started
        time.sleep(0.05)
    for mode, reader in readers.items():
        if mode in ("stall", "blackhole"):
            relay.heal(faults[mode][0])
        reader.close()
    return released


@dataclass
class Row:
    lab: str
    server: str
    mode: str
    seconds: float | None
    outcome: str = ""


def measure(name: str, workers: int | None, mode: str, config: dict, limit: float) -> Row:
    with start(name, config, workers) as lab, RelayServer(lab) as relay:
        reader = open_reader(lab, relay.url)
        try:
            seconds = time_release(lab, relay, mode, limit)
        finally:
            relay.heal() if mode == "blackhole" else None
            reader.close()
        outcome = ""
        if name == "token_stream":
            outcome = json.dumps(lab.get("/stats").json()["outcomes"])
        return Row(name, "gunicorn+gevent" if workers else "werkzeug", mode, seconds, outcome)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keepalive", type=float, default=15.0, help="the labs' keep-alive (s)")
    parser.add_argument("--user-timeout", type=float, default=20.0, help="TCP_USER_TIMEOUT_SECONDS (0: kernel's)")
    parser.add_argument("--limit", type=float, default=90.0, help="give up waiting after this long (s)")
    parser.add_argument("--quick", action="store_true", help="keep-alive 1 s, user timeout 1 s, limit 10 s")
    parser.add_argument("--labs", nargs="*", default=list(STREAMING_LABS))
    parser.add_argument("--modes", nargs="*", default=["close", "reset", "blackhole"])
    parser.add_argument("--mix", action="store_true", help="healthy + dead readers (benchmarks.dead_mix)")
    parser.add_argument("--healthy", type=int, default=200, help="with --mix: healthy readers")
    parser.add_argument("--dead", type=int, default=50, help="with --mix: dead readers per run")
    args = parser.parse_args(argv)
    if args.mix:
        return run_mix(args)
    if args.quick:
        args.keepalive, args.user_timeout, args.limit = 1.0, 1.0, 10.0
    print(f"keep-alive {args.keepalive:g} s, TCP_USER_TIMEOUT {args.user_timeout:g} s (0: kernel default)")
    print(f"{'lab':<14} {'server':<16} {'mode':<10} {'released after':>15}  outcome")
    for name in args.labs:
        for workers in (None, 1):
            for mode in args.modes:
                config = lab_config(name, keepalive=args.keepalive, user_timeout=args.user_timeout)
                row = measure(name, workers, mode, config, args.limit)
                shown = f"{row.seconds:.2f} s" if row.seconds is not None else f"> {args.limit:g} s"
                print(f"{row.lab:<14} {row.server:<16} {row.mode:<10} {shown:>15}  {row.outcome}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
