"""``python -m benchmarks.profile_stack NAME --out FILE``: one stack of ``benchmarks.asgi`` served
under :mod:`cProfile`, for notebook 16's "where does the time go, per event?".

NAME is ``manual_sse`` (the Flask lesson on gevent's WSGI server, monkey-patched, as gunicorn's
gevent worker runs it), ``quart_sse``, ``starlette`` or ``fastapi`` (uvicorn, one event loop).  It
prints ``LAB READY <url>`` like a lab; on SIGTERM it stops serving and writes the profile (a
:mod:`pstats` file) to FILE.  The profiler slows everything down about twice: compare the stacks'
shares, not their seconds.  :class:`ProfiledServer` starts one from Python;
:func:`top_functions` reads what it wrote.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

STACKS = ["manual_sse", "quart_sse", "starlette", "fastapi"]


def _asgi_app(name: str):
    if name == "quart_sse":
        from labs.quart_sse import create_app

        return create_app({})
    import importlib

    from benchmarks.peers.__main__ import APPS

    return importlib.import_module(APPS[name]).app


def _serve_asgi(name: str, sock, profiler) -> None:
    import contextlib
    import signal

    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self):
            # uvicorn's own re-raises SIGTERM once it has stopped, which would end the process
            # before the profile is written: here a signal only asks it to stop.
            for number in (signal.SIGTERM, signal.SIGINT):
                signal.signal(number, self.handle_exit)
            yield

    config = uvicorn.Config(_asgi_app(name), lifespan="off", log_level="warning", access_log=False,
                            timeout_graceful_shutdown=1)
    profiler.enable()
    try:
        Server(config).run(sockets=[sock])  # returns on SIGTERM
    finally:
        profiler.disable()


def _serve_gevent(sock, profiler) -> None:
    import signal

    import gevent
    from gevent.pywsgi import WSGIServer

    from labs.manual_sse import create_app

    server = WSGIServer(sock, create_app({}), log=None, error_log=None)
    gevent.signal_handler(signal.SIGTERM, server.stop, 1)
    profiler.enable()
    try:
        server.serve_forever()
    finally:
        profiler.disable()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile_stack")
    parser.add_argument("name", choices=STACKS)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    if args.name == "manual_sse":
        from gevent import monkey

        monkey.patch_all()  # first, before anything imports socket or threading: as gunicorn's worker does
    import cProfile
    import time

    from labs.harness.serve import READY_PREFIX, bind_socket, url_of

    sock = bind_socket(args.host, args.port)
    profiler = cProfile.Profile(time.process_time)  # CPU time: a stream waiting costs nothing
    print(READY_PREFIX + url_of(sock, args.host), flush=True)
    if args.name == "manual_sse":
        _serve_gevent(sock, profiler)
    else:
        _serve_asgi(args.name, sock, profiler)
    profiler.dump_stats(str(args.out))
    return 0


def top_functions(path: str | Path, count: int = 8) -> list[tuple[str, float]]:
    """The ``count`` functions that spent the most time in themselves (not in what they called),
    as ``("module.function", share of all the time profiled)``."""
    import pstats

    stats = pstats.Stats(str(path)).stats  # (file, line, name) -> (calls, primitive calls, tottime, cumtime, callers)
    total = sum(entry[2] for entry in stats.values()) or 1.0
    rows = sorted(stats.items(), key=lambda item: item[1][2], reverse=True)[:count]
    return [(_short_name(*key), entry[2] / total) for key, entry in rows]


def by_package(path: str | Path) -> dict[str, float]:
    """Each package's share of the time profiled (``uvicorn``, ``asyncio``, ``labs``, ``fastapi``...;
    the interpreter's built-ins are ``builtins``), largest first."""
    import pstats

    stats = pstats.Stats(str(path)).stats
    total = sum(entry[2] for entry in stats.values()) or 1.0
    shares: dict[str, float] = {}
    for key, entry in stats.items():
        package = "builtins" if key[0] == "~" else _short_name(*key).split(".")[0]
        shares[package] = shares.get(package, 0.0) + entry[2] / total
    return dict(sorted(shares.items(), key=lambda item: item[1], reverse=True))


def total_seconds(path: str | Path) -> float:
    """The CPU seconds the profile holds."""
    import pstats

    return sum(entry[2] for entry in pstats.Stats(str(path)).stats.values())


def _short_name(filename: str, line: int, function: str) -> str:
    if filename == "~":  # a built-in: "<method 'send' of '_socket.socket' objects>"
        return re.sub(r" at 0x[0-9a-f]+", "", function.strip("<>"))
    if filename.startswith("<"):  # "<frozen importlib._bootstrap>"
        return f"{filename.strip('<>').removeprefix('frozen ')}.{function}"
    path = Path(filename)
    parts = path.with_suffix("").parts
    for anchor in ("site-packages", "labs", "benchmarks", "lib"):
        if anchor in parts:
            index = len(parts) - 1 - parts[::-1].index(anchor)
            parts = parts[index + (anchor in ("site-packages", "lib")):]
            break
    module = ".".join(part for part in parts if not part.startswith("python3"))
    return f"{module.removesuffix('.__init__')}.{function}"


class ProfiledServer:
    """A stack under the profiler, started as the benchmarks start a peer; ``stop()`` writes the profile."""

    def __new__(cls, name: str, out: str | Path):
        from benchmarks.peers import PeerServer

        class _Profiled(PeerServer):
            def argv(self) -> list[str]:
                return ["-m", "benchmarks.profile_stack", name, "--out", str(out), "--host", self.host, "--port", "0"]

            def stop(self) -> None:
                # The profile is written after the server stops: a busy machine may need more than the
                # usual 5 s between SIGTERM and SIGKILL (CI lost FastAPI's profile once, at load 15).
                if self.process is not None:
                    self.process.stop(timeout=30)

        return _Profiled(name)


if __name__ == "__main__":
    sys.exit(main())
