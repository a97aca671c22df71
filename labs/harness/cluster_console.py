"""Commands typed into a running ``python -m labs cluster``: notebook 13's deploys, live.

The cluster reads its standard input, one command a line (nodes are numbered from 1, as
printed: node1, node2...)::

    status                 every node: up or down, pid, readers (every node's count, through Redis)
    kill N                 SIGKILL node N's process group: a machine lost (no goodbye)
    stop N                 SIGTERM node N: each reader gets a goodbye event with its retry:, then it exits
    start N                start a stopped (or killed) node again, on its port
    restart N              stop N, then start it
    rolling [jitter|fixed] a rolling restart: each node in turn stops (goodbye), starts, and is back in
                           nginx's rotation before the next one stops.  jitter: every goodbye's retry: is
                           picked in 1000-5000 ms; fixed: 2000 ms for every reader, a reconnect storm.
                           jitter=LO-HI and fixed=MS choose the numbers; no word: the nodes' own setting
    help                   this list

While a command runs, and until the readers have settled, it prints the cluster's reconnects
per second (streams opened on any node: :mod:`labs.core.presence` counts them in Redis),
then the peak.  Typing commands is the interface because a demo needs nothing else running:
one terminal shows the cluster, what each command did and the storm it caused.
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
import time
from typing import Any

JITTER_MS = (1000, 5000)
FIXED_MS = 2000
SETTLE_SECONDS = 2  # after a command, count on until this many quiet seconds (at most 4x as long)

HELP = __doc__.split("::\n\n", 1)[1].split("\n\nWhile", 1)[0]


class Console:
    def __init__(self, cluster, out=None) -> None:
        import redis

        self.cluster = cluster
        self.out = out or sys.stdout
        self.key = cluster.node_config()["REDIS_KEY"]
        self.redis = redis.Redis.from_url(cluster.redis.url, decode_responses=True) if cluster.redis else None

    def say(self, text: str) -> None:
        print(f"{self.cluster.name}: {text}", file=self.out, flush=True)

    # ------------------------------------------------------------------ reading commands
    def run(self, stream) -> None:
        self.say("type a command (help lists them): status, kill N, stop N, start N, restart N, rolling [jitter|fixed]")
        for line in stream:
            if line.strip():
                try:
                    self.execute(line.strip())
                except Exception as exc:  # a command that failed must not end the console
                    self.say(f"{line.strip()}: failed: {exc}")

    def execute(self, line: str) -> None:
        word, _, rest = line.partition(" ")
        commands = {"status": self.status, "kill": self.kill, "stop": self.stop, "start": self.start,
                    "restart": self.restart, "rolling": self.rolling, "help": self.help}
        command = commands.get(word.lower())
        if command is None:
            self.say(f"unknown command {word!r}; type help")
            return
        command(rest.strip())

    def node(self, text: str):
        try:
            number = int(text)
        except ValueError:
            number = 0
        if not 1 <= number <= len(self.cluster.nodes):
            raise ValueError(f"name a node by its number, 1 to {len(self.cluster.nodes)} (got {text!r})")
        return self.cluster.nodes[number - 1]

    # ------------------------------------------------------------------ the commands
    def help(self, _: str = "") -> None:
        print(HELP, file=self.out, flush=True)

    def status(self, _: str = "") -> None:
        counts = self.readers()
        for node in self.cluster.nodes:
            state = f"up, pid {node.pid}" if node.alive else "down"
            self.say(f"{node.name} {node.url}: {state}, readers {counts.get(node.name, 0)}")
        self.say(f"{sum(counts.values())} readers on the cluster")

    def kill(self, text: str) -> None:
        node = self.node(text)
        with self.metered(f"kill {node.name}"):
            self.cluster.kill_node(node.index)
            self.say(f"{node.name} killed (SIGKILL): its readers got no goodbye")

    def stop(self, text: str) -> None:
        node = self.node(text)
        with self.metered(f"stop {node.name}"):
            self.cluster.stop_node(node.index, graceful=True)
            self.say(f"{node.name} stopped (SIGTERM: a goodbye with retry: to each reader, then exit)")

    def start(self, text: str) -> None:
        node = self.node(text)
        if node.alive:
            self.say(f"{node.name} is already up (pid {node.pid})")
            return
        if node.server is not None:  # it died on its own: reap what is left of it first
            node.server.stop()
            node.server = None
        self.cluster.start_node(node.index)
        self.cluster.wait_in_rotation(node)
        self.say(f"{node.name} started again on {node.url} (pid {node.pid}), back in nginx's rotation")

    def restart(self, text: str) -> None:
        node = self.node(text)
        with self.metered(f"restart {node.name}"):
            self.cluster.stop_node(node.index, graceful=True)
            self.cluster.start_node(node.index)
            self.cluster.wait_in_rotation(node)
            self.say(f"{node.name} restarted (pid {node.pid})")

    def rolling(self, text: str) -> None:
        retry = parse_retry(text)
        label = "the nodes' own goodbye retry:" if retry is None else (
            f"jittered retry: {retry[0]}-{retry[1]} ms" if retry[0] != retry[1] else f"fixed retry: {retry[0]} ms")
        self.set_shutdown_retry(retry)
        with self.metered(f"rolling restart, {label}"):
            for step in self.cluster.rolling_restart(graceful=True):
                self.say(f"  {step['node']}: stopped in {step['stop_s']:.1f} s, started in {step['start_s']:.1f} s, "
                         f"back in rotation {step['back_in_rotation_s']:.1f} s later")

    # ------------------------------------------------------------------ Redis: counts, settings
    def readers(self) -> dict[str, int]:
        if self.redis is None:
            return {}
        names = sorted(self.redis.scan_iter(match=f"{self.key}:nodes:*", count=100))
        values = self.redis.mget(names) if names else []
        return {name.rsplit(":", 1)[1]: json.loads(value)["clients"] for name, value in zip(names, values, strict=True)
                if value}

    def set_shutdown_retry(self, retry: tuple[int, int] | None) -> None:
        if self.redis is None:
            return
        if retry is None:
            self.redis.delete(f"{self.key}:shutdown_retry")
        else:
            self.redis.set(f"{self.key}:shutdown_retry", json.dumps(list(retry)))

    def opened(self) -> int:
        return int(self.redis.get(f"{self.key}:opened") or 0) if self.redis is not None else 0

    @contextlib.contextmanager
    def metered(self, what: str):
        """Print reconnects per second while the block runs and until the readers settle."""
        if self.redis is None:
            yield
            return
        self.say(f"{what}: reconnects per second (streams opened on any node):")
        done = threading.Event()
        result: dict[str, Any] = {}
        meter = threading.Thread(target=self._meter, args=(done, result), daemon=True)
        meter.start()
        try:
            yield
        finally:
            done.set()
            meter.join()
            self.say(f"{what}: done; peak {result.get('peak', 0)} reconnects/s, "
                     f"{result.get('total', 0)} in {result.get('seconds', 0)} s")

    def _meter(self, done: threading.Event, result: dict[str, Any]) -> None:
        began, last, quiet_since = time.monotonic(), self.opened(), None
        peak = total = second = 0
        settle_until = None
        while True:
            time.sleep(max(0.0, began + second + 1 - time.monotonic()))
            second += 1
            now = self.opened()
            count, last = now - last, now
            peak, total = max(peak, count), total + count
            print(f"  t={second:>3} s  {count:>4}/s  {'#' * min(count, 60)}", file=self.out, flush=True)
            if count:
                quiet_since = None
            elif quiet_since is None:
                quiet_since = second
            if done.is_set():
                settle_until = settle_until or second + 4 * SETTLE_SECONDS
                if (quiet_since is not None and second - quiet_since >= SETTLE_SECONDS) or second >= settle_until:
                    break
        result.update(peak=peak, total=total, seconds=second)


def parse_retry(text: str) -> tuple[int, int] | None:
    """``rolling``'s argument: None (the nodes' own), ``jitter[=LO-HI]`` or ``fixed[=MS]``."""
    word, sep, value = text.partition("=")
    word = word.strip().lower()
    if not word:
        return None
    try:
        if word == "jitter":
            low, high = (int(v) for v in value.split("-")) if sep else JITTER_MS
            if not 0 <= low < high:
                raise ValueError
            return low, high
        if word == "fixed":
            ms = int(value) if sep else FIXED_MS
            if ms < 0:
                raise ValueError
            return ms, ms
    except ValueError:
        pass
    raise ValueError(f"rolling takes jitter, jitter=LO-HI (ms, LO < HI), fixed or fixed=MS; got {text!r}")


def start_console(cluster, stream=None) -> threading.Thread:
    """Read commands from ``stream`` (standard input) in a thread of their own."""
    console = Console(cluster)
    thread = threading.Thread(target=console.run, args=(stream or sys.stdin,), daemon=True, name="console")
    thread.start()
    return thread
