"""Lab json_roundtrip: the echo endpoint, the staged mistakes, and its page in Chromium."""

from __future__ import annotations

import json

import pytest
import requests

from labs.core.sse import decode
from labs.json_roundtrip import DEMO_PAYLOAD

# `client` (tests/conftest.py): this lab in-process, through Flask's test client.
LAB_NAME = "json_roundtrip"


def test_echo_shows_every_step_of_a_correct_round_trip(client):
    response = client.post("/echo", json={"message": "Hello", "count": 5})
    assert response.status_code == 200
    assert response.content_type == "application/json"
    answer = response.get_json()
    assert answer["received"]["content_type"] == "application/json"
    assert json.loads(answer["received"]["raw_body"]) == {"message": "Hello", "count": 5}
    assert answer["received"]["parsed"] == {"message": "Hello", "count": 5}
    assert answer["received"]["parsed_type"] == "dict"
    assert answer["get_json"] == {"value": {"message": "Hello", "count": 5}, "error": None}
    assert answer["jsonify_sends"]["content_type"] == "application/json"
    assert json.loads(answer["jsonify_sends"]["body"]) == {"message": "Hello", "count": 5}


def test_a_body_sent_without_stringify_arrives_as_object_object(client):
    response = client.post("/echo", data="[object Object]", content_type="application/json")
    assert response.status_code == 400
    answer = response.get_json()
    assert answer["received"]["raw_body"] == "[object Object]"
    assert answer["error"] == "invalid JSON"
    assert "JSON.stringify" in answer["fix"]
    assert answer["get_json"]["error"] == "400 Bad Request"


def test_a_missing_content_type_is_a_415_saying_what_to_add(client):
    response = client.post("/echo", data='{"message": "Hello"}', content_type="text/plain;charset=UTF-8")
    assert response.status_code == 415
    answer = response.get_json()
    assert answer["error"] == "unsupported content type"
    assert "Content-Type: application/json" in answer["fix"]
    assert answer["received"]["raw_body"] == '{"message": "Hello"}'
    assert answer["get_json"] == {"value": None, "error": "415 Unsupported Media Type"}
    assert "parsed" not in answer["received"]


def test_json_that_is_not_an_object_is_refused(client):
    response = client.post("/echo", json=["a", "list"])
    assert response.status_code == 400
    assert response.get_json()["error"] == "expected a JSON object"


def test_json_nested_deeper_than_the_parser_goes_is_a_400_not_a_500(client):
    response = client.post("/echo", data=b"[" * 100_000 + b"]" * 100_000, content_type="application/json")
    assert response.status_code == 400
    answer = response.get_json()
    assert answer["error"] == "invalid JSON" and "deeply" in answer["detail"]
    # Flask's own request.get_json() would have raised RecursionError here: a 500.
    assert answer["get_json"]["error"].startswith("RecursionError")


def test_dumps_is_served_as_html_and_jsonify_as_json(client):
    dumped, jsonified = client.get("/dumps"), client.get("/jsonify")
    assert dumped.content_type.startswith("text/html")
    assert jsonified.content_type == "application/json"
    assert json.loads(dumped.data) == json.loads(jsonified.data) == DEMO_PAYLOAD


def test_events_sends_json_as_a_string_in_event_data(client):
    response = client.get("/events")
    assert response.content_type.startswith("text/event-stream")
    [event] = decode(response.data)
    assert event.type == "notify"
    assert isinstance(event.data, str)
    assert event.json() == {"message": "Hello from the server"}


def test_the_same_over_real_http_from_requests(lab_server):
    lab = lab_server("json_roundtrip")
    ok = lab.post("/echo", json={"message": "é ✓"})
    assert ok.json()["received"]["parsed"] == {"message": "é ✓"}
    # requests' data= with a str is sent without any Content-Type: the 415 case.
    refused = lab.post("/echo", data=json.dumps({"message": "x"}))
    assert refused.status_code == 415
    assert refused.json()["received"]["content_type"] is None
    too_big = lab.post("/echo", data=b"x" * (1024 * 1024 + 1), headers={"Content-Type": "application/json"})
    assert too_big.status_code == 413
    assert requests.get(lab.url + "/dumps", timeout=10).headers["Content-Type"].startswith("text/html")


# ----------------------------------------------------------------------------- the page in Chromium

@pytest.fixture
def lab_page(lab_server, page):
    lab = lab_server("json_roundtrip")
    page.goto(lab.url + "/")
    page.wait_for_function("document.getElementById('lab-state').textContent === 'ready'")
    return page


def click_and_read(page, name: str) -> str:
    page.click(f"#btn-{name}")
    page.wait_for_function(f"document.getElementById('result-{name}').textContent.length > 0")
    return page.text_content(f"#result-{name}")


@pytest.mark.browser
def test_page_round_trip_works(lab_page):
    lab_page.fill("#message", "<b>Hi</b> there")
    text = click_and_read(lab_page, "correct")
    assert '1. JSON.stringify made the string: {"message":"<b>Hi</b> there"}' in text
    assert "request.get_json() gave a Python dict" in text
    assert "jsonify sent back (application/json)" in text
    assert "res.json() gave a JS object; answer.received.parsed.message = <b>Hi</b> there" in text
    assert lab_page.locator("#result-correct b").count() == 0  # input shown as text, never markup


@pytest.mark.browser
def test_page_shows_object_object_without_stringify(lab_page):
    text = click_and_read(lab_page, "no-stringify")
    assert "the server received: [object Object]" in text
    assert "400 invalid JSON" in text


@pytest.mark.browser
def test_page_shows_the_415_without_content_type(lab_page):
    text = click_and_read(lab_page, "no-content-type")
    assert "fetch labelled it: text/plain;charset=UTF-8" in text
    assert "415 unsupported content type" in text
    assert "Content-Type: application/json" in text


@pytest.mark.browser
def test_page_shows_event_data_is_a_string(lab_page):
    text = click_and_read(lab_page, "no-parse")
    assert text.splitlines() == [
        "typeof event.data = string",
        "event.data.message = undefined",
        "JSON.parse(event.data).message = Hello from the server",
    ]


@pytest.mark.browser
def test_page_compares_dumps_and_jsonify(lab_page):
    text = click_and_read(lab_page, "dumps")
    assert "GET /dumps: Content-Type text/html; charset=utf-8" in text
    assert "GET /jsonify: Content-Type application/json" in text
