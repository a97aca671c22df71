"""Checks for notebook 10 (through a proxy).

10.1: the student's ``location`` block goes into a real nginx config whose ``http`` block
compresses ``application/json`` and ``text/event-stream`` (``gzip on``) and ignores the lab's
``X-Accel-Buffering`` header, with an upstream (a name the student has not seen) that keeps a
pool of idle connections to the lab.  Like many sites' configs, that ``http`` block also sets a
short ``proxy_read_timeout`` (shorter than the keep-alive interval the check picks) and, for
WebSocket apps, ``Connection: close`` on every other request to the lab: so the block itself
must keep a quiet stream open and the lab's connections reusable (nginx 1.31's own defaults,
60 s and no ``Connection`` header, would meet both without the block doing anything).  In
front of a real ``manual_sse`` lab under gunicorn (which, unlike the development server, keeps
connections open), behind a relay in this process that counts the connections nginx opens to
it (and notes each one's HTTP version and ``Connection`` header), the check measures, in order: that
nginx accepts the config (``nginx -t``; its complaint becomes a sentence), that the lab's
JSON still comes compressed, that nginx reuses its connections to the lab, that events
arrive live, and that a stream stays open through a silence longer than the lab's keep-alive
interval (which the check picks, and passes to the student's function).

10.2: a prediction (literals) about three configs, judged against what the notebook measured.
The check also runs the three for real (the runtime's ``start_proxy``); if this nginx ever
behaved otherwise, the check says so instead of judging.  A wrong try is told how many
predictions are wrong, not which (each is one of two words: naming it would give it away).
"""

from __future__ import annotations

import logging
import os
import random
import re
import secrets
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from labs.exercises import Answer, exercise
from labs.exercises.support import random_text, require_predictions, run_with_limit, serve_wsgi

LIVE_WITHIN = 0.5  # seconds from publishing to arrival that still count as live
HELD_WAIT = 1.5  # seconds after the last publish that a reader waits for what is missing


# ------------------------------------------------------------------ shared: a lab and a reader

class _Lab:
    """A real manual_sse lab: ``url`` (where a proxy sends requests), ``accepted`` (connections
    made to it so far, if counted) and ``publish(message)``."""

    def __init__(self, url: str, publish_url: str | None = None, relay: _Relay | None = None) -> None:
        self.url = url
        self._publish_url = publish_url or url
        self._relay = relay

    @property
    def accepted(self) -> int:
        return self._relay.opened if self._relay else 0

    @property
    def firsts(self) -> list[tuple[str, str]]:
        return self._relay.firsts if self._relay else []

    def publish(self, message: str) -> float:
        """POST the message straight to the lab; returns when it was published (monotonic)."""
        import requests

        sent = time.monotonic()
        answer = requests.post(self._publish_url + "/send_notification", json={"message": message}, timeout=5)
        answer.raise_for_status()
        return sent


class _Relay:
    """A TCP relay in front of the lab that counts the connections made through it (how many
    connections nginx opened to the lab), and notes how the first request on each one was sent:
    its HTTP version and its ``Connection`` header (``firsts``)."""

    def __init__(self) -> None:
        self.target: tuple[str, int] | None = None  # the lab's address, once it is up
        self.opened = 0
        self.firsts: list[tuple[str, str]] = []  # (HTTP version, Connection header or "") per connection
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=256)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            self.opened += 1
            threading.Thread(target=self._join, args=(client,), daemon=True).start()

    def _join(self, client: socket.socket) -> None:
        try:
            server = socket.create_connection(self.target, timeout=5)
        except (OSError, TypeError):  # TypeError: no lab yet
            client.close()
            return
        server.settimeout(None)
        try:
            first = client.recv(65536)
            server.sendall(first)
        except OSError:
            first = b""
        self.firsts.append(_how_sent(first))
        back = threading.Thread(target=_pump, args=(server, client), daemon=True)
        back.start()
        _pump(client, server)
        back.join()
        client.close()
        server.close()

    def close(self) -> None:
        self._listener.close()


