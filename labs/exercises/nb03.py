"""Checks for notebook 03 (Blueprints, and the flask-sse Blueprint on Redis).

3.2 and 3.3 bring their own Redis (private, so nothing else on it counts) and their own
``sse_blueprint`` lab, open real streams on channels with made-up names, and stop it all
in ``finally`` without waiting on anything the answer may have broken.
"""

from __future__ import annotations

import json
import random
import secrets
import time
from contextlib import ExitStack, contextmanager

from labs.exercises import Answer, exercise
from labs.exercises.remote import RemoteObject
from labs.exercises.support import lab_in_thread

# ------------------------------------------------------------------ Exercise 3.1


@exercise("3.1", hints=[
    "Look at the URLs your app ends up with: after registering, `app.url_map` lists them all.",
    "A blueprint's routes are written without the prefix: the app puts the prefix in front when it "
    "registers the blueprint, whatever prefix that is.",
    "`Blueprint(name, import_name)`: the first argument is the blueprint's name, which its endpoint "
    "names start with.",
])
def check_3_1(answer: Answer) -> None:
    make_admin_blueprint = answer.function("make_admin_blueprint")
    bp = make_admin_blueprint()
    assert isinstance(bp, RemoteObject) and bp.is_a("flask.blueprints.Blueprint"), (
        f"make_admin_blueprint should return a flask.Blueprint, not {bp!r}")
    assert bp.name == "admin", f"the blueprint's name should be 'admin', not {bp.name!r}"
    prefix = f"/{random.choice(['admin', 'staff', 'backoffice', 'ops'])}-{secrets.token_hex(2)}"
    app = answer.inside("mount_blueprint", bp, prefix, "exercise_3_1")  # a fresh app, in the answer's sandbox
    urls = sorted(rule for rule, endpoint, _methods in answer.inside("url_rules", app) if endpoint != "static")
    client = answer.test_client(app)
    for route, text in [("/users", "Users"), ("/reports", "Reports")]:
        response = client.get(prefix + route)
        assert response.status_code == 200, (
            f"registered under the prefix {prefix!r}, GET {prefix}{route} answered {response.status_code}; "
            f"the app's URLs are {urls}")
        body = response.get_data(as_text=True)
        assert body == text, f"GET {prefix}{route} should answer the text {text!r}, not {body[:100]!r}"
        assert client.get(route).status_code == 404, (
            f"{route} without the prefix should not exist; the app's URLs are {urls}")


# ------------------------------------------------------------------ shared by 3.2 and 3.3

@contextmanager
def redis_and_lab(stack: ExitStack):
    """A private Redis, and (on ``lab()``) an ``sse_blueprint`` lab on it, served from this process."""
    from labs.harness.redis_server import RedisServer

    server = stack.enter_context(RedisServer(private=True))
    client = server.client()
    stack.callback(client.close)

    def lab():
        return stack.enter_context(lab_in_thread("sse_blueprint", {"REDIS_URL": server.url, "KEEPALIVE_SECONDS": 0}))

    yield server.url, client, lab


def open_streams(stack: ExitStack, lab, channel: str, count: int) -> list:
    from labs.harness.client import EventStream

    streams = [EventStream(f"{lab.url}/stream?channel={channel}", wait_connected=False) for _ in range(count)]
    for stream in streams:
        stack.callback(stream.close)  # hangs up at once, even before any headers came
    return streams


def wait_for_counts(client, counts: dict[str, int], timeout: float = 10.0) -> None:
    """Wait until Redis counts exactly these subscribers (flask-sse subscribes a moment late)."""
    deadline = time.monotonic() + timeout
    while dict(client.pubsub_numsub(*counts)) != counts:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the check's own readers did not all subscribe: {client.pubsub_numsub(*counts)}")
        time.sleep(0.02)


def _token() -> str:
    return secrets.token_hex(2)


# ------------------------------------------------------------------ Exercise 3.2

def _compare_audience(got, expected: dict[str, int], prefix: str) -> None:
    assert isinstance(got, dict), f"audience should return a dict of channel -> count, not a {type(got).__name__}"
    keys = list(got)
    assert not any(isinstance(key, bytes) for key in keys), (
        f"your channel names are bytes ({keys[:3]!r}...): redis-py answers bytes unless the client is "
        "made with decode_responses=True; the dict's keys should be str")
    extra = sorted(set(got) - set(expected))
    assert not extra, (
        f"{extra} should not be in the answer: only channels whose name starts with {prefix!r} and that "
        "have a subscriber right now belong there")
    missing = sorted(set(expected) - set(got))
    assert not missing, f"channels with subscribers are missing from your answer: {missing}"
    for channel, count in expected.items():
        assert got[channel] == count and isinstance(got[channel], int), (
            f"Redis counts {count} subscriber(s) on {channel!r}; your answer says {got[channel]!r}")


