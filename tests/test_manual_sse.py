"""The manual_sse lab and its ASGI twin quart_sse: ids, replay, gaps, keep-alives, cleanup,
slow readers, Redis.  Every behaviour test runs against both (the ``lab_name`` fixture): the
same routes and the same stream, served by WSGI (development server, gunicorn + gevent) and
by ASGI (Quart on uvicorn).

Every test talks to a real lab server over real HTTP (and a real Redis, a real
Chromium where marked).  Waits are bounded; nothing asserts on timings.
"""

from __future__ import annotations

import socket
import threading
import uuid

import psutil
import pytest
import requests

from labs import EventStream
from labs.core.broker import Broker
from labs.core.event_log import MemoryEventLog
from labs.core.notify import MAX_MESSAGE_BYTES
from labs.core.sse_response import Subscriber
from labs.harness.processes import wait_until

# Short keep-alives and retries so that disconnects are noticed, and browsers come
# back, within a second or so.
FAST = {"KEEPALIVE_SECONDS": 0.3, "RETRY_MS": 500}


# The same lesson on both kinds of server; what runs only on one says so.
LAB_NAMES = ["manual_sse", "quart_sse"]
# (lab, --workers): WSGI's two servers, and uvicorn.
SERVERS = [pytest.param("manual_sse", None, id="manual_sse-dev-server"),
           pytest.param("manual_sse", 1, id="manual_sse-gunicorn-gevent"),
           pytest.param("quart_sse", None, id="quart_sse-uvicorn")]


@pytest.fixture(params=LAB_NAMES)
def lab_name(request) -> str:
    return request.param


def stats(lab) -> dict:
    return lab.get("/stats").json()


def wait_for_clients(lab, count: int, timeout: float = 10.0) -> dict:
    assert wait_until(lambda: stats(lab)["clients"] == count, timeout), \
        f"expected {count} open stream(s), /stats says {stats(lab)}"
    return stats(lab)


def publish_all(lab, messages) -> list[int]:
    ids = []
    for message in messages:
        response = lab.publish(message)
        assert response.status_code == 200, response.text
        ids.append(response.json()["id"])
    return ids


def redis_config(redis_server, **extra) -> dict:
    # A key of its own per test: the session's Redis is shared with other tests.
    return {**FAST, "BROKER": "redis", "REDIS_URL": redis_server.url,
            "REDIS_KEY": f"test:manual_sse:{uuid.uuid4().hex}", **extra}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --------------------------------------------------------------------------- the stream

def test_stream_headers_retry_hint_and_an_id_on_every_event(lab_name, lab_server):
    lab = lab_server(lab_name, config={**FAST, "RETRY_MS": 1234})
    with EventStream(lab.url + "/stream") as stream:
        assert stream.status == 200
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        assert stream.headers["Cache-Control"] == "no-cache"
        assert stream.headers["X-Accel-Buffering"] == "no"
        assert publish_all(lab, ["one", "two\nlines", "three"]) == [1, 2, 3]
        events = stream.wait_for(3, type="notify")
    assert stream.decoder.retry == 1234
    assert [e.id for e in events] == ["1", "2", "3"]
    assert [e.json() for e in events] == [{"message": "one"}, {"message": "two\nlines"}, {"message": "three"}]


def test_reconnect_with_last_event_id_loses_nothing_and_repeats_nothing(lab_name, lab_server):
    lab = lab_server(lab_name, config=FAST)
    with EventStream(lab.url + "/stream") as first:
        publish_all(lab, ["a", "b", "c"])
        seen = first.wait_for(3, type="notify")
    last = first.decoder.last_event_id
    assert last == "3"
    publish_all(lab, ["d", "e"])  # while the reader is away
    with EventStream(lab.url + "/stream", last_event_id=last) as second:
        publish_all(lab, ["f"])
        resumed = second.wait_for(3, type="notify")
        # Whatever arrives next is new: nothing already seen comes again.
        publish_all(lab, ["g"])
        resumed = second.wait_for(4, type="notify")
    assert [e.json()["message"] for e in seen + resumed] == list("abcdefg")
    assert [int(e.id) for e in seen + resumed] == list(range(1, 8))
    assert stats(lab)["resumed"] == 1


