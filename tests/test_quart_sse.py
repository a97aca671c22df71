"""What only the ASGI lab does (its shared behaviour is tested with manual_sse's in
tests/test_manual_sse.py), and the probe every stack of the ASGI comparison answers alike:
manual_sse, quart_sse, and the peers in benchmarks/peers (FastAPI's own SSE, sse-starlette)."""

from __future__ import annotations

import os
import signal

import pytest

from benchmarks.peers import PeerServer
from labs import EventStream
from labs.harness.launcher import LabServer
from labs.harness.processes import wait_until

WAIT = 10


def test_a_reader_that_leaves_is_noticed_at_once_without_a_write(lab_server):
    # A keep-alive once a minute: under WSGI the stream would hold on until that write
    # failed.  uvicorn reads the FIN, tells Quart (http.disconnect), Quart cancels the task.
    lab = lab_server("quart_sse", config={"KEEPALIVE_SECONDS": 60})
    stream = EventStream(lab.url + "/stream")
    assert wait_until(lambda: lab.get("/stats").json()["clients"] == 1, WAIT)
    stream.close()
    assert wait_until(lambda: lab.get("/stats").json()["clients"] == 0, 3), lab.get("/stats").json()
    assert lab.get("/stats").json()["subscribers"] == 0


def test_a_stopping_quart_lab_says_goodbye_with_its_retry():
    lab = LabServer("quart_sse", config={"SHUTDOWN_RETRY_MS": 700}).start()
    try:
        stream = EventStream(lab.url + "/stream")
        assert wait_until(lambda: lab.get("/stats").json()["clients"] == 1, WAIT)
        os.kill(lab.pid, signal.SIGTERM)  # as a deploy (or the lifeline) stops it
        assert stream.ended.wait(WAIT)
        assert [event.type for event in stream.events] == ["goodbye"] and stream.decoder.retry == 700
        assert wait_until(lambda: not lab.process.alive(), WAIT)
        assert "Traceback" not in lab.log and "ERROR" not in lab.log, lab.log
    finally:
        lab.stop()


def test_the_stream_cap_turns_newcomers_away_with_a_goodbye(lab_server):
    lab = lab_server("quart_sse", config={"MAX_STREAMS": 1, "WORKER_CONNECTIONS": 10,
                                          "STREAM_FULL_RETRY_MS": [900, 900]})
    with EventStream(lab.url + "/stream") as first:
        first.wait_for_raw(b"retry:")
        with EventStream(lab.url + "/stream") as second:
            assert second.ended.wait(WAIT)
            assert [e.type for e in second.events] == ["goodbye"] and second.decoder.retry == 900
    assert lab.get("/capacity").json()["refused"] == 1


def start_stack(name: str):
    if name in ("fastapi", "starlette"):
        return PeerServer(name).start()
    return LabServer(name).start()


@pytest.mark.parametrize("name", ["manual_sse", "quart_sse", "fastapi", "starlette"])
def test_the_four_stacks_answer_the_same_probe(name):
    stack = start_stack(name)
    try:
        with EventStream(stack.url + "/stream") as stream:
            stream.wait_for_raw(b"retry:")
            assert stream.headers["Content-Type"].startswith("text/event-stream")
            assert stream.opening is not None and stream.opening.type == "connected"
            assert [stack.publish(text).json()["id"] for text in ("a", "b\nc")] == [1, 2]
            events = stream.wait_for(2, type="notify")
        assert [(e.id, e.json()) for e in events] == [("1", {"message": "a"}), ("2", {"message": "b\nc"})]
        stack.publish("d")
        with EventStream(stack.url + "/stream", last_event_id="1") as again:  # the replay
            replayed = again.wait_for(2, type="notify")
        assert [(e.id, e.json()["message"]) for e in replayed] == [("2", "b\nc"), ("3", "d")]
        with EventStream(stack.url + "/stream", last_event_id="99") as ahead:  # ids restarted: a gap
            assert ahead.wait_for(1)[0].type == "gap"
        for bad in ({"json": ["message"]}, {"json": {"message": ""}}, {"json": {"text": "hi"}}):
            answer = stack.post("/send_notification", **bad)
            assert 400 <= answer.status_code < 500 and answer.headers["Content-Type"] == "application/json", bad
    finally:
        stack.stop()


@pytest.mark.parametrize("name", ["manual_sse", "quart_sse", "fastapi"])
def test_a_profiled_stack_serves_the_stream_and_writes_its_profile(name, tmp_path):
    # Notebook 16's section 4: the stack under cProfile still streams, and SIGTERM (what stop()
    # sends) ends it cleanly with the profile written, where uvicorn would re-raise the signal.
    from benchmarks.profile_stack import ProfiledServer, by_package, top_functions, total_seconds

    out = tmp_path / f"{name}.prof"
    server = ProfiledServer(name, out).start()
    try:
        with EventStream(server.url + "/stream") as stream:
            stream.wait_for_raw(b"retry:")
            server.publish("profiled")
            assert stream.wait_for(1, type="notify")[0].json() == {"message": "profiled"}
    finally:
        server.stop()
    assert out.exists(), server.log
    assert total_seconds(out) > 0 and len(top_functions(out, 5)) == 5
    shares = by_package(out)
    assert abs(sum(shares.values()) - 1) < 1e-6
    assert ("gevent" if name == "manual_sse" else "uvicorn") in shares