def _how_sent(head: bytes) -> tuple[str, str]:
    """(HTTP version, Connection header) of the request whose start is ``head``."""
    lines = head.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    version = lines[0].rsplit(" ", 1)[-1] if lines[0].count(" ") >= 2 else "?"
    connection = next((line.split(":", 1)[1].strip() for line in lines[1:]
                       if line.lower().startswith("connection:")), "")
    return version, connection


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        try:
            sink.shutdown(socket.SHUT_WR)  # pass the end on
        except OSError:
            pass


@contextmanager
def _gunicorn_lab(config: dict, relay: _Relay) -> Iterator[_Lab]:
    """manual_sse under gunicorn (gevent), as in production: unlike the development server,
    it keeps idle connections open for a next request.  ``relay`` (in front) counts them."""
    from labs.harness.launcher import start_lab

    with start_lab("manual_sse", config=config, workers=1) as lab:
        host, port = lab.url.split("//")[1].rsplit(":", 1)
        relay.target = (host, int(port))
        yield _Lab(relay.url, lab.url, relay)


@contextmanager
def _serve_lab(config: dict) -> Iterator[_Lab]:
    """manual_sse from threads of this process (the development server: quick to start)."""
    from labs.harness.registry import get_lab

    app = get_lab("manual_sse").module().create_app({"GOODBYE_ON_SIGTERM": False, **config})
    with serve_wsgi(app, logging.CRITICAL) as url:
        yield _Lab(url)


def _race(lab: _Lab, url: str, *, count: int = 3, gap: float = 0.25):
    """Read ``url``'s stream (asking for gzip, as browsers do) while ``count`` made-up messages
    are published ``gap`` s apart.  Returns (reader, delays): each message's delay from publish
    to arrival, None if it never came.  The reader is left open."""
    from labs.harness.stream_timing import TimedStream

    reader = TimedStream(url + "/stream", accept_gzip=True)
    reader.wait_headers(1.0)  # a proxy that holds the stream sends no headers: don't wait long
    time.sleep(0.2)  # let the proxy's connection to the lab settle before publishing
    messages = [f"{random_text()} #{n}" for n in range(count)]
    published = {}
    for message in messages:
        published[message] = lab.publish(message)
        time.sleep(gap)
    reader.wait_until(lambda r: all(m in r.messages for m in messages), HELD_WAIT)
    arrived = _arrivals(reader)
    return reader, [arrived[m] - published[m] if m in arrived else None for m in messages]


def _arrivals(reader) -> dict[str, float]:
    """Each notify message the reader got -> when it arrived."""
    return {a.event.json().get("message"): a.at for a in list(reader.arrivals) if a.event.type == "notify"}


def _describe(reader, delays: list) -> str:
    """What a reader got, in words: "live" or what went wrong."""
    first = reader.connections[0]
    came = [d for d in delays if d is not None]
    if first.headers_at is not None and first.status != 200:
        return f"the stream was answered {first.status} {first.headers.get('Content-Type', '')}".strip()
    if not came:
        headers = "" if first.headers_at is not None else ", not even the response headers"
        return (f"held: none of the {len(delays)} events the lab wrote reached the reader within "
                f"{HELD_WAIT:g} s of the last{headers} ({reader.wire_bytes} bytes in all)")
    if len(came) < len(delays):
        return f"only {len(came)} of the {len(delays)} events the lab wrote arrived"
    late = [(n, d) for n, d in enumerate(delays, 1) if d > LIVE_WITHIN]
    if late:
        n, d = late[0]
        return (f"event {n} of {len(delays)} arrived {d:.2f} s after the lab wrote it "
                f"(live means within {LIVE_WITHIN:g} s)")
    return "live"


# ------------------------------------------------------------------ 10.1: the student's block in nginx

SITE_READ_TIMEOUT = 2  # seconds: the http block's proxy_read_timeout, shorter than every keep-alive interval
KEEPALIVE_CHOICES = (3, 4)  # the lab's keep-alive intervals the check picks from

