"""The chaos relay (labs.harness.relay): each fault does what it says, and nothing outlives it.

- close and reset end the lab's stream (the reader sees its connection end too);
- a stall stops the reader's bytes but not the lab's writes (its kernel still ACKs), and the
  lab's slow-reader rule cuts it once the buffers fill; heal lets bytes flow again;
- a black hole is a real drop (nftables): nothing reaches the reader, heal brings it back,
  and one connection can be black-holed while another carries on;
- the control port answers bad faults with 4xx JSON;
- a relay killed outright (SIGKILL), or whose parent dies, leaves no process and no rules.

A black hole needs root and nft; where the machine cannot make one the tests that need it
fail in CI (CI=true) and are skipped, saying why, elsewhere.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest
import requests

from benchmarks.raw_readers import RawReader, held, open_reader
from labs.harness.processes import wait_until
from labs.harness.relay import TABLE_PREFIX, BlackholeUnavailable, RelayServer, blackhole_support

LAB_NAME = "manual_sse"


@pytest.fixture(scope="module")
def lab_options():
    # Short keep-alive and queue: a dead reader is found at the next comment, a stalled one cut soon.
    return {"config": {"KEEPALIVE_SECONDS": 0.3, "QUEUE_SIZE": 8, "TCP_USER_TIMEOUT_SECONDS": 1}}


@pytest.fixture
def relay(lab):
    with RelayServer(lab) as relay:
        yield relay


def need_blackhole():
    ok, why = blackhole_support()
    if not ok:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI must be able to make a real no-ACK drop: {why}")
        pytest.skip(why)


def nft_tables() -> str:
    return subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout


def wait_released(lab, timeout: float = 8.0) -> None:
    assert wait_until(lambda: held(lab) == 0, timeout), f"the lab still holds {held(lab)} stream(s)"


@pytest.mark.parametrize("mode", ["close", "reset"])
def test_close_and_reset_end_the_labs_stream_and_the_readers(lab, relay, mode):
    wait_released(lab)
    reader = open_reader(lab, relay.url)
    (connection,) = relay.wait_for_connections(1)
    assert getattr(relay, mode)() == [connection["id"]]
    wait_released(lab)
    assert reader.ended.wait(5), "the reader's side was left open"
    assert [c["state"] for c in relay.connections()] == ["closed" if mode == "close" else "reset"]
    reader.close()


def test_a_stall_is_cut_by_the_slow_reader_rule_and_heal_resumes(lab, relay):
    wait_released(lab)
    reader = open_reader(lab, relay.url)
    relay.stall()
    got = len(reader.received)
    lab.publish("while stalled")
    assert not wait_until(lambda: len(reader.received) > got, 0.8), "a stalled relay passed bytes on"
    assert held(lab) == 1  # the lab's writes went into the relay's kernel buffers: it notices nothing
    relay.heal()
    assert wait_until(lambda: b"while stalled" in reader.received, 5)
    relay.stall()
    big = "x" * 60_000
    # QUEUE_SIZE 8: once the relay's and the lab's buffers are full, the queue fills and the reader is cut.
    assert wait_until(lambda: lab.publish(big).ok and held(lab) == 0, 15, interval=0.02), \
        "the slow-reader rule did not cut a stalled reader"
    reader.close()


def test_a_blackhole_is_silent_heal_brings_the_stream_back_and_one_connection_can_go_alone(lab, relay):
    need_blackhole()
    wait_released(lab)
    # The lab's TCP_USER_TIMEOUT (1 s) would end a long black hole: here it lasts well under it.
    first, second = open_reader(lab, relay.url), open_reader(lab, relay.url)
    ids = [c["id"] for c in relay.wait_for_connections(2)]
    assert relay.blackhole(ids[0]) == [ids[0]]
    assert f"{TABLE_PREFIX}{relay.pid}" in nft_tables()
    sizes = len(first.received), len(second.received)
    lab.publish("one")
    assert wait_until(lambda: b"one" in second.received, 3), "the other connection stopped too"
    assert len(first.received) == sizes[0], "bytes went through a black hole"
    relay.heal(ids[0])
    assert wait_until(lambda: b"one" in first.received, 5), "heal did not bring the stream back"
    for reader in (first, second):
        reader.close()


def test_the_control_port_answers_bad_faults_with_4xx_json(lab, relay):
    url = relay.control_url + "/fault"
    for body, status in [({"action": "explode"}, 400), ({"action": "close", "connection": 999}, 404),
                         ({"action": "close", "connection": True}, 400), ([1, 2], 400)]:
        answer = requests.post(url, json=body, timeout=5)
        assert answer.status_code == status, answer.text
        assert set(answer.json()) == {"error", "detail"}
    assert requests.get(relay.control_url + "/nothing", timeout=5).status_code == 404
    with pytest.raises(ValueError, match="no open connection 999"):
        relay.close(999)


def test_a_blackhole_where_none_can_be_made_is_refused_saying_why(lab, monkeypatch):
    # A relay process that cannot find nft stands for a machine without nftables (or without root).
    monkeypatch.setenv("PATH", "/nonexistent")
    ok, why = blackhole_support()
    assert not ok and ("nft" in why or "root" in why)
    with RelayServer(lab) as blind:
        reader = open_reader(lab, blind.url)
        with pytest.raises(BlackholeUnavailable, match="nft|root"):
            blind.blackhole()
        assert [c["state"] for c in blind.connections()] == ["open"]  # refused: nothing changed
        assert requests.get(blind.control_url + "/connections", timeout=5).json()["blackhole"] == \
            {"available": False, "reason": why}
        blind.close()
    reader.close()
    wait_released(lab)


def test_a_relay_killed_outright_leaves_no_rules_and_the_next_one_sweeps_stale_tables(lab):
    need_blackhole()
    relay = RelayServer(lab).start()
    reader = open_reader(lab, relay.url)
    relay.blackhole()
    table = f"{TABLE_PREFIX}{relay.pid}"
    assert table in nft_tables()
    os.kill(relay.pid, signal.SIGKILL)  # no chance to delete its own table
    relay.process.proc.wait(5)
    assert table in nft_tables()
    with RelayServer(lab):  # the next relay's start deletes tables whose relay is gone
        assert table not in nft_tables()
    relay.stop()
    reader.close()


def test_a_relay_whose_parent_dies_goes_with_it_and_removes_its_rules(lab):
    need_blackhole()
    script = textwrap.dedent(f"""
        import sys
        import socket
        from labs.harness.relay import start_relay
        relay = start_relay({lab.url!r})
        reader = socket.create_connection(("127.0.0.1", relay.port))
        reader.sendall(b"GET /stream HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
        relay.wait_for_connections(1)
        relay.blackhole()
        print(relay.pid, flush=True)
        sys.stdin.read()
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    pid = int(parent.stdout.readline())
    parent.kill()  # a killed kernel: no atexit, no finally
    parent.wait(5)
    assert wait_until(lambda: f"{TABLE_PREFIX}{pid}" not in nft_tables(), 10), "its drop rules outlived it"

    def gone() -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False

    assert wait_until(gone, 10), "the relay outlived its parent"
    assert f"{TABLE_PREFIX}{pid}" not in nft_tables()


def test_the_reader_side_is_a_plain_tcp_pass_through(lab, relay):
    # Any HTTP goes through unchanged: /health answers as the lab's own.
    assert requests.get(relay.url + "/health", timeout=5).json() == {"status": "ok", "lab": LAB_NAME}
    raw = RawReader(relay.url, b"GET /stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert raw.ended.wait(5) and b'"clients"' in raw.received