def test_last_event_id_as_query_parameter_and_the_header_wins(lab_name, lab_server):
    lab = lab_server(lab_name, config=FAST)
    publish_all(lab, ["a", "b", "c", "d"])
    with EventStream(lab.url + "/stream?lastEventId=2") as by_query:
        assert [e.id for e in by_query.wait_for(2, type="notify")] == ["3", "4"]
    # A browser that reconnects sends the header, and its URL still has the old query.
    with EventStream(lab.url + "/stream?lastEventId=1", last_event_id="3") as both:
        assert [e.id for e in both.wait_for(1, type="notify")] == ["4"]
        publish_all(lab, ["e"])
        assert [e.id for e in both.wait_for(2, type="notify")] == ["4", "5"]


def test_new_reader_learns_its_position_so_its_first_reconnect_misses_nothing(lab_name, lab_server):
    lab = lab_server(lab_name, config=FAST)
    publish_all(lab, ["before"])
    with EventStream(lab.url + "/stream") as stream:
        stream.wait_for_raw(b"retry:")
    # No message arrived, yet the stream told the reader where it stands, in an event
    # (not a block without data, whose id some clients drop: see opening_block).
    assert stream.events == []
    assert stream.raw.startswith(b'event: connected\nid: 1\nretry: 500\ndata: {}\n\n')
    assert stream.opening.id == "1" and stream.opening.json() == {}
    assert stream.decoder.last_event_id == "1"
    publish_all(lab, ["while away"])
    with EventStream(lab.url + "/stream", last_event_id=stream.decoder.last_event_id) as again:
        assert again.wait_for(1, type="notify")[0].json() == {"message": "while away"}
    # A returning reader holds its place already: its opening event carries no id.
    assert again.raw.startswith(b'event: connected\nretry: 500\ndata: {}\n\n')
    assert again.opening is not None and again.events[0].id == "2"


def test_concurrent_publishers_reach_every_reader_in_id_order_exactly_once(lab_name, lab_server):
    lab = lab_server(lab_name, config=FAST)
    streams = [EventStream(lab.url + "/stream") for _ in range(3)]
    try:
        def publish_many(prefix: str) -> None:
            with requests.Session() as session:
                for i in range(50):
                    session.post(lab.url + "/send_notification", json={"message": f"{prefix}{i}"}, timeout=10)

        publishers = [threading.Thread(target=publish_many, args=(p,)) for p in "abcd"]
        for thread in publishers:
            thread.start()
        for thread in publishers:
            thread.join()
        for stream in streams:
            events = stream.wait_for(200, type="notify", timeout=20)
            # Ids in order with no hole and no repeat, whatever order the posts raced in.
            assert [int(e.id) for e in events] == list(range(1, 201))
            assert sorted(e.json()["message"] for e in events) == sorted(f"{p}{i}" for p in "abcd" for i in range(50))
    finally:
        for stream in streams:
            stream.close()


def test_an_explicit_gap_event_when_the_missed_events_are_older_than_the_history(lab_name, lab_server):
    lab = lab_server(lab_name, config={**FAST, "HISTORY": 3})
    publish_all(lab, [f"m{i}" for i in range(1, 9)])  # ids 1..8; the history keeps 6, 7, 8
    with EventStream(lab.url + "/stream", last_event_id="2") as stream:
        events = stream.wait_for(4)
    gap, *replayed = events
    assert gap.type == "gap"
    assert gap.json()["missed"] == 3  # ids 3, 4 and 5 are gone
    assert gap.id == "5"  # the reader now stands just before the oldest kept event
    assert [(e.type, e.id) for e in replayed] == [("notify", "6"), ("notify", "7"), ("notify", "8")]
    assert stats(lab)["gaps"] == 1


def test_an_id_from_before_a_restart_of_the_memory_broker_gives_a_gap(lab_name, lab_server):
    lab = lab_server(lab_name, config=FAST)
    publish_all(lab, ["a", "b", "c"])
    lab.stop()
    restarted = lab_server(lab_name, config=FAST)  # a fresh process: ids start at 1 again
    publish_all(restarted, ["new"])
    with EventStream(restarted.url + "/stream", last_event_id="3") as stream:
        gap, replayed = stream.wait_for(2)
    assert gap.type == "gap" and gap.json()["reason"] == "ids restarted"
    assert (replayed.type, replayed.id, replayed.json()) == ("notify", "1", {"message": "new"})


