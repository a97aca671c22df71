"""Exercise 4.5: the page (``INDEX_HTML``), run in headless Chromium against the notes' app in
miniature: it must open an EventSource on /stream and show each `notify` event's message as text
(a message holding markup or an ``<img onerror>`` must not become part of the page)."""

from __future__ import annotations

import random
import re
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager

from labs.exercises import Answer, exercise
from labs.exercises.support import browser_for_check, random_text, serve_wsgi


def _script_code(page: str) -> str:
    """The page's inline JavaScript, without comments and blank space."""
    code = " ".join(re.findall(r"<script\b[^>]*>(.*?)</script\s*>", page, flags=re.S | re.I))
    code = re.sub(r"/\*.*?\*/", " ", code, flags=re.S)
    code = re.sub(r"(^|\s)//[^\n]*", " ", code)
    return code.strip()


@contextmanager
def _page_server(page: str, redis_url: str) -> Iterator[str]:
    """The notes' app in miniature: the page at /, flask-sse's Blueprint at /stream, and
    POST /send_notification, served from a thread of this process."""
    import logging

    from flask import Flask, Response, request
    from flask_sse import sse

    app = Flask("exercise_4_5_server")
    app.config["REDIS_URL"] = redis_url
    app.register_blueprint(sse, url_prefix="/stream")
    app.add_url_rule("/", "index", lambda: Response(page, mimetype="text/html"))

    @app.post("/send_notification")
    def send_notification():
        sse.publish({"message": request.get_json()["message"]}, type="notify")
        return {"status": "success"}

    # Once Redis stops, flask-sse's stream threads that outlived their page log an error: not the page's.
    with serve_wsgi(app, quiet_below=logging.CRITICAL) as url:
        yield url


_READ_LIST = """() => {
  const list = document.getElementById("notifications");
  if (!list) return null;
  return {items: Array.from(list.children, (item) => item.textContent.trim()),
          markup: list.querySelectorAll("b, img").length, text: list.textContent.slice(0, 300)};
}"""


def _listening(client) -> int:
    return dict(client.pubsub_numsub("sse")).get("sse", 0)


def _wait_for_listener(client, errors: list[str], seconds: float = 5) -> None:
    """Until the page's EventSource is subscribed; a page whose script failed gets a second."""
    started = time.monotonic()
    while _listening(client) < 1:
        waited = time.monotonic() - started
        if waited > seconds or (errors and waited > 1):
            failed = f" (its JavaScript failed: {errors[0]})" if errors else ""
            raise AssertionError(f"your page did not open an EventSource on /stream within {waited:.0f} s{failed}")
        time.sleep(0.1)


def _read_page(tab, count: int) -> dict | None:
    deadline = time.monotonic() + 4
    seen = tab.evaluate(_READ_LIST)
    while seen is not None and len(seen["items"]) < count and time.monotonic() < deadline:
        time.sleep(0.1)
        seen = tab.evaluate(_READ_LIST)
    return seen


def _judge_page(seen: dict | None, texts: list[str], probe_fired: bool, errors: list[str]) -> None:
    assert seen is not None, "your page needs the list the messages go into: an element with id=\"notifications\""
    items = seen["items"]
    if probe_fired or seen["markup"]:
        happened = ("an <img> in a message ran its onerror JavaScript in your page" if probe_fired
                    else "the markup in a message became elements of your page")
        raise AssertionError(f"messages were inserted as HTML: {happened}. A message is text from anyone: "
                             "insert it as text, never as HTML")
    if not items:
        failed = f" Your page's JavaScript failed: {errors[0]}" if errors else ""
        raise AssertionError(f"your page had an EventSource open on /stream and {len(texts)} notify events were "
                             f"sent, but #notifications stayed empty.{failed}")
    if all(item.startswith("{") for item in items):
        raise AssertionError(f"the list shows each event's data as it came, JSON text such as {items[0]!r}: parse "
                             "it and show its message")
    assert items in (texts, texts[::-1]), (
        f"{len(texts)} messages were sent, and the list should show them as text, one item each, in the order "
        f"they came (or newest first): {texts!r}; it shows {items!r}")


@exercise("4.5", hints=[
    "Three steps, in the page's <script>: open a connection to the stream, react to each event the server "
    "sends, and put its message on the page. Try your page in the app of exercise 4.4, with the browser's "
    "developer console open.",
    "The server names its events (`event: notify`): `onmessage` only sees events without a name. "
    "`event.data` is a string: it holds JSON.",
    "One new element per message in #notifications, its text set as text: a message is text from anyone, "
    "and markup in it must show as typed, not run.",
])
def check_4_5(answer: Answer) -> None:
    page = answer.value("INDEX_HTML")
    if isinstance(page, bytes):
        page = page.decode("utf-8")
    assert isinstance(page, str), f"INDEX_HTML should be the page's HTML, a str; it is {type(page).__name__}"
    if not _script_code(page):
        raise NotImplementedError  # the skeleton's <script> holds only comments
    from labs.harness.redis_server import RedisServer

    rng = random.Random()
    flag = f"sseKitProbe{secrets.token_hex(4)}"
    texts = [random_text(rng), f'<img src="x-{secrets.token_hex(2)}" onerror="window.{flag}=1">',
             random_text(rng), f"Tom & Jerry's \"{secrets.token_hex(2)}\" café"]
    rng.shuffle(texts)
    with RedisServer(private=True) as redis_server, _page_server(page, redis_server.url) as url, \
            browser_for_check("your page") as browser:
        client = redis_server.client()
        try:
            tab = browser.new_page()
            errors: list[str] = []
            tab.on("pageerror", lambda error: errors.append(str(error)))
            tab.goto(url + "/", wait_until="load", timeout=10_000)
            _wait_for_listener(client, errors)
            import requests

            for text in texts:
                requests.post(url + "/send_notification", json={"message": text}, timeout=10).raise_for_status()
            seen = _read_page(tab, len(texts))
            probe_fired = bool(tab.evaluate(f"() => window.{flag} === 1"))
            _judge_page(seen, texts, probe_fired, errors)
        finally:
            client.close()
