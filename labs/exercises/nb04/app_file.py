"""Exercise 4.4: the student's ``app.py``. First the file itself (its stubs replaced, one Flask app
with flask-sse's Blueprint at /stream, POST /send_notification and GET /manual-stream), then the
file run as ``python app.py`` with a private Redis, asked over HTTP (:mod:`.app_requests`) and
read by several streams at once (:mod:`.app_streams`)."""

from __future__ import annotations

import ast
import random

from labs.exercises import Answer, exercise
from labs.exercises.nb04.app_requests import (
    check_local_only,
    check_publishes,
    check_readers_leave,
    check_refuses_empty,
)
from labs.exercises.nb04.app_streams import ChannelWatch, check_streams
from labs.exercises.remote import RemoteObject
from labs.exercises.support import random_text

_STUBS_4_4 = 3  # `raise NotImplementedError` lines in the notebook's app.py skeleton
_PAGE = "<!DOCTYPE html><title>page</title><ul id='notifications'></ul>\n"


def _stubs_left(source: str, total: int) -> None:
    """NotImplementedError when no stub was replaced; AssertionError naming a stub still left."""
    lines = sorted(node.lineno for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Raise)
                   and node.exc is not None and "NotImplementedError" in ast.unparse(node.exc))
    if len(lines) >= total:
        raise NotImplementedError
    if lines:
        raise AssertionError(f"line {lines[0]} of your file still raises NotImplementedError: replace it too")


def _flask_app(answer: Answer):
    apps = [value for value in map(answer.get, answer.names())
            if isinstance(value, RemoteObject) and value.is_a("flask.app.Flask")]
    assert len(apps) == 1, f"your file should make one Flask app (app = Flask(__name__)); it makes {len(apps)}"
    return apps[0]


def _check_routes(answer: Answer, app) -> None:
    rules = [(rule, endpoint, set(methods)) for rule, endpoint, methods in answer.inside("url_rules", app)]
    uses = answer.inside("flask_sse_views", app)  # endpoint -> "blueprint", "uses" or ""
    mounted = [rule for rule, endpoint, _ in rules if uses.get(endpoint) == "blueprint"]
    assert mounted, "register flask-sse's Blueprint (`sse`) on your app, as the notes do"
    assert "/stream" in mounted, f"flask-sse's Blueprint answers at {mounted[0]}; mount it at /stream"
    by_path = {rule: (endpoint, methods) for rule, endpoint, methods in rules}
    send = by_path.get("/send_notification")
    assert send is not None and "POST" in send[1], "your app needs a route POST /send_notification"
    manual = by_path.get("/manual-stream")
    assert manual is not None and "GET" in manual[1], "your app needs a route GET /manual-stream"
    assert not uses.get(manual[0]), (
        "GET /manual-stream should stream without flask-sse: a Response built from a generator of your own "
        "(it uses flask-sse's stream/messages)")



@exercise("4.4", hints=[
    "Do the skeleton's numbered steps in order, and run your file from a terminal as section 8 shows: a "
    "traceback there tells you more than any check.",
    "flask-sse only serves /stream. Your /manual-stream needs each message too, so POST /send_notification "
    "must also hand it to every open manual stream: one queue per reader, as in section 3 and exercise 4.2.",
    "The manual route returns a Response built from a generator, with the event-stream mimetype; the "
    "generator registers its queue, yields one notify event per message and unregisters in `finally`. The "
    "port arrives as text in the environment.",
], timeout=90)
def check_4_4(answer: Answer) -> None:
    from labs.exercises.apps import run_app
    from labs.harness.redis_server import RedisServer

    _stubs_left(answer.source, _STUBS_4_4)
    _check_routes(answer, _flask_app(answer))
    rng = random.Random()
    with RedisServer(private=True) as redis_server:
        watch = ChannelWatch(redis_server)
        try:
            with run_app(answer.source, env={"REDIS_URL": redis_server.url},
                         files={"templates/index.html": _PAGE}) as app:
                check_local_only(app)
                check_publishes(app, random_text(rng))
                check_refuses_empty(app)
                check_streams(app, watch, rng)
                check_readers_leave(app, rng)
        finally:
            watch.close()
