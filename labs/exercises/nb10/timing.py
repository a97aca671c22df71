"""What notebook 10's checks share: a manual_sse lab to publish to, and a reader that times each
event from the lab's publish to its arrival through the proxies in between (live, or held)."""

from __future__ import annotations

import time

from labs.exercises.support import random_text

LIVE_WITHIN = 0.5  # seconds from publishing to arrival that still count as live
HELD_WAIT = 1.5  # seconds after the last publish that a reader waits for what is missing


class Lab:
    """A real manual_sse lab: ``url`` (where a proxy sends requests, perhaps through a relay) and
    ``publish(message)`` (straight to the lab, at ``publish_url``)."""

    def __init__(self, url: str, publish_url: str | None = None) -> None:
        self.url = url
        self._publish_url = publish_url or url

    def publish(self, message: str) -> float:
        """POST the message straight to the lab; returns when it was published (monotonic)."""
        import requests

        sent = time.monotonic()
        answer = requests.post(self._publish_url + "/send_notification", json={"message": message}, timeout=5)
        answer.raise_for_status()
        return sent


def race(lab: Lab, url: str, *, count: int = 3, gap: float = 0.25):
    """Read ``url``'s stream (asking for gzip, as browsers do) while ``count`` made-up messages
    are published ``gap`` s apart.  Returns (reader, delays): each message's delay from publish
    to arrival, None if it never came.  The reader is left open."""
    from labs.harness.stream_timing import TimedStream

    reader = TimedStream(url + "/stream", accept_gzip=True)
    reader.wait_headers(1.0)  # a proxy that holds the stream sends no headers: don't wait long
    time.sleep(0.2)  # let the proxy's connection to the lab settle before publishing
    messages = [f"{random_text()} #{n}" for n in range(count)]
    published = {}
    for message in messages:
        published[message] = lab.publish(message)
        time.sleep(gap)
    reader.wait_until(lambda r: all(m in r.messages for m in messages), HELD_WAIT)
    arrived = arrivals(reader)
    return reader, [arrived[m] - published[m] if m in arrived else None for m in messages]


def arrivals(reader) -> dict[str, float]:
    """Each notify message the reader got -> when it arrived."""
    return {a.event.json().get("message"): a.at for a in list(reader.arrivals) if a.event.type == "notify"}


def describe(reader, delays: list) -> str:
    """What a reader got, in words: "live" or what went wrong."""
    first = reader.connections[0]
    came = [d for d in delays if d is not None]
    if first.headers_at is not None and first.status != 200:
        return f"the stream was answered {first.status} {first.headers.get('Content-Type', '')}".strip()
    if not came:
        headers = "" if first.headers_at is not None else ", not even the response headers"
        return (f"held: none of the {len(delays)} events the lab wrote reached the reader within "
                f"{HELD_WAIT:g} s of the last{headers} ({reader.wire_bytes} bytes in all)")
    if len(came) < len(delays):
        return f"only {len(came)} of the {len(delays)} events the lab wrote arrived"
    late = [(n, d) for n, d in enumerate(delays, 1) if d > LIVE_WITHIN]
    if late:
        n, d = late[0]
        return (f"event {n} of {len(delays)} arrived {d:.2f} s after the lab wrote it "
                f"(live means within {LIVE_WITHIN:g} s)")
    return "live"