@exercise("3.2", hints=[
    "Two questions for Redis: which channels have subscribers right now, and how many each has. "
    "Section 4 shows the PUBSUB commands that answer them.",
    "redis-py names those methods after the commands (`pubsub_...`). PUBSUB CHANNELS takes a "
    "glob-style pattern, and PUBSUB NUMSUB takes several channels at once.",
    "redis-py answers bytes unless the client is made with `decode_responses=True`: the dict's keys "
    "should be str and its values int. Close the client you open.",
])
def check_3_2(answer: Answer) -> None:
    audience = answer.function("audience")
    prefix = f"room-{_token()}:"
    with ExitStack() as stack, redis_and_lab(stack) as (url, client, start):
        _compare_audience(audience(url, prefix), {}, prefix)  # nobody listens yet (a stub stops here)
        lab = start()
        expected = {f"{prefix}{name}": random.randint(1, 3) for name in random.sample(
            ["news", "alerts", "ops", "chat", "jobs"], 3)}
        decoys = {f"other-{_token()}": 2, f"x{prefix}y": 1, "sse": 1}
        for channel, count in {**expected, **decoys}.items():
            open_streams(stack, lab, channel, count)
        # A subscriber that is not a browser's stream counts just the same.
        spy = client.pubsub()
        stack.callback(spy.close)
        late = f"{prefix}late-{_token()}"
        wait_for_counts(client, {**expected, **decoys})
        _compare_audience(audience(url, prefix), expected, prefix)
        spy.subscribe(late)
        wait_for_counts(client, {late: 1})
        _compare_audience(audience(url, prefix), {**expected, late: 1}, prefix)


# ------------------------------------------------------------------ Exercise 3.3

def _why_no_event(published: str) -> str:
    try:
        shape = json.loads(published)
    except ValueError:
        return (f"you published {published[:200]!r}, which is not JSON, and flask-sse's stream reads "
                "every Redis message as JSON")
    return (f"you published {published[:200]!r}, and flask-sse's stream made no event of it. It expects "
            f"the JSON object sse.publish writes (look at what the spy received in section 4)"
            f"{'' if isinstance(shape, dict) else ', and yours is not even an object'}")


def _check_event(stream, message: str, published: str) -> None:
    try:
        (event,) = stream.wait_for(1, timeout=5)
    except TimeoutError:
        raise AssertionError("the stream dispatched no event: " + _why_no_event(published)) from None
    assert event.type == "notify", (
        f"the event's type is {event.type!r}, not 'notify' (you published {published[:200]!r})")
    try:
        data = json.loads(event.data)
    except ValueError:
        data = None
    assert data == {"message": message}, (
        f"the event's data is {event.data[:200]!r}; it should be the JSON object {{\"message\": ...}} "
        f"carrying the message (you published {published[:200]!r})")


def _published(spy, channel: str) -> str:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        item = spy.get_message(timeout=0.5)
        if item and item["type"] == "pmessage":
            assert item["channel"] == channel, (
                f"you published on the channel {item['channel']!r}; the readers listen on {channel!r}")
            return item["data"]
    raise AssertionError(f"nothing was published on Redis: publish on the channel {channel!r} "
                         "of the Redis at the URL you are given")


@exercise("3.3", hints=[
    "Subscribe to the channel yourself, as the spy in section 4 did, and look at exactly what "
    "`sse.publish` puts there.",
    "flask-sse's stream reads each Redis message as JSON with the keys it wrote itself: one becomes "
    "the event's name, the other its data.",
    "Redis's PUBLISH answers how many subscribers received the message, and redis-py's `publish` "
    "returns that number.",
])
def check_3_3(answer: Answer) -> None:
    push = answer.function("push")
    channel = f"jobs-{_token()}"
    message = f'Report <b>"Q{random.randint(1, 4)}"</b> ready\nid: {_token()}\n\nevent: fake ✓'
    with ExitStack() as stack, redis_and_lab(stack) as (url, client, start):
        quiet = push(url, "nobody listens yet", channel)  # a stub stops here, before any lab starts
        assert quiet == 0, f"with nobody subscribed PUBLISH returns 0; your push returned {quiet!r}"
        lab = start()
        readers = open_streams(stack, lab, channel, random.randint(1, 3))
        bystander = open_streams(stack, lab, "sse", 1)[0]
        spy = client.pubsub()
        stack.callback(spy.close)
        spy.psubscribe("*")  # sees whatever is published, on any channel
        wait_for_counts(client, {channel: len(readers), "sse": 1})
        spy.get_message(timeout=1)  # the psubscribe confirmation
        receivers = push(url, message, channel)
        published = _published(spy, channel)
        expected = len(readers) + 1
        assert receivers == expected, (
            f"return what PUBLISH returns: Redis handed your message to {expected} subscribers here "
            f"({len(readers)} streams and the check's own listener); you returned {receivers!r}")
        for reader in readers:
            _check_event(reader, message, published)
        assert not bystander.events, "a reader on the default channel 'sse' received your message too"