def test_the_replay_the_stream_plans_covers_every_case():
    log = MemoryEventLog(history=3)
    broker = Broker(log)
    for i in range(1, 7):
        broker.publish(f"m{i}")  # ids 1..6; the history keeps 4, 5, 6

    def replay(last_event_id):
        return broker.open(Subscriber(broker.queue_size), last_event_id)

    assert replay(None).messages == [] and replay(None).position == 6  # a new reader: live only
    assert [m.id for m in replay("4").messages] == [5, 6]
    assert [m.id for m in replay("3").messages] == [4, 5, 6] and replay("3").gap is None
    assert replay("6").messages == [] and replay("6").gap is None
    assert replay("1").gap == {"reason": "older than the history", "missed": 2, "last_event_id": "1"}
    assert replay("7").gap["reason"] == "ids restarted"
    for odd in ("7", "abc", "-1", "1.5", "", "9" * 40):
        planned = replay(odd)
        assert planned.gap is not None and [m.id for m in planned.messages] == [4, 5, 6], odd
        assert planned.gap["missed"] is None, odd


# --------------------------------------------------------------------------- keep-alive and cleanup

def test_keep_alive_comments_arrive_on_a_quiet_stream(lab_name, lab_server):
    lab = lab_server(lab_name, config=FAST)
    with EventStream(lab.url + "/stream") as stream:
        raw = stream.wait_for_raw(b": keep-alive\n\n")
        assert stream.wait_for_raw(b": keep-alive\n\n: keep-alive\n\n")
    assert stream.events == []  # comments are never dispatched as events
    assert raw.startswith(b'event: connected\nid: 0\nretry: 500\ndata: {}\n\n: keep-alive\n\n')


@pytest.mark.parametrize(("lab_name", "workers"), SERVERS)
def test_subscriber_count_returns_to_zero_after_readers_leave(lab_name, lab_server, workers):
    lab = lab_server(lab_name, config=FAST, workers=workers)
    streams = [EventStream(lab.url + "/stream") for _ in range(3)]
    try:
        opened = wait_for_clients(lab, 3)
        assert opened["subscribers"] == 3
        publish_all(lab, ["hello"])
        for stream in streams:
            stream.wait_for(1, type="notify")
    finally:
        for stream in streams:
            stream.close()
    # Nothing is published now: only the keep-alive writes tell the server they left.
    closed = wait_for_clients(lab, 0)
    assert closed["subscribers"] == 0


def test_server_can_end_every_stream_and_readers_resume(lab_name, lab_server):
    lab = lab_server(lab_name, config=FAST)
    stream = EventStream(lab.url + "/stream")
    publish_all(lab, ["a"])
    stream.wait_for(1)
    assert lab.post("/disconnect_all").json() == {"disconnected": 1}
    assert stream.ended.wait(5), "the stream should end when the server cuts it"
    wait_for_clients(lab, 0)
    publish_all(lab, ["b"])
    with EventStream(lab.url + "/stream", last_event_id=stream.decoder.last_event_id) as again:
        assert [e.json()["message"] for e in again.wait_for(1)] == ["b"]
    assert stats(lab)["cut_by_server"] == 1


def open_stalled_reader(lab) -> socket.socket:
    """A raw socket that sends the stream request and then never reads: its kernel
    buffers fill up, the server's writes block, and its queue fills behind them."""
    host, port = lab.url.rsplit("//", 1)[1].rsplit(":", 1)
    stalled = socket.create_connection((host, int(port)))
    stalled.sendall(f"GET /stream HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n\r\n".encode())
    wait_for_clients(lab, 1)
    return stalled


BIG = "x" * 60_000


def flood(lab, count: int = 250) -> int:
    """Publish ``count`` big messages (250: ≈ 15 MB, far more than socket buffers hold)."""
    with requests.Session() as session:
        for i in range(count):
            response = session.post(lab.url + "/send_notification", json={"message": f"{i} {BIG}"}, timeout=10)
            assert response.status_code == 200
    return count * len(BIG)


