"""A small cluster on one machine: N lab processes behind nginx, sharing the kit's Redis.

::

    with start_cluster("manual_sse", nodes=3) as cluster:
        cluster.url                  # nginx, the load balancer: what clients open
        cluster.nodes[0].url         # one node, directly
        cluster.kill_node(0)         # SIGKILL to its whole process group: a machine lost
        cluster.restart_node(0)      # back on the same port (nginx's upstream never changes)
        cluster.rolling_restart()    # a deploy: each node in turn, SIGTERM, then start again

What runs (notebook 13 explains why each piece is there):

- **one Redis**, the kit's (:class:`~labs.harness.redis_server.RedisServer`: ``REDIS_URL`` if
  a server answers there, else a private one).  Every node gets its URL and ``BROKER``
  (``"redis"`` by default; ``"memory"`` shows what goes wrong without it: no ``REDIS_URL``
  is given then).  The cluster's keys and Socket.IO channel carry a token of their own, so
  two clusters on one Redis never hear each other;
- **N nodes**: separate ``python -m labs run NAME`` processes, standing in for hosts, each
  started by :class:`~labs.harness.launcher.LabServer` (its own process session, exits when
  this process dies), on the development server or, with ``workers=1``, gunicorn;
- **nginx** (:mod:`labs.harness.nginx`) with one ``upstream`` of all the nodes: round robin
  by default, ``balance="ip_hash"`` for sticky sessions; a node that fails is skipped for
  ``fail_timeout`` seconds (2 here; nginx has no active health checks, so only a failed
  request tells it, and only a successful one after that time brings the node back).  It
  passes WebSocket upgrades on and says which node answered in an ``X-Upstream`` header.

A node is restarted on the port it had, so nginx's configuration never changes (a host
that comes back at its address).  Nothing outlives whoever started the cluster: every
process here runs under the kit's watchdog, and :meth:`Cluster.stop` (or the end of the
``with`` block, or this process's death) ends them all.
"""

from __future__ import annotations

import os
import secrets
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psutil
import requests

from labs.harness.launcher import LabServer, LabStartError
from labs.harness.nginx import NginxProxy, NginxStartError, NginxUnavailable, ProxySettings
from labs.harness.processes import wait_until
from labs.harness.redis_server import RedisServer
from labs.harness.registry import get_lab

STOP_TIMEOUT = 10.0  # seconds a node may take to stop after SIGTERM before it is killed
# nginx skips a node that failed for this long (its default is 10 s).  Short, so that a node
# restarted in a rolling deploy is back in rotation soon: while every node that was restarted
# is still skipped and the last one stops, nginx has "no live upstreams" and answers 502.
FAIL_TIMEOUT = 2.0
RESTART_ATTEMPTS = 5  # the old port may still be held for a moment by the process that just died


class ClusterStartError(RuntimeError):
    """A node, Redis or nginx did not start; everything already started has been stopped."""


@dataclass
class Node:
    """One lab process of the cluster.  ``server`` is None while the node is down."""

    index: int
    port: int
    server: LabServer | None = None
    restarts: int = 0

    @property
    def name(self) -> str:
        return f"node{self.index + 1}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def address(self) -> str:
        """``host:port`` as nginx names it (``X-Upstream``, the access log)."""
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        """The node's ``python -m labs run`` process (with gunicorn, its worker is a child)."""
        return self.server.pid if self.server is not None else None

    @property
    def alive(self) -> bool:
        return self.server is not None and self.server.process is not None and self.server.process.alive()

    def pids(self) -> list[int]:
        """Every process of this node: the server and its children (gunicorn's worker)."""
        if not self.alive:
            return []
        try:
            root = psutil.Process(self.pid)
            return [root.pid, *(child.pid for child in root.children(recursive=True))]
        except psutil.Error:
            return []

    def stats(self) -> dict[str, Any]:
        """This node's ``GET /stats``, asked directly (not through nginx)."""
        return requests.get(self.url + "/stats", timeout=10).json()

    def __repr__(self) -> str:
        return f"<Node {self.name} {self.url} {'up' if self.alive else 'down'}>"


