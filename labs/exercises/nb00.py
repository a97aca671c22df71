"""Checks for notebook 00 (welcome and setup)."""

from __future__ import annotations

import json
import random
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from labs.exercises import Answer, exercise
from labs.exercises.support import serve_in_thread


@contextmanager
def health_server(status: int, body: object):
    """A tiny server whose ``GET /health`` answers ``status`` with ``body`` (JSON if not bytes)."""
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # the name http.server calls
            code, data = (status, payload) if self.path == "/health" else (404, b"{}")
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    with serve_in_thread(ThreadingHTTPServer(("127.0.0.1", 0), Handler)) as url:
        yield url


@exercise("0.1", hints=[
    "Three cases to tell apart: a healthy answer, an unhealthy answer, and no answer at all.",
    "A 200 with a body whose `status` is not \"ok\" is not healthy either; read the JSON.",
    "When nothing listens, `requests.get` raises: catch `requests.RequestException` and return False.",
])
def check_0_1(answer: Answer) -> None:
    is_healthy = answer.function("is_healthy")
    # Servers the student has not seen, in an order they cannot guess: three rounds of seven, two of
    # them healthy, so an answer that never asks has one chance in 21 ** 3 of guessing every round.
    cases = [
        (200, {"status": "ok", "lab": "any"}, True, "a 200 answer with status 'ok' is healthy"),
        (200, {"status": "ok", "uptime": random.randint(1, 9999)}, True, "a 200 answer with status 'ok' is healthy"),
        (200, {"status": "starting"}, False, "a 200 answer whose status is not 'ok' is not healthy"),
        (200, {"state": "ok"}, False, "a 200 answer with no `status` is not healthy"),
        (503, {"status": "ok"}, False, "a 503 answer is not healthy, whatever its body says"),
        (500, b"<html>oops</html>", False, "a 500 with an HTML body is not healthy (and must not crash you)"),
        (200, b"not json", False, "a 200 whose body is not JSON is not healthy (and must not crash you)"),
    ]
    for _round in range(3):
        random.shuffle(cases)
        for status, body, expected, why in cases:
            with health_server(status, body) as url:
                got = is_healthy(url)
            assert got is expected, f"{why}: you returned {got!r}"
    with health_server(200, {"status": "ok"}) as url:
        dead = url
    assert is_healthy(dead) is False, "when nothing answers, return False rather than raise"