@pytest.mark.parametrize(("lab_name", "workers"), SERVERS)
def test_a_reader_that_stops_reading_is_cut_off_and_memory_stays_bounded(lab_name, lab_server, workers):
    lab = lab_server(lab_name, config={**FAST, "HISTORY": 5, "QUEUE_SIZE": 8}, workers=workers)
    stalled = open_stalled_reader(lab)
    try:
        server = psutil.Process(lab.pid)
        if workers:  # `labs run` is the gunicorn master; the streams live in its worker
            (server,) = server.children()
        before = server.memory_info().rss
        total = flood(lab)
        after = wait_for_clients(lab, 0)
        assert after["cut_slow"] == 1 and after["subscribers"] == 0
        # The server kept at most its history and one full queue, not the backlog.
        assert server.memory_info().rss - before < total / 2
        # The server closed the connection: after the data already in flight, EOF.
        stalled.settimeout(10)
        while stalled.recv(1 << 20):
            pass
    finally:
        stalled.close()
    # The reader can come back and resume from the history.
    with EventStream(lab.url + "/stream", last_event_id="247") as again:
        assert [e.id for e in again.wait_for(3, type="notify")] == ["248", "249", "250"]


@pytest.mark.parametrize(("lab_name", "workers"), SERVERS)
def test_ending_every_stream_also_ends_one_blocked_writing_to_a_stalled_reader(lab_name, lab_server, workers):
    # The queue is large enough never to fill, so the reader is not cut as slow: only the
    # server's "end every stream" can free it, while its generator is stuck in a write.
    lab = lab_server(lab_name, config={**FAST, "HISTORY": 5, "QUEUE_SIZE": 1000}, workers=workers)
    stalled = open_stalled_reader(lab)
    try:
        flood(lab)  # the socket buffers fill and the generator's write blocks
        assert stats(lab)["cut_slow"] == 0
        assert lab.post("/disconnect_all").json() == {"disconnected": 1}
        after = wait_for_clients(lab, 0)
        assert after["subscribers"] == 0
    finally:
        stalled.close()


# --------------------------------------------------------------------------- bad input

