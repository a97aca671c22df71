"""Exercise 10.1: ``lab_location(upstream, keepalive_seconds)``, the ``location`` block that carries a
stream through nginx: it must load, leave the lab's JSON compressed, let nginx reuse its
connections to the lab, deliver events live, and keep a quiet stream open past a keep-alive."""

from __future__ import annotations

import random
import re
import secrets

from labs.exercises import Answer, exercise
from labs.exercises.nb10.nginx_config import NginxRefused, config_for, nginx_says, run_nginx
from labs.exercises.nb10.relay import CountingRelay, gunicorn_lab
from labs.exercises.nb10.timing import HELD_WAIT, LIVE_WITHIN, Lab, arrivals, describe, race
from labs.exercises.support import random_text, run_with_limit

KEEPALIVE_CHOICES = (3, 4)  # the lab's keep-alive intervals the check picks from


def _check_json(url: str, relay: CountingRelay) -> None:
    """The lab's JSON through the block: answered, still compressed, over reused connections (the
    relay in front of the lab counts them)."""
    import requests

    session = requests.Session()
    try:
        first = session.get(url + "/stats", timeout=5)
    except requests.RequestException as exc:
        raise AssertionError(f"GET /stats through your block did not answer ({type(exc).__name__})") from None
    if first.status_code != 200 or "clients" not in first.text:
        raise AssertionError(f"GET /stats through your block answered {first.status_code}, not the lab's JSON: "
                             "does your block pass every request to the upstream it was given?")
    assert first.headers.get("Content-Encoding") == "gzip", (
        "the lab's JSON (GET /stats) came through your block uncompressed, although the server "
        "compresses application/json: your block switched gzip off for everything, not just the stream")
    before = relay.opened
    for _ in range(10):
        session.get(url + "/stats", timeout=5).raise_for_status()
    opened = relay.opened - before
    if opened > 3:
        versions = {version for version, _ in relay.firsts[before:]}
        closes = any(connection.lower() == "close" for _, connection in relay.firsts[before:])
        why = ("nginx spoke HTTP/1.0 to the lab, which ends a connection after one answer" if "HTTP/1.0" in versions
               else "nginx sent the lab `Connection: close` (the server's own proxy_set_header lines say so for "
                    "every request that is not a WebSocket handshake)" if closes
               else "a connection was ended after one answer")
        raise AssertionError(
            f"10 requests for /stats through your block opened {opened} new connections to the lab: nginx "
            f"closed each one after its answer instead of keeping it for the next, so the upstream's "
            f"`keepalive` pool stayed empty: {why}")


def _check_stream(url: str, lab: Lab, keepalive: int) -> None:
    reader, delays = race(lab, url, count=4)
    try:
        what = describe(reader, delays)
        assert what == "live", f"through your block, {what}"
        quiet = keepalive + 0.8  # one keep-alive comment, and some room
        reader.wait_until(lambda r: r.connections[0].end is not None, quiet)
        first = reader.connections[0]
        if first.end is not None:
            after = first.ended_at - reader.arrivals[-1].at
            raise AssertionError(
                f"nginx cut the stream after {after:.1f} s of silence, before the lab's next keep-alive "
                f"comment (it sends one after {keepalive} s of silence): the read timeout that applies to "
                "your block is shorter than the keep-alive interval")
        comments = reader.raw.count(b": keep-alive")
        assert comments >= 1, (
            f"the stream stayed open through {quiet:.1f} s of silence, but the lab's keep-alive comments "
            f"(one every {keepalive} s) did not come through")
        last = f"after the silence: {random_text()}"
        sent = lab.publish(last)
        reader.wait_until(lambda r: last in r.messages, HELD_WAIT)
        arrived = arrivals(reader).get(last)
        assert arrived is not None and arrived - sent <= LIVE_WITHIN, (
            "after a quiet spell the stream was still open, but the next event did not arrive live")
    finally:
        reader.close()


@exercise("10.1", hints=[
    "Read what the check says happened, then find the section of the notebook where the same thing "
    "happened on purpose: each fault there came with its fix.",
    "One block has three jobs here: the stream must not be held by gzip with buffering (section 3 names "
    "three ways out, and only the stream needs one), nginx's connections to the lab must be reusable "
    "(section 6), and a quiet stream must outlive the lab's keep-alive interval (section 4).",
    "Everything you need is in the config `start_proxy` printed in section 1: `proxy_pass http://` and the "
    "upstream you are given, `proxy_http_version`, `proxy_set_header Connection`, `proxy_buffering`, "
    "`proxy_read_timeout` (in whole seconds, e.g. `90s`). A `gzip_types` line inside the block replaces the "
    "server's list for that block.",
])
def check_10_1(answer: Answer) -> None:
    make_block = answer.function("lab_location")
    upstream = f"sse_nodes_{secrets.token_hex(3)}"
    keepalive = random.choice(KEEPALIVE_CHOICES)
    block = run_with_limit(make_block, upstream, keepalive, limit=5,
                           late="lab_location(...) did not return within 5 s: it only builds a string")
    assert isinstance(block, str), f"lab_location(...) should return the block as a str; it returned {block!r}"
    assert re.search(r"\blocation\b", block), (
        f"lab_location({upstream!r}, {keepalive}) should return a `location / {{ ... }}` block; it returned "
        f"{block.strip()[:80]!r}")
    relay = CountingRelay()  # nginx's upstream: the lab, through a relay that counts connections
    config, before = config_for(block, upstream, relay.url)
    try:
        with run_nginx(config) as url, gunicorn_lab({"KEEPALIVE_SECONDS": keepalive, "RETRY_MS": 1000}, relay) as lab:
            _check_json(url, relay)
            _check_stream(url, lab, keepalive)
    except NginxRefused as refused:
        raise AssertionError(nginx_says(refused.args[0], before, len(block.strip("\n").splitlines()))) from None
    finally:
        relay.close()

