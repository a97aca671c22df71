"""A cluster's nodes tell each other, through the kit's Redis, how many readers each holds.

A lab page's "N connected" comes from ``GET /stats`` of whichever node nginx picked; on its
own that node knows only its own streams.  A node started with ``NODE_NAME`` (every node of
:mod:`labs.harness.cluster`) and a Redis broker runs a :class:`Presence`:

- every :data:`BEAT_SECONDS` it writes ``<key>:nodes:<NODE_NAME>`` = ``{"clients": n, "pid": p}``
  that expires after :data:`TTL_SECONDS`, so a node that was killed drops out by itself;
- each stream it opens adds one to ``<key>:opened``, the cluster's count of streams opened
  (``python -m labs cluster`` prints its rate during a rolling restart: reconnects per second);
- ``<key>:shutdown_retry``, when set (``python -m labs cluster``'s ``rolling jitter|fixed``),
  is the ``retry:`` range, in ms, of this node's goodbye instead of ``SHUTDOWN_RETRY_MS``.

``key`` is the node's ``REDIS_KEY``: one per cluster, so two clusters on one Redis never mix.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

BEAT_SECONDS = 1.0
TTL_SECONDS = 3

log = logging.getLogger("labs")


class Presence:
    def __init__(self, client, key: str, node: str, count: Callable[[], int]) -> None:
        self.client = client  # a redis.Redis with decode_responses=True
        self.key = key
        self.node = node
        self.count = count
        self._thread: threading.Thread | None = None

    @property
    def node_key(self) -> str:
        return f"{self.key}:nodes:{self.node}"

    def start(self) -> Presence:
        self._thread = threading.Thread(target=self._beat, daemon=True, name="presence")
        self._thread.start()
        return self

    def _beat(self) -> None:
        while True:
            self.write()
            time.sleep(BEAT_SECONDS)

    def write(self) -> None:
        try:
            self.client.set(self.node_key, json.dumps({"clients": self.count(), "pid": os.getpid()}), ex=TTL_SECONDS)
        except Exception as exc:  # Redis down: the page shows this node's own count meanwhile
            log.debug("presence: %s", exc)

    def opened(self) -> None:
        """A stream opened on this node (counted cluster-wide)."""
        try:
            self.client.incr(f"{self.key}:opened")
        except Exception as exc:
            log.debug("presence: %s", exc)

    def shutdown_retry(self) -> Any:
        """The goodbye's ``retry:`` range set for the whole cluster, or None."""
        try:
            raw = self.client.get(f"{self.key}:shutdown_retry")
        except Exception:
            return None
        return json.loads(raw) if raw else None

    def cluster(self) -> dict[str, Any]:
        """``{"clients": total, "nodes": {name: clients}}`` over every node that beat lately."""
        self.write()  # this node's count is fresh, whatever the beat
        names = sorted(self.client.scan_iter(match=f"{self.key}:nodes:*", count=100))
        values = self.client.mget(names) if names else []
        nodes = {}
        for name, value in zip(names, values, strict=True):
            if value:
                nodes[name.rsplit(":", 1)[1]] = json.loads(value)["clients"]
        return {"clients": sum(nodes.values()), "nodes": nodes}


def start_presence(config: dict[str, Any], broker, count: Callable[[], int]) -> Presence | None:
    """A running :class:`Presence` when the config names this node and the broker is Redis."""
    node = config.get("NODE_NAME")
    if not node or broker.kind != "redis":
        return None
    return Presence(broker.log.redis, config.get("REDIS_KEY", "sse-kit:manual_sse"), str(node), count).start()
