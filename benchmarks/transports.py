"""The transports of the showdown: which lab serves each, which client reads it, and caps.

Caps: a transport whose clients would need more requests per second than this 2-core
machine can serve while also running the clients is measured at a smaller N, and the
table says so (``capped at N``).  Short polling at 0.5 s is the case: 1,000 clients
would be 2,000 requests/s of pure overhead, whether or not anything happened (200
clients, 400 requests/s, already take a third of a core here).  At 2 s, 1,000 clients
are 500 requests/s, which fits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from benchmarks.clients import Client, PollClient
from benchmarks.stream_clients import SocketIOClient, SSEClient
from benchmarks.webhook import SECRET as WEBHOOK_SECRET
from benchmarks.workload import Tally

LONG_POLL_HOLD = 25.0  # seconds a long poll may be held: the lab's default


@dataclass(frozen=True)
class Transport:
    name: str
    label: str
    lab: str
    kind: str  # "poll", "long_poll", "sse", "websocket" or "webhook" (no clients: see benchmarks.webhook)
    interval: float = 0.0  # short polling: seconds between polls
    max_clients: int = 1000
    cap_reason: str = ""
    config: dict[str, Any] = field(default_factory=dict)

    def client(self, host: str, port: int, tally: Tally) -> Client:
        if self.kind == "poll":
            return PollClient(host, port, tally, interval=self.interval)
        if self.kind == "long_poll":
            return PollClient(host, port, tally, hold=LONG_POLL_HOLD)
        if self.kind == "sse":
            return SSEClient(host, port, tally)
        if self.kind == "websocket":
            return SocketIOClient(host, port, tally)
        raise ValueError(f"unknown transport kind {self.kind!r}")

    @property
    def stop_grace(self) -> float:
        """Seconds a client may take to finish its request when told to stop."""
        return 3.0 if self.kind == "poll" else 0.0

    @property
    def drain_seconds(self) -> float:
        """How long after the last send stragglers may still arrive (a poll period and more)."""
        return 5.0 + 2 * self.interval


TRANSPORTS: dict[str, Transport] = {t.name: t for t in [
    Transport("polling_0.5s", "short polling 0.5 s", "polling", "poll", interval=0.5, max_clients=200,
              cap_reason="2 requests/s per client: 1,000 clients would be 2,000 requests/s"),
    Transport("polling_2s", "short polling 2 s", "polling", "poll", interval=2.0),
    Transport("long_polling", "long polling", "long_polling", "long_poll"),
    Transport("sse_blueprint", "SSE (flask-sse + Redis)", "sse_blueprint", "sse"),
    Transport("manual_sse", "SSE (by hand)", "manual_sse", "sse"),
    Transport("websockets", "WebSocket (Socket.IO)", "websockets", "websocket"),
    Transport("webhooks", "webhook (server → server)", "webhooks", "webhook", max_clients=1,
              cap_reason="one sending service, one receiving server",
              config={"WEBHOOK_SECRET": WEBHOOK_SECRET}),
]}


def select(names: str | None) -> list[Transport]:
    """``"polling,manual_sse"`` -> those transports; a lab name picks all of its transports."""
    if not names:
        return list(TRANSPORTS.values())
    chosen: list[Transport] = []
    for name in (part.strip() for part in names.split(",") if part.strip()):
        matches = [t for t in TRANSPORTS.values() if name in (t.name, t.lab)]
        if not matches:
            raise SystemExit(f"unknown transport {name!r}; choose from: {', '.join(TRANSPORTS)}")
        chosen += [t for t in matches if t not in chosen]
    return chosen
