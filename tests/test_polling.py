"""Lab ``polling`` and the message log it shares with ``long_polling``: real HTTP, real Redis."""

from __future__ import annotations

import threading

import pytest
import requests

from labs.core.event_log import MemoryEventLog, RedisEventLog
from labs.core.message_log import MessageLog
from labs.harness.processes import wait_until


class Poller(threading.Thread):
    """A short-polling client: every ``interval`` s, GET /updates?since=cursor (+ If-None-Match)."""

    def __init__(self, url: str, interval: float, name: str) -> None:
        super().__init__(daemon=True, name=name)
        self.url, self.interval, self.client = url, interval, name
        self.cursor, self.etag = 0, None
        self.received: list[dict] = []
        self.statuses: list[int] = []
        self.stop = threading.Event()
        self.session = requests.Session()

    def poll_once(self) -> bool:
        headers = {"If-None-Match": self.etag} if self.etag else {}
        response = self.session.get(self.url + "/updates", params={"since": self.cursor, "client": self.client},
                                    headers=headers, timeout=10)
        self.statuses.append(response.status_code)
        if response.status_code == 304:
            return False
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["missed"] == 0
        self.received += body["messages"]
        self.cursor = body["cursor"]
        self.etag = response.headers["ETag"]
        return body["more"]

    def run(self) -> None:
        while not self.stop.is_set():
            if not self.poll_once():
                self.stop.wait(self.interval)


def test_pollers_at_different_rates_each_get_every_message_once_in_order(lab_server):
    # BATCH=3 so the slow poller also has to follow "more" to catch up.
    lab = lab_server("polling", config={"BATCH": 3})
    pollers = [Poller(lab.url, interval, f"poller-{i}") for i, interval in enumerate([0.01, 0.07, 0.3])]
    for poller in pollers:
        poller.start()
    sent = [f"message {i}" for i in range(25)]
    for i, text in enumerate(sent):
        assert lab.publish(text).json() == {"status": "published", "id": i + 1}
        if i % 5 == 0:
            threading.Event().wait(0.05)  # let some polls fall between publishes
    try:
        assert wait_until(lambda: all(p.cursor == len(sent) for p in pollers), 15), \
            [p.cursor for p in pollers]
    finally:
        for poller in pollers:
            poller.stop.set()
            poller.join(5)
    for poller in pollers:
        assert [m["message"] for m in poller.received] == sent, poller.name
        assert [m["id"] for m in poller.received] == list(range(1, len(sent) + 1))
        assert all(isinstance(m["time"], float) for m in poller.received)
    # The fast poller asked far more often than there was news: most of its answers were 304s.
    assert 304 in pollers[0].statuses
    stats = lab.get("/stats").json()
    assert stats["clients"] == 3
    assert stats["published"] == len(sent) and stats["latest"] == len(sent)
    assert stats["requests"] == sum(len(p.statuses) for p in pollers)
    assert stats["not_modified"] == sum(p.statuses.count(304) for p in pollers)


