"""Checks for notebook 11 (connection limits and HTTP/2).

11.1 is a prediction (literals), judged against the rules the notebook measured in Chromium
(tests/test_connection_limits.py measures them again on every run of the suite).
11.2 is page code: the student's JavaScript (and, if they want one, a SharedWorker script)
is served next to a real ``manual_sse`` lab and run in several tabs of one headless Chromium.
"""

from __future__ import annotations

import logging
import random
import re
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager

from labs.exercises import Answer, exercise
from labs.exercises.support import browser_for_check, random_text, require_predictions, serve_wsgi
from labs.harness.processes import wait_until

# ------------------------------------------------------------------ 11.1

HTTP11_CONNECTIONS = 6  # Chromium's (and Firefox's, Safari's) connections per origin over HTTP/1.1

PREDICTIONS = {
    # name: (the answer, what to say when it is wrong: a nudge, not the number)
    "A_PLAIN_HTTP": (HTTP11_CONNECTIONS - 1,
                     "A: over plain http:// the browser speaks HTTP/1.1, with a fixed number of connections per "
                     "origin; count every stream that holds one, the page's own included"),
    "B_HTTP2_MAX_3": (3 - 1,
                      "B: over HTTP/2 every stream shares one connection, and nginx says how many streams it may "
                      "carry at once; count every stream the page has open, its own included"),
    "C_SECOND_TAB": (HTTP11_CONNECTIONS - (1 + 2) - 1,
                     "C: the limit is per browser and origin, not per tab: the first tab's streams hold "
                     "connections too, and so does the second tab's own stream"),
}


@exercise("11.1", hints=[
    "Each question is about connections: which streams hold one, and how many there are to share.",
    "HTTP/1.1: 6 connections per origin for the whole browser, and every open EventSource keeps one "
    "(the page's own stream too). HTTP/2: one connection, and the server's max_concurrent_streams "
    "caps the streams on it.",
])
def check_11_1(answer: Answer) -> None:
    require_predictions(answer, PREDICTIONS)
    wrong = []
    for name, (truth, why) in PREDICTIONS.items():
        value = answer.literal(name)
        if isinstance(value, bool) or not isinstance(value, int):
            raise AssertionError(f"{name} should be a whole number of streams, like 3; it is {value!r}")
        if value != truth:
            wrong.append(why)
    assert not wrong, "; ".join(wrong)


# ------------------------------------------------------------------ 11.2

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>exercise 11.2</title></head>
<body>
  <h1>Notifications</h1>
  <ul id="messages"></ul>
  <script src="exercise-11-2.js"></script>
</body></html>
"""


def _code(script: str) -> str:
    """The script without comments and blank space (the stub holds comments only)."""
    script = re.sub(r"/\*.*?\*/", " ", script, flags=re.S)
    script = re.sub(r"(^|\s)//[^\n]*", " ", script)
    return script.strip()


@contextmanager
def _lab_with_page(script: str, worker: str) -> Iterator[str]:
    """A real manual_sse lab, served from a thread of this process, that also serves the
    student's page: ``/exercise-11-2.html``, its script, and ``/shared-worker.js``."""
    from flask import Response

    from labs.harness.registry import get_lab

    app = get_lab("manual_sse").module().create_app({"KEEPALIVE_SECONDS": 0.3})  # a closed tab's stream is noticed soon
    files = {"exercise-11-2.html": (PAGE, "text/html"), "exercise-11-2.js": (script, "text/javascript"),
             "shared-worker.js": (worker, "text/javascript")}
    for name, (body, mime) in files.items():
        app.add_url_rule(f"/{name}", name, lambda body=body, mime=mime: Response(body, mimetype=mime))
    with serve_wsgi(app, quiet_below=logging.CRITICAL) as url:
        yield url


_READ = """() => {
  const list = document.getElementById("messages");
  if (!list) return null;
  return {items: Array.from(list.children, (item) => item.textContent.trim()),
          markup: list.querySelectorAll("b, img").length};
}"""


def _streams(url: str) -> int:
    import requests

    return requests.get(url + "/stats", timeout=10).json()["clients"]


def _publish(url: str, text: str) -> None:
    import requests

    requests.post(url + "/send_notification", json={"message": text}, timeout=10).raise_for_status()


