"""The workload every transport gets, and the per-client tally of what arrived.

Each measured message is a JSON text inside the notification's ``message`` string::

    {"bench": "<run id>", "seq": 7, "t": 1764061234.123456}

``t`` is the publisher's ``time.time()`` just before its POST left, so a client computes
the delivery latency from the message alone, whatever transport carried it.  Warm-up
messages (``{"bench": ..., "warm": k}``) tell the harness that a client is really
receiving before the measured messages start; they are never counted as deliveries.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field


def stamp(run: str, seq: int, sent: float) -> str:
    return json.dumps({"bench": run, "seq": seq, "t": round(sent, 6)})


def warm_up(run: str, k: int) -> str:
    return json.dumps({"bench": run, "warm": k})


@dataclass
class Tally:
    """What one client received: first-arrival latency per message, duplicates, strays."""

    run: str
    latencies: dict[int, float] = field(default_factory=dict)  # seq -> seconds
    duplicates: int = 0
    warm: int = 0
    strays: int = 0  # messages of another run or not ours at all (e.g. a chat line)

    def record(self, message: object, now: float) -> None:
        try:
            body = json.loads(message) if isinstance(message, str) else None
        except ValueError:
            body = None
        if not isinstance(body, dict) or body.get("bench") != self.run:
            self.strays += 1
        elif "warm" in body:
            self.warm += 1
        elif body.get("seq") in self.latencies:
            self.duplicates += 1
        else:
            self.latencies[body["seq"]] = now - body["t"]

    @property
    def delivered(self) -> int:
        return len(self.latencies)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list; NaN for an empty one."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def summarize(tallies: list[Tally], published: set[int]) -> dict[str, float]:
    """Deliveries, losses and latency over every client, for the messages really published."""
    latencies = [lat for t in tallies for seq, lat in t.latencies.items() if seq in published]
    delivered = len(latencies)
    expected = len(tallies) * len(published)
    return {
        "expected": expected,
        "delivered": delivered,
        "lost": expected - delivered,
        "duplicated": sum(t.duplicates for t in tallies),
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "max_ms": (max(latencies) * 1000) if latencies else math.nan,
    }
