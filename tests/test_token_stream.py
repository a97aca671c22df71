"""The token_stream lab and its two clients (Python, and the browser's fetch + decoder).

- bad input is a 4xx JSON answer before any stream starts;
- a stream is the fake model's tokens, one event each, then ``data: [DONE]``; an error in
  the middle is an ``event: error`` with a JSON body and a cleanly ended response;
- the Python client and the JavaScript decoder (run in headless Chromium) decode the same
  bytes, cut at random places (inside lines, UTF-8 characters, CRLF pairs), to the same
  events and tokens (hypothesis);
- a reader that hangs up stops the server's generator within a second (``/stats``), on the
  development server and under gunicorn + gevent, and whether the generator watches the
  socket or learns it only from a failed write.
"""

from __future__ import annotations

import json
import socket
import struct
import time

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labs.core.sse import EventStreamDecoder, decode
from labs.core.webapp import STATIC_DIR
from labs.harness.processes import wait_until
from labs.harness.token_client import (
    DONE,
    Completion,
    GenerateRefused,
    TokenStream,
    TokenStreamError,
    generate,
    token_events,
)
from labs.token_stream import FAIL_AT, VOCABULARY, FakeModel

LAB_NAME = "token_stream"
INTERVAL = 0.01  # short tokens: the streams in these tests take well under a second
PROMPT = "Grüße from the café: 5 € and a 🙂"


@pytest.fixture(scope="module")
def lab_options():
    return {"config": {"TOKEN_INTERVAL": INTERVAL}}


def stats(lab) -> dict:
    return lab.get("/stats").json()


# --------------------------------------------------------------------------- bad input

BAD_INPUT = [
    ("no content type", {"data": '{"prompt": "hi", "max_tokens": 3}'}, 415, "unsupported content type"),
    ("form data", {"data": {"prompt": "hi"}}, 415, "unsupported content type"),
    ("invalid JSON", {"data": '{"prompt": ', "headers": {"Content-Type": "application/json"}}, 400, "invalid JSON"),
    ("a JSON list", {"json": ["hi", 3]}, 400, "expected a JSON object"),
    ("no prompt", {"json": {"max_tokens": 3}}, 400, "missing field 'prompt'"),
    ("no max_tokens", {"json": {"prompt": "hi"}}, 400, "missing field 'max_tokens'"),
    ("empty prompt", {"json": {"prompt": "  ", "max_tokens": 3}}, 400, "field 'prompt' is empty"),
    ("prompt not a string", {"json": {"prompt": 42, "max_tokens": 3}}, 400, "field 'prompt' must be a string"),
    ("prompt too long", {"json": {"prompt": "x" * 2001, "max_tokens": 3}}, 413, "prompt too long"),
    ("max_tokens 0", {"json": {"prompt": "hi", "max_tokens": 0}}, 400, "field 'max_tokens' is out of range"),
    ("max_tokens too big", {"json": {"prompt": "hi", "max_tokens": 501}}, 400, "field 'max_tokens' is out of range"),
    ("max_tokens negative", {"json": {"prompt": "hi", "max_tokens": -1}}, 400, "field 'max_tokens' is out of range"),
    ("max_tokens a string", {"json": {"prompt": "hi", "max_tokens": "3"}}, 400, "must be a whole number"),
    ("max_tokens a float", {"json": {"prompt": "hi", "max_tokens": 2.5}}, 400, "must be a whole number"),
    ("max_tokens true", {"json": {"prompt": "hi", "max_tokens": True}}, 400, "must be a whole number"),
    ("unknown field", {"json": {"prompt": "hi", "max_tokens": 3, "temperature": 2}}, 400, "unknown field"),
    ("bad line ending", {"json": {"prompt": "hi", "max_tokens": 3, "line_ending": "crcr"}}, 400, "line_ending"),
    ("lone surrogate", {"data": '{"prompt": "\\ud800", "max_tokens": 3}',
                        "headers": {"Content-Type": "application/json"}}, 400, "invalid JSON"),
]


@pytest.mark.parametrize(("why", "request_kwargs", "status", "error"), BAD_INPUT, ids=[case[0] for case in BAD_INPUT])
def test_bad_input_is_a_4xx_json_answer_before_any_stream(client, why, request_kwargs, status, error):
    answer = client.post("/generate", **request_kwargs)
    assert answer.status_code == status, (why, answer.get_data(as_text=True))
    assert answer.mimetype == "application/json", answer.mimetype
    body = answer.get_json()
    assert error in body["error"], body
    assert body.get("detail"), "the answer says what to send instead"


