"""Lab ``long_polling``: held requests, wake-ups, timeouts, and several processes via Redis."""

from __future__ import annotations

import threading

import pytest
import requests

from labs.core.message_log import MessageLog
from labs.harness.processes import wait_until


class HeldRequest(threading.Thread):
    """One long poll in the background; ``answer`` is its response once it returns."""

    def __init__(self, url: str, since: int = 0, timeout: float = 20) -> None:
        super().__init__(daemon=True)
        self.url, self.since, self.timeout = url, since, timeout
        self.answer: requests.Response | None = None
        self.start()

    def run(self) -> None:
        self.answer = requests.get(self.url + "/updates", params={"since": self.since, "timeout": self.timeout},
                                   timeout=self.timeout + 15)

    def body(self, within: float | None = None) -> dict:
        """The answer's JSON.  ``within``: it must come well before the request's own
        timeout, i.e. a wake-up ended the wait, not the clock (a loose bound, not a timing test)."""
        self.join(within if within is not None else self.timeout + 15)
        assert self.answer is not None, \
            "the long poll is still held: the publish did not wake it" if within else "the long poll did not return"
        assert self.answer.status_code == 200, self.answer.text
        return self.answer.json()


# A woken request answers in milliseconds; one that was not woken answers at its 30 s
# timeout.  Anything under 12 s therefore tells the two apart, however loaded the machine.
WOKEN_WITHIN = 12


def waiting(lab) -> int:
    return lab.get("/stats").json().get("waiting", 0)


def test_a_held_request_returns_with_the_message_published_while_it_waits(lab_server):
    lab = lab_server("long_polling")
    held = HeldRequest(lab.url, since=0, timeout=30)
    assert wait_until(lambda: waiting(lab) == 1, 10)
    assert held.is_alive()  # nothing to say yet: the server is holding it
    lab.publish("<b>news</b>")
    body = held.body(within=WOKEN_WITHIN)
    # It came back because of the message, not because its 25 s ran out.
    assert body["timed_out"] is False
    assert [m["message"] for m in body["messages"]] == ["<b>news</b>"]
    assert body["cursor"] == 1
    assert waiting(lab) == 0


def test_every_waiting_client_is_woken_not_just_one(lab_server):
    lab = lab_server("long_polling")
    held = [HeldRequest(lab.url, since=0, timeout=30) for _ in range(5)]
    assert wait_until(lambda: waiting(lab) == 5, 10)
    lab.publish("for everyone")
    for request in held:
        body = request.body(within=WOKEN_WITHIN)
        assert body["timed_out"] is False and [m["message"] for m in body["messages"]] == ["for everyone"]
    assert lab.get("/stats").json()["clients"] == 1  # all from this test's one address


def test_timeouts_immediate_answers_and_bad_parameters(lab_server):
    lab = lab_server("long_polling")
    # timeout=0 never waits, even with nothing to say.
    assert lab.get("/updates", params={"timeout": 0}).json()["timed_out"] is True
    lab.publish("waiting for you")
    # A 30 s timeout, yet the answer is immediate: there is already news after cursor 0.
    body = lab.get("/updates", params={"since": 0, "timeout": 30}).json()
    assert [m["message"] for m in body["messages"]] == ["waiting for you"] and body["timed_out"] is False
    # Nothing after cursor 1: an empty answer at the timeout, with the same cursor.
    body = lab.get("/updates", params={"since": 1, "timeout": 0.3}).json()
    assert body == {"messages": [], "cursor": 1, "more": False, "missed": 0, "gap": None, "timed_out": True}
    stats = lab.get("/stats").json()
    assert (stats["timeouts"], stats["with_messages"], stats["waiting"]) == (2, 1, 0)

    for timeout in ["abc", "-1", "nan", "inf", "1e3", "", "0x10"]:
        response = lab.get("/updates", params={"timeout": timeout})
        assert response.status_code == 400, timeout
        assert response.json()["error"] == "invalid timeout"
    for since in ["-3", "x", "2.0"]:
        response = lab.get("/updates", params={"since": since, "timeout": 0})
        assert response.status_code == 400 and response.json()["error"] == "invalid cursor"
    # A cursor ahead of the log is no error (tests/test_event_log.py): answered at once.
    ahead = lab.get("/updates", params={"since": 5, "timeout": 30}).json()
    assert ahead["gap"]["reason"] == "ids restarted" and ahead["timed_out"] is False
    assert [m["message"] for m in ahead["messages"]] == ["waiting for you"] and ahead["cursor"] == 1
    refused = lab.post("/send_notification", json={"message": "   "})
    assert refused.status_code == 400 and lab.get("/stats").json()["latest"] == 1