CONFIG_10_1 = """\
# nginx.conf for exercise 10.1: a proxy that compresses streams and ignores X-Accel-Buffering.
daemon off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log stderr warn;

events {{
    worker_connections 256;
}}

http {{
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/client_body_temp;
    proxy_temp_path {prefix}/proxy_temp;
    fastcgi_temp_path {prefix}/fastcgi_temp;
    uwsgi_temp_path {prefix}/uwsgi_temp;
    scgi_temp_path {prefix}/scgi_temp;

    gzip on;
    gzip_types application/json text/event-stream;
    proxy_ignore_headers X-Accel-Buffering;     # this proxy does not obey the lab's header
    proxy_read_timeout {read_timeout}s;                   # shorter than the check's keep-alive interval
    map $http_upgrade $connection_upgrade {{    # Connection: close to the lab, except for a WebSocket
        default upgrade;
        ''      close;
    }}
    proxy_set_header Upgrade $http_upgrade;
    proxy_set_header Connection $connection_upgrade;

    upstream {upstream} {{
        server {lab};
        keepalive 8;                            # idle connections kept open to the lab
    }}

    server {{
        listen {listen};
        location = /nginx-ready {{ return 204; }}   # the check's own: is nginx up?

{block}
    }}
}}
"""


class NginxRefused(Exception):
    """``nginx -t`` refused the config: ``args[0]`` is what it said."""


@contextmanager
def _nginx(config: Callable[[str, str], str]) -> Iterator[str]:
    """A private nginx running ``config(listen, prefix)``; yields its URL.

    As the runtime's proxy does (labs.harness.nginx): a private directory, nginx in the
    foreground under the watchdog, and the listening socket bound here and handed over."""
    import requests

    from labs.harness.nginx import find_nginx
    from labs.harness.processes import ManagedProcess, python_argv, wait_until

    binary = find_nginx()
    with tempfile.TemporaryDirectory(prefix="sse-kit-exercise-nginx-") as prefix:
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            os.chmod(prefix, 0o711)  # root's nginx runs its worker as nobody
        conf = Path(prefix) / "nginx.conf"
        sock = socket.create_server(("127.0.0.1", 0), backlog=256)
        try:
            url = f"http://127.0.0.1:{sock.getsockname()[1]}"
            conf.write_text(config(f"127.0.0.1:{sock.getsockname()[1]}", prefix))
            tested = subprocess.run([binary, "-t", "-q", "-p", prefix, "-c", str(conf), "-e", "stderr"],
                                    capture_output=True, text=True, timeout=15)
            if tested.returncode != 0:
                raise NginxRefused(tested.stderr.replace(str(conf), "nginx.conf"))
            fd = sock.fileno()
            process = ManagedProcess(
                python_argv("-m", "labs.harness.watchdog", "--pass-fd", str(fd), "--",
                            binary, "-p", prefix, "-c", str(conf), "-e", "stderr"),
                env={**os.environ, "NGINX": f"{fd};"}, pass_fds=(fd,))
        finally:
            sock.close()
        try:
            def ready() -> bool:
                try:
                    return requests.get(url + "/nginx-ready", timeout=1).status_code == 204
                except requests.RequestException:
                    return process.alive() is False

            if not wait_until(ready, 10) or not process.alive():
                raise RuntimeError(f"nginx did not start: {process.log.strip()[-300:]}")
            yield url
        finally:
            process.stop()


def _nginx_says(refusal: str, block_starts: int, block_lines: int) -> str:
    """nginx -t's complaint as a sentence, with the line counted in the student's block."""
    lines = [line for line in refusal.splitlines() if re.search(r"\[(emerg|alert|crit|error)\]", line)]
    first = lines[0] if lines else refusal.strip() or "no reason given"
    what = re.sub(r"^.*?\[(emerg|alert|crit|error)\] (\d+#\d+: )?", "", first)
    where = re.search(r" in nginx\.conf:(\d+)$", what)
    if where:
        number = int(where.group(1)) - block_starts
        what = what[:where.start()]
        if 1 <= number <= block_lines:
            what += f" (nginx stopped at line {number} of your block)"
    return f"nginx refused the config with your block in it: {what}"


def _config_for(block: str, upstream: str, lab_url: str) -> tuple[Callable[[str, str], str], int]:
    """The config around ``block`` (for _nginx), and the config line just before the block."""
    indented = "\n".join("        " + line if line.strip() else "" for line in block.strip("\n").splitlines())

    def config(listen: str, prefix: str) -> str:
        return CONFIG_10_1.format(prefix=prefix, upstream=upstream, lab=lab_url.split("//")[1],
                                  listen=listen, block=indented, read_timeout=SITE_READ_TIMEOUT)

    before = CONFIG_10_1.split("{block}")[0].count("\n")
    return config, before