def test_a_refusal_over_http_is_json_and_nothing_was_generated(lab):
    before = stats(lab)
    with pytest.raises(GenerateRefused) as refused:
        TokenStream(lab.url + "/generate", {"prompt": "hi", "max_tokens": 10_000})
    assert refused.value.status == 400 and "out of range" in refused.value.body["error"]
    answer = lab.post("/generate", json={"prompt": "hi", "max_tokens": 0})
    assert answer.headers["Content-Type"] == "application/json"
    after = stats(lab)
    assert (after["tokens_sent"], after["outcomes"]) == (before["tokens_sent"], before["outcomes"])


# --------------------------------------------------------------------------- the stream

def test_a_stream_is_the_models_tokens_then_done(lab):
    expected = FakeModel(PROMPT, 25).tokens()
    assert any(len(token.encode()) > len(token) for token in expected), "the stream carries multi-byte characters"
    answer = requests.post(lab.url + "/generate", json={"prompt": PROMPT, "max_tokens": 25}, timeout=10)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/event-stream")
    assert answer.headers["Cache-Control"] == "no-cache"
    events = decode(answer.content)
    assert [event.json() for event in events[:-1]] == [{"index": i, "token": t} for i, t in enumerate(expected)]
    assert events[-1].data == DONE and events[-1].type == "message"
    assert "é".encode() in answer.content or "€".encode() in answer.content or "🙂".encode() in answer.content, \
        "multi-byte characters go on the wire as UTF-8, not as \\u escapes"
    # The lab's planning endpoint says the same, and the same prompt always gives the same answer.
    assert lab.post("/tokens", json={"prompt": PROMPT, "max_tokens": 25}).json() == {"tokens": expected, "fails": False}
    assert generate(lab.url + "/generate", PROMPT, 25).tokens == expected


@pytest.mark.parametrize("ending", ["lf", "crlf", "cr"])
def test_every_line_ending_decodes_to_the_same_answer(lab, ending):
    answer = requests.post(lab.url + "/generate", json={"prompt": PROMPT, "max_tokens": 12, "line_ending": ending},
                           timeout=10)
    raw = answer.content
    separator = {"lf": b"\n", "crlf": b"\r\n", "cr": b"\r"}[ending]
    assert raw.endswith(b"data: [DONE]" + separator * 2), raw[-30:]
    assert (b"\n" in raw) == (ending != "cr") and (b"\r" in raw) == (ending != "lf")
    completion = read_completion([raw])
    assert completion.done and completion.tokens == FakeModel(PROMPT, 12).tokens()


def test_an_error_mid_stream_is_an_error_event_and_a_clean_end(lab):
    prompt = "please OVERLOAD now"
    before = stats(lab)["outcomes"]["error"]
    # requests raises ChunkedEncodingError on a response cut short: reading it whole proves a clean end.
    answer = requests.post(lab.url + "/generate", json={"prompt": prompt, "max_tokens": 10}, timeout=10)
    assert answer.status_code == 200
    events = decode(answer.content)
    assert [e.json()["token"] for e in events[:-1]] == FakeModel(prompt, 10).tokens()[:FAIL_AT]
    assert events[-1].type == "error"
    assert events[-1].json()["error"] == "model failed" and "overload" in events[-1].json()["detail"]
    assert DONE not in [e.data for e in events]
    assert stats(lab)["outcomes"]["error"] == before + 1

    with TokenStream(lab.url + "/generate", {"prompt": prompt, "max_tokens": 10}) as stream:
        received = []
        with pytest.raises(TokenStreamError) as failed:
            received.extend(stream)
    assert len(received) == FAIL_AT and failed.value.body["error"] == "model failed"
    assert stream.completion.error == failed.value.body and not stream.completion.done


def test_a_short_answer_comes_whole_when_max_tokens_is_one(lab):
    completion = generate(lab.url + "/generate", "x", 1)
    assert completion.done and completion.tokens == ["X"]


# --------------------------------------------------------------------------- split anywhere

STREAMS = {  # name -> request: the bytes are captured once from the real lab
    "lf": {"prompt": PROMPT, "max_tokens": 30},
    "crlf": {"prompt": PROMPT + " 日本語", "max_tokens": 30, "line_ending": "crlf"},
    "cr": {"prompt": "señor naïve", "max_tokens": 20, "line_ending": "cr"},
    "error": {"prompt": "overload 🙂", "max_tokens": 20, "line_ending": "crlf"},
}