def test_an_unchanged_poll_is_answered_304_without_a_body(lab_server):
    lab = lab_server("polling")
    lab.publish("first")
    first = lab.get("/updates", params={"since": 0})
    assert first.status_code == 200 and first.json()["cursor"] == 1
    tag = first.headers["ETag"]
    assert first.headers["Cache-Control"] == "no-cache"

    again = lab.get("/updates", params={"since": 1}, headers={"If-None-Match": tag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["ETag"] == tag

    # The tag only means "up to date" for a client at the newest cursor: an older cursor
    # still gets its messages.
    behind = lab.get("/updates", params={"since": 0}, headers={"If-None-Match": tag})
    assert behind.status_code == 200 and [m["message"] for m in behind.json()["messages"]] == ["first"]

    lab.publish("second")
    changed = lab.get("/updates", params={"since": 1}, headers={"If-None-Match": tag})
    assert changed.status_code == 200 and changed.headers["ETag"] != tag
    assert [m["message"] for m in changed.json()["messages"]] == ["second"]


def test_a_restarted_server_never_answers_304_to_an_old_tag(lab_server):
    first = lab_server("polling")
    first.publish("before the restart")
    tag = first.get("/updates", params={"since": 0}).headers["ETag"]
    first.stop()
    second = lab_server("polling")
    second.publish("after the restart")
    answer = second.get("/updates", params={"since": 1}, headers={"If-None-Match": tag})
    assert answer.status_code == 200
    assert answer.json()["messages"] == [] and answer.json()["cursor"] == 1


def test_a_cursor_older_than_the_history_is_told_what_it_missed(lab_server):
    lab = lab_server("polling", config={"HISTORY": 3})
    for i in range(1, 6):
        lab.publish(f"m{i}")
    body = lab.get("/updates", params={"since": 0}).json()
    assert body["missed"] == 2
    assert [m["id"] for m in body["messages"]] == [3, 4, 5] and body["cursor"] == 5
    assert lab.get("/updates", params={"since": 2}).json()["missed"] == 0


BAD_NOTIFICATIONS = [
    ({"data": "message=hi"}, 415),
    ({"data": "{oops", "headers": {"Content-Type": "application/json"}}, 400),
    ({"json": {"message": ""}}, 400),
    ({"json": {"message": 5}}, 400),
    ({"json": ["message"]}, 400),
    ({"json": {"message": "x" * (64 * 1024 + 1)}}, 413),
    ({"data": b'{"message": "\\ud800"}', "headers": {"Content-Type": "application/json"}}, 400),  # a lone surrogate
    # nested deeper than Python's parser goes
    ({"data": b"[" * 100_000 + b"]" * 100_000, "headers": {"Content-Type": "application/json"}}, 400),
]


def test_bad_requests_are_answered_in_json_and_publish_nothing(lab_server):
    lab = lab_server("polling")
    for kwargs, status in BAD_NOTIFICATIONS:
        response = lab.post("/send_notification", **kwargs)
        assert response.status_code == status and "error" in response.json(), kwargs
    assert lab.get("/updates").json()["messages"] == []
    assert lab.get("/stats").json()["latest"] == 0

    for since in ["-1", "abc", "1.5", "", " 1", "1e3", "9" * 16]:
        response = lab.get("/updates", params={"since": since})
        assert response.status_code == 400, since
        assert response.json()["error"] == "invalid cursor"

    # A cursor ahead of the log is not bad input: see tests/test_event_log.py.

    response = lab.get("/updates", params={"client": "<script>"})
    assert response.status_code == 400 and response.json()["error"] == "invalid client id"


def test_two_worker_processes_share_the_log_through_redis(lab_server):
    # The registry marks polling "multi-process": --workers 2 starts Redis by itself.
    lab = lab_server("polling", workers=2)
    processes = set()
    for i in range(20):
        # New connections each time, so the two workers both publish and answer.
        response = requests.post(lab.url + "/send_notification", json={"message": f"m{i}"}, timeout=10)
        assert response.json()["id"] == i + 1
        processes.add(response.headers["X-Lab-Process"])
    reads = 0
    # Read on new connections until both workers have answered (at least 20 reads):
    # every answer, whichever process gives it, holds all 20 messages in order.
    while reads < 20 or (len(processes) < 2 and reads < 200):
        answer = requests.get(lab.url + "/updates", params={"since": 0}, timeout=10)
        processes.add(answer.headers["X-Lab-Process"])
        assert [m["message"] for m in answer.json()["messages"]] == [f"m{i}" for i in range(20)]
        reads += 1
    assert len(processes) == 2, "expected both workers to answer"


# -- the shared message log, directly --------------------------------------------------

def test_memory_log_batches_and_bounds():
    log = MessageLog(MemoryEventLog(history=4), batch=2)
    for i in range(6):
        log.append(f"m{i}")
    page = log.read(0)
    assert (page.missed, [m["id"] for m in page.messages], page.more, page.cursor) == (2, [3, 4], True, 4)
    page = log.read(4)
    assert ([m["id"] for m in page.messages], page.more, page.cursor) == ([5, 6], False, 6)
    assert log.read(6).body() == {"messages": [], "cursor": 6, "more": False, "missed": 0, "gap": None}
    # Ahead of the log (it started again): what it keeps, a batch at a time, and the gap.
    page = log.read(7)
    assert page.gap == {"reason": "ids restarted", "missed": None} and page.missed is None
    assert ([m["id"] for m in page.messages], page.more, page.cursor) == ([3, 4], True, 4)
    assert not page.empty


def test_redis_log_keeps_ids_in_order_under_concurrent_publishers(redis_server):
    key = f"test-log-{threading.get_ident()}-{id(object())}"
    logs = [MessageLog(RedisEventLog(redis_server.url, key, history=500), batch=500) for _ in range(4)]

    def publish(log, who):
        for i in range(25):
            log.append(f"{who}-{i}")

    threads = [threading.Thread(target=publish, args=(log, n)) for n, log in enumerate(logs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    page = logs[0].read(0)
    assert [m["id"] for m in page.messages] == list(range(1, 101))
    for who in range(4):  # each publisher's own messages stay in its order
        mine = [m["message"] for m in page.messages if m["message"].startswith(f"{who}-")]
        assert mine == [f"{who}-{i}" for i in range(25)]
    redis_server.client().delete(*[key + suffix for suffix in (":last_id", ":events", ":epoch")])
    for log in logs:
        log.close()


# -- the page, in headless Chromium ----------------------------------------------------

def counter(page, name: str) -> int:
    return int(page.text_content(f"#count-{name}") or 0)


@pytest.mark.browser
def test_page_shows_published_messages_as_text_and_counts_its_polls(lab_server, page):
    lab = lab_server("polling")
    page.goto(lab.url + "/")
    page.select_option("#interval", "500")
    page.wait_for_function("Number(document.querySelector('#count-requests').textContent) >= 2")
    markup = '<img src=x onerror="window.pwned=1"><b>bold?</b>'
    lab.publish(markup)
    item = page.locator("#notifications li").first
    item.wait_for()
    assert item.evaluate("node => node.firstChild.textContent") == markup  # the text itself...
    assert page.locator("#notifications img, #notifications b").count() == 0  # ...not markup
    assert page.evaluate("window.pwned") is None
    # Unchanged polls come back as 304s, counted as empty answers; the wire panel shows them.
    page.wait_for_function("Number(document.querySelector('#count-not_modified').textContent) >= 1")
    assert counter(page, "messages") == 1 and counter(page, "bytes") > 0
    assert counter(page, "empty") >= counter(page, "not_modified") >= 1
    assert page.text_content("#cursor") == "1"
    wire = page.text_content("#wire")
    assert "GET updates?since=0" in wire and "If-None-Match" in wire and "304 Not Modified" in wire


@pytest.mark.browser
def test_two_tabs_both_get_a_message_sent_from_one_of_them(lab_server, new_page):
    lab = lab_server("polling")
    first, second = new_page(), new_page()
    for tab in (first, second):
        tab.goto(lab.url + "/")
        tab.select_option("#interval", "500")
    first.fill("#message", "from the first tab & <i>co</i>")
    first.click("#send-form button")
    for tab in (first, second):
        tab.locator("#notifications li").first.wait_for()
        assert tab.locator("#notifications li").first.evaluate("n => n.firstChild.textContent") \
            == "from the first tab & <i>co</i>"
    assert first.text_content("#send-result") == "published as #1"
    assert wait_until(lambda: lab.get("/stats").json()["clients"] == 2, 10)