@dataclass
class Cluster:
    """N nodes of lab ``name`` behind nginx, sharing one Redis; see the module's doc."""

    name: str
    nodes_wanted: int = 3
    config: dict[str, Any] = field(default_factory=dict)
    workers: int | None = None  # None: the development server; 1: gunicorn with one gevent worker
    broker: str = "redis"
    balance: str = "round_robin"
    host: str = "127.0.0.1"
    port: int = 0
    proxy: dict[str, Any] = field(default_factory=dict)  # more ProxySettings (read_timeout=...)
    nodes: list[Node] = field(default_factory=list)
    redis: RedisServer | None = None
    nginx: NginxProxy | None = None
    balancers: list[NginxProxy] = field(default_factory=list)  # more nginx in front of the same nodes
    # (time.time(), node name, what): "started", "stopping" (SIGTERM sent), "stopped", "killed"
    timeline: list[tuple[float, str, str]] = field(default_factory=list)
    token: str = field(default_factory=lambda: secrets.token_hex(4))

    def __post_init__(self) -> None:
        lab = get_lab(self.name)
        if lab.single_process:
            raise ValueError(f"lab {self.name} runs in one process only ({lab.single_process}); "
                             "it cannot be a cluster")
        if self.broker not in ("redis", "memory"):
            raise ValueError(f"broker must be 'redis' or 'memory', not {self.broker!r}")
        if not 1 <= self.nodes_wanted <= 16:
            raise ValueError(f"nodes must be 1..16, got {self.nodes_wanted}")

    # ------------------------------------------------------------------ life cycle
    @property
    def url(self) -> str | None:
        """nginx's URL: what clients open."""
        return self.nginx.url if self.nginx is not None else None

    def start(self, timeout: float = 60.0) -> Cluster:
        try:
            if self.broker == "redis":
                self.redis = RedisServer().start()
            self.nodes = [Node(i, 0) for i in range(self.nodes_wanted)]
            self._start_nodes(self.nodes, timeout)
            self.nginx = self._balancer(self.balance, self.proxy, host=self.host, port=self.port).start(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _balancer(self, balance: str, settings: dict[str, Any], **where) -> NginxProxy:
        chosen = ProxySettings(**{"balance": balance, "max_fails": 1, "fail_timeout": FAIL_TIMEOUT,
                                  "websockets": True, "name_upstream": True, **settings})
        return NginxProxy([node.url for node in self.nodes], chosen, **where)

    def add_balancer(self, balance: str, **settings) -> NginxProxy:
        """Another nginx in front of the same nodes (say ``"ip_hash"`` beside round robin);
        stopped with the cluster.  ``settings``: more :class:`~labs.harness.nginx.ProxySettings`."""
        proxy = self._balancer(balance, {**self.proxy, **settings})
        self.balancers.append(proxy)
        return proxy.start()

    def node_config(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """What every node is started with: the caller's config, the shared Redis, own keys."""
        config = {"TRUSTED_PROXIES": 1, **self.config, **(extra or {}), "BROKER": self.broker}
        config.setdefault("REDIS_KEY", f"sse-kit:cluster-{self.token}:{self.name}")
        config.setdefault("SOCKETIO_CHANNEL", f"sse-kit-cluster-{self.token}")
        if self.redis is not None:
            config["REDIS_URL"] = self.redis.url
        return config

    def _start_nodes(self, nodes: list[Node], timeout: float, extra: dict[str, Any] | None = None) -> None:
        """Start ``nodes`` at once (each on its port, or a free one the first time)."""
        errors: list[BaseException] = []

        def start(node: Node) -> None:
            try:
                self._launch(node, timeout, extra)
            except BaseException as exc:  # reported below, in the caller's thread
                errors.append(exc)

        threads = [threading.Thread(target=start, args=(node,), daemon=True) for node in nodes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise ClusterStartError(f"a node of the {self.name} cluster did not start: {errors[0]}") from errors[0]

    def _launch(self, node: Node, timeout: float, extra: dict[str, Any] | None) -> None:
        for attempt in range(RESTART_ATTEMPTS):
            port_args = ["--port", str(node.port)] if node.port else []
            config = {**self.node_config(extra), "NODE_NAME": node.name}  # the page's header names it
            server = LabServer(self.name, config=config, workers=self.workers, extra_args=port_args)
            try:
                server.start(timeout)
            except LabStartError as exc:
                if "cannot listen" not in str(exc) or attempt == RESTART_ATTEMPTS - 1:
                    raise
                time.sleep(0.2 * (attempt + 1))  # the port is still held: try again shortly
                continue
            node.server, node.port = server, int(server.url.rsplit(":", 1)[1])
            self._note(node, "started")
            return

    def stop(self) -> None:
        """Stop nginx, every node and Redis (if this cluster started it); safe to call twice."""
        for proxy in [self.nginx, *self.balancers]:
            if proxy is not None:
                proxy.stop()
        for node in self.nodes:
            if node.server is not None:
                node.server.stop()
        if self.redis is not None:
            self.redis.close()
            self.redis = None

    def __enter__(self) -> Cluster:
        return self if self.nginx is not None else self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------------ losing and restarting nodes
    def kill_node(self, index: int) -> Node:
        """SIGKILL to the node's whole process group: what losing its machine looks like."""
        node = self.nodes[index]
        if node.alive:
            try:
                os.killpg(node.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            wait_until(lambda: not node.server.process.alive(), STOP_TIMEOUT)
        self._forget(node, "killed")
        return node

    def stop_node(self, index: int, *, graceful: bool = True) -> Node:
        """Stop one node: SIGTERM and wait (a deploy), or ``graceful=False``: :meth:`kill_node`."""
        if not graceful:
            return self.kill_node(index)
        node = self.nodes[index]
        if node.alive:
            self._note(node, "stopping")  # SIGTERM now; "stopped" once it has exited
            try:
                os.kill(node.pid, signal.SIGTERM)  # the server's own shutdown: goodbyes, then exit
            except ProcessLookupError:
                pass
            wait_until(lambda: not node.server.process.alive(), STOP_TIMEOUT)
        self._forget(node, "stopped")
        return node

    def _forget(self, node: Node, what: str) -> None:
        if node.server is not None:
            node.server.stop()  # reaps it, and ends anything left in its process group
            node.server = None
            self._note(node, what)

    def start_node(self, index: int, *, config: dict[str, Any] | None = None, timeout: float = 60.0) -> Node:
        """Start a stopped node again, on its port; ``config`` adds to its settings (a new release)."""
        node = self.nodes[index]
        if not node.alive:
            self._start_nodes([node], timeout, config)
            node.restarts += 1
        return node

    def restart_node(self, index: int, *, graceful: bool = True, config: dict[str, Any] | None = None) -> Node:
        self.stop_node(index, graceful=graceful)
        return self.start_node(index, config=config)

    def rolling_restart(self, *, graceful: bool = True, config: dict[str, Any] | None = None,
                        between: Callable[[Node], None] | None = None) -> list[dict[str, Any]]:
        """Restart every node, one at a time (a deploy), while the others serve.

        Each node is stopped, started again, and waited for until nginx sends it requests
        again (:meth:`wait_in_rotation`), as a deploy tool waits for health checks; only then
        does the next one stop.  ``between(node)`` runs after that (e.g. wait until the
        readers have settled).  Returns one row per node: seconds to stop, to start, and
        until nginx used it again.
        """
        steps = []
        for node in self.nodes:
            began = time.monotonic()
            self.stop_node(node.index, graceful=graceful)
            stopped = time.monotonic()
            self.start_node(node.index, config=config)
            started = time.monotonic()
            self.wait_in_rotation(node)
            steps.append({"node": node.name, "stop_s": stopped - began, "start_s": started - stopped,
                          "back_in_rotation_s": time.monotonic() - started})
            if between is not None:
                between(node)
        return steps

    def wait_in_rotation(self, node: Node, timeout: float | None = None) -> bool:
        """Wait until nginx sends requests to ``node`` again (it skips a node that failed for
        ``fail_timeout`` s).  With ``ip_hash`` this machine's requests all go to one node, so
        that cannot be seen from here: then this waits ``fail_timeout``."""
        fail_timeout = self.nginx.settings.fail_timeout
        if self.balance == "ip_hash":
            time.sleep(fail_timeout)
            return True

        def answered_by_node() -> bool:
            for _ in range(len(self.nodes)):  # round robin: one round reaches every live node
                try:
                    if self.get("/health", timeout=2).headers.get("X-Upstream") == node.address:
                        return True
                except requests.RequestException:
                    pass
            return False

        return wait_until(answered_by_node, fail_timeout + 5 if timeout is None else timeout, interval=0.1)

    def _note(self, node: Node, what: str) -> None:
        self.timeline.append((time.time(), node.name, what))

    # ------------------------------------------------------------------ asking the cluster
    def node_for(self, key: int | str) -> Node | None:
        """The node a pid (from ``/stats``) or an address (``X-Upstream``) belongs to."""
        for node in self.nodes:
            if key in (node.address, node.url) or (isinstance(key, int) and key in node.pids()):
                return node
        return None

    def get(self, path: str, **kwargs) -> requests.Response:
        """``GET`` through nginx."""
        kwargs.setdefault("timeout", 10)
        return requests.get(self.url + path, **kwargs)

    def publish(self, message: str, *, node: int | None = None, **kwargs) -> requests.Response:
        """``POST /send_notification`` through nginx, or to node ``node`` directly."""
        kwargs.setdefault("timeout", 10)
        base = self.url if node is None else self.nodes[node].url
        return requests.post(base + "/send_notification", json={"message": message}, **kwargs)

    def __repr__(self) -> str:
        up = sum(node.alive for node in self.nodes)
        return f"<Cluster {self.name} {self.url or 'not started'}: {up}/{len(self.nodes)} nodes up, {self.balance}>"


def start_cluster(name: str, nodes: int = 3, *, config: dict[str, Any] | None = None, workers: int | None = None,
                  broker: str = "redis", balance: str = "round_robin", host: str = "127.0.0.1", port: int = 0,
                  timeout: float = 60.0, **proxy_settings) -> Cluster:
    """Start ``nodes`` processes of lab ``name`` behind nginx on one Redis; see :class:`Cluster`.

    ``proxy_settings`` are more :class:`~labs.harness.nginx.ProxySettings` (``read_timeout=``,
    ``worker_connections=``, ``max_fails=``, ``fail_timeout=``...).
    """
    cluster = Cluster(name, nodes, dict(config or {}), workers, broker, balance, host, port, dict(proxy_settings))
    return cluster.start(timeout)


def run_cluster(name: str, *, nodes: int = 3, host: str = "127.0.0.1", port: int = 5000, workers: int | None = None,
                balance: str = "round_robin", config: dict[str, Any] | None = None, console: bool = True) -> int:
    """``python -m labs cluster NAME --nodes N``: serve until Ctrl-C (or SIGTERM), then stop it all.

    With ``console``, commands typed into it (standard input, one a line) stop, kill, start and
    restart nodes and run rolling restarts: see :mod:`labs.harness.cluster_console`.
    """
    from labs.harness.watchdog import raise_on_sigterm

    raise_on_sigterm()
    try:
        with start_cluster(name, nodes, config=config, workers=workers, balance=balance, host=host,
                           port=port) as cluster:
            print(f"{name}: open {cluster.url}  (nginx, {balance.replace('_', ' ')} over {nodes} nodes; "
                  "Ctrl-C stops them all)", flush=True)
            for node in cluster.nodes:
                print(f"{name}: {node.name} listens privately on {node.url} (pid {node.pid})", flush=True)
            if cluster.redis is not None:
                print(f"{name}: the nodes share Redis at {cluster.redis.url}", flush=True)
            print(f"{name}: nginx's config is {cluster.nginx.directory / 'nginx.conf'}", flush=True)
            if console:
                from labs.harness.cluster_console import start_console

                start_console(cluster)
            _watch(cluster)
            return 1
    except KeyboardInterrupt:
        return 0
    except (ClusterStartError, LabStartError, NginxStartError, NginxUnavailable, ValueError) as exc:
        raise SystemExit(f"{name}: {exc}") from None


def _watch(cluster: Cluster) -> None:
    """Until nginx stops: say when a node stops on its own (nginx sends its requests elsewhere).

    A node stopped on purpose (a console command) has no server any more: not reported."""
    reported: set[int] = set()
    while cluster.nginx.process.alive():
        for node in cluster.nodes:
            server = node.server
            if server is not None and not node.alive and id(server) not in reported:
                reported.add(id(server))
                print(f"{cluster.name}: {node.name} stopped on its own; nginx sends its requests to the others "
                      f"(type: start {node.index + 1})", file=sys.stderr, flush=True)
        time.sleep(0.5)
    print(f"{cluster.name}: nginx stopped on its own; its output:\n{cluster.nginx.log}", file=sys.stderr, flush=True)
