"""Resumable generations in the token_stream lab (``/generations``, labs.core.generations).

Disconnect is not stop: a generation runs apart from its readers and keeps its events in
Redis.  These tests, against a real lab, a real Redis, a real cluster behind nginx and a real
browser:

- without Redis every ``/generations`` route is a 503 JSON saying how to start the lab with it;
  bad input, a bad Last-Event-ID and an unknown id are 4xx JSON before any stream starts;
- a reader cut at random points, or gone for a while (a reload, with ``?lastEventId=``), gets
  every token once, in order, with ids 1, 2, 3 ...; the text is the model's;
- a reader that leaves does not stop the generation; ``POST .../stop`` does, and keeps the
  partial answer; a failing model ends in ``event: error`` and state error;
- in a cluster, SIGKILL to the node serving a reader: it resumes on another node with nothing
  missing or repeated; SIGKILL to the node generating: its readers get ``event: error``,
  the state is error, and nothing hangs;
- the page's answer survives a reload (headless Chromium);
- afterwards nothing runs: no generation, no reader.
"""

from __future__ import annotations

import json
import random
import time

import pytest
import requests

from labs.core.sse import decode
from labs.harness.cluster import start_cluster
from labs.harness.generation_client import GenerationReader
from labs.harness.processes import wait_until
from labs.token_stream import FAIL_AT, FakeModel

LAB_NAME = "token_stream"
INTERVAL = 0.02  # seconds per token: a 60-token answer takes about 1.2 s
HEARTBEAT = 0.6  # a dead generator is noticed after this (plus a reader's wait)
CONFIG = {"TOKEN_INTERVAL": INTERVAL, "GENERATION_HEARTBEAT_SECONDS": HEARTBEAT}
WAIT = 15.0      # an upper bound for something to happen, never an assertion on speed


@pytest.fixture(scope="module")
def lab_options():
    return {"config": CONFIG, "redis": True}


def start(base: str, prompt: str, max_tokens: int) -> str:
    answer = requests.post(base + "/generations", json={"prompt": prompt, "max_tokens": max_tokens}, timeout=10)
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


def status(base: str, gen_id: str) -> dict:
    return requests.get(f"{base}/generations/{gen_id}", timeout=10).json()


def prompt(words: str) -> str:
    return f"{words} {random.randrange(10**9)}"  # a fresh answer each run


def assert_complete(reader: GenerationReader, base: str, gen_id: str, tokens: list[str]) -> None:
    """Every token once, in order, and the text the model made."""
    assert reader.wait(WAIT), f"the reader never ended: {reader.tally(tokens)}"
    assert reader.end == "done", (reader.end, reader.error)
    tally = reader.tally(tokens)
    assert tally["missing"] == tally["repeated"] == tally["out_of_order"] == tally["wrong_text"] == 0, tally
    assert reader.text == "".join(tokens) == status(base, gen_id)["text"]


# --------------------------------------------------------------------------- no Redis, bad input

@pytest.mark.parametrize(("method", "path"), [("post", "/generations"), ("get", "/generations/abc"),
                                              ("post", "/generations/abc/stop"), ("get", "/generations/abc/stream")])
def test_without_redis_every_route_says_how_to_start_the_lab_with_it(client, method, path):
    answer = getattr(client, method)(path, json={"prompt": "hi", "max_tokens": 3})
    assert answer.status_code == 503 and answer.mimetype == "application/json"
    assert "--redis" in answer.get_json()["detail"], answer.get_json()


BAD = [
    ("post", "/generations", {"json": {"prompt": "hi"}}, 400, "missing field 'max_tokens'"),
    ("post", "/generations", {"json": {"prompt": "hi", "max_tokens": 3, "line_ending": "lf"}}, 400, "unknown field"),
    ("post", "/generations", {"json": {"prompt": "hi", "max_tokens": 0}}, 400, "out of range"),
    ("post", "/generations", {"data": "hi"}, 415, "unsupported content type"),
    ("get", "/generations/nope", {}, 404, "unknown generation"),
    ("get", "/generations/no%20such%20thing", {}, 404, "unknown generation"),
    ("post", "/generations/nope/stop", {}, 404, "unknown generation"),
    ("get", "/generations/nope/stream", {}, 404, "unknown generation"),
]


