"""Serving one lab in this process: the development server, gunicorn with gevent, or uvicorn (ASGI labs).

Both servers are handed a socket this process has already bound, so a port of 0 (pick
any free port) has no race: the port is ours before anyone is told about it.  Once
listening, one line goes to standard output::

    LAB READY http://127.0.0.1:54321

:mod:`labs.harness.launcher` reads that line to learn where the lab is.
"""

from __future__ import annotations

import gc
import os
import socket
import sys
import warnings
from typing import Any

from labs.core.stream_guard import limits_of
from labs.harness.redis_server import RedisServer
from labs.harness.registry import Lab
from labs.harness.watchdog import exit_when_stdin_closes, raise_on_sigterm

READY_PREFIX = "LAB READY "


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise SystemExit(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket, host: str) -> str:
    port = sock.getsockname()[1]
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


def serve(lab: Lab, *, host: str = "127.0.0.1", port: int = 0, workers: int | None = None,
          config: dict[str, Any] | None = None, exit_with_parent: bool = False,
          use_redis: bool = False, on_ready=None) -> None:
    """Serve ``lab`` until interrupted (Ctrl-C, SIGTERM, or the parent's pipe closing)."""
    config = dict(config or {})
    try:  # a bad MAX_STREAMS or WORKER_CONNECTIONS stops here, saying why, before anything starts
        limits_of(config)
    except ValueError as exc:
        raise SystemExit(f"{lab.name}: {exc}") from None
    raise_on_sigterm()
    if exit_with_parent:
        exit_when_stdin_closes()
    redis_server = None
    try:
        if "REDIS_URL" not in config and (use_redis or lab.needs_redis(workers)):
            redis_server = RedisServer().start()
            config["REDIS_URL"] = redis_server.url
        sock = bind_socket(host, port)
        url = url_of(sock, host)
        if on_ready is not None:
            on_ready(url, config)
        print(READY_PREFIX + url, flush=True)
        if getattr(lab.module(), "SERVER", "wsgi") == "asgi":
            _serve_asgi(lab, sock, config)
        elif workers:
            _serve_gunicorn(lab, sock, workers, config)
        else:
            _serve_development(lab, sock, config)
    except KeyboardInterrupt:
        pass
    finally:
        if redis_server is not None:
            redis_server.close()


def _serve_development(lab: Lab, sock: socket.socket, config: dict[str, Any]) -> None:
    """Werkzeug's threaded server: one thread per connection, fine for a few clients."""
    from werkzeug.serving import make_server

    app = lab.module().create_app(config)
    host, port = sock.getsockname()[:2]
    server = make_server(host, port, app, threaded=True, fd=sock.fileno())
    # A stream reader holds its thread until it leaves; daemon threads let Ctrl-C end
    # the server at once instead of waiting for every reader.
    server.daemon_threads = True
    server.serve_forever()


def _serve_asgi(lab: Lab, sock: socket.socket, config: dict[str, Any]) -> None:
    """uvicorn (``uvicorn[standard]``: uvloop and httptools) in this process, one event loop.

    An ASGI server shows the app no socket, so the options :mod:`labs.core.dead_readers`
    gives each connection of a WSGI lab are set once, on the listening socket: Linux copies
    ``SO_KEEPALIVE``, the keep-alive timings and ``TCP_USER_TIMEOUT`` to every accepted one.
    uvicorn handles SIGTERM and Ctrl-C itself (the lifeline sends SIGTERM): it stops
    accepting, calls the app's ``extensions["on_stop"]`` (the lab's goodbyes), waits
    ``timeout_graceful_shutdown`` for streams still open, then cancels them.
    """
    import uvicorn

    from labs.core import dead_readers

    dead_readers.tune(sock, *dead_readers.settings_of(config))
    app = lab.module().create_app(config)

    class Server(uvicorn.Server):
        async def shutdown(self, sockets=None) -> None:
            # Before uvicorn waits for open streams (which never end by themselves, so it would
            # cancel them after its timeout): the lab ends each with its goodbye, as on SIGTERM.
            stopping = app.extensions.get("on_stop")
            if stopping is not None:
                await stopping()
            await super().shutdown(sockets)

    config_ = uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False,
                             timeout_graceful_shutdown=1, server_header=False)
    Server(config_).run(sockets=[sock])