def _check_json(url: str, lab: _Lab) -> None:
    """The lab's JSON through the block: answered, still compressed, over reused connections."""
    import requests

    session = requests.Session()
    try:
        first = session.get(url + "/stats", timeout=5)
    except requests.RequestException as exc:
        raise AssertionError(f"GET /stats through your block did not answer ({type(exc).__name__})") from None
    if first.status_code != 200 or "clients" not in first.text:
        raise AssertionError(f"GET /stats through your block answered {first.status_code}, not the lab's JSON: "
                             "does your block pass every request to the upstream it was given?")
    assert first.headers.get("Content-Encoding") == "gzip", (
        "the lab's JSON (GET /stats) came through your block uncompressed, although the server "
        "compresses application/json: your block switched gzip off for everything, not just the stream")
    before = lab.accepted
    for _ in range(10):
        session.get(url + "/stats", timeout=5).raise_for_status()
    opened = lab.accepted - before
    if opened > 3:
        versions = {version for version, _ in lab.firsts[before:]}
        closes = any(connection.lower() == "close" for _, connection in lab.firsts[before:])
        why = ("nginx spoke HTTP/1.0 to the lab, which ends a connection after one answer" if "HTTP/1.0" in versions
               else "nginx sent the lab `Connection: close` (the server's own proxy_set_header lines say so for "
                    "every request that is not a WebSocket handshake)" if closes
               else "a connection was ended after one answer")
        raise AssertionError(
            f"10 requests for /stats through your block opened {opened} new connections to the lab: nginx "
            f"closed each one after its answer instead of keeping it for the next, so the upstream's "
            f"`keepalive` pool stayed empty: {why}")


def _check_stream(url: str, lab: _Lab, keepalive: int) -> None:
    reader, delays = _race(lab, url, count=4)
    try:
        what = _describe(reader, delays)
        assert what == "live", f"through your block, {what}"
        quiet = keepalive + 0.8  # one keep-alive comment, and some room
        reader.wait_until(lambda r: r.connections[0].end is not None, quiet)
        first = reader.connections[0]
        if first.end is not None:
            after = first.ended_at - reader.arrivals[-1].at
            raise AssertionError(
                f"nginx cut the stream after {after:.1f} s of silence, before the lab's next keep-alive "
                f"comment (it sends one after {keepalive} s of silence): the read timeout that applies to "
                "your block is shorter than the keep-alive interval")
        comments = reader.raw.count(b": keep-alive")
        assert comments >= 1, (
            f"the stream stayed open through {quiet:.1f} s of silence, but the lab's keep-alive comments "
            f"(one every {keepalive} s) did not come through")
        last = f"after the silence: {random_text()}"
        sent = lab.publish(last)
        reader.wait_until(lambda r: last in r.messages, HELD_WAIT)
        arrived = _arrivals(reader).get(last)
        assert arrived is not None and arrived - sent <= LIVE_WITHIN, (
            "after a quiet spell the stream was still open, but the next event did not arrive live")
    finally:
        reader.close()


@exercise("10.1", hints=[
    "Read what the check says happened, then find the section of the notebook where the same thing "
    "happened on purpose: each fault there came with its fix.",
    "One block has three jobs here: the stream must not be held by gzip with buffering (section 3 names "
    "three ways out, and only the stream needs one), nginx's connections to the lab must be reusable "
    "(section 6), and a quiet stream must outlive the lab's keep-alive interval (section 4).",
    "Everything you need is in the config `start_proxy` printed in section 1: `proxy_pass http://` and the "
    "upstream you are given, `proxy_http_version`, `proxy_set_header Connection`, `proxy_buffering`, "
    "`proxy_read_timeout` (in whole seconds, e.g. `90s`). A `gzip_types` line inside the block replaces the "
    "server's list for that block.",
])
def check_10_1(answer: Answer) -> None:
    make_block = answer.function("lab_location")
    upstream = f"sse_nodes_{secrets.token_hex(3)}"
    keepalive = random.choice(KEEPALIVE_CHOICES)
    block = run_with_limit(make_block, upstream, keepalive, limit=5,
                           late="lab_location(...) did not return within 5 s: it only builds a string")
    assert isinstance(block, str), f"lab_location(...) should return the block as a str; it returned {block!r}"
    assert re.search(r"\blocation\b", block), (
        f"lab_location({upstream!r}, {keepalive}) should return a `location / {{ ... }}` block; it returned "
        f"{block.strip()[:80]!r}")
    relay = _Relay()  # nginx's upstream: the lab, through a relay that counts connections
    config, before = _config_for(block, upstream, relay.url)
    try:
        with _nginx(config) as url, _gunicorn_lab({"KEEPALIVE_SECONDS": keepalive, "RETRY_MS": 1000}, relay) as lab:
            _check_json(url, lab)
            _check_stream(url, lab, keepalive)
    except NginxRefused as refused:
        raise AssertionError(_nginx_says(refused.args[0], before, len(block.strip("\n").splitlines()))) from None
    finally:
        relay.close()


