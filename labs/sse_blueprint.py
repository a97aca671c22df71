"""Lab ``sse_blueprint``: the course's notification system, built on flask-sse's Blueprint.

::

    app.register_blueprint(sse, url_prefix="/stream")      # GET /stream[?channel=NAME]
    POST /send_notification[?channel=NAME]  {"message": "..."}  -> sse.publish(..., type="notify")
    GET  /stats[?channel=NAME]              {"clients": N, ...} (PUBSUB NUMSUB: every process)

flask-sse does the streaming; Redis pub/sub carries every message from the process that
publishes it to every process that holds a stream open, so several server processes (or
gunicorn workers) sharing one Redis behave as one server.

What this module adds around flask-sse, and why:

- every input is validated (``labs.core.notify.read_notification``) before anything is published;
- Redis being down is a clear ``503`` JSON answer, not a stack trace, and the lab recovers by
  itself when Redis comes back (nothing is cached about the connection);
- a stream whose Redis connection breaks ends cleanly, so the browser's ``EventSource``
  reconnects instead of showing a half-dead stream;
- a heartbeat every ``KEEPALIVE_SECONDS`` (15; 0 turns it off): flask-sse's stream only
  notices that its reader left when it next writes, so without one a closed tab keeps its
  thread (or greenlet) and Redis subscription, and ``/stats`` keeps counting it, until the
  next message on its channel.  The lab publishes a heartbeat event on every channel this
  process streams, and turns it into a comment (``: keep-alive``) on the way out, so pages
  never see it; writing it is what frees a departed reader.

What flask-sse itself does not do (no event ids, no keep-alive, no ``Last-Event-ID`` replay,
no headers before the first event, subscriptions that outlive their reader) is left as it
is otherwise: notebook 03 measures it (with the heartbeat off) and notebook 04 builds each
piece by hand.
"""

from __future__ import annotations

import collections
import json
import logging
import re
import threading
import time
from dataclasses import dataclass
from typing import Any

import redis
from flask import Blueprint, Flask, current_app, jsonify, request
from flask_sse import sse
from redis.backoff import NoBackoff
from redis.retry import Retry

from labs.core.errors import REDIS_DOWN, ApiError
from labs.core.notify import read_notification
from labs.core.sse import keep_alive
from labs.core.webapp import create_lab_app

log = logging.getLogger("labs.sse_blueprint")

# flask-sse's own default channel: a stream without ``?channel=`` listens here.
DEFAULT_CHANNEL = "sse"
# Channel names become Redis channel names and appear in URLs: keep them short and plain
# so a typo or a hostile value is refused with a clear 400, not silently subscribed.
CHANNEL_PATTERN = re.compile(r"[A-Za-z0-9_.:-]{1,64}")

KEEPALIVE_SECONDS = 15.0
# The heartbeat's event type.  flask-sse writes it as "event:<type>"; the lab's stream
# wrapper swaps that block for a comment, so no page or reader ever dispatches it.
HEARTBEAT_TYPE = "sse-kit-heartbeat"
HEARTBEAT_BLOCK_START = f"event:{HEARTBEAT_TYPE}\n"


class Heartbeat:
    """Every ``interval`` seconds, a heartbeat on each channel this process streams.

    One thread (a greenlet under gevent) per process, started with the first stream;
    channels with no open stream here get none.  Readers on other processes receive it
    too, which is harmless: to them it is one more comment.
    """

    def __init__(self, url: str, interval: float) -> None:
        self.url = url
        self.interval = interval
        self._open: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def add(self, channel: str) -> None:
        with self._lock:
            self._open[channel] += 1
            if self.interval > 0 and self._thread is None:
                self._thread = threading.Thread(target=self._run, name="sse_blueprint-heartbeat", daemon=True)
                self._thread.start()

    def discard(self, channel: str) -> None:
        with self._lock:
            self._open[channel] -= 1
            if self._open[channel] <= 0:
                del self._open[channel]

    def _run(self) -> None:
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1, socket_timeout=2,
                                      retry=Retry(NoBackoff(), 0))
        # flask-sse's own JSON ({"data": ..., "type": ...}); empty data keeps it small.
        beat = json.dumps({"data": "", "type": HEARTBEAT_TYPE})
        while True:
            time.sleep(self.interval)
            with self._lock:
                channels = list(self._open)
            for channel in channels:
                try:
                    client.publish(channel, beat)
                except redis.RedisError:
                    break  # Redis is down: its streams end by themselves; try next time


@dataclass(eq=False)
class SseBlueprint:
    """Everything the lab keeps between requests: ``app.extensions["sse_blueprint"]``."""

    redis_url: str
    heartbeat: Heartbeat
    _quick_redis: redis.Redis | None = None

    def quick_redis(self) -> redis.Redis:
        """One client for health checks and counts: it fails at once, never retries.

        flask-sse's own client retries with back-off, which would keep a request waiting
        seconds before answering 503.  The connection pool reconnects on its own when Redis
        is back, so nothing needs resetting after an outage.
        """
        if self._quick_redis is None:
            self._quick_redis = redis.Redis.from_url(self.redis_url, socket_connect_timeout=1, socket_timeout=2,
                                                     retry=Retry(NoBackoff(), 0))
        return self._quick_redis


def lab() -> SseBlueprint:
    return current_app.extensions["sse_blueprint"]


