"""The one event log (labs.core.event_log) and its catch-up rule, in every lab that uses it.

The core is checked on both backends (memory and a real Redis) with the same tests; then
each of the four labs on top of it (manual_sse, webhooks, polling, long_polling) is
restarted for real and asked by a client whose id is beyond the new log's newest one:
every lab must answer 200 with a gap "ids restarted", everything the new log keeps, and
a position from which the client then receives the next message, once.
"""

from __future__ import annotations

import threading
import uuid

import pytest

from labs import EventStream
from labs.core.event_log import IDS_RESTARTED, TOO_OLD, UNKNOWN_ID, MemoryEventLog, RedisEventLog
from labs.harness.processes import wait_until

# A woken waiter answers in milliseconds; one that was not woken answers at its 30 s
# timeout.  Anything under 12 s tells the two apart, however loaded the machine.
WOKEN_WITHIN = 12


@pytest.fixture(params=["memory", "redis"])
def make_log(request):
    """``make_log(history)``: a fresh log on the backend under test; closed afterwards."""
    made = []

    def make(history: int = 100):
        if request.param == "memory":
            log = MemoryEventLog(history)
        else:
            server = request.getfixturevalue("redis_server")
            log = RedisEventLog(server.url, f"test:event_log:{uuid.uuid4().hex}", history)
        made.append(log)
        return log

    yield make
    for log in made:
        log.close()
        if isinstance(log, RedisEventLog):
            log.redis.delete(log.counter_key, log.stream_key, log.epoch_key)


def ids(messages) -> list[int]:
    return [message.id for message in messages]


def test_ids_the_bounded_history_and_every_case_of_the_catch_up_rule(make_log):
    log = make_log(history=3)
    assert log.catch_up(0).gap is None and log.catch_up(0).messages == []  # an empty log: nothing to say
    for i in range(1, 7):
        assert log.append("notify", {"message": f"m{i}"}).id == i
    assert (log.latest(), log.length()) == (6, 3)  # ids 4, 5, 6 are kept

    assert ids(log.catch_up(4).messages) == [5, 6] and log.catch_up(4).gap is None
    assert ids(log.catch_up(3).messages) == [4, 5, 6] and log.catch_up(3).gap is None
    assert log.catch_up(6).messages == [] and log.catch_up(6).gap is None
    assert ids(log.catch_up(4, limit=1).messages) == [5]

    too_old = log.catch_up(1)
    assert too_old.gap == {"reason": TOO_OLD, "missed": 2} and ids(too_old.messages) == [4, 5, 6]
    for ahead in (7, 10**12):
        restarted = log.catch_up(ahead)
        assert restarted.gap == {"reason": IDS_RESTARTED, "missed": None}, ahead
        assert ids(restarted.messages) == [4, 5, 6] and restarted.position == 6
    assert ids(log.catch_up(99, limit=2).messages) == [4, 5]  # batched like any other answer
    unknown = log.catch_up(None)
    assert unknown.gap == {"reason": UNKNOWN_ID, "missed": None} and ids(unknown.messages) == [4, 5, 6]

    kept = log.catch_up(5).messages[0]
    assert (kept.event, kept.data, kept.text) == ("notify", {"message": "m6"}, "m6")
    assert kept.wire == b'event: notify\nid: 6\ndata: {"message": "m6"}\n\n'


