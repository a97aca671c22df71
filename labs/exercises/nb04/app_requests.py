"""Exercise 4.4, the running app asked over HTTP: it publishes a message, refuses an empty one
with a JSON 400, listens on 127.0.0.1 only, and counts its readers at GET /stats (none left once
they hung up)."""

from __future__ import annotations

import json
import random
import time
from typing import Any

from labs.exercises.support import random_text


def said(app) -> str:
    error = app.last_error()
    return f" (your app printed: {error})" if error else ""


def _post(app, payload: Any):
    import requests

    return requests.post(app.url + "/send_notification", json=payload, timeout=10)


def check_publishes(app, text: str) -> None:
    answer = _post(app, {"message": text})
    if answer.status_code >= 500:
        raise AssertionError(f"POST /send_notification with a message answered {answer.status_code}{said(app)}")
    assert 200 <= answer.status_code < 300, (
        f"POST /send_notification with a message should succeed (2xx); it answered {answer.status_code}")
    assert "json" in answer.headers.get("Content-Type", ""), (
        "POST /send_notification with a message should answer JSON (jsonify); it answered Content-Type "
        f"{answer.headers.get('Content-Type')!r}")


def check_refuses_empty(app) -> None:
    for payload in ({"message": ""}, {}):
        answer = _post(app, payload)
        shown = json.dumps(payload)
        if answer.status_code >= 500:
            raise AssertionError(f"POST /send_notification with {shown} answered {answer.status_code}"
                                 f"{said(app)}: refuse it with a 400 instead")
        assert 400 <= answer.status_code < 500, (
            f"POST /send_notification with {shown} has no message to send: answer 400, not {answer.status_code}")
        assert "json" in answer.headers.get("Content-Type", ""), (
            f"answer POST /send_notification with {shown} with a JSON error (jsonify), so a page can read it; "
            f"it answered Content-Type {answer.headers.get('Content-Type')!r}")


def check_local_only(app) -> None:
    exposed = [f"{ip}:{port}" for ip, port in app.listening() if ip not in ("127.0.0.1", "::1")]
    assert not exposed, (f"your app listens on {exposed[0]}, open to the whole network: serve on 127.0.0.1 "
                         "(app.run(host=\"127.0.0.1\", ...))")



def _clients(app) -> Any:
    import requests

    answer = requests.get(app.url + "/stats", timeout=5)
    assert answer.status_code == 200, (
        f"GET /stats answered {answer.status_code}{said(app) if answer.status_code >= 500 else ''}: it should "
        "answer JSON {\"clients\": N}, N the number of open /manual-stream readers")
    try:
        data = answer.json()
    except ValueError:
        data = None
    assert isinstance(data, dict) and "clients" in data, (
        f"GET /stats should answer JSON {{\"clients\": N}}; it answered {answer.text[:200]!r}")
    return data["clients"]


def check_clients(app, count: int, when: str) -> None:
    clients = _clients(app)
    assert clients == count, f"{when}, GET /stats says {{\"clients\": {clients!r}}}; it should count {count}"


def check_readers_leave(app, rng: random.Random) -> None:
    """After the readers hung up (``check_streams`` closed them), a message or two makes the server
    notice (a write to a closed connection fails): then nothing of theirs may be left."""
    deadline = time.monotonic() + 3
    while (clients := _clients(app)) != 0 and time.monotonic() < deadline:
        check_publishes(app, random_text(rng))
        time.sleep(0.2)
    assert clients == 0, (
        f"every reader of GET /manual-stream hung up, and messages were published since, yet GET /stats still "
        f"counts {clients!r} clients: a reader that leaves must leave nothing behind (its queue too)")
