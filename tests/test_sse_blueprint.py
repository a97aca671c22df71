"""Lab ``sse_blueprint``: flask-sse's Blueprint on a real Redis, over real HTTP.

flask-sse sends no response headers until the first event, so every reader here is
opened with ``wait_connected=False`` and the test waits until Redis counts the
subscription (``PUBSUB NUMSUB``) before publishing.  "Nothing else arrived" is always
proven by sending a sentinel afterwards and checking it is the next event, never by
waiting for silence.
"""

from __future__ import annotations

import itertools

import pytest
import redis
import requests

from labs.core.notify import MAX_MESSAGE_BYTES
from labs.harness.client import EventStream
from labs.harness.launcher import LabServer
from labs.harness.processes import wait_until
from labs.harness.redis_server import RedisServer
from labs.sse_blueprint import subscribers, wait_for_subscribers

_channel_numbers = itertools.count(1)


def fresh_channel() -> str:
    """A channel no other test uses, so counts and events never mix between tests."""
    return f"test-{next(_channel_numbers)}"


@pytest.fixture(scope="module")
def shared_redis():
    """One private Redis for this module's labs (stopping it is left to the 503 tests' own)."""
    with RedisServer(private=True) as server:
        yield server


LAB_NAME = "sse_blueprint"  # the lab the `lab` fixture starts for this module (tests/conftest.py)


@pytest.fixture(scope="module")
def lab_options(shared_redis):
    return {"config": {"REDIS_URL": shared_redis.url}}


@pytest.fixture
def readers():
    """``readers(url, n)`` opens n stream readers; all are closed after the test."""
    opened: list[EventStream] = []

    def open_readers(url: str, count: int = 1) -> list[EventStream]:
        new = [EventStream(url, wait_connected=False) for _ in range(count)]
        opened.extend(new)
        return new

    yield open_readers
    for reader in opened:
        reader.close()


def listen(readers, lab_url: str, redis_url: str, count: int, channel: str) -> list[EventStream]:
    """Open ``count`` readers on ``channel`` and wait until Redis has all of them subscribed."""
    client = redis.Redis.from_url(redis_url)
    try:
        before = subscribers(client, channel)
    finally:
        client.close()
    opened = readers(f"{lab_url}/stream?channel={channel}", count)
    wait_for_subscribers(redis_url, before + count, channel)
    return opened


def publish(lab: LabServer, message, channel: str) -> requests.Response:
    return lab.post(f"/send_notification?channel={channel}", json={"message": message})


# --------------------------------------------------------------------------- the basics

def test_health_and_page(lab):
    assert lab.get("/health").json() == {"status": "ok", "lab": "sse_blueprint"}
    page = lab.get("/")
    assert page.status_code == 200
    assert 'data-lab="sse_blueprint"' in page.text
    assert lab.get("/static/sse_blueprint/page.js").status_code == 200


def test_the_blueprint_is_mounted_at_stream(lab, shared_redis, readers):
    channel = fresh_channel()
    (reader,) = listen(readers, lab.url, shared_redis.url, 1, channel)
    assert publish(lab, "first", channel).status_code == 200
    assert [e.json() for e in reader.wait_for(1)] == [{"message": "first"}]
    assert reader.status == 200
    assert reader.headers["Content-Type"].startswith("text/event-stream")
    # flask-sse writes "event:notify" / "data:{...}" with no space and no id line.
    assert bytes(reader.raw) == b'event:notify\ndata:{"message": "first"}\n\n'


def test_publish_reaches_every_reader(lab, shared_redis, readers):
    channel = fresh_channel()
    opened = listen(readers, lab.url, shared_redis.url, 3, channel)
    assert lab.get(f"/stats?channel={channel}").json() == {"clients": 3, "channel": channel}

    answer = publish(lab, "hello, everyone", channel)
    assert answer.status_code == 200
    assert answer.json()["status"] == "success"
    assert answer.json()["receivers"] == 3  # Redis handed it to three subscriptions
    for reader in opened:
        (event,) = reader.wait_for(1)
        assert event.type == "notify"
        assert event.json() == {"message": "hello, everyone"}


