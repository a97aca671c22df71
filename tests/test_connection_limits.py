"""HTTP/1.1's six connections per origin, and HTTP/2, in headless Chromium (notebook 11).

The manual_sse page's demo switch (``/?streams=N``, static/manual_sse/streams.js) opens N
EventSources beside the page's own, then a ``fetch('health')``.  What is counted is what
the browser reports (each EventSource's state, whether the fetch answered) and what the lab
counts (``/stats``: open streams), never a time:

- over HTTP/1.1, 5 of 8 open (the page's own stream is the 6th connection), the others and
  the fetch wait; TLS alone changes nothing;
- through nginx over HTTP/2 all 8 open and the fetch answers; nginx's
  ``http2_max_concurrent_streams`` is HTTP/2's own limit, and the browser stops there;
- the limit is the browser's, shared by its tabs;
- the fix over HTTP/1.1 (static/manual_sse/shared.html): 10 tabs, one stream, every message.
"""

from __future__ import annotations

import random
import string
import time

import pytest
import requests

from labs.harness.nginx import start_proxy
from labs.harness.processes import wait_until

pytestmark = pytest.mark.browser

LAB_NAME = "manual_sse"


@pytest.fixture(scope="module")
def lab_options():
    # A closed tab's stream is noticed at the next write: a quick keep-alive makes /stats exact soon.
    return {"config": {"KEEPALIVE_SECONDS": 0.5}}


def clients(lab_or_url, **kwargs) -> int:
    url = getattr(lab_or_url, "url", lab_or_url)
    return requests.get(url + "/stats", timeout=5, **kwargs).json()["clients"]


def quiet(lab) -> None:
    """No stream left from an earlier test."""
    assert wait_until(lambda: clients(lab) == 0, 10), f"{clients(lab)} streams left over"


def settled(tab, still: float = 1.5, limit: float = 25.0) -> dict:
    """The demo's streams and probe once nothing has changed for ``still`` seconds."""
    read = "() => window.streamsDemo && [streamsDemo.states().join(), streamsDemo.probe().state]"
    last, since, deadline = None, time.monotonic(), time.monotonic() + limit
    while time.monotonic() < deadline:
        now = tab.evaluate(read)
        if now != last:
            last, since = now, time.monotonic()
        elif now and now[1] != "not sent yet" and time.monotonic() - since >= still:
            break
        time.sleep(0.2)
    return tab.evaluate("() => ({protocol: streamsDemo.protocol, states: streamsDemo.states(),"
                        " open: streamsDemo.opened(), probe: streamsDemo.probe().state})")


def open_demo(context, url: str, streams: int) -> tuple[object, dict]:
    tab = context.new_page()
    tab.goto(f"{url}/?streams={streams}&probe=1000")
    return tab, settled(tab)


def test_over_http11_the_seventh_stream_and_a_fetch_wait(lab, tls_context):
    quiet(lab)
    _, seen = open_demo(tls_context, lab.url, 8)
    assert seen["protocol"] == "http/1.1"
    assert seen["open"] == 5, f"the page's own stream and 5 more make 6 connections: {seen}"
    assert seen["states"].count("connecting") == 3, seen
    assert seen["probe"] == "waiting", f"a fetch needs a connection too: {seen}"
    assert clients(lab) == 6, "the lab sees the page's own stream and 5 of the 8"


def test_tls_alone_does_not_lift_it(lab, tls_context):
    quiet(lab)
    with start_proxy(lab, tls=True) as proxy:
        _, seen = open_demo(tls_context, proxy.url, 8)
        assert seen["protocol"] == "http/1.1" and proxy.url.startswith("https://")
        assert (seen["open"], seen["probe"]) == (5, "waiting"), seen


def test_over_http2_all_open_and_the_fetch_answers(lab, tls_context):
    quiet(lab)
    with start_proxy(lab, http2=True) as proxy:
        _, seen = open_demo(tls_context, proxy.url, 8)
        assert seen["protocol"] == "h2"
        assert seen["open"] == 8 and seen["probe"] == "answered", seen
        assert clients(lab) == 9, "every stream reached the lab, through nginx"


@pytest.mark.parametrize("limit", [4, 6])
def test_http2s_own_limit_is_nginxs_max_concurrent_streams(lab, tls_context, limit):
    quiet(lab)
    with start_proxy(lab, http2=True, max_concurrent_streams=limit) as proxy:
        assert f"http2_max_concurrent_streams {limit};" in proxy.config_text
        _, seen = open_demo(tls_context, proxy.url, 8)
        assert seen["protocol"] == "h2"
        assert seen["open"] == limit - 1, f"{limit} streams at once on one connection, the page's own is one: {seen}"
        assert seen["probe"] == "waiting", seen


def test_the_limit_is_the_browsers_shared_by_its_tabs(lab, tls_context):
    quiet(lab)
    first, seen_first = open_demo(tls_context, lab.url, 3)
    assert seen_first["open"] == 3 and seen_first["probe"] == "answered", "4 connections of 6: room left"
    second, seen_second = open_demo(tls_context, lab.url, 3)
    assert seen_second["open"] == 1, f"the first tab holds 4, this one's own stream and 1 more make 6: {seen_second}"
    assert seen_second["probe"] == "waiting", seen_second
    assert clients(lab) == 6
    first.close()  # its four connections go back to the browser's pool
    after = settled(second)
    assert after["open"] == 3 and after["probe"] == "answered", after


def random_text() -> str:
    return "".join(random.choices(string.ascii_letters + " ", k=random.randint(5, 20))).strip() or "x"


def shared_tabs_state(tabs) -> tuple[list[str], list[list[str]]]:
    roles = [tab.evaluate("sharedStream.role()").split(":")[0] for tab in tabs]
    messages = [[item["message"] for item in tab.evaluate("sharedStream.received")] for tab in tabs]
    return roles, messages


def test_the_shared_stream_page_gives_10_tabs_every_message_over_one_stream(lab, tls_context):
    quiet(lab)
    tabs = []
    for _ in range(10):
        tab = tls_context.new_page()
        tab.goto(lab.url + "/static/manual_sse/shared.html")
        tabs.append(tab)
    assert wait_until(lambda: shared_tabs_state(tabs)[0].count("leader") == 1 and clients(lab) == 1, 15)
    texts = [random_text(), f"<b>{random_text()}</b> & co", random_text(), random_text()]
    for text in texts:
        assert lab.publish(text).status_code == 200
    assert wait_until(lambda: all(got == texts for got in shared_tabs_state(tabs)[1]), 15), shared_tabs_state(tabs)
    assert all(tab.locator("#notifications b").count() == 0 for tab in tabs), "markup shows as text"
    roles, _ = shared_tabs_state(tabs)
    assert sorted(roles) == ["follower"] * 9 + ["leader"]
    assert clients(lab) == 1, "ten tabs, one stream"

    # The leader goes: another tab takes over, from the last id, and nothing is lost.
    leader = tabs.pop(roles.index("leader"))
    leader.close()
    assert wait_until(lambda: shared_tabs_state(tabs)[0].count("leader") == 1 and clients(lab) == 1, 15), (
        shared_tabs_state(tabs)[0], clients(lab))
    later = random_text()
    lab.publish(later)
    assert wait_until(lambda: all(got == [*texts, later] for got in shared_tabs_state(tabs)[1]), 15), (
        shared_tabs_state(tabs)[1])