def channel_from_request() -> str:
    """``?channel=`` (flask-sse's own query parameter), checked; ``sse`` if absent."""
    channel = request.args.get("channel") or DEFAULT_CHANNEL
    if not CHANNEL_PATTERN.fullmatch(channel):
        raise ApiError(400, "invalid channel",
                       "a channel name is 1 to 64 letters, digits, '_', '.', ':' or '-'")
    return channel


def ensure_redis() -> None:
    try:
        lab().quick_redis().ping()
    except redis.RedisError:
        raise ApiError(503, REDIS_DOWN, "no answer from Redis; the lab keeps running and "
                       "recovers when Redis is back") from None


def _lab_stream(chunks, heartbeat: Heartbeat, channel: str):
    """Pass flask-sse's stream through, with the heartbeat as a comment; end it quietly if
    its Redis connection breaks.

    A cleanly ended stream makes EventSource reconnect (after ``retry`` ms), and the next
    connection gets a clear 503 while Redis is still down.  Closing this generator closes
    flask-sse's (the ``finally``), which then unsubscribes.
    """
    heartbeat.add(channel)
    try:
        for chunk in chunks:
            text = chunk.decode() if isinstance(chunk, bytes) else chunk
            yield keep_alive() if text.startswith(HEARTBEAT_BLOCK_START) else chunk
    except redis.RedisError:
        log.warning("a stream lost its Redis connection; ending it so the client reconnects")
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
        heartbeat.discard(channel)


# The lab's own routes, and two hooks around flask-sse's (its Blueprint is ``sse``).
bp = Blueprint("sse_blueprint", __name__)


@bp.before_app_request
def refuse_streams_without_redis():
    # Only the Blueprint's requests: flask-sse would otherwise start a 200 response and
    # fail inside the generator, where no error handler can answer with JSON.
    if request.blueprint == sse.name:
        channel_from_request()
        ensure_redis()


@bp.after_app_request
def end_stream_cleanly(response):
    if request.blueprint == sse.name and response.is_streamed:
        response.response = _lab_stream(response.response, lab().heartbeat, channel_from_request())
        # A proxy that buffers or caches the stream would hold every event back.
        response.headers["Cache-Control"] = "no-cache"
        response.headers["X-Accel-Buffering"] = "no"
    return response


@bp.post("/send_notification")
def send_notification():
    message = read_notification()  # every 4xx is decided here, before publishing
    channel = channel_from_request()
    ensure_redis()
    try:
        # flask-sse's publish: JSON {"data": ..., "type": "notify"} on the Redis channel.
        receivers = sse.publish({"message": message}, type="notify", channel=channel)
    except redis.RedisError:
        log.warning("publish failed: Redis at %s went away", lab().redis_url)
        raise ApiError(503, REDIS_DOWN, "the notification was not sent; try again when Redis is back") from None
    # receivers: how many streams (in every process) Redis handed the message to.
    return jsonify(status="success", message="Notification sent", channel=channel, receivers=receivers)


@bp.get("/stats")
def stats():
    channel = channel_from_request()
    ensure_redis()
    try:
        counts = dict(lab().quick_redis().pubsub_numsub(channel))
    except redis.RedisError:
        raise ApiError(503, REDIS_DOWN, "cannot count subscribers") from None
    # NUMSUB counts every subscriber Redis knows, so the number covers all server
    # processes; it also counts flask-sse subscriptions whose reader has left and that
    # linger until the next publish on the channel.
    clients = int(counts.get(channel.encode(), counts.get(channel, 0)))
    return jsonify(clients=clients, channel=channel)  # this process's stream capacity: GET /capacity


# --------------------------------------------------------------------------- for readers of the lab

def wait_for_subscribers(url: str, count: int, channel: str = DEFAULT_CHANNEL, timeout: float = 5.0) -> int:
    """Wait until Redis at ``url`` counts at least ``count`` subscribers on ``channel``.

    flask-sse subscribes only when its generator first runs and sends no response headers
    until the first event, so "the reader is connected" cannot be seen from the client:
    ask Redis (``PUBSUB NUMSUB``) instead before publishing.  Returns the count seen.
    """
    client = redis.Redis.from_url(url)
    try:
        deadline = time.monotonic() + timeout
        while True:
            seen = subscribers(client, channel)
            if seen >= count:
                return seen
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{seen} subscriber(s) on channel {channel!r}, expected {count}")
            time.sleep(0.02)
    finally:
        client.close()


def subscribers(client: redis.Redis, channel: str = DEFAULT_CHANNEL) -> int:
    """``PUBSUB NUMSUB channel`` as a number."""
    ((_name, count),) = client.pubsub_numsub(channel)
    return int(count)


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = create_lab_app("sse_blueprint", config)
    if not app.config.get("REDIS_URL") and not app.config.get("SSE_REDIS_URL"):
        raise RuntimeError("lab sse_blueprint needs REDIS_URL in its config "
                           "(`python -m labs run sse_blueprint` starts a private Redis for it)")
    # flask-sse's ready-made route pack: its one view answers GET at the prefix itself.
    app.register_blueprint(sse, url_prefix="/stream")
    url = app.config.get("SSE_REDIS_URL") or app.config["REDIS_URL"]
    app.extensions["sse_blueprint"] = SseBlueprint(
        url, Heartbeat(url, float(app.config.get("KEEPALIVE_SECONDS", KEEPALIVE_SECONDS))))
    app.register_blueprint(bp)
    return app
