"""A chaos relay: a TCP relay between readers and a lab that fails on command.

::

    with start_lab("manual_sse") as lab, start_relay(lab) as relay:
        stream = EventStream(relay.url + "/stream")     # the reader goes through the relay
        relay.wait_for_connections(1)
        relay.blackhole()                               # its packets vanish: no ACK, no FIN, no RST
        ...                                             # how long until the lab lets go?
        relay.heal()

It stands where the network does: every byte between a reader and the lab passes through
it, and on command it breaks **one connection** (``which=ID``, see :meth:`RelayServer.connections`)
or **all** that are open (``which="all"``, the default) in one of four ways, each the way a
real reader goes:

========== ================================================================================
``close``  the reader closes (FIN to the lab): a tab closed, a ``close()`` called
``reset``  the connection is reset (RST to the lab): a process killed, a NAT that forgot it
``stall``  the reader stops reading but its kernel keeps acknowledging (and its window
           fills): a frozen tab, a phone app in the background
``blackhole`` the reader is gone without a word: nothing comes back, not even an ACK, as
           when a phone leaves the network or a cable is pulled.  The lab's kernel
           retransmits into silence; with its defaults it gives up after about 15 minutes
========== ================================================================================

``heal()`` ends a stall or a black hole (TCP then retransmits and the connection lives on,
unless the lab gave up meanwhile).  ``close`` and ``reset`` are for good.

A black hole needs the kernel: its packets are dropped by an nftables rule (``nft``) in the
input hook, after the lab's kernel has sent them, so from the lab's side it is a real network
drop.  That needs root and the ``nft`` program.  Where either is missing (or the kernel
refuses), ``blackhole()`` raises :class:`BlackholeUnavailable` saying why; it never fakes one
(a relay that merely stops reading is a stall: the kernel still ACKs).  Each relay process
has its own nftables table, ``sse_kit_relay_<pid>``, created at the first black hole and
deleted when the relay ends; tables left by a relay that was killed outright are deleted
by the next relay that starts, and by the handle that started it.  (This kernel has no
``netem``; two network namespaces joined by a veth pair would also do, but cannot drop one
connection of several.)

The relay runs as its own process, like nginx and the labs (:mod:`labs.harness.processes`):
in a session of its own, watching a pipe from whoever started it, so a killed kernel, Ctrl-C
or a failed cell leaves nothing running.  It is controlled over HTTP on a **second port**
(a TCP relay cannot answer HTTP on the port it relays), 127.0.0.1 only:

- ``GET /connections``: ``{"connections": [{"id", "client", "upstream_port", "state",
  "bytes_down", "bytes_up"}], "blackhole": {"available": bool, "reason": str}}``;
- ``POST /fault`` with ``{"action": "close"|"reset"|"stall"|"blackhole"|"heal",
  "connection": "all"|ID}``: ``{"affected": [IDs]}``; a 4xx JSON answer for anything else
  (409 when a black hole is not possible here).

From the command line: ``python -m labs run NAME --relay [--port P] [--relay-control-port C]``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import select
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import requests

from labs.harness.processes import ManagedProcess, ManagedServer, python_argv, wait_until

READY_PREFIX = "RELAY READY "
ACTIONS = ("close", "reset", "stall", "blackhole", "heal")
TABLE_PREFIX = "sse_kit_relay_"
CHUNK = 65536


class RelayStartError(RuntimeError):
    """The relay did not start or did not answer; the message holds its output."""


class BlackholeUnavailable(RuntimeError):
    """This machine cannot drop packets for the relay (not root, no ``nft``, or refused)."""


# ---------------------------------------------------------------- nftables (the black hole)

def blackhole_support() -> tuple[bool, str]:
    """``(True, "")`` when a black hole can be made here, else ``(False, why not)``."""
    if not hasattr(os, "geteuid") or sys.platform != "linux":
        return False, "a black hole needs Linux's nftables; this system has none"
    if os.geteuid() != 0:
        return False, "a black hole needs root (nftables rules); run as root, or use stall/close/reset"
    if shutil.which("nft") is None:
        return False, "a black hole needs the nft program (Debian/Ubuntu: apt-get install nftables)"
    probe = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True)
    if probe.returncode != 0:
        return False, f"nft cannot work here: {probe.stderr.strip() or probe.returncode}"
    return True, ""


def _nft(script: str) -> None:
    done = subprocess.run(["nft", "-f", "-"], input=script, capture_output=True, text=True)
    if done.returncode != 0:
        raise BlackholeUnavailable(f"nft refused the rules: {done.stderr.strip()}")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_table(pid: int) -> None:
    """Delete relay ``pid``'s nftables table, if there is one (quietly)."""
    if shutil.which("nft"):
        subprocess.run(["nft", "delete", "table", "inet", f"{TABLE_PREFIX}{pid}"], capture_output=True)