def test_default_channel_is_flask_sse_sse(lab, shared_redis, readers):
    (reader,) = listen(readers, lab.url, shared_redis.url, 1, "sse")
    stats = lab.get("/stats").json()
    assert stats["channel"] == "sse" and stats["clients"] >= 1
    assert lab.publish("on the default channel").status_code == 200
    assert reader.wait_for(1)[0].json() == {"message": "on the default channel"}


def test_channels_keep_their_messages_apart(lab, shared_redis, readers):
    red, blue = fresh_channel(), fresh_channel()
    (red_reader,) = listen(readers, lab.url, shared_redis.url, 1, red)
    (blue_reader,) = listen(readers, lab.url, shared_redis.url, 1, blue)
    assert publish(lab, "for red", red).json()["receivers"] == 1
    assert publish(lab, "for blue", blue).json()["receivers"] == 1
    assert red_reader.wait_for(1)[0].json() == {"message": "for red"}
    assert blue_reader.wait_for(1)[0].json() == {"message": "for blue"}
    # Red's second event is red's own, so "for blue" never reached it.
    assert publish(lab, "red again", red).status_code == 200
    assert [e.json()["message"] for e in red_reader.wait_for(2)] == ["for red", "red again"]


@pytest.mark.parametrize("bad", ["a b", "x" * 65, "semi;colon", "ünïcode"])
def test_bad_channel_names_are_refused(client, bad):
    for response in (client.get("/stream", query_string={"channel": bad}),
                     client.post("/send_notification", query_string={"channel": bad}, json={"message": "hi"}),
                     client.get("/stats", query_string={"channel": bad})):
        assert response.status_code == 400
        assert response.get_json()["error"] == "invalid channel"


# --------------------------------------------------------------------------- bad input