def test_the_timeout_is_capped(lab_server):
    # MAX_TIMEOUT=0.5 stands in for the real 30 s cap, so the test need not wait 30 s.
    lab = lab_server("long_polling", config={"MAX_TIMEOUT": 0.5})
    body = lab.get("/updates", params={"timeout": 3600}, timeout=20).json()
    assert body["timed_out"] is True and body["messages"] == []


def test_followers_get_every_message_exactly_once_in_order(lab_server):
    lab = lab_server("long_polling", config={"BATCH": 4})
    sent = [f"m{i}" for i in range(30)]
    results: dict[int, list[str]] = {}

    def follow(n: int) -> None:
        session, cursor, got = requests.Session(), 0, []
        while len(got) < len(sent):
            body = session.get(lab.url + "/updates", params={"since": cursor, "timeout": 5}, timeout=20).json()
            got += [m["message"] for m in body["messages"]]
            cursor = body["cursor"]
        results[n] = got

    followers = [threading.Thread(target=follow, args=(n,), daemon=True) for n in range(3)]
    for follower in followers:
        follower.start()
    for text in sent:
        lab.publish(text)
    for follower in followers:
        follower.join(30)
    assert results == {n: sent for n in range(3)}


@pytest.mark.parametrize("workers", [None, 1], ids=["threaded-dev-server", "gunicorn-gevent"])
def test_what_a_held_request_costs_an_os_thread_each_or_a_greenlet(lab_server, workers):
    """The trade-off notebook 06 measures: the threaded development server holds each
    waiting request on an OS thread of its own; a gevent worker holds them all on
    greenlets, in a handful of OS threads whatever their number."""
    lab = lab_server("long_polling", workers=workers)
    held = 30

    def os_threads() -> int:
        return lab.get("/stats").json()["os_threads"]

    idle = os_threads()
    polls = [HeldRequest(lab.url, timeout=20) for _ in range(held)]
    assert wait_until(lambda: waiting(lab) == held, 20), waiting(lab)
    busy = os_threads()
    lab.publish("let them go")
    for poll in polls:
        assert poll.body(within=WOKEN_WITHIN)["messages"][0]["message"] == "let them go"
    if workers:
        assert busy - idle < 5, f"{held} held requests took {busy - idle} more OS threads under gevent"
    else:
        # One thread each (the idle count may include a thread finishing an earlier request).
        assert busy >= held, f"{held} held requests, but the server had only {busy} OS threads"


def test_memory_log_wait_wakes_all_waiters():
    log = MessageLog()
    answers = []
    threads = [threading.Thread(target=lambda: answers.append(log.wait(0, 60)), daemon=True) for _ in range(4)]
    for thread in threads:
        thread.start()
    assert wait_until(lambda: log.events.waiting() == 4, 5)
    log.append("hello")
    # All four must be answered by the wake-up, long before their 60 s timeout.
    assert wait_until(lambda: len(answers) == 4, WOKEN_WITHIN), f"only {len(answers)} of 4 waiters woke up"
    assert [[m["message"] for m in page.messages] for page in answers] == [["hello"]] * 4