def remove_stale_tables() -> list[int]:
    """Delete the tables of relays that no longer run (killed outright); their pids."""
    if shutil.which("nft") is None or os.geteuid() != 0:
        return []
    listed = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    stale = [int(pid) for pid in re.findall(rf"table inet {TABLE_PREFIX}(\d+)", listed) if not _pid_alive(int(pid))]
    for pid in stale:
        remove_table(pid)
    return stale


class Blackholes:
    """This relay's nftables table: one pair of drop rules per black-holed connection."""

    def __init__(self) -> None:
        self.table = f"{TABLE_PREFIX}{os.getpid()}"
        self.made = False
        self.ports: dict[int, tuple[int, int]] = {}  # connection id -> (lab port, relay's port to it)

    def apply(self) -> None:
        """Rewrite the table's rules to drop exactly the connections in ``ports``, in one step."""
        if not self.made:
            ok, why = blackhole_support()
            if not ok:
                raise BlackholeUnavailable(why)
            remove_stale_tables()
            # Priority -300: before conntrack and any other filter, so nothing answers for the reader.
            _nft(f"add table inet {self.table}\n"
                 f"add chain inet {self.table} input {{ type filter hook input priority -300; policy accept; }}\n")
            self.made = True
        lines = [f"flush chain inet {self.table} input"]
        for lab_port, own_port in self.ports.values():
            lines += [f"add rule inet {self.table} input tcp sport {lab_port} tcp dport {own_port} drop",
                      f"add rule inet {self.table} input tcp sport {own_port} tcp dport {lab_port} drop"]
        _nft("\n".join(lines) + "\n")

    def remove(self) -> None:
        if self.made:
            remove_table(os.getpid())
            self.made = False


# ---------------------------------------------------------------- the relay itself (child process)

class Connection:
    """One reader's connection: ``client`` (the reader's socket) and ``upstream`` (to the lab)."""

    def __init__(self, ident: int, client: socket.socket, upstream: socket.socket) -> None:
        self.id = ident
        self.client = client
        self.upstream = upstream
        self.client_address = "{}:{}".format(*client.getpeername()[:2])
        self.upstream_port = upstream.getsockname()[1]
        self.lab_port = upstream.getpeername()[1]
        self.state = "open"  # open, stalled, blackholed, closed, reset, ended
        self.bytes_down = 0  # lab -> reader
        self.bytes_up = 0    # reader -> lab
        self.running = threading.Event()  # cleared while stalled
        self.running.set()

    def describe(self) -> dict[str, Any]:
        return {"id": self.id, "client": self.client_address, "upstream_port": self.upstream_port,
                "state": self.state, "bytes_down": self.bytes_down, "bytes_up": self.bytes_up}

    @property
    def finished(self) -> bool:
        return self.state in ("closed", "reset", "ended")

    def end(self, state: str) -> None:
        """Close both sockets: ``reset`` sends RST (SO_LINGER 0), anything else FIN."""
        if self.finished:
            return
        self.state = state
        self.running.set()
        for sock in (self.upstream, self.client):
            try:
                if state == "reset":
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                else:
                    sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()


