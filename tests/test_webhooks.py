"""The webhooks lab and its sender, over real HTTP (and a real browser for the page).

"Nothing was pushed" is shown without sleeping: after the request under test, a marker
is published through POST /send_notification, and the marker must be the next (or the
only) ``notify`` event the stream reader gets.  Events on one stream arrive in order,
so anything pushed by the request under test would have come first.
"""

from __future__ import annotations

import http.server
import json
import socket
import subprocess
import sys
import threading
import time

import pytest

from labs.core import signatures
from labs.harness.client import EventStream
from labs.harness.webhook_sender import (
    WRONG_SECRET,
    Delivery,
    github_delivery,
    ping_payload,
    push_payload,
    send,
    standard_delivery,
    tampered_body,
    tampered_signature,
)
from labs.webhooks import MAX_ID_LENGTH

SECRET = "whsec_" + "dGVzdHMnIG93biBzaGFyZWQgc2VjcmV0"  # base64("tests' own shared secret")


# One lab for the module (the `lab` fixture, tests/conftest.py); every test below uses fresh
# delivery ids and its own stream reader, and compares counters before and after, so the
# tests do not depend on each other.
LAB_NAME = "webhooks"


@pytest.fixture(scope="module")
def lab_options():
    return {"config": {"WEBHOOK_SECRET": SECRET}}


def counters(lab) -> dict:
    stats = lab.get("/stats").json()
    return {"notifications": stats["notifications"], **stats["deliveries"]}


def delta(before: dict, after: dict) -> dict:
    return {key: after[key] - before[key] for key in after if after[key] != before[key]}


@pytest.fixture
def stream(lab):
    reader = EventStream(lab.url + "/stream")
    yield reader
    reader.close()


def quiet_send(delivery: Delivery, **kwargs):
    return send(delivery, out=None, **kwargs)


def next_messages(lab, stream, already: int = 0) -> list[str]:
    """Publish a marker; return the notify messages after the first ``already``, up to the marker."""
    marker = f"marker {time.monotonic_ns()}"
    assert lab.publish(marker).status_code == 200
    wanted = already + 1
    while True:
        stream.wait_for(wanted, type="notify")
        messages = stream.messages
        if marker in messages:
            return messages[already:messages.index(marker)]
        wanted = len(messages) + 1


def github_push(lab, pusher="alice", branch="main", **kwargs) -> Delivery:
    return github_delivery(lab.url, "push", push_payload(pusher, branch, commits=2), SECRET, **kwargs)


def standard_push(lab, pusher="bob", branch="dev", **kwargs) -> Delivery:
    data = {"pusher": pusher, "branch": branch, "repository": "octo-org/hello-world", "commits": 1}
    return standard_delivery(lab.url, "repository.push", data, SECRET, **kwargs)


# --------------------------------------------------------------------------- signatures

def test_standard_webhooks_reference_vector():
    # The example from the Standard Webhooks reference libraries' tests.
    signature = signatures.standard_signature("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                                              "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330,
                                              b'{"test": 2432232314}')
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_standard_accepts_any_matching_entry_during_key_rotation():
    body, now = b'{"type":"ping","data":{}}', 1_700_000_000
    good = signatures.standard_signature(SECRET, "msg_1", now, body)
    old = signatures.standard_signature(WRONG_SECRET, "msg_1", now, body)
    assert signatures.verify_standard(SECRET, "msg_1", str(now), body, f"{old} {good}", now=now) == now
    with pytest.raises(signatures.SignatureError):
        signatures.verify_standard(SECRET, "msg_1", str(now), body, old, now=now)


def test_github_signature_covers_every_byte():
    body = b'{"ref":"refs/heads/main"}'
    header = signatures.github_signature(SECRET, body)
    assert header.startswith("sha256=") and len(header) == 7 + 64
    signatures.verify_github(SECRET, body, header)
    for changed in (body + b" ", body.replace(b"main", b"mair"), b""):
        with pytest.raises(signatures.SignatureError):
            signatures.verify_github(SECRET, changed, header)