@pytest.mark.parametrize(("method", "path", "kwargs", "code", "error"), BAD)
def test_bad_requests_are_4xx_json_before_anything_starts(lab, method, path, kwargs, code, error):
    before = lab.get("/stats").json()["generations"]["started"]
    answer = getattr(lab, method)(path, **kwargs)
    assert answer.status_code == code and answer.headers["Content-Type"] == "application/json", answer.text
    assert error in answer.json()["error"] and answer.json().get("detail"), answer.json()
    assert lab.get("/stats").json()["generations"]["started"] == before


@pytest.mark.parametrize("last", ["x", "-1", "1.5", "9" * 10])
def test_a_bad_last_event_id_is_a_400(lab, last):
    gen_id = start(lab.url, prompt("short"), 2)
    answer = lab.get(f"/generations/{gen_id}/stream", headers={"Last-Event-ID": last})
    assert answer.status_code == 400 and answer.json()["error"] == "bad Last-Event-ID", answer.text


# --------------------------------------------------------------------------- resuming

def test_a_reader_cut_at_random_points_gets_every_token_once(lab):
    words = prompt("Grüße café 🙂 resume")
    tokens = FakeModel(words, 60).tokens()
    gen_id = start(lab.url, words, 60)
    reader = GenerationReader(lab.url, gen_id)
    try:
        for at in sorted(random.sample(range(3, 55), 3)):
            reader.wait_tokens(at, WAIT)
            reader.cut()
        assert_complete(reader, lab.url, gen_id, tokens)
        assert len(reader.connections) == 4
        seen = 0
        for connection in reader.connections:  # each resumed exactly after what it had
            assert connection.after == seen
            seen += connection.tokens
    finally:
        reader.close()


def test_a_reload_reads_on_from_last_event_id_in_the_query_and_the_header_wins(lab):
    words = prompt("reload")
    tokens = FakeModel(words, 30).tokens()
    gen_id = start(lab.url, words, 30)
    first = GenerationReader(lab.url, gen_id)
    first.wait_tokens(5, WAIT)
    first.close()  # the tab goes away; nobody reads for a while, the generation goes on
    assert wait_until(lambda: status(lab.url, gen_id)["state"] == "done", WAIT), "disconnect is not stop"
    kept = first.last
    # A reloaded page has no EventSource to remember the id: it sends it in the query.
    body = lab.get(f"/generations/{gen_id}/stream?lastEventId={kept}").content
    events = decode(body)
    assert [int(e.id) for e in events[:-1]] == list(range(kept + 1, 31)) and events[-1].data == "[DONE]"
    again = [json.loads(e.data)["token"] for e in events[:-1]]
    assert first.text + "".join(again) == "".join(tokens)
    # EventSource's own reconnects send the header, newer than the page's query: it wins.
    body = lab.get(f"/generations/{gen_id}/stream?lastEventId=1", headers={"Last-Event-ID": "28"}).content
    assert [e.id for e in decode(body)] == ["29", "30", "30"]  # the last one is [DONE], with the id it had
    assert decode(lab.get(f"/generations/{gen_id}/stream?lastEventId=99").content)[-1].data == "[DONE]"


def test_stop_ends_it_within_a_second_and_keeps_the_partial_answer(lab):
    words = prompt("stop")
    tokens = FakeModel(words, 400).tokens()
    gen_id = start(lab.url, words, 400)
    reader = GenerationReader(lab.url, gen_id)
    try:
        reader.wait_tokens(10, WAIT)
        asked = time.monotonic()
        stopped = lab.post(f"/generations/{gen_id}/stop").json()
        assert stopped["state"] == "stopped" and time.monotonic() - asked < WAIT
        kept = stopped["tokens"]
        assert 10 <= kept < 400 and stopped["text"] == "".join(tokens[:kept])
        assert reader.wait(WAIT) and reader.end == "stopped" and reader.text == stopped["text"]
        time.sleep(5 * INTERVAL)  # a bounded look for tokens that must not come
        assert status(lab.url, gen_id) == stopped and lab.post(f"/generations/{gen_id}/stop").json() == stopped
        late = decode(lab.get(f"/generations/{gen_id}/stream").content)
        assert [e.type for e in late[-2:]] == ["stopped", "message"] and late[-1].data == "[DONE]"
        assert json.loads(late[-2].data) == {"tokens": kept} and len(late) == kept + 2
    finally:
        reader.close()


