"""labs.core.sse: the encoder, the browser-exact decoder, and ``python -m labs decode``.

The decoder's rules are the WHATWG HTML Standard's "Interpreting an event stream";
tests/test_sse_browser.py checks the same decoder against real Chromium.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labs.core.sse import Event, EventStreamDecoder, decode, encode_event, encode_json_event, iter_events, keep_alive


def events(stream: bytes | str) -> list[tuple[str, str, str]]:
    return [(e.type, e.data, e.id) for e in decode(stream)]


# ----------------------------------------------------------------------------- encoder

def test_encoder_writes_one_block_ending_in_a_blank_line():
    assert encode_event("hello") == "data: hello\n\n"
    assert encode_event("hi", event="notify", id=7, retry=1500) == "event: notify\nid: 7\nretry: 1500\ndata: hi\n\n"


def test_encoder_gives_every_line_of_a_multi_line_message_its_own_data_field():
    assert encode_event("one\ntwo\r\nthree\rfour") == "data: one\ndata: two\ndata: three\ndata: four\n\n"
    assert encode_event("") == "data: \n\n"
    assert encode_event("\n") == "data: \ndata: \n\n"


def test_encoder_json_event_and_comments():
    assert encode_json_event({"message": "Hello"}, event="notify") == 'event: notify\ndata: {"message": "Hello"}\n\n'
    assert keep_alive() == ": keep-alive\n\n"
    assert encode_event(comment="a\nb") == ": a\n: b\n\n"


@pytest.mark.parametrize("fields", [
    {"data": "x", "event": "bad\nname"},
    {"data": "x", "event": "bad\rname"},
    {"data": "x", "id": "1\n2"},
    {"data": "x", "id": "a\0b"},
    {"data": "x", "retry": -1},
    {"data": "x", "retry": 1.5},
    {"data": "x", "retry": True},
    {},
])
def test_encoder_refuses_what_would_break_framing_or_be_ignored(fields):
    with pytest.raises(ValueError):
        encode_event(**fields)


def test_a_message_cannot_inject_fields_or_end_its_event_early():
    message = "hi\n\nevent: x\ndata: y"
    for stream in (encode_event(message, event="notify"), encode_event(message.replace("\n", "\r\n"))):
        [event] = decode(stream)
        assert event.data == message
    [event] = decode(encode_json_event({"message": message}, event="notify"))
    assert (event.type, event.json()) == ("notify", {"message": message})


# ----------------------------------------------------------------------------- decoder rules

def test_plain_named_and_multi_line_events():
    assert events("data: a\n\nevent: notify\ndata: b\ndata: c\n\n") == [("message", "a", ""), ("notify", "b\nc", "")]


def test_cr_lf_and_crlf_all_end_lines():
    assert events(b"data: a\r\rdata: b\n\ndata: c\r\n\r\n") == [
        ("message", "a", ""), ("message", "b", ""), ("message", "c", "")]


def test_a_crlf_split_across_chunks_is_one_line_end():
    decoder = EventStreamDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"\n") == []  # the LF completes the CRLF: not a blank line
    assert [e.data for e in decoder.feed(b"\r\n")] == ["a"]
    # ...whereas CR then CR is a line end and a blank line.
    decoder = EventStreamDecoder()
    assert decoder.feed(b"data: b\r") == []
    assert [e.data for e in decoder.feed(b"\r")] == ["b"]


def test_invalid_utf8_becomes_replacement_characters():
    assert events(b"data: a\xffb\n\n") == [("message", "a\ufffdb", "")]
    assert events(b"data: \xe2\x82\n\n") == [("message", "\ufffd", "")]  # a truncated sequence: one U+FFFD
    assert events(b"data: \xed\xa0\x80\n\n") == [("message", "\ufffd" * 3, "")]  # an encoded surrogate


def test_a_character_split_across_chunks_is_kept_whole():
    decoder = EventStreamDecoder()
    out = [*decoder.feed(b"data: \xe2"), *decoder.feed(b"\x82"), *decoder.feed(b"\xac\n\n")]
    assert [e.data for e in out] == ["€"]


def test_one_leading_bom_is_dropped_but_not_a_second_one():
    assert events(b"\xef\xbb\xbfdata: a\n\n") == [("message", "a", "")]
    # The second BOM belongs to the field name "\ufeffdata", an unknown field.
    assert events(b"\xef\xbb\xbf\xef\xbb\xbfdata: a\n\ndata: b\n\n") == [("message", "b", "")]
    # A BOM later in the stream is ordinary text, not skipped.
    assert events(b"data: a\n\n\xef\xbb\xbfdata: b\n\ndata: c\n\n") == [("message", "a", ""), ("message", "c", "")]
    # Split across chunks it is still recognised.
    assert [e.data for e in iter_events([b"\xef", b"\xbb", b"\xbfdata: a\n\n"])] == ["a"]


def test_chromium_takes_a_line_break_right_after_the_bom_as_text():
    # Measured in Chromium (tests/test_sse_browser.py): "\ufeff\ndata: a" is one line.
    assert events(b"\xef\xbb\xbf\ndata: a\n\ndata: b\n\n") == [("message", "b", "")]
    # The specification's text reads it as a blank line, then "data: a".
    spec = EventStreamDecoder(chromium_quirks=False)
    assert [e.data for e in spec.feed(b"\xef\xbb\xbf\ndata: a\n\ndata: b\n\n")] == ["a", "b"]


def test_comments_are_ignored_and_counted():
    decoder = EventStreamDecoder()
    out = decoder.feed(b": keep-alive\n\n:\ndata: a\n: inside an event\n\n")
    assert [e.data for e in out] == ["a"]
    assert decoder.comments == 3


def test_a_field_with_no_colon_has_an_empty_value():
    assert events(b"data\n\n") == [("message", "", "")]
    assert events(b"data\ndata\n\n") == [("message", "\n", "")]
    assert events(b"event\ndata: a\n\n") == [("message", "a", "")]  # empty type -> "message"


def test_exactly_one_space_after_the_colon_is_removed():
    assert events(b"data:a\n\ndata: a\n\ndata:  a\n\ndata:\ta\n\n") == [
        ("message", "a", ""), ("message", "a", ""), ("message", " a", ""), ("message", "\ta", "")]


def test_field_names_are_exact_and_unknown_fields_ignored():
    assert events(b"Data: x\ndata : y\ndataset: z\nfoo: bar\ndata: kept\n\n") == [("message", "kept", "")]


def test_an_id_containing_nul_is_ignored_but_nul_elsewhere_is_data():
    assert events(b"id: 1\ndata: a\n\nid: 2\0\ndata: b\n\n") == [("message", "a", "1"), ("message", "b", "1")]
    assert events(b"data: a\0b\n\n") == [("message", "a\0b", "")]


def test_the_last_event_id_is_kept_across_events_until_changed():
    assert events(b"id: 5\ndata: a\n\ndata: b\n\nid\ndata: c\n\n") == [
        ("message", "a", "5"), ("message", "b", "5"), ("message", "c", "")]


def test_an_empty_event_dispatches_nothing_but_still_updates_the_last_event_id():
    decoder = EventStreamDecoder()
    assert decoder.feed(b"id: 9\n\n") == []
    assert decoder.last_event_id == "9"
    assert [(e.data, e.id) for e in decoder.feed(b"data: a\n\n")] == [("a", "9")]


def test_an_id_is_only_the_events_id_once_the_event_is_dispatched():
    # The id field fills the "last event ID buffer"; the event gets it at dispatch.
    decoder = EventStreamDecoder()
    decoder.feed(b"id: 1\ndata: a\n\nid: 2\n")
    assert decoder.last_event_id == "1"
    decoder.feed(b"\n")
    assert decoder.last_event_id == "2"


def test_retry_only_when_all_ascii_digits():
    decoder = EventStreamDecoder()
    decoder.feed(b"retry: 2500\n\n")
    assert decoder.retry == 2500
    for bad in (b"retry: 1.5\n", b"retry: -1\n", b"retry: 12a\n", b"retry:\n", b"retry: \xd9\xa3\n", b"retry:  1\n"):
        decoder.feed(bad)
        assert decoder.retry == 2500, bad
    decoder.feed(b"retry: " + b"9" * 5000 + b"\n")  # too big for the browser: ignored, no crash
    assert decoder.retry == 2500
    assert events(b"retry: 10\n\n") == []  # retry alone dispatches nothing


def test_the_event_type_resets_after_each_dispatch_and_after_an_empty_event():
    assert events(b"event: a\ndata: 1\n\ndata: 2\n\n") == [("a", "1", ""), ("message", "2", "")]
    assert events(b"event: a\n\ndata: 2\n\n") == [("message", "2", "")]


def test_an_unterminated_event_at_the_end_is_never_dispatched():
    assert events(b"data: a\n\ndata: b") == [("message", "a", "")]
    assert events(b"data: a\n\ndata: b\n") == [("message", "a", "")]
    decoder = EventStreamDecoder()
    assert decoder.feed(b"data: pending\n") == []
    assert decoder.close() == []


def test_event_json_parses_the_data_string():
    [event] = decode('data: {"message": "hi"}\n\n')
    assert isinstance(event.data, str)
    assert event.json() == {"message": "hi"}
    assert event.as_dict() == {"type": "message", "data": '{"message": "hi"}', "id": ""}
    assert event == Event("message", '{"message": "hi"}', "")


# ----------------------------------------------------------------------------- properties

any_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=60) | st.sampled_from(
    ["", "\r", "\n", "\r\n", "\n\r", "\0", "a\r\nb\rc\nd", "\n\nevent: x\ndata: y", "é€😀\u2028\x85", "\ufeff"])


@settings(max_examples=300, deadline=None)
@given(text=any_text, name=st.none() | st.text(alphabet="abcnotify-_ \0é", max_size=8))
def test_any_text_survives_a_json_event_exactly(text, name):
    # JSON escapes CR and LF, so any text travels exactly: the way the labs send messages.
    [event] = decode(encode_json_event({"message": text}, event=name))
    assert event.json() == {"message": text}
    assert event.type == (name or "message")


@settings(max_examples=300, deadline=None)
@given(text=any_text)
def test_any_text_survives_a_plain_event_with_line_ends_as_lf(text):
    # Raw data lines cannot carry a CR: the browser hands every line end back as LF.
    [event] = decode(encode_event(text))
    assert event.data == re.sub(r"\r\n|\r", "\n", text)
    if "\r" not in text:
        assert event.data == text


PIECES = [b"data", b"event", b"id", b"retry", b":", b" ", b"\r", b"\n", b"\r\n", b"x", b"7", b"\0",
          b"\xef\xbb\xbf", b"\xe2\x82\xac", b"\xe2\x82", b"\xff", b"notify"]


@settings(max_examples=400, deadline=None)
@given(pieces=st.lists(st.sampled_from(PIECES), max_size=40), cuts=st.lists(st.integers(0, 200), max_size=8))
def test_splitting_the_same_bytes_into_chunks_anywhere_gives_the_same_events(pieces, cuts):
    stream = b"".join(pieces)
    points = sorted({c for c in cuts if c <= len(stream)})
    chunks = [stream[a:b] for a, b in pairwise([0, *points, len(stream)])]
    assert list(iter_events(chunks)) == decode(stream)
    assert list(iter_events(bytes([b]) for b in stream)) == decode(stream)  # one byte at a time


def reference_decode(stream: bytes) -> list[tuple[str, str, str]]:
    """The specification's steps, written as plainly as possible, for the whole stream at once."""
    text = stream.decode("utf-8", errors="replace")
    text = text[1:] if text.startswith("\ufeff") else text
    *lines, _unterminated = re.split(r"\r\n|\r|\n", text)
    out, data, kind, id_buffer = [], "", "", ""
    for line in lines:
        if line == "":
            last_id = id_buffer
            if data:
                out.append((kind or "message", data[:-1], last_id))
            data, kind = "", ""
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            kind = value
        elif name == "data":
            data += value + "\n"
        elif name == "id" and "\0" not in value:
            id_buffer = value
    return out


