"""The kit's decoder against real Chromium: the same bytes, served by the event_stream
lab, go to a real EventSource and to labs.core.sse.decode; what they dispatch must match.
Also: the event_stream page works in the browser.

The suite drives Chromium's headless shell where there is one (labs.harness.browser says why);
the full Chromium a student installs must dispatch the same, and is checked here too."""

from __future__ import annotations

import base64
import re

import pytest

from conftest import REQUIRE_BROWSER
from labs.core.sse import decode
from labs.harness.browser import CHROMIUM_FLAGS, system_browser

pytestmark = pytest.mark.browser

# Streams chosen to hit every rule, and the places browsers and careless parsers differ.
TRICKY = [
    b"data: a\n\ndata: b\n\n",
    b"data: one\r\rdata: two\r\n\r\ndata: three\n\r\n",
    b"data: a\r\n\r",
    b"\xef\xbb\xbfdata: bom\n\n",
    b"\xef\xbb\xbf\xef\xbb\xbfdata: x\n\ndata: y\n\n",
    b"\xef\xbb\xbf\ndata: x\n\ndata: y\n\n",  # Chromium: the LF after the BOM is text
    b"\xef\xbb\xbf\rdata: x\n\ndata: y\n\n",
    b"\xef\xbb\xbf\r\ndata: x\n\n",
    b"data: a\n\n\xef\xbb\xbfdata: b\n\ndata: c\n\n",
    b"data\n\ndata:\n\ndata: \n\ndata:  two spaces\n\ndata:\ttab\n\n",
    b"data: x\ndata\ndata\n\n",
    b"event: \ndata: empty type\n\nevent\ndata: no colon\n\n",
    b"event: error\ndata: named error\n\nevent: open\ndata: named open\n\n",
    b"event: foo\n\ndata: type reset by an empty event\n\n",
    b"event: a\nevent: b\ndata: last type wins\n\n",
    b"id: 5\n\ndata: id from an empty event\n\n",
    b"id: 1\ndata: x\n\nid\ndata: reset\n\nid: a\0b\ndata: nul ignored\n\n",
    b"id:  7\ndata: x\n\nid:\t8\ndata: y\n\n",
    b"data: a\0b\n\nevent: c\0d\ndata: e\n\nda\0ta: f\n\n",
    b"data: \xff\xfe\n\ndata: \xe2\x82\ndata: \xac\n\ndata: \xf0\x80\x80\n\ndata: \xed\xa0\x80z\n\n",
    b"data: \xc0\xaf\n\ndata: \xf4\x90\x80\x80\n\ndata: \xe2\x82\xac\xf0\x9f\x98\x80\n\n",
    b"data: v\x0bw\x0cx\xc2\x85y\xe2\x80\xa8z\n\n",
    b"data: x\n\ndata: unterminated",
    b"data: x\n\ndata: unterminated\n",
    b"data: x\n\nid: 9\n",
    b"retry: 100\ndata: x\n\nretry: 1.5\ndata: y\n\nretry\n\n",
    b":comment\ndata: x\n:another\n\n: keep-alive\n\n",
    b"Data: x\ndata : y\ndataset: z\nfoo\ndata: kept\n\n",
    b"\n\n\n\r\n\r\r",
    b"data: hi\n\nevent: x\ndata: y\n\n",
]

# (bytes, split points): the server writes each piece separately.
SPLIT = [
    (b"\xef\xbb\xbf\ndata: x\n\ndata: y\n\n", "3"),
    (b"\xef\xbb\xbfdata: x\n\n", "1,2"),
    (b"data: one\r\n\r\ndata: two\r\n\r\n", "10,11,12"),
    (b"data: a\r\r\n", "8"),
    (b"data: \xe2\x82\xac\n\n", "7,8"),
    (b"id: 1\ndata: a\n\n", "3,6,12"),
]


# One lab for the module (the `lab` fixture, tests/conftest.py): every test only reads streams from it.
LAB_NAME = "event_stream"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def candidate_types(stream: bytes) -> list[str]:
    """Every event name the stream could produce (EventSource needs a listener per name)."""
    names = {"message"}
    for line in re.split(r"\r\n|\r|\n", stream.decode("utf-8", errors="replace")):
        line = line.lstrip("\ufeff")
        if line.startswith("event"):
            value = line.split(":", 1)[1] if ":" in line else ""
            names |= {value, value[1:] if value.startswith(" ") else value}
    return sorted(names - {""})


def browser_events(page, url: str, stream: bytes, follow: bool = False) -> list[tuple[str, str, str]]:
    result = page.evaluate("([url, types, follow]) => EventStreamLab.collectEvents(url, types, "
                           "{followReconnects: follow})", [url, candidate_types(stream), follow])
    assert result["endedBy"] in ("ended", "closed"), result
    return [(e["type"], e["data"], e["lastEventId"]) for e in result["events"]]


def open_lab_page(lab, page):
    page.goto(lab.url + "/")
    page.wait_for_function("typeof EventStreamLab !== 'undefined'")


def test_decoder_dispatches_what_chromium_dispatches(lab, page):
    open_lab_page(lab, page)
    differences = []
    for stream in TRICKY:
        expected = [(e.type, e.data, e.id) for e in decode(stream)]
        got = browser_events(page, "raw?b64=" + b64(stream), stream)
        if got != expected:
            differences.append((stream, got, expected))
    assert differences == [], "stream, Chromium, labs.core.sse.decode"