@pytest.fixture(scope="module")
def wire(lab) -> dict[str, bytes]:
    captured = {name: requests.post(lab.url + "/generate", json=body, timeout=10).content
                for name, body in STREAMS.items()}
    # A BOM, comments, ids, a retry and a multi-line data event, as other servers write them.
    captured["mixed"] = ("\ufeff: hello\r\nid: 7\r\nretry: 1500\r\ndata: {\"index\": 0, \"token\": \"é\"}\r\n\r\n"
                         "event: note\ndata: two\ndata: lines\n\n: keep-alive\n\n"
                         "data: {\"index\": 1, \"token\": \"€🙂\"}\r\rdata: [DONE]\r\n\r\n").encode()
    return captured


def read_completion(chunks) -> Completion:
    """What the client makes of a token stream cut into ``chunks`` (its decoding, without the network)."""
    completion = Completion()
    for _ in token_events(chunks, completion):
        pass
    return completion


def cut(raw: bytes, points) -> list[bytes]:
    edges = [0, *sorted(set(points)), len(raw)]
    return [raw[a:b] for a, b in zip(edges, edges[1:], strict=False) if b > a]


def python_view(chunks) -> dict:
    completion = read_completion(chunks)
    return {"events": [event.as_dict() for event in completion.events], "tokens": completion.tokens,
            "done": completion.done, "error": completion.error}


def test_the_captured_streams_hold_the_hard_cases(wire):
    assert b"\r\n" in wire["crlf"] and b"\r" in wire["cr"] and b"\n" not in wire["cr"]
    for name in ("lf", "crlf", "cr", "error"):
        assert any(byte >= 0x80 for byte in wire[name]), f"{name}: no multi-byte UTF-8 on the wire"
    whole = python_view([wire["error"]])
    assert not whole["done"] and whole["error"]["error"] == "model failed"


@settings(max_examples=150, deadline=None)
@given(data=st.data(), name=st.sampled_from(sorted(STREAMS) + ["mixed"]))
def test_python_client_decodes_the_same_however_the_bytes_are_cut(wire, data, name):
    raw = wire[name]
    chunks = cut(raw, data.draw(st.lists(st.integers(0, len(raw)), max_size=60)))
    assert python_view(chunks) == python_view([raw])


def test_python_client_one_byte_at_a_time(wire):
    for name, raw in wire.items():
        assert python_view([raw[i:i + 1] for i in range(len(raw))]) == python_view([raw]), name


# --------------------------------------------------------------------------- the same cuts in Chromium

DECODER_JS = (STATIC_DIR / "common" / "sse-decoder.js").read_text(encoding="utf-8")
FETCH_JS = (STATIC_DIR / "common" / "fetch-stream.js").read_text(encoding="utf-8")

# The page's own loop (FetchStream.readEvents) over a Response whose body delivers exactly
# these chunks: the reader, the decoder and the token logic of fetch-stream.js together.
JS_VIEW = """async (chunks) => {
  const body = new ReadableStream({start(controller) {
    for (const chunk of chunks) controller.enqueue(new Uint8Array(chunk));
    controller.close();
  }});
  const response = new Response(body, {headers: {"Content-Type": "text/event-stream"}});
  const view = {events: [], tokens: [], done: false, error: null};
  await FetchStream.readEvents(response, (event) => {
    view.events.push(event);
    if (event.type === "error") { view.error = JSON.parse(event.data); return false; }
    if (event.data === "[DONE]") { view.done = true; return false; }
    if (event.type === "message") view.tokens.push(JSON.parse(event.data).token);
    return true;
  });
  return view;
}"""


@pytest.fixture(scope="module")
def decoder_page(browser):
    context = browser.new_context()
    tab = context.new_page()
    tab.set_content("<!doctype html><title>decoder</title>")
    tab.add_script_tag(content=DECODER_JS + "\nwindow.SSE = SSE;")
    tab.add_script_tag(content=FETCH_JS + "\nwindow.FetchStream = FetchStream;")
    yield tab
    context.close()


def js_view(tab, chunks) -> dict:
    return tab.evaluate(JS_VIEW, [list(chunk) for chunk in chunks])


