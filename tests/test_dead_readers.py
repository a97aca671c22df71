"""Readers gone without a word are released, in every streaming lab, on both servers.

A reader whose packets vanish (the chaos relay's black hole: no ACK, no FIN, no RST) used to
hold its stream for as long as TCP retries (about 15 minutes).  Now every lab connection has
``TCP_USER_TIMEOUT`` and TCP keep-alive (labs.core.dead_readers), so the lab lets go soon
after the timeout: its stream, thread or greenlet, socket and subscriber.  A token stream
stops generating and counts the answer as "client gone", never "done".

Settings here are short (user timeout 0.5 s, keep-alive 0.3 s); the real figures (15 s
keep-alive, 20 s user timeout: released within 60 s) come from ``python -m benchmarks.dead_readers``.
"""

from __future__ import annotations

import os

import pytest

from benchmarks.dead_readers import lab_config
from benchmarks.raw_readers import held, open_reader
from labs.core.dead_readers import settings_of
from labs.harness.processes import wait_until
from labs.harness.relay import RelayServer, blackhole_support

SERVERS = {"werkzeug": None, "gunicorn+gevent": 1}


@pytest.fixture(autouse=True)
def need_blackhole():
    ok, why = blackhole_support()
    if not ok:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI must be able to make a real no-ACK drop: {why}")
        pytest.skip(why)


@pytest.mark.parametrize("server", SERVERS)
@pytest.mark.parametrize("name", ["manual_sse", "webhooks", "sse_blueprint", "token_stream", "secure_stream"])
def test_a_reader_that_vanishes_is_released(lab_server, name, server):
    config = lab_config(name, keepalive=0.3, user_timeout=0.5)
    lab = lab_server(name, config=config, workers=SERVERS[server], redis=name == "sse_blueprint")
    with RelayServer(lab) as relay:
        reader = open_reader(lab, relay.url)
        relay.blackhole()
        try:
            assert wait_until(lambda: held(lab) == 0, 10), f"{name} on {server} still holds the vanished reader"
        finally:
            relay.heal()
            reader.close()
    if name == "token_stream":
        assert lab.get("/stats").json()["outcomes"] == {"client gone": 1, "done": 0, "error": 0}


def test_a_token_stream_counts_done_only_when_the_reader_acknowledged_it(lab_server):
    # A short answer (10 tokens, 0.5 s) goes whole into the kernel's buffers before the kernel
    # gives up on the vanished reader (1.5 s): every write succeeds, yet nobody received it.
    lab = lab_server("token_stream", config={"TOKEN_INTERVAL": 0.05, "TCP_USER_TIMEOUT_SECONDS": 1.5})
    with RelayServer(lab) as relay:
        reader = open_reader(lab, relay.url, {"prompt": "short", "max_tokens": 10})
        relay.blackhole()
        assert wait_until(lambda: held(lab) == 0, 10)
        relay.heal()
        reader.close()
    stats = lab.get("/stats").json()
    assert stats["tokens_sent"] == 10, "the answer was not all written before the kernel gave up"
    assert stats["outcomes"] == {"client gone": 1, "done": 0, "error": 0}


@pytest.mark.parametrize(("config", "expected"), [
    ({}, (20.0, 15.0)), ({"TCP_USER_TIMEOUT_SECONDS": 0, "TCP_KEEPALIVE_SECONDS": 2.5}, (0.0, 2.5))])
def test_settings_have_documented_defaults(config, expected):
    assert settings_of(config) == expected


@pytest.mark.parametrize("bad", [-1, "20", True, None])
def test_a_bad_setting_is_refused_saying_which(bad):
    with pytest.raises(ValueError, match="TCP_USER_TIMEOUT_SECONDS must be a number of seconds"):
        settings_of({"TCP_USER_TIMEOUT_SECONDS": bad})
