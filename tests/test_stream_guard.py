"""Readers never starve publishers, and a stalled write does not hold a stream forever.

- A lab filled to its stream cap still takes publishes, /health and /stats at once (gunicorn
  with a worker that takes only a few connections more than the cap); the stream past the cap
  gets a goodbye with a jittered ``retry:``, never an error status; ``/stats`` says it is full.
- A POST stream (token_stream) past the cap is 503 JSON with ``Retry-After``.
- A token stream whose reader stalls (the relay stops reading; its kernel still ACKs) is cut
  after ``WRITE_DEADLINE_SECONDS`` and counted "client gone".
- Bad settings are refused saying which.
"""

from __future__ import annotations

import json
import time

import pytest

from benchmarks.raw_readers import RawReader, held, open_reader, stream_request
from labs.core.sse import EventStreamDecoder
from labs.core.stream_guard import default_max_streams, limits_of
from labs.harness.processes import wait_until
from labs.harness.relay import RelayServer

CAP = 4


def events_of(data: bytes) -> list:
    body = data.split(b"\r\n\r\n", 1)[1]
    decoder = EventStreamDecoder()
    return list(decoder.feed(body)) + list(decoder.close() or [])


def test_a_lab_full_of_readers_still_publishes_and_tells_the_next_reader_to_come_back(lab_server):
    # Two connections to spare: before the cap a fifth and sixth reader would have taken them,
    # and the publish below would have waited in the listen queue until a reader left.
    lab = lab_server("manual_sse", workers=1, config={"MAX_STREAMS": CAP, "WORKER_CONNECTIONS": CAP + 3,
                                                      "STREAM_FULL_RETRY_MS": [1000, 2000],
                                                      "KEEPALIVE_SECONDS": 0.3})
    readers = [open_reader(lab, lab.url) for _ in range(CAP)]
    late = RawReader(lab.url, stream_request("GET", lab.url + "/stream", {}))
    assert wait_until(lambda: b"goodbye" in late.received and b"\r\n\r\n" in late.received, 5)
    head = bytes(late.received).split(b"\r\n", 1)[0]
    assert head == b"HTTP/1.1 200 OK", head  # never an error status: it would end an EventSource for good
    (goodbye,) = [event for event in events_of(bytes(late.received)) if event.type == "goodbye"]
    assert json.loads(goodbye.data)["reason"] == "server full"
    assert b"retry: 1" in late.received and 1000 <= json.loads(goodbye.data)["retry_ms"] <= 2000
    started = time.monotonic()
    assert lab.publish("still here", timeout=5).ok
    assert lab.get("/health", timeout=5).ok
    capacity = lab.get("/capacity", timeout=5).json()
    assert time.monotonic() - started < 3
    assert lab.get("/stats").json()["capacity"] == capacity
    assert (capacity["open"], capacity["max_streams"], capacity["full"], capacity["refused"]) == (CAP, CAP, True, 1)
    assert wait_until(lambda: all(b"still here" in reader.received for reader in readers), 5)
    for reader in readers + [late]:
        reader.close()
    assert wait_until(lambda: held(lab) == 0 and not lab.get("/stats").json()["capacity"]["full"], 5)


@pytest.mark.parametrize("name", ["webhooks", "sse_blueprint", "secure_stream"])
def test_every_streaming_lab_has_the_cap(name, redis_server):
    from labs.harness.registry import get_lab

    config = {"MAX_STREAMS": 1, "REDIS_URL": redis_server.url, "KEEPALIVE_SECONDS": 0.2}  # flask-sse: first byte soon
    client = get_lab(name).module().create_app(config).test_client()
    headers = {}
    if name == "secure_stream":
        token = client.post("/login", json={"user": "alice", "password": "wonderland"}).json["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
    first = client.get("/stream", headers=headers, buffered=False)
    second = client.get("/stream", headers=headers)
    assert first.status_code == second.status_code == 200
    assert b"event: goodbye" in second.data and b"server full" in second.data
    assert client.get("/capacity").json["refused"] == 1
    first.close()
    assert client.get("/capacity").json["open"] == 0


def test_a_post_stream_past_the_cap_is_503_with_retry_after():
    from labs.token_stream import create_app

    client = create_app({"MAX_STREAMS": 1, "TOKEN_INTERVAL": 0.01}).test_client()
    first = client.post("/generate", json={"prompt": "hi", "max_tokens": 50}, buffered=False)
    assert first.status_code == 200
    second = client.post("/generate", json={"prompt": "hi", "max_tokens": 5})
    assert second.status_code == 503 and second.json["error"] == "server full"
    assert 1 <= int(second.headers["Retry-After"]) <= 5
    first.close()
    assert client.get("/stats").json["capacity"]["open"] == 0


@pytest.mark.parametrize("workers", [None, 1], ids=["werkzeug", "gunicorn+gevent"])
def test_a_stalled_token_stream_is_cut_at_the_write_deadline_and_counted_client_gone(lab_server, workers):
    # Tokens of 1.2 KB on average (long prompt words) at full speed fill the relay's and the
    # lab's buffers (about 10 MB) within seconds; then the lab's write blocks until the deadline cuts it.
    words = " ".join(f"w{i}" + "x" * 3000 for i in range(20))
    # Under gevent a TOKEN_INTERVAL of 0 (sleep(0)) never lets the worker's loop poll its sockets:
    # /stats would wait until the answer ends.  1 ms does (0.2 ms still kept /stats out for 10 s
    # once, in a CI run), and fills the buffers in a few seconds.
    lab = lab_server("token_stream", workers=workers, config={
        "TOKEN_INTERVAL": 0.001 if workers else 0, "MAX_TOKENS": 20_000, "MAX_PROMPT_CHARS": 65_000,
        "WRITE_DEADLINE_SECONDS": 0.5})
    with RelayServer(lab) as relay:
        reader = open_reader(lab, relay.url, {"prompt": words, "max_tokens": 20_000})
        relay.stall()
        try:
            assert wait_until(lambda: held(lab) == 0, 20), "a stalled write held the token stream"
        finally:
            reader.close()
    stats = lab.get("/stats").json()
    assert stats["outcomes"] == {"client gone": 1, "done": 0, "error": 0}
    assert stats["capacity"]["cut_by_write_deadline"] == 1 and stats["tokens_sent"] < 20_000


@pytest.mark.parametrize("config, why", [
    ({"MAX_STREAMS": 100, "WORKER_CONNECTIONS": 100}, "must be below WORKER_CONNECTIONS"),
    ({"MAX_STREAMS": -1}, "MAX_STREAMS must be a whole number"),
    ({"WORKER_CONNECTIONS": "many"}, "WORKER_CONNECTIONS must be a whole number"),
    ({"WRITE_DEADLINE_SECONDS": -1}, "WRITE_DEADLINE_SECONDS"),
    ({"STREAM_FULL_RETRY_MS": [5, 1]}, "a retry must be whole milliseconds"),
])
def test_bad_settings_are_refused_saying_which(config, why):
    with pytest.raises(ValueError, match=why):
        limits_of(config)


def test_defaults_keep_connections_for_publishers():
    limits = limits_of({})
    assert (limits.worker_connections, limits.max_streams, limits.write_deadline) == (10_000, 9_500, 30.0)
    assert default_max_streams(300) == 150 and limits_of({"MAX_STREAMS": 0}).max_streams == 0