class Relay:
    """The relay's state in its own process: accepts readers, pumps bytes, applies faults."""

    def __init__(self, listener: socket.socket, upstream: tuple[str, int]) -> None:
        self.listener = listener
        self.upstream = upstream
        self.connections: dict[int, Connection] = {}
        self.lock = threading.Lock()
        self.ids = itertools.count(1)
        self.blackholes = Blackholes()

    def serve(self) -> None:
        while True:
            client, _ = self.listener.accept()
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()  # the lab is not there: the reader sees its connection closed
                continue
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.lock:
                connection = Connection(next(self.ids), client, upstream)
                self.connections[connection.id] = connection
            for source, target, direction in ((upstream, client, "down"), (client, upstream, "up")):
                threading.Thread(target=self._pump, args=(connection, source, target, direction),
                                 daemon=True, name=f"relay-{connection.id}-{direction}").start()

    def _pump(self, connection: Connection, source: socket.socket, target: socket.socket, direction: str) -> None:
        """Copy bytes one way until end-of-file, an error, or the end of the connection."""
        try:
            while not connection.finished:
                if direction == "down":
                    connection.running.wait()  # a stall: the lab's bytes stay in our kernel's buffer
                readable, _, _ = select.select([source], [], [], 0.2)
                if not readable or connection.finished or not connection.running.is_set():
                    continue
                data = source.recv(CHUNK)
                if not data:
                    target.shutdown(socket.SHUT_WR)  # pass the FIN on
                    return
                target.sendall(data)
                if direction == "down":
                    connection.bytes_down += len(data)
                else:
                    connection.bytes_up += len(data)
        except (OSError, ValueError):
            if not connection.finished and connection.state != "blackholed":
                connection.end("ended")

    def select(self, which: Any) -> list[Connection]:
        with self.lock:
            alive = [c for c in self.connections.values() if not c.finished]
        if which == "all":
            return alive
        if isinstance(which, bool) or not isinstance(which, int):
            raise ValueError(f'"connection" must be "all" or a connection id, got {json.dumps(which)}')
        chosen = [c for c in alive if c.id == which]
        if not chosen:
            raise LookupError(f"no open connection {which}; open: {[c.id for c in alive]}")
        return chosen

    def fault(self, action: str, which: Any) -> list[int]:
        chosen = self.select(which)
        if action in ("close", "reset"):
            for connection in chosen:
                self._unblackhole(connection)
                connection.end("closed" if action == "close" else "reset")
            if self.blackholes.made:
                self.blackholes.apply()
        elif action == "stall":
            for connection in chosen:
                connection.running.clear()
                connection.state = "stalled"
        elif action == "blackhole":
            for connection in chosen:
                self.blackholes.ports[connection.id] = (connection.lab_port, connection.upstream_port)
            self.blackholes.apply()  # raises BlackholeUnavailable before any state changes
            for connection in chosen:
                connection.state = "blackholed"
        else:  # heal
            for connection in chosen:
                self._unblackhole(connection)
                connection.state = "open"
                connection.running.set()
            if self.blackholes.made:
                self.blackholes.apply()
        return [connection.id for connection in chosen]

    def _unblackhole(self, connection: Connection) -> None:
        self.blackholes.ports.pop(connection.id, None)

    def listing(self) -> dict[str, Any]:
        ok, why = blackhole_support()
        with self.lock:
            connections = [c.describe() for c in self.connections.values()]
        return {"connections": connections, "blackhole": {"available": ok, "reason": why}}