@pytest.mark.browser
def test_js_decoder_whole_and_one_byte_at_a_time(decoder_page, wire):
    for name, raw in wire.items():
        expected = python_view([raw])
        assert js_view(decoder_page, [raw]) == expected, name
        assert js_view(decoder_page, [raw[i:i + 1] for i in range(len(raw))]) == expected, name


@pytest.mark.browser
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), name=st.sampled_from(sorted(STREAMS) + ["mixed"]))
def test_python_and_js_decode_the_same_cuts_identically(decoder_page, wire, data, name):
    raw = wire[name]
    chunks = cut(raw, data.draw(st.lists(st.integers(0, len(raw)), max_size=60)))
    assert js_view(decoder_page, chunks) == python_view(chunks) == python_view([raw])


@pytest.mark.browser
def test_js_decoder_follows_the_spec_like_python(decoder_page):
    # Corner cases of the WHATWG rules, decoded by both (with their last_event_id and retry).
    samples = ["data:no space\n\n", "data\n\n", "data:  two spaces\n\n", "id: 1\0\ndata: x\n\n",
               "retry: 12x\ndata: x\n\n", "retry: 0042\n\n", "retry: 18446744073709551616\ndata: x\n\n",
               "event:\ndata: y\n\n",
               "\ufeff\ndata: x\n\n", "\ufeff\ufeffdata: x\n\n", "data: a\r\rdata: b\n\r\n",
               "data: unfinished", b"data: \xff\xfe bad bytes\n\n", "id: 9\n\n: c\n\ndata: z\n\n"]
    for sample in samples:
        raw = sample.encode() if isinstance(sample, str) else sample
        decoder = EventStreamDecoder()
        events = [event.as_dict() for event in decoder.feed(raw)]
        expected = {"events": events, "retry": decoder.retry, "lastEventId": decoder.last_event_id}
        got = decoder_page.evaluate("""(c) => {
          const decoder = new SSE.EventStreamDecoder();
          const events = decoder.feed(new Uint8Array(c));
          return {events, retry: decoder.retry, lastEventId: decoder.lastEventId};
        }""", list(raw))
        assert got == expected, sample


# --------------------------------------------------------------------------- the reader goes

