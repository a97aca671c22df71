"""Checks for notebook 02 (JSON round trips).

Payloads, messages and names are made up on every run, so only an answer that converts
for real passes; 2.1 is sent to a ``json_roundtrip`` lab of the check's own.
"""

from __future__ import annotations

import json
import random
import secrets

import requests

from labs.core.sse import decode, encode_event
from labs.exercises import Answer, exercise
from labs.exercises.support import lab_in_thread

_TEXTS = ["Hello", "café ✓", 'say "hi"', "line one\nline two", "tab\there", "<b>bold</b>", "naïve 😀",
          "back\\slash", "data: not a field", "{not: json}", "100% done", "Ünïcödé"]


def _text() -> str:
    return " ".join(random.sample(_TEXTS, 2)) + " " + secrets.token_hex(2)


def _payload() -> dict:
    payload = {"message": _text(), "count": random.randint(-5, 10**6), "read": random.choice([True, False]),
               "extra": None, "tags": random.sample(["a", "b", "urgent", "ops", "é"], 2),
               "ratio": round(random.random(), 3)}
    if random.random() < 0.5:
        payload["nested"] = {"deep": [1, {"x": _text()}]}
    return dict(random.sample(list(payload.items()), len(payload)))  # keys in any order


# ------------------------------------------------------------------ Exercise 2.1

def _headers_of(options: dict) -> dict:
    headers = options.get("headers") or {}
    if isinstance(headers, (list, tuple)):  # fetch also takes [[name, value], ...]
        headers = dict(headers)
    assert isinstance(headers, dict), f"headers should be a dict of header names and values, not {headers!r}"
    if not any(str(name).lower() == "content-type" for name in headers):
        # What fetch does with a string body and no Content-Type of yours.
        headers = {**headers, "Content-Type": "text/plain;charset=UTF-8"}
    return {str(name): str(value) for name, value in headers.items()}


def _send_like_fetch(url: str, options) -> requests.Response:
    assert isinstance(options, dict), f"fetch_options should return a dict, not a {type(options).__name__}"
    missing = {"method", "headers", "body"} - set(options)
    assert not missing, f"the options need the keys method, headers and body; {sorted(missing)} missing"
    method, body = options["method"], options["body"]
    assert isinstance(method, str) and method.upper() == "POST", f"the method should be POST, not {method!r}"
    assert isinstance(body, str), (
        f"body should be the JSON text (a str, what JSON.stringify makes), not a {type(body).__name__}: "
        "fetch would send an object as the text '[object Object]'")
    return requests.post(url, headers=_headers_of(options), data=body.encode("utf-8"), timeout=10)


@exercise("2.1", hints=[
    "Two things must both be right: the header that tells the server what the body is, and the "
    "body itself, which travels as text.",
    "fetch sends a string body as it is; a JavaScript object would arrive as '[object Object]'. "
    "Which Python function turns a dict into JSON text?",
    "Flask's request.get_json() parses only a body whose Content-Type is application/json; without "
    "it the lab answers 415 and says so.",
])
def check_2_1(answer: Answer) -> None:
    fetch_options = answer.function("fetch_options")
    payloads = [_payload() for _ in range(3)]
    options = [fetch_options(payload) for payload in payloads]  # before any server: a stub stops here
    with lab_in_thread("json_roundtrip") as lab:
        for payload, option in zip(payloads, options, strict=True):
            response = _send_like_fetch(lab.url + "/echo", option)
            answer_json = response.json()
            assert response.status_code == 200, (
                f"the lab answered {response.status_code} {answer_json.get('error')}: "
                f"{answer_json.get('detail')}. Its advice: {answer_json.get('fix')}")
            parsed = answer_json["received"]["parsed"]
            assert parsed == payload, (
                f"the server parsed {parsed!r}, which is not the payload {payload!r}")


# ------------------------------------------------------------------ Exercise 2.2

def _event_for(payload: dict, style: dict | None = None):
    """The payload as a server might send it: compact, pretty over several data: lines, ASCII-escaped."""
    style = style if style is not None else random.choice(
        [{}, {"indent": 2}, {"ensure_ascii": False}, {"separators": (",", ":")}, {"indent": 1, "ensure_ascii": False}])
    block = encode_event(json.dumps(payload, **style), event=random.choice(["notify", None]),
                         id=random.choice([None, random.randint(1, 999)]))
    (event,) = decode(block)
    return event


@exercise("2.2", hints=[
    "What type is `event.data`? Print `type(event.data)` and `event.data` for an event and look.",
    "The browser has already joined the data lines; what is left is JSON text, perhaps spread over "
    "several lines, and it needs parsing before you can index it.",
    "JSON's `true`, `false` and `null` are not Python: slicing the text or Python's own literal "
    "parsers break on real events. The `json` module parses JSON.",
])
def check_2_2(answer: Answer) -> None:
    message_of = answer.function("message_of")
    payloads = [_payload() for _ in range(6)]
    payloads[0] = {"message": _text()}
    multi_line = random.randrange(1, len(payloads))  # one event always spreads over several data: lines
    for position, payload in enumerate(payloads):
        event = _event_for(payload, {"indent": 2} if position == multi_line else None)
        got = message_of(answer.inside("new", "labs.harness.client.Event", event.type, event.data, event.id))
        assert got == payload["message"], (
            f"for an event whose data is {event.data!r} you returned {got!r}; "
            f"its message is {payload['message']!r}")


# ------------------------------------------------------------------ Exercise 2.3

def _name() -> str:
    return random.choice(["Ada", "Grace", "Zoë", "O'Brien", 'the "boss"', "José Ñuñez", "李雷"]) + \
        f" {secrets.token_hex(2)}"


@exercise("2.3", hints=[
    "Look at what your route answers for a JSON body: its status, its body, and its Content-Type "
    "header. An API's answer is labelled application/json.",
    "`request.get_json()` reads and checks the body for you, and refuses a body that is not "
    "labelled as JSON with a 4xx by itself; parsing `request.data` yourself skips that check.",
    "`jsonify(...)` (or returning a dict) builds the response with the right label; `json.dumps` "
    "builds only a string, which Flask sends as text/html.",
])
def check_2_3(answer: Answer) -> None:
    make_app = answer.function("make_app")
    app = make_app()
    assert hasattr(app, "test_client"), f"make_app should return a Flask app, not a {type(app).__name__}"
    client = app.test_client()
    for name in [_name() for _ in range(3)]:
        response = client.post("/greet", json={"name": name})
        body = response.get_data(as_text=True)
        assert response.status_code == 200, (
            f"POST /greet with a JSON name answered {response.status_code}: {body[:200]!r}")
        assert response.mimetype == "application/json", (
            f"the answer is labelled {response.content_type!r}: answer with jsonify (application/json)")
        assert response.get_json() == {"greeting": f"Hello, {name}!"}, (
            f"for the name {name!r} you answered {body.strip()[:200]!r}")
    plain = client.post("/greet", data=json.dumps({"name": _name()}), content_type="text/plain")
    assert 400 <= plain.status_code < 500, (
        f"a body labelled text/plain should get a 4xx answer (it is not JSON, whatever it looks like); "
        f"it got {plain.status_code}")
    broken = client.post("/greet", data="[object Object]", content_type="application/json")
    assert 400 <= broken.status_code < 500, (
        f"a body that is not valid JSON should get a 4xx answer, not {broken.status_code}")