BAD_REQUESTS = {
    "not JSON": (dict(data="hello", headers={"Content-Type": "text/plain"}), 415, "unsupported content type"),
    "no content type": (dict(data=b'{"message": "hi"}'), 415, "unsupported content type"),
    "invalid JSON": (dict(data='{"message": ', headers={"Content-Type": "application/json"}), 400, "invalid JSON"),
    "not UTF-8": (dict(data=b'{"message": "\xff"}', headers={"Content-Type": "application/json"}), 400,
                  "invalid JSON"),
    "a list": (dict(json=["hello"]), 400, "expected a JSON object"),
    "a string": (dict(json="hello"), 400, "expected a JSON object"),
    "missing message": (dict(json={"text": "hello"}), 400, "missing field 'message'"),
    "empty message": (dict(json={"message": ""}), 400, "field 'message' is empty"),
    "blank message": (dict(json={"message": " \n\t "}), 400, "field 'message' is empty"),
    "number message": (dict(json={"message": 42}), 400, "field 'message' must be a string"),
    "null message": (dict(json={"message": None}), 400, "field 'message' must be a string"),
    "object message": (dict(json={"message": {"text": "hi"}}), 400, "field 'message' must be a string"),
    # "\ud800" is valid JSON syntax but names half a UTF-16 pair: no character, no UTF-8.
    "lone surrogate": (dict(data=b'{"message": "hi \\ud800"}', headers={"Content-Type": "application/json"}),
                       400, "invalid JSON"),
    "nested too deeply": (dict(data=b'{"message": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
                               headers={"Content-Type": "application/json"}), 400, "invalid JSON"),
    "over 64 KiB": (dict(json={"message": "x" * (MAX_MESSAGE_BYTES + 1)}), 413, "message too large"),
    "over 64 KiB of UTF-8": (dict(json={"message": "é" * (MAX_MESSAGE_BYTES // 2 + 1)}), 413, "message too large"),
}


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_bad_input_is_refused_and_nothing_is_published(lab, shared_redis, readers, case):
    kwargs, status, error = BAD_REQUESTS[case]
    channel = fresh_channel()
    (reader,) = listen(readers, lab.url, shared_redis.url, 1, channel)

    response = lab.post(f"/send_notification?channel={channel}", **kwargs)
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert body["error"] == error
    assert body.get("detail")
    assert "Traceback" not in response.text

    # The first event the reader sees is the sentinel: the bad request published nothing.
    assert publish(lab, "sentinel", channel).status_code == 200
    assert reader.wait_for(1)[0].json() == {"message": "sentinel"}
    assert len(reader.events) == 1


def test_a_message_of_exactly_64_kib_is_accepted_intact(lab, shared_redis, readers):
    channel = fresh_channel()
    (reader,) = listen(readers, lab.url, shared_redis.url, 1, channel)
    message = "é" * (MAX_MESSAGE_BYTES // 2)  # exactly 65,536 bytes of UTF-8
    assert publish(lab, message, channel).status_code == 200
    assert reader.wait_for(1)[0].json() == {"message": message}


def test_newlines_and_field_lookalikes_arrive_as_one_intact_event(lab, shared_redis, readers):
    channel = fresh_channel()
    (reader,) = listen(readers, lab.url, shared_redis.url, 1, channel)
    message = ("line one\nevent: hacked\ndata: {\"message\": \"forged\"}\n\nid: 99\r\n"
               "retry: 1\rdata: lone CR\u2028line separator\x85next line\x1cfile separator\n")
    assert publish(lab, message, channel).status_code == 200
    assert publish(lab, "sentinel", channel).status_code == 200

    first, second = reader.wait_for(2)
    assert (first.type, first.id) == ("notify", "")
    assert first.json() == {"message": message}
    assert second.json() == {"message": "sentinel"}
    assert len(reader.events) == 2
    assert reader.decoder.retry is None  # no "retry:" line was smuggled in


# --------------------------------------------------------------------------- beyond one process

def test_two_processes_sharing_redis_fan_out_to_each_others_readers(lab_server, private_redis, readers):
    first = lab_server("sse_blueprint", config={"REDIS_URL": private_redis.url})
    second = lab_server("sse_blueprint", config={"REDIS_URL": private_redis.url})
    assert first.pid != second.pid
    channel = fresh_channel()
    on_first = listen(readers, first.url, private_redis.url, 2, channel)
    on_second = listen(readers, second.url, private_redis.url, 2, channel)
    # Each process counts every stream, wherever it is connected: NUMSUB is Redis-wide.
    assert first.get(f"/stats?channel={channel}").json()["clients"] == 4
    assert second.get(f"/stats?channel={channel}").json()["clients"] == 4

    assert publish(first, "posted to the first", channel).json()["receivers"] == 4
    assert publish(second, "posted to the second", channel).json()["receivers"] == 4
    for reader in on_first + on_second:
        assert [e.json()["message"] for e in reader.wait_for(2)] == ["posted to the first", "posted to the second"]


def test_gunicorn_gevent_workers_share_redis_and_hold_many_streams(lab_server, private_redis, readers):
    lab = lab_server("sse_blueprint", config={"REDIS_URL": private_redis.url}, workers=2)
    channel = fresh_channel()
    # Five streams on two workers: one worker holds at least three of them and still
    # answers /stats and the publish, which needs redis-py's blocking reads to yield to gevent.
    opened = listen(readers, lab.url, private_redis.url, 5, channel)
    assert lab.get(f"/stats?channel={channel}").json()["clients"] == 5
    assert publish(lab, "from some worker", channel).json()["receivers"] == 5
    for reader in opened:
        assert reader.wait_for(1)[0].json() == {"message": "from some worker"}
        assert reader.headers["Server"].startswith("gunicorn")


# --------------------------------------------------------------------------- heartbeat

@pytest.mark.parametrize("workers", [None, 1], ids=["dev-server", "gunicorn-gevent"])
def test_the_heartbeat_frees_departed_readers_and_is_never_dispatched(lab_server, shared_redis, workers):
    lab = lab_server("sse_blueprint", config={"REDIS_URL": shared_redis.url, "KEEPALIVE_SECONDS": 0.3},
                     workers=workers)
    channel = fresh_channel()
    staying, leaving = (EventStream(f"{lab.url}/stream?channel={channel}", wait_connected=False)
                        for _ in range(2))
    try:
        wait_for_subscribers(shared_redis.url, 2, channel)
        # Heartbeats arrive as comments: the headers come at once, and no event is dispatched.
        assert staying.wait_for_raw(b": keep-alive\n\n: keep-alive\n\n")
        assert staying.status == 200 and staying.events == []
        leaving.close()
        # Nothing was published: only the heartbeat's write tells the server the reader left.
        assert wait_until(lambda: lab.get(f"/stats?channel={channel}").json()["clients"] == 1, 10)
        assert publish(lab, "still here", channel).json()["receivers"] == 1
        assert [e.json() for e in staying.wait_for(1)] == [{"message": "still here"}]
        assert [e.type for e in staying.events] == ["notify"]
    finally:
        staying.close()
        leaving.close()


# --------------------------------------------------------------------------- Redis down

def test_redis_down_gives_503_and_the_lab_recovers(lab_server, private_redis, readers):
    lab = lab_server("sse_blueprint", config={"REDIS_URL": private_redis.url})
    channel = fresh_channel()
    (reader,) = listen(readers, lab.url, private_redis.url, 1, channel)
    assert publish(lab, "before", channel).status_code == 200
    reader.wait_for(1)

    private_redis.stop()
    answer = publish(lab, "while down", channel)
    assert answer.status_code == 503
    assert answer.json()["error"] == "Redis is down"
    stats = lab.get(f"/stats?channel={channel}")
    assert (stats.status_code, stats.json()["error"]) == (503, "Redis is down")
    stream = lab.get(f"/stream?channel={channel}")
    assert (stream.status_code, stream.json()["error"]) == (503, "Redis is down")
    # The server itself is fine, and the open stream ended cleanly (so EventSource reconnects).
    assert lab.get("/health").status_code == 200
    assert reader.ended.wait(30)
    assert reader.error is None
    assert [e.json()["message"] for e in reader.events] == ["before"]

    private_redis.start()  # same port, as a restarted Redis would be
    assert private_redis.url == lab.config["REDIS_URL"]
    (again,) = listen(readers, lab.url, private_redis.url, 1, channel)
    answer = publish(lab, "after", channel)
    assert answer.status_code == 200
    assert answer.json()["receivers"] == 1
    assert again.wait_for(1)[0].json() == {"message": "after"}
    assert lab.get(f"/stats?channel={channel}").json()["clients"] == 1


def test_the_lab_refuses_to_start_without_redis_config():
    from labs.sse_blueprint import create_app

    with pytest.raises(RuntimeError, match="REDIS_URL"):
        create_app({})


# --------------------------------------------------------------------------- the browser

def wait_for_clients(lab: LabServer, count: int, channel: str = "sse") -> None:
    stats = f"/stats?channel={channel}"
    assert wait_until(lambda: lab.get(stats).json()["clients"] >= count, timeout=10), \
        f"the pages did not all connect: {lab.get(stats).json()}"


@pytest.mark.browser
def test_a_message_sent_from_one_tab_appears_in_both(lab, new_page):
    from playwright.sync_api import expect

    channel = fresh_channel()  # the page listens and publishes on its ?channel=
    sender, watcher = new_page(), new_page()
    for tab in (sender, watcher):
        tab.goto(f"{lab.url}/?channel={channel}")
    wait_for_clients(lab, 2, channel)

    sender.fill("#message", "Hello from tab one")
    sender.click("#send")
    for tab in (sender, watcher):
        expect(tab.locator("#notifications li")).to_have_text(["Hello from tab one"])
    expect(sender.locator("#send-result")).to_have_text("sent to 2 stream(s)")
    expect(sender.locator("#message")).to_have_value("")
    # The wire panel shows the event's fields as they arrived.
    expect(watcher.locator("#wire")).to_contain_text('event: notify | data: {"message": "Hello from tab one"}')


@pytest.mark.browser
def test_markup_in_a_message_shows_as_text(lab, new_page):
    from playwright.sync_api import expect

    channel = fresh_channel()
    sender, watcher = new_page(), new_page()
    for tab in (sender, watcher):
        tab.goto(f"{lab.url}/?channel={channel}")
    wait_for_clients(lab, 2, channel)

    markup = '<img src=x onerror="window.pwned=1"><b>bold</b><script>window.pwned=2</script>'
    assert publish(lab, markup, channel).status_code == 200
    for tab in (sender, watcher):
        item = tab.locator("#notifications li")
        expect(item).to_have_text([markup])
        assert item.locator("img, b, script").count() == 0
        assert tab.evaluate("window.pwned") is None


@pytest.mark.browser
def test_the_raw_panel_shows_the_bytes_flask_sse_wrote(lab, page):
    from playwright.sync_api import expect

    channel = fresh_channel()
    page.goto(f"{lab.url}/?channel={channel}")
    wait_for_clients(lab, 1, channel)
    page.check("#raw")  # a second reader, with fetch(), that shows the bytes themselves
    wait_for_clients(lab, 2, channel)
    assert publish(lab, "two\nlines", channel).status_code == 200
    # flask-sse's framing exactly: no space after the colons, one data: line per line of
    # the JSON text (here one: json.dumps escapes the newline), then the blank line.
    expect(page.locator("#wire")).to_contain_text(
        'raw "event:notify\\ndata:{\\"message\\": \\"two\\\\nlines\\"}\\n\\n"', timeout=10000)


@pytest.mark.browser
def test_the_page_shows_a_refused_message(lab, page):
    from playwright.sync_api import expect

    page.goto(f"{lab.url}/?channel={fresh_channel()}")
    page.fill("#message", "   ")
    page.click("#send")
    expect(page.locator("#send-result")).to_contain_text("400: field 'message' is empty")
    expect(page.locator("#notifications li")).to_have_count(0)


@pytest.mark.browser
def test_the_page_survives_a_redis_restart(lab_server, private_redis, page):
    from playwright.sync_api import expect

    lab = lab_server("sse_blueprint", config={"REDIS_URL": private_redis.url})
    page.goto(lab.url + "/")
    wait_for_clients(lab, 1)
    page.fill("#message", "before the outage")
    page.click("#send")
    expect(page.locator("#notifications li")).to_have_text(["before the outage"])

    private_redis.stop()
    page.fill("#message", "during the outage")
    page.click("#send")
    expect(page.locator("#send-result")).to_contain_text("503: Redis is down")
    # The stream ends, the page's reconnection is refused with 503, and it keeps trying.
    expect(page.locator("#lab-state")).to_have_class("state bad", timeout=30_000)

    private_redis.start()
    wait_for_clients(lab, 1)  # the page reconnected by itself
    page.fill("#message", "after the outage")
    page.click("#send")
    expect(page.locator("#notifications li")).to_have_text(["after the outage", "before the outage"],
                                                           timeout=10_000)


def test_classroom_mode_needs_the_token_before_publishing(lab_server, private_redis, readers):
    lab = lab_server("sse_blueprint", config={"REDIS_URL": private_redis.url, "PUBLISH_TOKEN": "s3cret"})
    channel = fresh_channel()
    (reader,) = listen(readers, lab.url, private_redis.url, 1, channel)
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
        answer = lab.post(f"/send_notification?channel={channel}", json={"message": "not yours"}, headers=headers)
        assert answer.status_code == 401
        assert answer.json()["error"] == "publishing needs the instructor's token"
    answer = lab.post(f"/send_notification?channel={channel}", json={"message": "from the instructor"},
                      headers={"Authorization": "Bearer s3cret"})
    assert answer.status_code == 200
    assert [e.json()["message"] for e in reader.wait_for(1)] == ["from the instructor"]
    assert len(reader.events) == 1


@pytest.mark.browser
def test_the_page_asks_for_the_token_in_classroom_mode(lab_server, page):
    from playwright.sync_api import expect

    # No REDIS_URL: `python -m labs run` starts a private Redis for the lab, as in class.
    lab = lab_server("sse_blueprint", config={"PUBLISH_TOKEN": "s3cret"})
    page.goto(lab.url + "/")
    wait_for_clients(lab, 1)
    page.once("dialog", lambda dialog: dialog.accept("s3cret"))
    page.fill("#message", "class starts now")
    page.click("#send")
    expect(page.locator("#notifications li")).to_have_text(["class starts now"])


@pytest.mark.browser
def test_the_page_switches_channels(lab, page):
    from playwright.sync_api import expect

    first, second = fresh_channel(), fresh_channel()
    page.goto(f"{lab.url}/?channel={first}")
    wait_for_clients(lab, 1, first)
    page.fill("#channel", second)
    page.click("#switch")
    wait_for_clients(lab, 1, second)
    assert page.url.endswith(f"?channel={second}")  # a link to this page opens the same channel
    expect(page.locator("#listening")).to_have_text(f"(channel {second})")

    assert publish(lab, "on the old channel", first).status_code == 200
    page.fill("#message", "on the new channel")
    page.click("#send")  # the page publishes on the channel it listens to
    expect(page.locator("#send-result")).to_have_text("sent to 1 stream(s)")
    expect(page.locator("#notifications li")).to_have_text(["on the new channel"])