def hang_up(stream: TokenStream, how: str) -> None:
    """Close the connection: a normal close (FIN), or a reset (RST), as a crashed client's OS sends."""
    if how == "reset":
        sock = socket.fromfd(stream.response.raw.fileno(), socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()  # a duplicate descriptor; the option is on the shared socket
    stream.close()


def abort_and_watch(lab, how: str) -> dict:
    """Read a few tokens of a long answer, hang up, and watch /stats: what the server did next."""
    before = stats(lab)
    stream = TokenStream(lab.url + "/generate", {"prompt": "a long answer", "max_tokens": 500})
    tokens = iter(stream)
    received = [next(tokens) for _ in range(5)]
    assert wait_until(lambda: stats(lab)["generating"] >= 1, 5), stats(lab)
    hang_up(stream, how)
    hung_up = time.monotonic()
    stopped = wait_until(lambda: stats(lab)["generating"] == 0, 1.0, interval=0.01)
    took = time.monotonic() - hung_up
    settled = stats(lab)
    time.sleep(20 * INTERVAL)  # twenty token intervals: a generator still running would have sent more
    later = stats(lab)
    return {"stopped": stopped, "took": took, "received": received, "before": before, "settled": settled,
            "later": later}


def assert_stopped(seen: dict) -> None:
    assert seen["stopped"], f"the generator was still running 1 s after the reader hung up: {seen['settled']}"
    assert seen["later"]["tokens_sent"] == seen["settled"]["tokens_sent"], "tokens_sent kept growing"
    assert seen["later"]["outcomes"]["client gone"] == seen["before"]["outcomes"]["client gone"] + 1
    # Nothing like the 500 tokens asked for: it stopped within a couple of tokens of the hang-up.
    sent = seen["later"]["tokens_sent"] - seen["before"]["tokens_sent"]
    assert len(seen["received"]) <= sent < 100, sent


@pytest.mark.parametrize("how", ["close", "reset"])
def test_a_reader_that_hangs_up_stops_the_generator_dev_server(lab, how):
    assert_stopped(abort_and_watch(lab, how))


@pytest.fixture(scope="module")
def gunicorn_lab():
    from labs.harness.launcher import LabServer

    with LabServer(LAB_NAME, config={"TOKEN_INTERVAL": INTERVAL}, workers=1) as server:
        yield server


@pytest.mark.parametrize("how", ["close", "reset"])
def test_a_reader_that_hangs_up_stops_the_generator_gunicorn_gevent(gunicorn_lab, how):
    assert_stopped(abort_and_watch(gunicorn_lab, how))


@pytest.mark.parametrize("workers", [None, 1], ids=["dev-server", "gunicorn-gevent"])
def test_a_failed_write_alone_also_stops_it(lab_server, workers):
    # WATCH_SOCKET off: the generator never looks at the socket, so only the server's write
    # failing tells it (the first write after the hang-up still succeeds; a later one fails).
    lab = lab_server(LAB_NAME, config={"TOKEN_INTERVAL": INTERVAL, "WATCH_SOCKET": False}, workers=workers)
    assert stats(lab)["watch_socket"] is False
    assert_stopped(abort_and_watch(lab, "close"))


def test_two_readers_one_leaves_the_other_finishes(lab):
    before = stats(lab)
    staying = TokenStream(lab.url + "/generate", {"prompt": "stay", "max_tokens": 40})
    leaving = TokenStream(lab.url + "/generate", {"prompt": "leave", "max_tokens": 500})
    next(iter(leaving))
    leaving.close()
    tokens = list(staying)
    assert staying.completion.done and tokens == FakeModel("stay", 40).tokens()
    assert wait_until(lambda: stats(lab)["generating"] == 0, 5)
    after = stats(lab)["outcomes"]
    assert after["done"] == before["outcomes"]["done"] + 1
    assert after["client gone"] == before["outcomes"]["client gone"] + 1


# --------------------------------------------------------------------------- the page

@pytest.mark.browser
def test_the_page_streams_tokens_and_its_stop_button_stops_the_server(lab, page):
    page.goto(lab.url + "/")
    page.fill("#prompt", PROMPT)
    page.fill("#max-tokens", "20")
    page.select_option("#line-ending", "crlf")
    page.click("#generate")
    page.wait_for_function("() => window.tokenStream.runs.length === 1 && window.tokenStream.runs[0].done",
                           timeout=10_000)
    run = page.evaluate("() => window.tokenStream.runs[0]")
    expected = FakeModel(PROMPT, 20).tokens()
    assert run["tokens"] == expected and run["error"] is None
    assert page.inner_text("#answer") == "".join(expected).strip() or \
        page.eval_on_selector("#answer", "node => node.textContent") == "".join(expected)
    assert "[DONE]" in page.inner_text("#result")
    assert "chunk of" in page.inner_text("#wire")

    before = stats(lab)
    page.fill("#max-tokens", "500")
    page.click("#generate")
    page.wait_for_function("() => window.tokenStream.runs[1].tokens.length >= 3", timeout=10_000)
    page.click("#stop")
    page.wait_for_function("() => window.tokenStream.runs[1].aborted", timeout=5_000)
    assert wait_until(lambda: stats(lab)["generating"] == 0, 1.0, interval=0.01), stats(lab)
    assert stats(lab)["outcomes"]["client gone"] == before["outcomes"]["client gone"] + 1


@pytest.mark.browser
def test_the_page_shows_an_error_event_and_a_refusal(lab, page):
    page.goto(lab.url + "/")
    page.fill("#prompt", "overload please")
    page.fill("#max-tokens", "10")
    page.click("#generate")
    page.wait_for_function("() => window.tokenStream.runs.length === 1 && window.tokenStream.runs[0].error",
                           timeout=10_000)
    run = page.evaluate("() => window.tokenStream.runs[0]")
    assert len(run["tokens"]) == FAIL_AT and run["error"]["error"] == "model failed" and not run["done"]
    assert "error in the stream" in page.inner_text("#result")

    page.fill("#max-tokens", "0")
    page.click("#generate")
    page.wait_for_function("() => window.tokenStream.runs.length === 2 && window.tokenStream.runs[1].refused",
                           timeout=10_000)
    refused = page.evaluate("() => window.tokenStream.runs[1].refused")
    assert refused["status"] == 400 and "out of range" in refused["body"]["error"]


def test_the_vocabulary_has_multi_byte_tokens_of_every_length():
    lengths = {len(ch.encode()) for token in VOCABULARY for ch in token}
    assert {2, 3, 4} <= lengths, lengths
    assert json.dumps(FakeModel("x", 3).tokens())  # plain strings, JSON-ready