def _control_handler(relay: Relay):
    class Control(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # quiet: the terminal is the lab's
            pass

        def _answer(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == "/connections":
                self._answer(200, relay.listing())
            else:
                self._answer(404, {"error": "not found", "detail": "GET /connections or POST /fault"})

        def do_POST(self) -> None:
            if self.path != "/fault":
                return self._answer(404, {"error": "not found", "detail": "GET /connections or POST /fault"})
            try:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"null")
                if not isinstance(body, dict) or body.get("action") not in ACTIONS:
                    raise ValueError(f'send {{"action": one of {list(ACTIONS)}, "connection": "all" or an id}}')
                affected = relay.fault(body["action"], body.get("connection", "all"))
            except (ValueError, json.JSONDecodeError) as exc:
                return self._answer(400, {"error": "bad fault", "detail": str(exc)})
            except LookupError as exc:
                return self._answer(404, {"error": "no such connection", "detail": str(exc)})
            except BlackholeUnavailable as exc:
                return self._answer(409, {"error": "black hole unavailable", "detail": str(exc)})
            self._answer(200, {"affected": affected})

    return Control


def run_relay(listen_fd: int, control_fd: int, upstream: tuple[str, int]) -> None:
    """The relay process's main: relay on ``listen_fd``, control on ``control_fd``, until stopped."""
    from labs.harness.watchdog import exit_when_stdin_closes, raise_on_sigterm

    raise_on_sigterm()
    exit_when_stdin_closes()
    listener = socket.socket(fileno=listen_fd)
    relay = Relay(listener, upstream)
    control = ThreadingHTTPServer(("127.0.0.1", 0), _control_handler(relay), bind_and_activate=False)
    control.socket.close()
    control.socket = socket.socket(fileno=control_fd)
    control.daemon_threads = True
    threading.Thread(target=control.serve_forever, daemon=True, name="relay-control").start()
    print(READY_PREFIX + "ok", flush=True)
    try:
        relay.serve()
    except KeyboardInterrupt:
        pass
    finally:
        relay.blackholes.remove()  # never leave a drop rule behind


# ---------------------------------------------------------------- the handle (parent process)

class RelayServer(ManagedServer):
    """A chaos relay in front of ``upstream`` (a lab, a proxy, or an ``http://`` URL).

    After :meth:`start`: ``url`` (what readers open), ``control_url`` (its control port).
    Faults: :meth:`close`, :meth:`reset`, :meth:`stall`, :meth:`blackhole`, :meth:`heal`,
    each on ``which="all"`` (every open connection) or one connection's id.
    """

    def __init__(self, upstream, *, host: str = "127.0.0.1", port: int = 0, control_port: int = 0) -> None:
        url = upstream if isinstance(upstream, str) else getattr(upstream, "url", None)
        parts = urlsplit(url or "")
        if parts.scheme not in ("http", "https") or not parts.hostname or not parts.port:
            raise ValueError(f"nothing to relay to: {upstream!r} has no http(s)://host:port URL (is it started?)")
        self.scheme = parts.scheme  # bytes are relayed as they are: TLS passes through untouched
        self.upstream = (parts.hostname, parts.port)
        self.host, self.port, self.control_port = host, port, control_port
        self.url: str | None = None
        self.control_url: str | None = None
        self.process: ManagedProcess | None = None
        self._ready = threading.Event()

    def start(self, timeout: float = 15.0) -> RelayServer:
        remove_stale_tables()
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        try:
            listener = socket.create_server((self.host, self.port), family=family, backlog=1024)
            control = socket.create_server(("127.0.0.1", self.control_port), backlog=64)
        except OSError as exc:
            raise RelayStartError(f"cannot listen on {self.host}:{self.port}: {exc.strerror}") from None
        try:
            shown = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(self.host, self.host)
            shown = f"[{shown}]" if ":" in shown else shown
            self.port = listener.getsockname()[1]
            self.url = f"{self.scheme}://{shown}:{self.port}"
            self.control_url = f"http://127.0.0.1:{control.getsockname()[1]}"
            fds = (listener.fileno(), control.fileno())
            self.process = ManagedProcess(
                python_argv("-m", "labs.harness.relay", "--listen-fd", str(fds[0]), "--control-fd", str(fds[1]),
                            "--upstream", f"{self.upstream[0]}:{self.upstream[1]}"),
                pass_fds=fds, on_line=self._on_line)
        finally:
            listener.close()
            control.close()
        if not wait_until(lambda: self._ready.is_set() or not self.process.alive(), timeout) \
                or not self._ready.is_set():
            output = self.process.log
            self.stop()
            raise RelayStartError(f"the relay did not start; its output:\n{output}")
        return self

    def _on_line(self, line: str) -> None:
        if line.startswith(READY_PREFIX):
            self._ready.set()

    def stop(self) -> None:
        pid = self.pid
        super().stop()
        if pid is not None:
            remove_table(pid)  # if it was killed before it could delete its own rules

    # -- control
    def connections(self) -> list[dict[str, Any]]:
        """Every connection the relay has seen: ``id``, ``client``, ``state``, byte counts..."""
        return requests.get(self.control_url + "/connections", timeout=10).json()["connections"]

    def open_connections(self) -> list[dict[str, Any]]:
        return [c for c in self.connections() if c["state"] not in ("closed", "reset", "ended")]

    def wait_for_connections(self, count: int = 1, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Wait until at least ``count`` connections are open; return them."""
        if not wait_until(lambda: len(self.open_connections()) >= count, timeout):
            raise TimeoutError(f"{len(self.open_connections())} connection(s) open after {timeout} s, not {count}")
        return self.open_connections()

    def fault(self, action: str, which: int | str = "all") -> list[int]:
        response = requests.post(self.control_url + "/fault", json={"action": action, "connection": which},
                                 timeout=10)
        body = response.json()
        if response.status_code == 409:
            raise BlackholeUnavailable(body["detail"])
        if response.status_code != 200:
            raise ValueError(f"{body['error']}: {body['detail']}")
        return body["affected"]

    def close(self, which: int | str = "all") -> list[int]:
        """The reader closes: FIN to the lab (and to the reader)."""
        return self.fault("close", which)

    def reset(self, which: int | str = "all") -> list[int]:
        """The connection is reset: RST to the lab (and to the reader)."""
        return self.fault("reset", which)

    def stall(self, which: int | str = "all") -> list[int]:
        """The reader stops reading; its kernel keeps ACKing until its window fills."""
        return self.fault("stall", which)

    def blackhole(self, which: int | str = "all") -> list[int]:
        """The reader vanishes: the kernel drops its packets, no ACK, FIN or RST (needs root + nft)."""
        return self.fault("blackhole", which)

    def heal(self, which: int | str = "all") -> list[int]:
        """End a stall or black hole: bytes flow again (if the lab has not given up)."""
        return self.fault("heal", which)

    def __repr__(self) -> str:
        return f"<RelayServer {self.url or 'not started'} -> {self.upstream[0]}:{self.upstream[1]}>"


def start_relay(upstream, *, host: str = "127.0.0.1", port: int = 0, control_port: int = 0,
                timeout: float = 15.0) -> RelayServer:
    """Start a chaos relay in front of ``upstream`` (a lab, a proxy, a URL); see :class:`RelayServer`."""
    return RelayServer(upstream, host=host, port=port, control_port=control_port).start(timeout)


def run_with_relay(name: str, *, host: str = "127.0.0.1", port: int = 5000, control_port: int = 0,
                   workers: int | None = None, config: dict | None = None, use_redis: bool = False,
                   behind_proxy: bool = False, proxy_settings=None, announce=None) -> int:
    """``python -m labs run NAME --relay``: the relay on ``host:port``, the lab privately behind it.

    With ``behind_proxy`` the chain is reader -> relay -> nginx -> lab: the relay stands for
    the reader's network, in front of the proxy, as a real reader's network does.
    """
    from contextlib import ExitStack

    from labs.harness.launcher import LabServer, LabStartError
    from labs.harness.nginx import NginxProxy, NginxStartError, NginxUnavailable
    from labs.harness.watchdog import raise_on_sigterm

    raise_on_sigterm()
    config = {"TRUSTED_PROXIES": 1, **(config or {})} if behind_proxy else dict(config or {})
    config.setdefault("VIA_RELAY", True)  # the lab page's header shows the relay in the path
    try:
        with ExitStack() as stack:
            lab = stack.enter_context(LabServer(name, config=config, workers=workers, redis=use_redis))
            parts = [lab]
            if behind_proxy:
                parts.append(stack.enter_context(NginxProxy(lab, proxy_settings)))
            relay = stack.enter_context(RelayServer(parts[-1], host=host, port=port, control_port=control_port))
            _announce_relay(name, relay, parts)
            if announce is not None:
                announce(relay.url)
            while all(part.process.alive() for part in (*parts, relay)):
                time.sleep(0.2)
            print(f"{name}: a part stopped on its own; stopping the rest", file=sys.stderr, flush=True)
            return 1
    except KeyboardInterrupt:
        return 0
    except (LabStartError, NginxStartError, NginxUnavailable, RelayStartError) as exc:
        raise SystemExit(f"{name}: {exc}") from None


def _announce_relay(name: str, relay: RelayServer, parts: list) -> None:
    chain = " -> ".join(["reader", f"relay {relay.url}",
                         *(("nginx " if i else "lab ") + part.url for i, part in reversed(list(enumerate(parts))))])
    ok, why = blackhole_support()
    print(f"{name}: serving on {relay.url}  (through the chaos relay; Ctrl-C stops everything)", flush=True)
    print(f"{name}: chain: {chain}", flush=True)
    print(f"{name}: control: curl {relay.control_url}/connections; curl -d '{{\"action\": \"stall\", "
          f"\"connection\": \"all\"}}' {relay.control_url}/fault  (actions: {', '.join(ACTIONS)})", flush=True)
    if not ok:
        print(f"{name}: no black hole here: {why}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="The chaos relay's process (started by RelayServer).")
    parser.add_argument("--listen-fd", type=int, required=True)
    parser.add_argument("--control-fd", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="HOST:PORT of the lab")
    args = parser.parse_args()
    host, _, port = args.upstream.rpartition(":")
    run_relay(args.listen_fd, args.control_fd, (host, int(port)))