@settings(max_examples=400, deadline=None)
@given(pieces=st.lists(st.sampled_from(PIECES), max_size=40))
def test_the_decoder_agrees_with_a_plain_reading_of_the_specification(pieces):
    stream = b"".join(pieces)
    decoder = EventStreamDecoder(chromium_quirks=False)
    got = [(e.type, e.data, e.id) for e in [*decoder.feed(stream), *decoder.close()]]
    assert got == reference_decode(stream)


# ----------------------------------------------------------------------------- python -m labs decode

def run_decode(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "labs", "decode", *args], input=stdin,
                          capture_output=True, timeout=60)


def test_decode_reads_standard_input_and_prints_one_json_object_per_event():
    result = run_decode(stdin=b"\xef\xbb\xbfevent: notify\r\nid: 3\r\ndata: a\r\ndata: \xff\r\n\r\n"
                              b": comment\n\ndata: b\n\ndata: never dispatched")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.decode("utf-8").splitlines()
    assert [json.loads(line) for line in lines] == [
        {"type": "notify", "data": "a\n\ufffd", "id": "3"},
        {"type": "message", "data": "b", "id": "3"},
    ]


def test_decode_on_empty_input_prints_nothing():
    result = run_decode(stdin=b"")
    assert (result.returncode, result.stdout) == (0, b"")


def test_decode_reads_a_live_lab_stream(lab_server):
    lab = lab_server("event_stream")
    result = run_decode("--url", lab.url + "/stream/named")
    assert result.returncode == 0, result.stderr
    decoded = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert [(e["type"], e["data"]) for e in decoded] == [
        ("notify", '{"message": "Hello"}'), ("message", "an unnamed event is a 'message'"),
        ("update", '{"message": "Update!"}')]


def test_decode_url_sends_last_event_id_and_refuses_what_eventsource_would(lab_server):
    lab = lab_server("event_stream")
    resumed = run_decode("--url", lab.url + "/stream/reconnect", "--last-event-id", "3")
    assert [json.loads(line)["id"] for line in resumed.stdout.decode().splitlines()] == ["4", "5"]
    for path in ("/stream/reconnect-nope", "/health"):  # 404 JSON, 200 but application/json
        result = run_decode("--url", lab.url + path)
        assert result.returncode == 1
        assert b"EventSource would fail the connection" in result.stderr
        assert result.stdout == b""
