"""Lab event_stream over real HTTP: the examples, the raw-bytes endpoint, its limits."""

from __future__ import annotations

import base64

import pytest
import requests

from labs.core.sse import decode
from labs.event_stream import EXAMPLES, MAX_RAW_BYTES
from labs.harness.client import EventStream

LAB_NAME = "event_stream"  # the lab the `lab` fixture starts for this module (tests/conftest.py)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def get_stream(lab, path: str, **kwargs) -> requests.Response:
    response = lab.get(path, **kwargs)
    assert response.headers["Content-Type"].startswith("text/event-stream"), response.text
    assert response.headers["Cache-Control"] == "no-cache"
    return response


def test_examples_lists_every_named_stream(lab):
    listed = lab.get("/examples").json()
    assert [e["name"] for e in listed] == list(EXAMPLES)
    assert all(e["title"] and e["explain"] for e in listed)
    assert [e["name"] for e in listed if e["reconnects"]] == ["reconnect"]


def test_every_example_serves_what_it_promises(lab):
    got = {name: [(e.type, e.data, e.id) for e in decode(get_stream(lab, f"/stream/{name}").content)]
           for name in EXAMPLES if name != "reconnect"}
    assert got["basic"] == [("message", "hello", ""), ("message", "world", "")]
    assert got["multiline"] == [("message", "line one\nline two\nline three", ""),
                                ("message", "no space after the colon\n two spaces: one is kept", "")]
    assert [t for t, _, _ in got["named"]] == ["notify", "message", "update"]
    assert [i for _, _, i in got["ids"]] == ["1", "1", "2", ""]
    assert [d for _, d, _ in got["cut"]] == ["complete"]
    assert [d for _, d, _ in got["line_endings"]] == ["lf", "cr", "crlf", "split"]
    assert got["tricky"] == [("message", "", ""), ("message", "x", ""), ("message", "id with NUL ignored", ""),
                             ("message", "bad byte \ufffd here", ""), ("message", "empty event name: a message", "")]
    assert [d for _, d, _ in got["keepalive"]] == ["before", "after"]


def test_keepalive_comments_arrive_on_the_wire_but_dispatch_nothing(lab):
    with EventStream(lab.url + "/stream/keepalive") as stream:
        stream.wait_for(2)
        raw = stream.wait_for_raw(b": keep-alive\n\n")
        assert raw.count(b": keep-alive\n\n") == 2
        assert stream.decoder.comments == 2


def test_reconnect_resumes_after_last_event_id_then_204_stops_it(lab):
    first = decode(get_stream(lab, "/stream/reconnect").content)
    assert [e.id for e in first] == ["1", "2", "3"]
    resumed = decode(get_stream(lab, "/stream/reconnect", headers={"Last-Event-ID": "3"}).content)
    assert [(e.data, e.id) for e in resumed] == [("event 4", "4"), ("event 5", "5")]
    assert lab.get("/stream/reconnect", headers={"Last-Event-ID": "5"}).status_code == 204


def test_raw_serves_exactly_the_bytes_given_in_the_pieces_asked_for(lab):
    data = b"\xef\xbb\xbfdata: a\r\n\r\nid: 1\0\ndata: \xff\n\n"
    assert get_stream(lab, "/raw?b64=" + b64(data)).content == data
    with requests.get(lab.url + "/raw", params={"b64": b64(data), "split": "3,9,10", "pause_ms": "20"},
                      stream=True, timeout=10) as response:
        assert b"".join(response.iter_content(chunk_size=None)) == data


@pytest.mark.parametrize("params, status", [
    ({"b64": "!!!"}, 400),
    ({"b64": b64(b"x"), "split": "a,b"}, 400),
    ({"b64": b64(b"x"), "split": ",".join(map(str, range(1, 200)))}, 400),
    ({"b64": b64(b"x"), "pause_ms": "soon"}, 400),
    ({"b64": b64(b"x" * (MAX_RAW_BYTES + 100))}, 413),
])
def test_raw_refuses_bad_or_oversized_input_with_a_json_error(client, params, status):
    response = client.get("/raw", query_string=params)
    assert response.status_code == status
    assert response.content_type == "application/json" and response.get_json()["error"]


def test_unknown_example_is_a_json_404_and_stats_counts_clients(lab):
    response = lab.get("/stream/nope")
    assert response.status_code == 404
    assert "examples" in response.json()["detail"]
    with EventStream(lab.url + "/stream/keepalive") as stream:
        stream.wait_for(1)
        assert lab.get("/stats").json()["clients"] >= 1  # earlier tests' streams may still be winding down


def test_the_plain_stream_sends_notify_events(lab):
    with EventStream(lab.url + "/stream") as stream:
        stream.wait_for(2, type="notify")
        assert stream.messages == ["Hello World", "Another notification"]