LONG = "é" * (MAX_MESSAGE_BYTES // 2 + 1)  # 2 bytes each in UTF-8: just over 64 KiB


BAD_NOTIFICATIONS = {
    "text/plain": ({"data": '{"message": "hi"}', "headers": {"Content-Type": "text/plain"}}, 415),
    "broken JSON": ({"data": "{not json", "headers": {"Content-Type": "application/json"}}, 400),
    "not UTF-8": ({"data": b'{"message": "\xff"}', "headers": {"Content-Type": "application/json"}}, 400),
    "not an object": ({"json": ["message", "hi"]}, 400),
    "no message": ({"json": {"text": "hi"}}, 400),
    "not a string": ({"json": {"message": 42}}, 400),
    "blank": ({"json": {"message": "   "}}, 400),
    "lone surrogate": ({"data": b'{"message": "\\udc00 hi"}', "headers": {"Content-Type": "application/json"}}, 400),
    "nested too deeply": ({"data": b"[" * 100_000 + b"]" * 100_000,
                           "headers": {"Content-Type": "application/json"}}, 400),
    "over 64 KiB": ({"json": {"message": LONG}}, 413),
    "over 1 MiB": ({"data": b"x" * (1024 * 1024 + 1), "headers": {"Content-Type": "application/json"}}, 413),
}


def test_bad_notifications_are_refused_with_json_and_nothing_is_published(lab_name, lab_server):
    lab = lab_server(lab_name, config=FAST)
    with EventStream(lab.url + "/stream") as stream:
        for case, (kwargs, status) in BAD_NOTIFICATIONS.items():
            response = lab.post("/send_notification", **kwargs)
            assert response.status_code == status, (case, response.text)
            assert response.headers["Content-Type"] == "application/json", case
            assert response.json()["error"], case
        # A good message afterwards is id 1 and the only event: nothing half-published.
        assert lab.publish("ok").json()["id"] == 1
        assert [e.json() for e in stream.wait_for(1)] == [{"message": "ok"}]
        assert stream.events == stream.wait_for(1)
    assert stats(lab)["last_id"] == 1


def test_classroom_token_guards_publishing_and_cutting(lab_name, lab_server):
    lab = lab_server(lab_name, config={**FAST, "PUBLISH_TOKEN": "s3cret"})
    assert lab.publish("hi").status_code == 401
    assert lab.post("/disconnect_all").status_code == 401
    ok = lab.publish("hi", headers={"Authorization": "Bearer s3cret"})
    assert ok.status_code == 200 and ok.json()["id"] == 1


# --------------------------------------------------------------------------- Redis backend

def test_redis_backend_shares_ids_and_messages_across_processes(lab_name, lab_server, redis_server):
    config = redis_config(redis_server)
    one = lab_server(lab_name, config=config)
    two = lab_server(lab_name, config=config)
    assert stats(one)["pid"] != stats(two)["pid"]
    with EventStream(one.url + "/stream") as on_one, EventStream(two.url + "/stream") as on_two:
        ids = publish_all(one, ["a", "b"]) + publish_all(two, ["c"]) + publish_all(one, ["d"])
        assert ids == [1, 2, 3, 4]
        for stream in (on_one, on_two):
            events = stream.wait_for(4, type="notify")
            assert [(e.id, e.json()["message"]) for e in events] == [("1", "a"), ("2", "b"), ("3", "c"), ("4", "d")]
    assert stats(two)["broker"] == "redis" and stats(two)["last_id"] == 4


@pytest.mark.parametrize("lab_name", ["manual_sse"])  # gunicorn's workers: WSGI only
def test_several_gunicorn_workers_use_redis_and_every_reader_gets_every_message(lab_name, lab_server):
    lab = lab_server(lab_name, config=FAST, workers=2)  # `labs run` starts Redis for us
    assert stats(lab)["broker"] == "redis"
    streams = [EventStream(lab.url + "/stream") for _ in range(6)]
    try:
        ids = publish_all(lab, [f"m{i}" for i in range(5)])
        assert ids == [1, 2, 3, 4, 5]
        for stream in streams:
            assert [e.id for e in stream.wait_for(5, type="notify")] == ["1", "2", "3", "4", "5"]
    finally:
        for stream in streams:
            stream.close()


def test_redis_backend_resumes_across_a_server_restart(lab_name, lab_server, redis_server):
    config = redis_config(redis_server, HISTORY=50)
    lab = lab_server(lab_name, config=config)
    with EventStream(lab.url + "/stream") as stream:
        publish_all(lab, ["a", "b"])
        stream.wait_for(2)
    lab.stop()
    restarted = lab_server(lab_name, config=config)
    assert publish_all(restarted, ["c"]) == [3]  # the ids carry on
    with EventStream(restarted.url + "/stream", last_event_id=stream.decoder.last_event_id) as again:
        events = again.wait_for(1, type="notify")
        publish_all(restarted, ["d"])
        events = again.wait_for(2, type="notify")
    assert [(e.id, e.json()["message"]) for e in events] == [("3", "c"), ("4", "d")]
    assert not any(e.type == "gap" for e in again.events)


def test_redis_down_gives_503_and_the_lab_carries_on_when_it_comes_back_empty(lab_name, lab_server,
                                                                              private_redis):
    lab = lab_server(lab_name, config={**FAST, "BROKER": "redis", "REDIS_URL": private_redis.url})
    stream = EventStream(lab.url + "/stream")
    assert publish_all(lab, ["before"]) == [1]
    stream.wait_for(1, type="notify")

    private_redis.stop()
    for answer in (lab.publish("while down"), lab.get("/stats"), lab.get("/stream")):
        assert answer.status_code == 503, answer.text
        assert answer.headers["Content-Type"] == "application/json"
        assert answer.json()["error"] == "Redis is down"
    assert lab.get("/health").status_code == 200

    private_redis.start()  # same port, and empty: persistence is off, its counter is gone
    assert wait_until(lambda: lab.publish("after").status_code == 200, 15)
    # The ids carry on (2, not 1 again), so the open stream, at id 1, takes it as new.
    assert [(e.id, e.json()["message"]) for e in stream.wait_for(2, type="notify")] == [
        ("1", "before"), ("2", "after")]
    assert "while down" not in [e.json()["message"] for e in stream.events if e.type == "notify"]
    stream.close()
    # A reader coming back from before the outage is told what Redis forgot.
    with EventStream(lab.url + "/stream", last_event_id="0") as again:
        assert again.wait_for(1, type="gap")[0].json()["missed"] == 1
        assert [e.json()["message"] for e in again.wait_for(1, type="notify")] == ["after"]


def test_redis_backend_reports_a_gap_beyond_its_capped_stream(lab_name, lab_server, redis_server):
    lab = lab_server(lab_name, config=redis_config(redis_server, HISTORY=2))
    publish_all(lab, ["a", "b", "c", "d", "e"])
    assert stats(lab)["history"] == 2
    with EventStream(lab.url + "/stream", last_event_id="1") as stream:
        gap, *rest = stream.wait_for(3)
    assert gap.type == "gap" and gap.json()["missed"] == 2
    assert [e.id for e in rest] == ["4", "5"]


# --------------------------------------------------------------------------- browser

def received(page) -> list[dict]:
    return page.evaluate("window.manualSse.received")


def wait_received(page, count: int) -> list[dict]:
    page.wait_for_function(f"window.manualSse && window.manualSse.received.length >= {count}", timeout=15_000)
    return received(page)


@pytest.mark.browser
def test_browser_reconnects_by_itself_and_gets_what_was_published_meanwhile(lab_name, lab_server, page):
    lab = lab_server(lab_name, config={**FAST, "RETRY_MS": 1500})
    page.goto(lab.url + "/")
    page.wait_for_function("window.manualSse && window.manualSse.opens() === 1")
    publish_all(lab, ["before 1", "before 2"])
    wait_received(page, 2)
    assert lab.post("/disconnect_all").json()["disconnected"] == 1
    wait_for_clients(lab, 0)
    publish_all(lab, ["during 1", "during 2"])  # the browser is waiting out its retry
    got = wait_received(page, 4)
    publish_all(lab, ["after"])
    got = wait_received(page, 5)
    assert [m["message"] for m in got] == ["before 1", "before 2", "during 1", "during 2", "after"]
    assert [m["id"] for m in got] == ["1", "2", "3", "4", "5"]
    assert page.evaluate("window.manualSse.opens()") == 2
    # The reconnect said where the page was: EventSource sent Last-Event-ID itself, and
    # the two messages published while it was away came from the replay, not live.
    assert stats(lab)["last_resume_id"] == "2"
    assert stats(lab)["replayed"] == 2
    # The text went in as text: markup in a message is not turned into elements.
    publish_all(lab, ["<img src=x onerror=alert(1)>"])
    wait_received(page, 6)
    assert page.locator("#notifications img").count() == 0
    assert page.locator("#notifications li").first.text_content() == "<img src=x onerror=alert(1)>"


@pytest.mark.browser
def test_browser_resumes_across_a_server_restart_with_the_redis_backend(lab_name, lab_server, private_redis, page):
    config = redis_config(private_redis, RETRY_MS=500)
    port = free_port()
    lab = lab_server(lab_name, config=config, extra_args=["--port", str(port)])
    # A second process on the same Redis keeps accepting notifications while the
    # first one is down, as another worker or instance would.
    other = lab_server(lab_name, config=config)
    page.goto(lab.url + "/")
    page.wait_for_function("window.manualSse && window.manualSse.opens() === 1")
    publish_all(lab, ["one", "two"])
    wait_received(page, 2)
    lab.stop()
    publish_all(other, ["while down 1", "while down 2"])
    restarted = lab_server(lab_name, config=config, extra_args=["--port", str(port)])
    assert restarted.url == lab.url
    got = wait_received(page, 4)
    publish_all(restarted, ["after restart"])
    got = wait_received(page, 5)
    assert [m["message"] for m in got] == ["one", "two", "while down 1", "while down 2", "after restart"]
    assert [m["id"] for m in got] == ["1", "2", "3", "4", "5"]
    assert page.evaluate("window.manualSse.gaps.length") == 0
    assert stats(restarted)["last_resume_id"] == "2"