def test_with_two_workers_a_publish_in_one_process_wakes_waiters_in_the_other(lab_server):
    # RECHECK_SECONDS=60: no periodic re-read, so only the listener's wake-up answers in time.
    lab = lab_server("long_polling", workers=2, config={"RECHECK_SECONDS": 60})
    crossed = 0
    for i in range(30):
        held = HeldRequest(lab.url, since=i, timeout=30)
        assert wait_until(lambda: waiting(lab) == 1, 10)  # counted in Redis, across workers
        published = requests.post(lab.url + "/send_notification", json={"message": f"m{i}"}, timeout=10)
        body = held.body(within=WOKEN_WITHIN)
        assert body["timed_out"] is False and [m["message"] for m in body["messages"]] == [f"m{i}"]
        if published.headers["X-Lab-Process"] != held.answer.headers["X-Lab-Process"]:
            crossed += 1
            if crossed >= 3:
                break
    assert crossed >= 1, "every publish landed in the same worker as the waiter"


# -- the page, in headless Chromium ----------------------------------------------------

@pytest.mark.browser
def test_page_receives_a_message_while_its_request_is_held(lab_server, page):
    lab = lab_server("long_polling")
    page.goto(lab.url + "/")
    assert wait_until(lambda: waiting(lab) == 1, 10)  # the page's request is being held
    markup = "<script>window.pwned = 1</script><u>under</u>"
    lab.publish(markup)
    item = page.locator("#notifications li").first
    item.wait_for(timeout=WOKEN_WITHIN * 1000)  # well before the page's 25 s hold ends
    assert item.evaluate("node => node.firstChild.textContent") == markup
    assert page.locator("#notifications u").count() == 0 and page.evaluate("window.pwned") is None
    # It asks again at once after each answer: a second request is held.
    page.wait_for_function("Number(document.querySelector('#count-requests').textContent) >= 2")
    assert int(page.text_content("#count-messages")) == 1 and int(page.text_content("#count-bytes")) > 0
    assert page.text_content("#cursor") == "1"
    wire = page.text_content("#wire")
    assert "GET updates?since=0&timeout=25" in wire and "GET updates?since=1&timeout=25" in wire


@pytest.mark.browser
def test_page_counts_empty_answers_at_the_timeout(lab_server, page):
    lab = lab_server("long_polling", config={"MAX_TIMEOUT": 0.3})  # every hold ends quickly
    page.goto(lab.url + "/")
    page.wait_for_function("Number(document.querySelector('#count-empty').textContent) >= 2")
    assert int(page.text_content("#count-messages")) == 0


def test_wake_ups_survive_a_redis_restart(lab_server, private_redis):
    # The lab's Redis listener (XREAD BLOCK) loses its connection when Redis restarts;
    # it must read again, or held requests would only ever end at their timeout.
    # RECHECK_SECONDS=60 turns off the periodic re-read, the safety net: only a wake-up
    # can end the held requests below before their 25 s timeout.
    lab = lab_server("long_polling", config={"REDIS_URL": private_redis.url, "RECHECK_SECONDS": 60})
    first = HeldRequest(lab.url, since=0, timeout=30)
    assert wait_until(lambda: waiting(lab) == 1, 10)
    lab.publish("before")
    assert first.body(within=WOKEN_WITHIN)["timed_out"] is False
    private_redis.stop()
    private_redis.start()  # the same port, and empty: nothing is persisted, the log starts again at id 0
    assert wait_until(lambda: lab.get("/stats").json()["latest"] == 0, 10)
    # The old cursor is now ahead of the log: the answer says so, and where to continue.
    ahead = lab.get("/updates", params={"since": 1, "timeout": 0})
    assert ahead.status_code == 200 and ahead.json()["cursor"] == 0
    assert ahead.json()["gap"] == {"reason": "ids restarted", "missed": None}
    second = HeldRequest(lab.url, since=0, timeout=30)
    assert wait_until(lambda: waiting(lab) == 1, 10)
    lab.publish("after")
    body = second.body(within=WOKEN_WITHIN)
    assert body["timed_out"] is False and [m["message"] for m in body["messages"]] == ["after"]