def test_a_failing_model_ends_in_an_error_event_and_state_error(lab):
    gen_id = start(lab.url, prompt("overload"), 20)
    reader = GenerationReader(lab.url, gen_id)
    try:
        assert reader.wait(WAIT) and reader.end == "error" and reader.error["error"] == "model failed"
        assert len(reader.received) == FAIL_AT
        answer = status(lab.url, gen_id)
        assert answer["state"] == "error" and answer["tokens"] == FAIL_AT and "overload" in answer["detail"]
    finally:
        reader.close()


@pytest.mark.browser
def test_the_pages_answer_survives_a_reload(lab, page):
    page.goto(lab.url + "/resumable")
    page.fill("#max-tokens", "80")
    page.click("#start")
    page.wait_for_function("() => window.resumable.saved && window.resumable.saved.last >= 10", timeout=WAIT * 1000)
    gen_id = page.evaluate("window.resumable.saved.id")
    page.reload()
    page.wait_for_function("() => window.resumable.end === 'done'", timeout=WAIT * 1000)
    after = page.evaluate("window.resumable.ids")
    assert after and after == list(range(after[0], 81)) and after[0] > 10, "the reloaded page read on, not again"
    final = status(lab.url, gen_id)
    assert page.locator("#answer").text_content() == final["text"] and final["tokens"] == 80


# --------------------------------------------------------------------------- a cluster: nodes die

@pytest.fixture(scope="module")
def cluster():
    with start_cluster("token_stream", 3, config=CONFIG) as running:
        yield running


def reader_on(cluster, gen_id: str, not_on) -> GenerationReader:
    """A reader through nginx served by a node other than ``not_on`` (round robin: a few tries)."""
    for _ in range(6):
        reader = GenerationReader(cluster.url, gen_id)
        wait_until(lambda: reader.connections and reader.connections[-1].upstream, WAIT)  # noqa: B023
        if reader.connections[-1].upstream != not_on.address:
            return reader
        reader.close()
    raise AssertionError("nginx never sent a reader to another node")


def test_a_readers_node_killed_it_resumes_on_another_with_nothing_missing_or_repeated(cluster):
    words = prompt("cluster resume")
    tokens = FakeModel(words, 80).tokens()
    generator = cluster.nodes[0]
    gen_id = start(generator.url, words, 80)
    reader = reader_on(cluster, gen_id, not_on=generator)
    try:
        reader.wait_tokens(10, WAIT)
        victim = cluster.node_for(reader.connections[-1].upstream)
        cluster.kill_node(victim.index)
        assert_complete(reader, cluster.url, gen_id, tokens)
        assert reader.connections[-1].upstream not in (victim.address, None), "it read on from another node"
    finally:
        reader.close()
        cluster.start_node(victim.index)


def test_the_generating_node_killed_its_readers_get_an_error_and_nothing_hangs(cluster):
    generator = cluster.nodes[2]
    gen_id = start(generator.url, prompt("cluster death"), 400)
    readers = [reader_on(cluster, gen_id, not_on=generator) for _ in range(2)]
    try:
        for reader in readers:
            reader.wait_tokens(5, WAIT)
        cluster.kill_node(generator.index)
        for reader in readers:
            assert reader.wait(WAIT), "the reader hangs"
            assert reader.end == "error" and reader.error["error"] == "generator gone", reader.error
        answer = status(cluster.url, gen_id)
        assert answer["state"] == "error" and 5 <= answer["tokens"] < 400
        assert readers[0].text == readers[1].text == answer["text"]
    finally:
        for reader in readers:
            reader.close()
        cluster.start_node(generator.index)
    for node in cluster.nodes:
        assert wait_until(lambda n=node: n.stats()["generations"]["readers"] == 0, WAIT), node.stats()


# --------------------------------------------------------------------------- afterwards

def test_nothing_is_left_running(lab):
    """After this module's generations (and one more whose reader hangs up halfway), the lab
    runs no generation and serves no reader: every thread a generation or a reader had has ended."""
    gen_id = start(lab.url, prompt("left running"), 20)
    reader = GenerationReader(lab.url, gen_id)
    reader.wait_tokens(3, WAIT)
    reader.close()

    def idle() -> bool:
        generations = lab.get("/stats").json()["generations"]
        return generations["running"] == 0 and generations["readers"] == 0

    assert wait_until(idle, WAIT), lab.get("/stats").json()
    assert status(lab.url, gen_id)["state"] == "done"