def test_a_reader_that_cannot_keep_up_is_cut_not_buffered():
    # The lab's fan-out is labs.core.broker's: each reader's queue (sse_response's) is bounded.
    from labs.core.broker import Broker
    from labs.core.event_log import MemoryEventLog
    from labs.core.sse_response import Subscriber

    hub = Broker(MemoryEventLog(history=10), queue_size=3)
    slow, fast = Subscriber(hub.queue_size), Subscriber(hub.queue_size)
    for reader in (slow, fast):
        hub.open(reader)
    for number in range(3):
        hub.publish(f"block {number}")
        assert [m.text for m in fast.get_batch(0, 10)] == [f"block {number}"]
    hub.publish("one too many for the slow reader")
    assert hub.subscriber_count() == 1  # the slow reader is gone; its browser will reconnect
    assert slow.cut_reason == "slow"
    assert slow.get_batch(0, 10) is None  # tells its stream generator to end
    assert [m.text for m in fast.get_batch(0, 10)] == ["one too many for the slow reader"]
    assert len(slow.waiting) == 3  # what it held when cut: bounded, not a growing backlog


def test_seen_ids_claim_is_all_or_nothing():
    from labs.webhooks import SeenIds

    seen = SeenIds(capacity=10)
    assert seen.claim("id:1", "body:a")
    assert not seen.claim("id:2", "body:a")  # a known body under a new id
    assert not seen.claim("id:1", "body:b")  # a known id with a new body
    assert seen.claim("id:2", "body:b")      # nothing above was recorded by the refusals
    seen.release("id:2", "body:b")
    assert seen.claim("id:2", "body:b")


# --------------------------------------------------------------------------- accepted, once

def test_github_push_is_pushed_exactly_once(lab, stream):
    before = counters(lab)
    delivery = github_push(lab)
    first = quiet_send(delivery)
    assert first.status == 200
    assert first.json()["status"] == "accepted"
    assert first.json()["message"] == "alice pushed to main"
    again = quiet_send(delivery)  # a provider's redelivery: same id, same bytes
    assert again.status == 200
    assert again.json()["status"] == "duplicate"
    assert next_messages(lab, stream) == ["alice pushed to main"]
    event = stream.wait_for(1, type="notify")[0]
    assert event.json() == {"message": "alice pushed to main"}
    # 2 notifications: the push and the marker.
    assert delta(before, counters(lab)) == {"notifications": 2, "accepted": 1, "duplicate": 1}


def test_standard_push_is_pushed_exactly_once(lab, stream):
    delivery = standard_push(lab)
    assert quiet_send(delivery).json()["status"] == "accepted"
    assert quiet_send(delivery).json()["status"] == "duplicate"
    assert next_messages(lab, stream) == ["bob pushed to dev"]


def test_same_id_with_a_new_signature_is_still_a_duplicate(lab, stream):
    # A replay that re-signs (the sender retrying with a fresh timestamp) is the same delivery.
    same = f"msg_same_{time.monotonic_ns()}"
    assert quiet_send(standard_push(lab, msg_id=same)).json()["status"] == "accepted"
    assert quiet_send(standard_push(lab, pusher="eve", msg_id=same)).json()["status"] == "duplicate"
    assert next_messages(lab, stream) == ["bob pushed to dev"]


def test_github_replay_under_a_new_delivery_id_is_a_duplicate(lab, stream):
    # X-GitHub-Delivery is not signed: an attacker can replay a captured body with a
    # made-up id.  The receiver also remembers the digest of every body it handled.
    original = github_push(lab, pusher="frank")
    assert quiet_send(original).json()["status"] == "accepted"
    replay = Delivery(original.url, "github", "push", "made-up-id",
                      {**original.headers, "X-GitHub-Delivery": "made-up-id"}, original.body)
    answer = quiet_send(replay)
    assert (answer.status, answer.json()["status"]) == (200, "duplicate")
    assert next_messages(lab, stream) == ["frank pushed to main"]


def test_ping_and_other_events_are_acknowledged_not_pushed(lab, stream):
    ping = quiet_send(github_delivery(lab.url, "ping", ping_payload(), SECRET))
    assert (ping.status, ping.json()["status"]) == (200, "pong")
    other = quiet_send(github_delivery(lab.url, "issues", {"action": "opened"}, SECRET))
    assert (other.status, other.json()["status"]) == (202, "ignored")
    standard_ping = quiet_send(standard_delivery(lab.url, "ping", {}, SECRET))
    assert (standard_ping.status, standard_ping.json()["status"]) == (200, "pong")
    assert next_messages(lab, stream) == []