def test_subscribers_get_every_new_message_once_in_id_order(make_log):
    log = make_log(history=500)
    got = []
    log.subscribe(got.append)
    writers = [threading.Thread(target=lambda n=n: [log.append("notify", {"message": f"{n}-{i}"})
                                                    for i in range(25)]) for n in range(4)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(30)
    assert wait_until(lambda: len(got) >= 100, 10), f"{len(got)} of 100 delivered"
    assert ids(got) == list(range(1, 101))
    for n in range(4):  # each writer's messages in its own order
        assert [m.text for m in got if m.text.startswith(f"{n}-")] == [f"{n}-{i}" for i in range(25)]


def test_wait_ends_with_news_or_at_its_timeout(make_log):
    log = make_log()
    log.wait(0, 0.2)  # nothing happens: it returns at its timeout
    assert log.latest() == 0
    waiter = threading.Thread(target=log.wait, args=(0, 30), daemon=True)
    waiter.start()
    log.append("notify", {"message": "news"})
    waiter.join(WOKEN_WITHIN)
    assert not waiter.is_alive(), "the append did not wake the waiter"
    log.wait(0, 30)  # news after 0 is already there: no wait at all (else this test hangs 30 s)


def test_ids_carry_on_when_redis_restarts_empty(private_redis):
    log = RedisEventLog(private_redis.url, "test:event_log:restart", history=10)
    try:
        assert [log.append("notify", {"message": m}).id for m in ("a", "b")] == [1, 2]
        private_redis.stop()
        private_redis.start()  # the same port, and empty: persistence is off
        # A reader at id 2 is now ahead of the log: a gap, nothing to replay...
        assert log.catch_up(2).gap == {"reason": IDS_RESTARTED, "missed": None}
        # ...but this process remembers id 2, so the next id is 3, not 1 again: a reader
        # at id 2 takes it as new, and nothing is mistaken for what it already has.
        assert log.append("notify", {"message": "c"}).id == 3
        after = log.catch_up(2)
        assert after.gap is None and [m.text for m in after.messages] == ["c"]
    finally:
        log.close()


# ----------------------------------------------------------------- the rule in each lab

SECRET = "whsec_" + "dGVzdHMnIG93biBzaGFyZWQgc2VjcmV0"  # base64("tests' own shared secret")
CONFIGS = {
    "manual_sse": {"KEEPALIVE_SECONDS": 0.3, "RETRY_MS": 500},
    "webhooks": {"WEBHOOK_SECRET": SECRET, "KEEPALIVE_SECONDS": 0.3},
    "polling": {},
    "long_polling": {},
}


def reconnect_sse(lab, last_id: int, kept: int, live: str):
    """An EventSource coming back with ``Last-Event-ID: last_id``; then ``live`` is published."""
    with EventStream(lab.url + "/stream", last_event_id=str(last_id)) as stream:
        gap = stream.wait_for(1, type="gap")[0]
        if kept:
            stream.wait_for(kept, type="notify")  # the replay, before anything live
        lab.publish(live)
        notes = stream.wait_for(kept + 1, type="notify")
        first = next(e for e in stream.events if e.type in ("gap", "notify"))
    assert first is gap, "the gap comes before the replay"
    assert int(gap.id) == (int(notes[0].id) - 1 if kept else 0), "the gap's id is where the replay starts"
    return stream.status, gap.json(), [(int(e.id), e.json()["message"]) for e in notes]


def poll_again(lab, last_id: int, kept: int, live: str, **params):
    """A poller coming back with ``since=last_id``; then ``live`` is published and it polls on."""
    first = lab.get("/updates", params={"since": last_id, **params}, timeout=10)  # never held
    body = first.json()
    assert body.get("timed_out", False) is False and body["more"] is False
    assert body["missed"] is None  # how many were lost is unknown
    lab.publish(live)
    second = lab.get("/updates", params={"since": body["cursor"], **params}, timeout=10).json()
    assert second["gap"] is None and second["missed"] == 0
    records = body["messages"] + second["messages"]
    return first.status_code, body["gap"], [(m["id"], m["message"]) for m in records]


CLIENTS = {
    "manual_sse": reconnect_sse,
    "webhooks": reconnect_sse,
    "polling": poll_again,
    # timeout=30: were the answer held, the 10 s client timeout above would fail the test.
    "long_polling": lambda lab, last_id, kept, live: poll_again(lab, last_id, kept, live, timeout=30),
}


@pytest.mark.parametrize("name", list(CLIENTS))
def test_an_id_ahead_of_a_restarted_lab_gets_everything_kept_and_a_gap_never_an_error(lab_server, name):
    before = lab_server(name, config=CONFIGS[name])
    for text in ("a", "b", "c"):  # ids 1, 2, 3: the client saw id 3
        assert before.publish(text).status_code == 200
    before.stop()
    lab = lab_server(name, config=CONFIGS[name])  # a new process: the log is empty, the ids start again
    catch_up = CLIENTS[name]
    restarted = {"reason": IDS_RESTARTED, "missed": None}
    if name in ("manual_sse", "webhooks"):
        restarted["last_event_id"] = "3"

    # Before anything is published again: nothing to replay, but the client is told, and
    # it goes on to receive the next message once.
    status, gap, received = catch_up(lab, 3, kept=0, live="first")
    assert (status, gap, received) == (200, restarted, [(1, "first")])

    # After a publish (id 2 < 3, still behind the client's id): everything kept, then live.
    assert lab.publish("second").status_code == 200
    status, gap, received = catch_up(lab, 3, kept=2, live="third")
    assert (status, gap, received) == (200, restarted, [(1, "first"), (2, "second"), (3, "third")])
