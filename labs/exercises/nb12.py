"""Checks for notebook 12 (auth and CORS).

12.1 wires the student's ``cors_headers`` into a tiny app served over real HTTP and sends it
the preflight and the request a browser would, from the allowed origin and from look-alikes,
then applies the browser's own CORS checks (the Fetch Standard's) to the answers.  (The token
stream exercises that were 12.2 and 12.3 are notebook 15's 15.1 and 15.2.)
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable

from labs.exercises import Answer, exercise
from labs.exercises.support import serve_wsgi

# ------------------------------------------------------------------ 12.1: the CORS headers

def _cors_app(cors_headers: Callable, allowed: str):
    """A tiny API whose every answer carries the headers ``cors_headers`` returns."""
    from flask import Flask, jsonify, request

    app = Flask("exercise_12_1")

    @app.route("/notes", methods=["POST", "OPTIONS"])
    def notes():
        preflight = request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers
        headers = cors_headers(request.headers.get("Origin"), allowed, preflight)
        if not isinstance(headers, dict):
            return jsonify(error=f"cors_headers returned {type(headers).__name__}, not a dict"), 599
        answer = app.response_class(status=204) if preflight else jsonify(saved=True)
        for name, value in headers.items():
            answer.headers[str(name)] = str(value)
        return answer

    return app


def _header(answer, name: str) -> str | None:
    return answer.headers.get(name)  # requests' headers are case-insensitive, as HTTP's are


def _listed(value: str | None) -> set[str]:
    return {part.strip().lower() for part in (value or "").split(",") if part.strip()}


def _cors_check(answer, origin: str, what: str) -> None:
    """The Fetch Standard's CORS check for a request with credentials, as Chromium applies it."""
    allow_origin = _header(answer, "Access-Control-Allow-Origin")
    if allow_origin is None:
        raise AssertionError(f"{what} from the allowed origin {origin} has no Access-Control-Allow-Origin: "
                             "the browser would keep the answer from the page")
    if allow_origin.strip() == "*":
        raise AssertionError(f"{what}: Access-Control-Allow-Origin is '*'; a request with credentials (cookies) "
                             "needs the exact origin, and the browser refuses a wildcard")
    if allow_origin != origin:
        raise AssertionError(f"{what}: Access-Control-Allow-Origin is {allow_origin!r}; for this request it must be "
                             f"exactly {origin!r}")
    if _header(answer, "Access-Control-Allow-Credentials") != "true":
        raise AssertionError(f"{what}: the request carries cookies, so the answer needs "
                             "Access-Control-Allow-Credentials: true (exactly that, lower case)")
    if "origin" not in _listed(_header(answer, "Vary")):
        raise AssertionError(f"{what}: the answer depends on the request's Origin, so say so with Vary: Origin "
                             "(or a cache may hand one origin's answer to another)")


def _preflight_check(answer, origin: str) -> None:
    assert 200 <= answer.status_code < 300, f"the preflight got status {answer.status_code}: it must be 2xx"
    _cors_check(answer, origin, "the preflight")
    methods = _listed(_header(answer, "Access-Control-Allow-Methods"))
    assert "post" in methods, ("the preflight must allow the method: Access-Control-Allow-Methods should list POST "
                               f"(with credentials '*' is not a wildcard); it is {methods or 'missing'}")
    headers = _listed(_header(answer, "Access-Control-Allow-Headers"))
    missing = sorted({"content-type", "authorization"} - headers)
    assert not missing, (f"the preflight must allow the request's headers: Access-Control-Allow-Headers lacks "
                         f"{', '.join(missing)} (with credentials '*' is not a wildcard, and never covers "
                         "Authorization)")


def _look_alikes(allowed: str, rng: random.Random) -> list[str]:
    host, port = allowed.removeprefix("http://").split(":")
    others = [f"http://{host}:{int(port) + rng.randint(1, 50)}", f"https://{host}:{port}",
              f"http://localhost:{port}", f"{allowed}.evil.example", f"http://evil.example/{allowed}", "null",
              f"http://{host}:{port}0"]
    rng.shuffle(others)
    return others


@exercise("12.1", hints=[
    "Two kinds of request reach the function: the preflight (preflight=True), which asks whether a POST with "
    "JSON and an Authorization header may be sent, and the request itself. Both answers must name the origin.",
    "Compare the whole origin with ==, never startswith/in (look-alike origins exist). With cookies the browser "
    "needs the exact origin (not '*') and Access-Control-Allow-Credentials: true; add Vary: Origin.",
    "For the preflight also list what may be used: Access-Control-Allow-Methods (POST) and "
    "Access-Control-Allow-Headers (Content-Type, Authorization). Any other origin gets {}.",
])
def check_12_1(answer: Answer) -> None:
    import requests

    cors_headers = answer.function("cors_headers")
    rng = random.Random()
    allowed = f"http://127.0.0.1:{rng.randint(2000, 60000)}"
    first = cors_headers(allowed, allowed, True)  # here, not in the server: a stub's NotImplementedError counts
    assert isinstance(first, dict), f"cors_headers should return a dict of headers; it returned {first!r}"
    post = {"Content-Type": "application/json", "Authorization": f"Bearer {secrets.token_hex(8)}"}
    ask = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"}
    with serve_wsgi(_cors_app(cors_headers, allowed)) as url:
        preflight = requests.options(url + "/notes", headers={"Origin": allowed, **ask}, timeout=10)
        assert preflight.status_code != 599, preflight.json()["error"]
        _preflight_check(preflight, allowed)
        sent = requests.post(url + "/notes", data=b"{}", headers={"Origin": allowed, **post}, timeout=10)
        _cors_check(sent, allowed, "the POST itself")
        for other in _look_alikes(allowed, rng):
            for kind, answered in (("preflight", requests.options(url + "/notes", headers={"Origin": other, **ask},
                                                                  timeout=10)),
                                   ("POST", requests.post(url + "/notes", data=b"{}",
                                                          headers={"Origin": other, **post}, timeout=10))):
                given = _header(answered, "Access-Control-Allow-Origin")
                assert given is None, (f"a {kind} from {other!r} (not the allowed {allowed!r}) got "
                                       f"Access-Control-Allow-Origin: {given}: that origin's page could read the "
                                       "answer. Let exactly one origin in")