# ------------------------------------------------------------------ 10.2: predict which configs deliver live

EVENTS_10_2 = 3

# name: (what the notebook measured, proxies from the lab outwards as start_proxy settings, why)
CONFIGS_10_2 = {
    "A": ("live", [dict(http_version="1.0", honour_accel_buffering=False)],
          "one nginx that buffers (the lab's header ignored) but compresses nothing passes small events on "
          "as they come, over HTTP/1.0 as over 1.1 (sections 2 and 6)"),
    "B": ("held", [dict(buffering=False), dict(gzip=True)],
          "the inner nginx consumes the lab's X-Accel-Buffering, so the outer one buffers, and gzip with "
          "buffering at the same proxy holds everything (sections 3 and 5); the inner one's buffering "
          "does not matter"),
    "C": ("live", [dict(gzip=True), dict()],
          "the inner nginx obeys the lab's header: no buffering there, so its gzip flushes after every event; "
          "the outer one buffers but compresses nothing, and passes the compressed bytes on as they come"),
}


def _measure(settings: list[dict]) -> str:
    """Run the lab behind these proxies (the first next to the lab) and say how events arrived."""
    from labs.harness.nginx import start_proxy

    with _serve_lab({}) as lab, ExitStack() as proxies:
        upstream = lab.url
        for one in settings:
            upstream = proxies.enter_context(start_proxy(upstream, **one))
        reader, delays = _race(lab, upstream.url, count=EVENTS_10_2)
        reader.close()
    return _describe(reader, delays)


@exercise("10.2", hints=[
    "Go proxy by proxy, from the lab outwards, and ask at each one: does it buffer this response, does it "
    "compress it, and does it still see the lab's X-Accel-Buffering header?",
    "In this notebook only one thing held a stream: gzip for text/event-stream and buffering, together at "
    "the same proxy. Buffering alone, gzip without buffering, and the HTTP version towards the lab never "
    "did. And look at what section 5 found about the header on its way out of nginx.",
])
def check_10_2(answer: Answer) -> None:
    require_predictions(answer, CONFIGS_10_2)
    predicted = {}
    for name in CONFIGS_10_2:
        value = answer.literal(name)
        if not (isinstance(value, str) and value.strip().lower() in ("live", "held")):
            raise AssertionError(f'{name} should be "live" or "held"; it is {value!r}')
        predicted[name] = value.strip().lower()
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(len(CONFIGS_10_2)) as pool:  # three labs and their proxies at once
        measured = dict(zip(CONFIGS_10_2, pool.map(_measure, [c[1] for c in CONFIGS_10_2.values()]), strict=True))
    wrong = 0
    for name, (truth, _, _why) in CONFIGS_10_2.items():
        got = measured[name]
        if (got == "live") != (truth == "live") and (got == "live" or got.startswith("held")):
            raise RuntimeError(f"config {name} measured {got!r} here, but the notebook measured {truth}: this "
                               "nginx behaves differently from the one the exercise was written for")
        wrong += predicted[name] != truth
    # A nudge, not the answer: with two possible words, naming the wrong prediction would give it away.
    assert not wrong, (
        f"{wrong} of your {len(CONFIGS_10_2)} predictions {'is' if wrong == 1 else 'are'} not what happens (the "
        "check just ran all three paths): go through each path again, proxy by proxy, from the lab outwards")