# Collect the young generation every 50,000 net allocations instead of Python's 700 (2,000 from 3.13).
GC_THRESHOLDS = (50_000, 20, 10)


def _tune_gc_for_many_connections(worker=None) -> None:
    """Keep Python's cycle collector from pausing a worker that holds thousands of streams.

    Every open stream keeps a greenlet, its frames and Flask's request objects alive.  With
    the default thresholds the collector runs every few hundred deliveries and its
    older-generation passes walk all of those objects: with 1,000 readers these pauses were
    most of the p99 delivery time in ``python -m benchmarks.sse_fanout``.  Freezing what
    start-up made (it lives as long as the worker) and collecting less often removes most
    of them; reference cycles are still collected, only in bigger, rarer batches.
    """
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


# Ending a gevent worker through Python's normal shutdown prints tracebacks that mean
# nothing (gevent's patched threading is half torn down by then, and gunicorn answers
# Ctrl-C with sys.exit() inside a greenlet).  An instructor pressing Ctrl-C should see a
# clean exit, so a worker leaves with os._exit once gunicorn is done with it: its
# sockets, greenlets and memory all belong to the process and go with it.

def _flush_and_exit(code: int) -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def _worker_interrupted(worker) -> None:
    """gunicorn's ``worker_int`` hook (Ctrl-C or SIGQUIT): exit now, quietly."""
    _flush_and_exit(0)


def _worker_exiting(server, worker) -> None:
    """gunicorn's ``worker_exit`` hook: keep the exit status, skip Python's shutdown."""
    error = sys.exc_info()[1]
    if isinstance(error, SystemExit):
        code = error.code if isinstance(error.code, int) else (0 if error.code is None else 1)
    else:
        code = 0 if error is None else 1
    _flush_and_exit(code)


def gunicorn_options(lab: Lab, fd: int, workers: int, config: dict[str, Any] | None = None) -> dict[str, Any]:
    """gunicorn's settings for a lab served on the already-bound socket ``fd``.

    ``worker_connections`` is the lab's ``WORKER_CONNECTIONS``: each worker's streams stop
    below it (``MAX_STREAMS``, :mod:`labs.core.stream_guard`) so publishes still get in.
    """
    return {
        "bind": [f"fd://{fd}"],
        "workers": workers,
        "worker_class": getattr(lab.module(), "GUNICORN_WORKER_CLASS", "gevent"),
        "worker_connections": limits_of(config or {}).worker_connections,
        "timeout": 60,
        "graceful_timeout": 2,  # open streams never finish; don't wait 30 s for them
        "keepalive": 5,
        "accesslog": None,
        "loglevel": "warning",
        "post_worker_init": _tune_gc_for_many_connections,
        "worker_int": _worker_interrupted,
        "worker_exit": _worker_exiting,
    }


def _serve_gunicorn(lab: Lab, sock: socket.socket, workers: int, config: dict[str, Any]) -> None:
    """gunicorn with gevent workers: thousands of idle streams cost a greenlet each."""
    from gunicorn.app.base import BaseApplication

    # gunicorn's gevent worker patches the standard library after the fork, when this
    # process has already imported ssl (through redis and requests), and gevent warns that
    # those modules keep the unpatched ssl.  No lab server speaks TLS (Redis and every
    # client are plain TCP on this machine), so the warning is only noise on the terminal.
    warnings.filterwarnings("ignore", message="Monkey-patching ssl after ssl has already been imported")
    options = gunicorn_options(lab, sock.fileno(), workers, config)

    class LabApplication(BaseApplication):
        def load_config(self):
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self):
            # Called in each worker after gevent has patched the standard library.
            return lab.module().create_app(config)

    LabApplication().run()