def _judge_lists(tabs, texts: list[str], flag: str, errors: list[str], when: str) -> None:
    def seen():
        return [tab.evaluate(_READ) for tab in tabs]

    # A correct page shows a message within a fraction of a second; 5 s is for a loaded machine.
    wait_until(lambda: all(s is not None and len(s["items"]) >= len(texts) for s in seen()), 5, interval=0.1)
    time.sleep(0.3)  # a duplicate would come right after
    lists = seen()
    if any(tab.evaluate(f"() => window.{flag} === 1") for tab in tabs) or any(s and s["markup"] for s in lists):
        raise AssertionError("messages were inserted as HTML (markup in one became elements of the page): "
                             "a message is text from anyone, insert it as text")
    for number, got in enumerate(lists, start=1):
        assert got is not None, "the page needs the list the messages go into: <ul id=\"messages\"> (it is in PAGE)"
        items = got["items"]
        if items and all(item.startswith("{") for item in items):
            raise AssertionError(f"tab {number} shows each event's data as it came, JSON text such as {items[0]!r}: "
                                 "parse it and show its message")
        if items not in (texts, texts[::-1]):
            failed = f" Your page's JavaScript failed: {errors[0]}" if errors else ""
            raise AssertionError(
                f"{when}, {len(texts)} messages were published; tab {number} of {len(tabs)} should show each once, "
                f"as text, in order: {texts!r}; it shows {items!r}.{failed}")


@exercise("11.2", hints=[
    "Only one tab may open `new EventSource(\"stream\")`, and the others must still get every message: "
    "choose the tab (a leader), and pass messages from it to the others. Try your script with the page "
    "open in three tabs and the browser's console (F12) open.",
    "`navigator.locks.request(\"some-name\", callback)` runs the callback in one tab at a time, and in the "
    "next tab only when the holder's callback settles, or the holder closes: return a promise that never "
    "settles to keep it. `new BroadcastChannel(\"some-name\")` talks to every other tab (not to itself).",
    "In the lock's callback, open the EventSource; on each `notify` event, show the message in this tab "
    "and `postMessage` it to the channel; every tab shows what arrives on the channel. "
    "Show with `textContent`.",
], timeout=90)
def check_11_2(answer: Answer) -> None:
    script = answer.value("SHARED_JS")
    worker = answer.get("WORKER_JS") or ""
    assert isinstance(script, str), f"SHARED_JS should be your page's JavaScript, a str; it is {type(script).__name__}"
    assert isinstance(worker, str), f"WORKER_JS should be a str (or empty); it is {type(worker).__name__}"
    if not _code(script):
        raise NotImplementedError  # the stub holds comments only
    rng = random.Random()
    flag = f"sseKitProbe{secrets.token_hex(4)}"
    texts = [random_text(rng), f'<img src="x-{secrets.token_hex(2)}" onerror="window.{flag}=1">', random_text(rng)]
    rng.shuffle(texts)
    tab_count = rng.randint(3, 5)
    with _lab_with_page(script, worker) as url, browser_for_check("your page") as browser:
        context = browser.new_context()  # one browser profile: its tabs share connections, locks, channels
        errors: list[str] = []
        tabs = []
        for _ in range(tab_count):
            tab = context.new_page()
            tab.on("pageerror", lambda error: errors.append(str(error)))
            tab.goto(url + "/exercise-11-2.html", wait_until="load", timeout=15_000)
            tabs.append(tab)
        wait_until(lambda: _streams(url) >= 1, 10, interval=0.1)
        time.sleep(1.0)  # let every tab settle: a second stream would open now
        count = _streams(url)
        if count == 0:
            failed = f" (its JavaScript failed: {errors[0]})" if errors else ""
            raise AssertionError(f"{tab_count} tabs of your page were open and none of them opened an "
                                 f"EventSource on /stream{failed}")
        assert count == 1, (f"{tab_count} tabs of your page opened {count} streams on /stream; one stream, "
                            "in one tab, should serve them all")
        for text in texts[:2]:
            _publish(url, text)
        _judge_lists(tabs, texts[:2], flag, errors, "with every tab open")

        tabs.pop(0).close()  # the first tab goes (it leads, in most answers): does another take over?
        time.sleep(1.0)  # the lab notices the closed stream at its next keep-alive
        if not wait_until(lambda: _streams(url) == 1, 5, interval=0.1):
            raise AssertionError(f"after the first tab closed, the other {len(tabs)} tabs had {_streams(url)} "
                                 "streams open; one of them should take over the stream (a leader that "
                                 "leaves must hand over)")
        time.sleep(0.5)
        _publish(url, texts[2])
        _judge_lists(tabs, texts, flag, errors, "after the first tab closed")