def test_github_form_encoded_delivery(lab, stream):
    import urllib.parse

    payload = json.dumps(push_payload("carol", "docs"))
    body = urllib.parse.urlencode({"payload": payload}).encode()
    delivery = github_delivery(lab.url, "push", body, SECRET)
    delivery.headers["Content-Type"] = "application/x-www-form-urlencoded"
    assert quiet_send(delivery).json()["status"] == "accepted"
    assert next_messages(lab, stream) == ["carol pushed to docs"]


def test_notification_through_standard_webhooks_and_send_notification(lab, stream):
    delivery = standard_delivery(lab.url, "notification.created", {"message": "deploy done"}, SECRET)
    assert quiet_send(delivery).status == 200
    assert lab.publish("from the common interface").json()["status"] == "published"
    assert stream.wait_for(2, type="notify")[1].json() == {"message": "from the common interface"}
    assert stream.messages[:2] == ["deploy done", "from the common interface"]
    bad = lab.post("/send_notification", data="message=hi", headers={"Content-Type": "text/plain"})
    assert bad.status_code == 415 and "error" in bad.json()


def test_concurrent_copies_of_a_delivery_are_pushed_once(lab, stream):
    # A provider that timed out and retried while the first attempt was still running:
    # the id check and the record of the id happen under one lock.
    delivery = github_push(lab, pusher="erin")
    outcomes: list = []
    threads = [threading.Thread(target=lambda: outcomes.append(quiet_send(delivery))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    statuses = sorted(outcome.json()["status"] for outcome in outcomes)
    assert statuses == ["accepted"] + ["duplicate"] * 7
    assert next_messages(lab, stream) == ["erin pushed to main"]


def test_a_reader_that_reconnects_is_replayed_what_it_missed(lab):
    # Every event has an id, so a browser that lost the stream says where it was
    # (Last-Event-ID) and gets the pushes and delivery outcomes it missed, in order.
    with EventStream(lab.url + "/stream") as first:
        assert quiet_send(github_push(lab, pusher="gina")).json()["status"] == "accepted"
        seen = first.wait_for(1, type="notify")[0]
        assert seen.json() == {"message": "gina pushed to main"} and seen.id.isdigit()
    assert quiet_send(github_push(lab, pusher="hal")).json()["status"] == "accepted"
    assert lab.publish("while away").status_code == 200
    with EventStream(lab.url + "/stream", last_event_id=seen.id) as again:
        missed = again.wait_for(2, type="notify")
        assert [event.json()["message"] for event in missed][:2] == ["hal pushed to main", "while away"]
        # The delivery log too: gina's (logged just after her push) and hal's.
        logged = [event.json() for event in again.events if event.type == "delivery"]
        assert [(d["outcome"], d.get("message")) for d in logged[:2]] == [
            ("accepted", "gina pushed to main"), ("accepted", "hal pushed to main")]
        ids = [int(event.id) for event in again.events]
        assert ids == sorted(ids) and ids[0] > int(seen.id)


def test_quiet_stream_gets_keep_alive_comments(lab_server):
    lab = lab_server("webhooks", config={"WEBHOOK_SECRET": SECRET, "KEEPALIVE_SECONDS": 0.2})
    with EventStream(lab.url + "/stream") as reader:
        assert reader.headers["Content-Type"].startswith("text/event-stream")
        reader.wait_for_raw(b": keep-alive\n\n")
        assert lab.get("/stats").json()["clients"] == 1


def test_secret_from_the_environment(lab_server, monkeypatch):
    monkeypatch.setenv("WEBHOOK_SECRET", "from the environment")
    lab = lab_server("webhooks")  # no config: the lab process inherits the variable
    assert lab.get("/stats").json()["development_secret"] is False
    assert "DEVELOPMENT secret" not in lab.log
    assert quiet_send(github_delivery(lab.url, "ping", ping_payload(), "from the environment")).status == 200
    refused = quiet_send(github_delivery(lab.url, "ping", ping_payload(), signatures.DEVELOPMENT_SECRET))
    assert refused.status == 401


# --------------------------------------------------------------------------- rejected

def _without(delivery: Delivery, header: str) -> Delivery:
    headers = {k: v for k, v in delivery.headers.items() if k.lower() != header.lower()}
    return Delivery(delivery.url, delivery.scheme, delivery.event, delivery.id, headers, delivery.body)


def _resigned_github(lab, body: bytes) -> Delivery:
    return github_delivery(lab.url, "push", body, SECRET)


def _stale(lab, seconds: int) -> Delivery:
    return standard_push(lab, timestamp=int(time.time()) + seconds)


def _standard_raw(lab, body: bytes, timestamp: str | None = None, secret: str = SECRET) -> Delivery:
    delivery = standard_push(lab)
    stamp = timestamp or delivery.headers["webhook-timestamp"]
    headers = {**delivery.headers, "webhook-timestamp": stamp,
               "webhook-signature": signatures.standard_signature(secret, delivery.id, stamp, body)}
    return Delivery(delivery.url, "standard", delivery.event, delivery.id, headers, body)


NOT_JSON = b"{not json"
TOO_DEEP = b'{"ref": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"  # deeper than Python's parser goes
TOO_LONG_ID = "m" * (MAX_ID_LENGTH + 1)


REJECTIONS = {
    "github missing signature": (lambda lab: _without(github_push(lab), "X-Hub-Signature-256"), 401,
                                 "missing signature"),
    "github tampered body": (lambda lab: tampered_body(github_push(lab)), 401, "invalid signature"),
    "github tampered signature": (lambda lab: tampered_signature(github_push(lab)), 401, "invalid signature"),
    "github wrong secret": (lambda lab: github_delivery(lab.url, "push", push_payload(), WRONG_SECRET), 401,
                            "invalid signature"),
    "github malformed body": (lambda lab: _resigned_github(lab, b'{"ref": "refs/heads/main",'), 400,
                              "invalid JSON"),
    "github body nested too deeply": (lambda lab: _resigned_github(lab, TOO_DEEP), 400, "invalid JSON", "deeply"),
    "standard body nested too deeply": (lambda lab: _standard_raw(lab, TOO_DEEP), 400, "invalid JSON", "deeply"),
    "github body not an object": (lambda lab: _resigned_github(lab, b'["refs/heads/main"]'), 400,
                                  "expected a JSON object"),
    "github push without pusher": (lambda lab: _resigned_github(lab, b'{"ref": "refs/heads/main"}'), 400,
                                   "invalid push payload"),
    "github missing event": (lambda lab: _without(github_push(lab), "X-GitHub-Event"), 400,
                             "missing header 'X-GitHub-Event'"),
    "github missing delivery id": (lambda lab: _without(github_push(lab), "X-GitHub-Delivery"), 400,
                                   "missing header 'X-GitHub-Delivery'"),
    "standard missing signature": (lambda lab: _without(standard_push(lab), "webhook-signature"), 401,
                                   "missing signature"),
    "standard missing id": (lambda lab: _without(standard_push(lab), "webhook-id"), 401, "missing signature"),
    "standard tampered body": (lambda lab: tampered_body(standard_push(lab)), 401, "invalid signature"),
    "standard tampered signature": (lambda lab: tampered_signature(standard_push(lab)), 401,
                                    "invalid signature"),
    "standard wrong secret": (lambda lab: standard_delivery(
        lab.url, "repository.push", {"pusher": "eve", "branch": "main"}, WRONG_SECRET), 401, "invalid signature"),
    "standard stale timestamp": (lambda lab: _stale(lab, -600), 400, "stale timestamp"),
    "standard future timestamp": (lambda lab: _stale(lab, 600), 400, "timestamp in the future"),
    "standard timestamp not a number": (lambda lab: _standard_raw(lab, b'{"type":"ping","data":{}}', "soon"),
                                        400, "invalid timestamp"),
    "standard malformed body": (lambda lab: _standard_raw(lab, b'{"type": "repository.push"'), 400,
                                "invalid JSON"),
    "standard body not utf-8": (lambda lab: _standard_raw(lab, b'{"type": "\xff"}'), 400, "invalid JSON"),
    "standard payload without data": (lambda lab: _standard_raw(lab, b'{"type": "repository.push"}'), 400,
                                      "invalid payload"),
    # Signature before parsing: a body that is not even JSON is refused as unsigned (401), not 400.
    "github not JSON, missing signature": (lambda lab: _without(_resigned_github(lab, NOT_JSON),
                                                                "X-Hub-Signature-256"), 401, "missing signature"),
    "github not JSON, wrong signature": (lambda lab: github_delivery(lab.url, "push", NOT_JSON, WRONG_SECRET), 401,
                                         "invalid signature"),
    "standard not JSON, missing signature": (lambda lab: _without(_standard_raw(lab, NOT_JSON), "webhook-signature"),
                                             401, "missing signature"),
    "standard not JSON, wrong signature": (lambda lab: _standard_raw(lab, NOT_JSON, secret=WRONG_SECRET), 401,
                                           "invalid signature"),
    # Signed correctly, but the timestamp is part of what is signed: without it nothing can be verified.
    "standard missing timestamp": (lambda lab: _without(standard_push(lab), "webhook-timestamp"), 401,
                                   "missing signature", "webhook-timestamp"),
    "standard id too long": (lambda lab: standard_push(lab, msg_id=TOO_LONG_ID), 400,
                             "header 'webhook-id' too long", str(MAX_ID_LENGTH)),
    "github delivery id too long": (lambda lab: github_push(lab, delivery_id=TOO_LONG_ID), 400,
                                    "header 'X-GitHub-Delivery' too long", str(MAX_ID_LENGTH)),
    # A lone surrogate escape where the receiver echoes or logs the value itself.
    "github ping zen with a lone surrogate": (lambda lab: github_delivery(lab.url, "ping", b'{"zen": "a\\ud800"}',
                                                                          SECRET), 400, "invalid text", "surrogate"),
    "standard type with a lone surrogate": (lambda lab: _standard_raw(lab, b'{"type": "x.\\udc00", "data": {}}'),
                                            400, "invalid text", "surrogate"),
}


def assert_rejected(lab, stream, delivery: Delivery, status: int, error: str | None = None,
                    detail: str | None = None) -> None:
    """``delivery`` gets a ``status`` JSON error (``error`` exactly, if given) and pushes nothing."""
    before = counters(lab)
    outcome = quiet_send(delivery)
    assert outcome.status == status, outcome.response.text
    assert outcome.attempts == 1  # a 4xx is final: the sender does not retry it
    body = outcome.json()
    assert isinstance(body.get("error"), str) and body["error"]
    if error is not None:
        assert body["error"] == error
    assert isinstance(body.get("detail"), str) and body["detail"]
    if detail is not None:
        assert detail in body["detail"]
    assert next_messages(lab, stream) == []
    assert delta(before, counters(lab)) == {"notifications": 1, "rejected": 1}  # the marker's notification
    last = lab.get("/deliveries").json()["deliveries"][-1]
    assert (last["outcome"], last["status"], last["reason"]) == ("rejected", status, body["error"])
    # The page hears about it on the same stream, as a `delivery` event.
    delivery_event = stream.wait_for(1, type="delivery")[0].json()
    assert delivery_event["outcome"] == "rejected" and delivery_event["reason"] == body["error"]


@pytest.mark.parametrize("case", list(REJECTIONS))
def test_rejected_deliveries_get_json_errors_and_push_nothing(lab, stream, case):
    build, status, error, *detail = REJECTIONS[case]
    assert_rejected(lab, stream, build(lab), status, error, *detail)


# Pushed text goes through labs.core.notify.read_message, which owns this check, so the exact error
# is its business; what matters here is a 400 (not a 500) and nothing pushed.
LONE_SURROGATES = {
    "github push ref": lambda lab: _resigned_github(
        lab, b'{"ref": "refs/heads/\\ud800", "pusher": {"name": "alice"}}'),
    "github pusher name": lambda lab: _resigned_github(
        lab, b'{"ref": "refs/heads/main", "pusher": {"name": "\\udfff"}}'),
    "standard push branch": lambda lab: _standard_raw(
        lab, b'{"type": "repository.push", "data": {"branch": "\\ud800", "pusher": "bob"}}'),
    "standard notification": lambda lab: _standard_raw(
        lab, b'{"type": "notification.created", "data": {"message": "done \\ud83d"}}'),
}


@pytest.mark.parametrize("case", list(LONE_SURROGATES))
def test_lone_surrogate_in_pushed_text_is_a_400(lab, stream, case):
    assert_rejected(lab, stream, LONE_SURROGATES[case](lab), 400)


def test_a_lone_surrogate_where_nothing_reads_it_is_accepted(lab, stream):
    # Only text the receiver uses is checked: other fields are passed over, not refused.
    body = json.dumps(push_payload("ivy", "main")).replace('"Change number 1"', '"\\ud800"').encode()
    assert b"\\ud800" in body
    assert quiet_send(_resigned_github(lab, body)).json()["status"] == "accepted"
    assert next_messages(lab, stream) == ["ivy pushed to main"]


def test_a_delivery_id_of_the_maximum_length_is_accepted(lab, stream):
    ident = "m" * MAX_ID_LENGTH
    assert quiet_send(standard_push(lab, msg_id=ident)).json()["status"] == "accepted"
    assert next_messages(lab, stream) == ["bob pushed to dev"]


def test_a_rejected_delivery_id_can_still_arrive_correctly(lab, stream):
    # A malformed first attempt must not make the real one look like a duplicate.
    broken = _standard_raw(lab, b'{"type": "repository.push"')
    assert quiet_send(broken).status == 400
    fixed = standard_push(lab, msg_id=broken.id)
    assert quiet_send(fixed).json()["status"] == "accepted"
    assert next_messages(lab, stream) == ["bob pushed to dev"]


def test_seen_ids_are_bounded(lab_server):
    lab = lab_server("webhooks", config={"WEBHOOK_SECRET": SECRET, "WEBHOOK_SEEN_IDS": 2})
    for ident in ("a", "b", "c"):
        assert quiet_send(github_push(lab, delivery_id=ident)).json()["status"] == "accepted"
    assert quiet_send(github_push(lab, delivery_id="c")).json()["status"] == "duplicate"
    # "a" was forgotten to keep memory bounded: for GitHub deliveries (no signed timestamp)
    # only the id memory stops a replay, which is why Standard Webhooks signs a timestamp.
    assert quiet_send(github_push(lab, delivery_id="a")).json()["status"] == "accepted"


@pytest.mark.parametrize("bad", ["whsec_not base64!", "whsec_abc", "whsec_"])
def test_a_whsec_secret_that_is_not_base64_is_refused_at_start_up(bad):
    from labs.webhooks import create_app

    with pytest.raises(ValueError, match="WEBHOOK_SECRET") as refused:
        create_app({"WEBHOOK_SECRET": bad})
    message = str(refused.value)
    assert "base64" in message or "no key bytes" in message
    key_part = bad.removeprefix("whsec_")
    assert not key_part or key_part not in message  # a secret is never echoed into logs


def test_development_secret_is_announced(lab_server, monkeypatch):
    monkeypatch.delenv("WEBHOOK_SECRET", raising=False)
    lab = lab_server("webhooks")
    assert lab.get("/stats").json()["development_secret"] is True
    assert "DEVELOPMENT secret" in lab.log
    delivery = github_delivery(lab.url, "push", push_payload(), signatures.DEVELOPMENT_SECRET)
    assert quiet_send(delivery).status == 200


# --------------------------------------------------------------------------- sender retries

class FlakyReceiver:
    """A tiny real HTTP server: answers 503 ``failures`` times, then 200."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.requests: list[tuple[dict, bytes]] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append((dict(self.headers), body))
                failing = len(receiver.requests) <= receiver.failures
                answer = b'{"error": "busy"}' if failing else b'{"status": "accepted"}'
                self.send_response(503 if failing else 200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def test_sender_retries_until_success():
    delays = []
    with FlakyReceiver(failures=2) as receiver:
        delivery = github_delivery(receiver.url, "push", push_payload(), SECRET)
        outcome = send(delivery, attempts=5, backoff=0.01, out=None,
                       sleep=lambda s: (delays.append(s), time.sleep(s)))
    assert outcome.status == 200 and outcome.attempts == 3
    assert len(receiver.requests) == 3  # stopped after the success
    assert delays == [0.01, 0.02]  # exponential backoff
    # Every attempt is the same delivery: same id, same signed bytes.
    assert {headers["X-GitHub-Delivery"] for headers, _ in receiver.requests} == {delivery.id}
    assert {body for _, body in receiver.requests} == {delivery.body}


def test_sender_gives_up_after_the_maximum():
    with FlakyReceiver(failures=100) as receiver:
        outcome = send(github_delivery(receiver.url, "push", push_payload(), SECRET),
                       attempts=4, backoff=0.01, out=None)
    assert outcome.status == 503 and outcome.attempts == 4 and not outcome.ok
    assert len(receiver.requests) == 4


def test_sender_retries_connection_errors():
    with socket.socket() as sock:  # a port that was free a moment ago: nobody listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    outcome = send(github_delivery(f"http://127.0.0.1:{port}", "ping", ping_payload(), SECRET),
                   attempts=3, backoff=0.01, out=None)
    assert outcome.response is None and outcome.attempts == 3 and outcome.error


def test_sender_command_line_prints_what_it_sent_and_the_answer(lab, tmp_path):
    saved = tmp_path / "delivery.json"
    env_cmd = [sys.executable, "-m", "labs", "send-webhook", "--url", lab.url, "--secret", SECRET]
    first = subprocess.run([*env_cmd, "--pusher", "dana", "--save", str(saved)],
                           capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stderr
    assert "X-Hub-Signature-256: sha256=" in first.stdout
    assert '"message":"dana pushed to main"' in first.stdout
    replay = subprocess.run([*env_cmd, "--replay", str(saved)], capture_output=True, text=True, timeout=60)
    assert replay.returncode == 0 and '"status":"duplicate"' in replay.stdout
    forged = subprocess.run([*env_cmd, "--wrong-secret"], capture_output=True, text=True, timeout=60)
    assert forged.returncode == 1 and "401" in forged.stdout and '"invalid signature"' in forged.stdout


def test_sender_command_line_tamper_age_and_twice(lab_server):
    # A lab of its own, so its delivery log holds exactly these runs.
    lab = lab_server("webhooks", config={"WEBHOOK_SECRET": SECRET})
    command = [sys.executable, "-m", "labs", "send-webhook", "--url", lab.url, "--secret", SECRET]

    def run(*flags: str) -> subprocess.CompletedProcess:
        return subprocess.run([*command, *flags], capture_output=True, text=True, timeout=60)

    def last_delivery() -> dict:
        return lab.get("/deliveries").json()["deliveries"][-1]

    for tamper in ("body", "signature"):
        for scheme in ("github", "standard"):
            tampered = run("--scheme", scheme, "--tamper", tamper)
            assert tampered.returncode == 1, tampered.stdout + tampered.stderr
            last = last_delivery()
            assert (last["scheme"], last["outcome"], last["status"], last["reason"]) == (
                scheme, "rejected", 401, "invalid signature")
    aged = run("--scheme", "standard", "--age", "600")
    assert aged.returncode == 1, aged.stdout + aged.stderr
    last = last_delivery()
    assert (last["outcome"], last["status"], last["reason"]) == ("rejected", 400, "stale timestamp")
    twice = run("--pusher", "jo", "--twice")
    assert twice.returncode == 0, twice.stdout + twice.stderr
    first, second = lab.get("/deliveries").json()["deliveries"][-2:]
    assert (first["outcome"], first["message"]) == ("accepted", "jo pushed to main")
    assert second["outcome"] == "duplicate" and second["id"] == first["id"]
    stats = lab.get("/stats").json()
    assert stats["notifications"] == 1  # only the first copy was pushed
    assert stats["deliveries"] == {"accepted": 1, "pong": 0, "ignored": 0, "duplicate": 1, "rejected": 5}


# --------------------------------------------------------------------------- the page

@pytest.mark.browser
def test_a_delivery_from_the_sender_appears_on_the_page(lab_server, page):
    lab = lab_server("webhooks", config={"WEBHOOK_SECRET": SECRET})  # its own: the page shows the whole log
    page.goto(lab.url + "/")
    page.wait_for_selector("#lab-state.ok")
    sent = subprocess.run([sys.executable, "-m", "labs", "send-webhook", "--url", lab.url, "--secret", SECRET,
                           "--scheme", "standard", "--event", "notification", "--message", "<b>bold?</b>"],
                          capture_output=True, text=True, timeout=60)
    assert sent.returncode == 0, sent.stdout + sent.stderr
    item = page.wait_for_selector("#notifications li")
    assert item.text_content() == "<b>bold?</b>"  # shown as text, never parsed as markup
    assert page.locator("#notifications b").count() == 0
    forged = subprocess.run([sys.executable, "-m", "labs", "send-webhook", "--url", lab.url, "--wrong-secret"],
                            capture_output=True, text=True, timeout=60)
    assert forged.returncode == 1
    rejected = page.wait_for_selector("#deliveries li.rejected")
    assert "invalid signature" in rejected.text_content()
    accepted = page.locator("#deliveries li.accepted")
    assert accepted.count() == 1 and "<b>bold?</b>" in accepted.text_content()
    assert page.locator("#notifications li").count() == 1