def test_chunk_boundaries_change_nothing_in_either(lab, page):
    open_lab_page(lab, page)
    for stream, split in SPLIT:
        got = browser_events(page, f"raw?b64={b64(stream)}&split={split}&pause_ms=30", stream)
        assert got == [(e.type, e.data, e.id) for e in decode(stream)], (stream, split)


def test_named_examples_match_too(lab, page):
    open_lab_page(lab, page)
    for name in ("multiline", "named", "ids", "line_endings", "tricky", "cut", "keepalive"):
        stream = lab.get(f"/stream/{name}").content
        assert browser_events(page, f"stream/{name}", stream) == [(e.type, e.data, e.id) for e in decode(stream)]


@pytest.fixture
def full_chromium_page(_playwright):
    """A tab of the system's full Chromium or Chrome (not a headless shell), as a student's
    machine may only have that one."""
    executable = system_browser()
    if executable is None:
        message = "no full Chromium or Chrome on this system (Debian: apt install chromium)"
        if REQUIRE_BROWSER:
            pytest.fail(message + "; SSE_KIT_REQUIRE_BROWSER=1 makes this a failure")
        pytest.skip(message)
    playwright, _ = _playwright
    browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_FLAGS)
    try:
        yield browser.new_page()
    finally:
        browser.close()


def test_the_full_chromium_dispatches_the_same(lab, full_chromium_page):
    page = full_chromium_page
    open_lab_page(lab, page)
    assert "Headless" in page.evaluate("navigator.userAgent")
    for stream in TRICKY:
        expected = [(e.type, e.data, e.id) for e in decode(stream)]
        assert browser_events(page, "raw?b64=" + b64(stream), stream) == expected, stream
    for stream, split in SPLIT:
        got = browser_events(page, f"raw?b64={b64(stream)}&split={split}&pause_ms=30", stream)
        assert got == [(e.type, e.data, e.id) for e in decode(stream)], (stream, split)


def test_the_browser_reconnects_with_last_event_id_until_204(lab, page):
    open_lab_page(lab, page)
    stream = b"event: x\n"  # no named events: only "message"
    events = browser_events(page, "stream/reconnect", stream, follow=True)
    assert [(data, ident) for _, data, ident in events] == [
        ("event 1", "1"), ("event 2", "2"), ("event 3", "3"), ("event 4", "4"), ("event 5", "5")]


def test_the_page_shows_raw_bytes_next_to_dispatched_events(lab, page):
    open_lab_page(lab, page)
    page.wait_for_function("document.querySelectorAll('#example option').length > 5")
    page.select_option("#example", "named")
    assert "addEventListener" in page.text_content("#explain")
    page.click("#run")
    page.wait_for_function("document.getElementById('status').textContent.includes('dispatched')")
    items = page.locator("#events li").all_text_contents()
    assert [item.split(" · ")[0] for item in items] == ["notify", "message", "update"]
    raw = page.text_content("#raw")
    assert "event: notify" in raw and "\\n" in raw  # line ends are shown, not swallowed


def test_the_page_runs_a_typed_stream_with_crlf(lab, page):
    open_lab_page(lab, page)
    page.click("summary")
    page.fill("#custom", "event: notify\ndata: <b>not markup</b>\n\n")
    page.check("#crlf")
    page.click("#run-custom")
    page.wait_for_function("document.getElementById('status').textContent.includes('dispatched')")
    assert page.locator("#events li").all_text_contents()[0].startswith("notify · <b>not markup</b>")
    assert page.locator("#events li b").count() == 0  # untrusted text stays text
    assert "\\r" in page.text_content("#raw")


# Random streams built from the pieces where parsers go wrong; a fixed seed keeps the
# test repeatable (the same 60 streams every run).
PIECES = [b"data", b"event", b"id", b"retry", b":", b" ", b"  ", b"\r", b"\n", b"\r\n", b"\n\n", b"x", b"7",
          b"\0", b"\xef\xbb\xbf", b"\xe2\x82\xac", b"\xe2\x82", b"\xff", b"notify", b"data: ", b"event: ",
          b"id: ", b"\xf0\x9f\x98", b"\x80"]


def random_streams(count: int, seed: int = 2024) -> list[tuple[bytes, str]]:
    import random

    rng = random.Random(seed)
    streams = []
    for _ in range(count):
        stream = b"".join(rng.choice(PIECES) for _ in range(rng.randint(1, 30)))
        if rng.random() < 0.3:
            stream = b"\xef\xbb\xbf" + stream
        if rng.random() < 0.7:
            stream += b"\n\n"
        split = ""
        if rng.random() < 0.3 and len(stream) > 1:
            split = ",".join(map(str, sorted(rng.sample(range(1, len(stream)), min(3, len(stream) - 1)))))
        streams.append((stream, split))
    return streams


def test_random_streams_decode_as_in_chromium(lab, page):
    open_lab_page(lab, page)
    differences = []
    for stream, split in random_streams(60):
        url = f"raw?b64={b64(stream)}" + (f"&split={split}&pause_ms=15" if split else "")
        got = browser_events(page, url, stream)
        expected = [(e.type, e.data, e.id) for e in decode(stream)]
        if got != expected:
            differences.append((stream, split, got, expected))
    assert differences == [], "stream, split, Chromium, labs.core.sse.decode"
