"""TLS for the labs: a private CA of this process, certificates for this machine's names, and
nginx serving HTTPS (HTTP/1.1) or HTTPS + HTTP/2 in front of a lab, from Python and the CLI.

What the protocol is, is asked the way a browser asks: ALPN in the TLS handshake, offering
``h2`` and ``http/1.1``.  (The browser side, and what HTTP/2 changes for a page, is
tests/test_connection_limits.py.)
"""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests
from test_launcher import assert_all_gone, process_tree

from labs.harness.certificates import LAB_NAMES, certificate_authority
from labs.harness.launcher import LabServer
from labs.harness.nginx import ProxySettings, bundled_nginx, render_config, start_proxy


@pytest.fixture(scope="module")
def lab():
    with LabServer("manual_sse", config={"TRUSTED_PROXIES": 1}) as server:
        yield server


def negotiated(url: str, ca_file: Path, server_name: str | None = None) -> str | None:
    """The protocol the server picks when offered h2 and http/1.1, as a browser offers them."""
    host, port = url.split("//")[1].rsplit(":", 1)
    context = ssl.create_default_context(cafile=str(ca_file))
    context.set_alpn_protocols(["h2", "http/1.1"])
    with socket.create_connection((host, int(port)), timeout=5) as raw, \
            context.wrap_socket(raw, server_hostname=server_name or host) as tls:
        return tls.selected_alpn_protocol()


# ---------------------------------------------------------------- the CA and its certificates

def test_the_ca_key_stays_in_memory_and_a_server_key_is_for_its_owner_only(tmp_path):
    authority = certificate_authority()
    assert authority is certificate_authority(), "one CA per process"
    directory = authority.ca_file.parent
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert b"BEGIN CERTIFICATE" in authority.ca_file.read_bytes()
    on_disk = b"".join(path.read_bytes() for path in directory.iterdir())
    assert b"PRIVATE KEY" not in on_disk, "the CA's key is never written anywhere"

    issued = authority.issue(tmp_path)
    assert stat.S_IMODE(issued.key_file.stat().st_mode) == 0o600
    assert b"PRIVATE KEY" in issued.key_file.read_bytes()
    chain = issued.cert_file.read_bytes()
    assert chain.count(b"BEGIN CERTIFICATE") == 1, "the server's own certificate (a client has the CA's)"
    assert issued.names == LAB_NAMES == ("localhost", "127.0.0.1", "::1")


def test_a_server_certificate_is_trusted_through_the_ca_and_only_for_its_names(tmp_path):
    authority = certificate_authority()
    issued = authority.issue(tmp_path)
    server_side = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_side.load_cert_chain(issued.cert_file, issued.key_file)
    client_side = ssl.create_default_context(cafile=str(authority.ca_file))
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        for name, accepted in [("localhost", True), ("127.0.0.1", True), ("example.com", False)]:
            with socket.create_connection(("127.0.0.1", port)) as raw:
                accepted_raw, _ = listener.accept()
                with accepted_raw:
                    accepted_raw.settimeout(5)
                    raw.settimeout(5)
                    def serve(conn=accepted_raw):
                        try:
                            server_side.wrap_socket(conn, server_side=True).close()
                        except (ssl.SSLError, OSError):
                            pass

                    thread = threading.Thread(target=serve)
                    thread.start()
                    try:
                        client_side.wrap_socket(raw, server_hostname=name).close()
                        ok = True
                    except ssl.SSLCertVerificationError:
                        ok = False
                    thread.join(5)
            assert ok is accepted, f"{name}: {'refused' if accepted else 'accepted'}"


# ---------------------------------------------------------------- nginx's settings

def test_http2_needs_tls_and_turns_it_on():
    assert ProxySettings(http2=True).tls is True
    assert ProxySettings().tls is False
    assert ProxySettings(tls=True).http2 is False
    with pytest.raises(ValueError, match="only over TLS"):
        ProxySettings(http2=True, tls=False)
    with pytest.raises(ValueError, match="max_concurrent_streams"):
        ProxySettings(http2=True, max_concurrent_streams=0)


@pytest.mark.parametrize(("settings", "lines", "absent"), [
    ({"tls": True}, ["listen 127.0.0.1:8 ssl;"], ["http2 on;"]),
    ({"http2": True}, ["listen 127.0.0.1:8 ssl;", "http2 on;", "http2_max_concurrent_streams 128;"], []),
    ({"http2": True, "max_concurrent_streams": 4}, ["http2_max_concurrent_streams 4;"], []),
    ({}, ["listen 127.0.0.1:8;"], ["ssl_certificate", "http2"]),
])
def test_tls_and_http2_lines_and_nginx_accepts_them(settings, lines, absent, tmp_path):
    certificate = certificate_authority().issue(tmp_path)
    text = render_config(["127.0.0.1:9"], ProxySettings(**settings), listen="127.0.0.1:8", prefix=str(tmp_path),
                         certificate=certificate)
    written = [line.split("#")[0].strip() for line in text.splitlines()]
    assert all(line in written for line in lines), text
    assert not any(line.startswith(word) for word in absent for line in written), text
    (tmp_path / "nginx.conf").write_text(text)
    checked = subprocess.run([bundled_nginx(), "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"),
                              "-e", "stderr"], capture_output=True, text=True, timeout=10)
    assert checked.returncode == 0, checked.stderr


# ---------------------------------------------------------------- nginx serving it

def test_http2_through_nginx_is_negotiated_in_the_handshake_and_trusted_with_the_ca(lab):
    with start_proxy(lab, http2=True) as proxy:
        assert proxy.url.startswith("https://127.0.0.1:")
        assert negotiated(proxy.url, proxy.ca_file) == "h2"
        port = proxy.url.rsplit(":", 1)[1]
        for url in (proxy.url, f"https://localhost:{port}"):  # both names are in the certificate
            answer = requests.get(url + "/whoami", verify=str(proxy.ca_file), timeout=5)
            assert answer.status_code == 200 and answer.json()["scheme"] == "https"
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(proxy.url + "/health", timeout=5)  # the system's CAs do not know ours
        with requests.get(proxy.url + "/stream", stream=True, verify=str(proxy.ca_file), timeout=(5, 10)) as stream:
            assert stream.headers["Content-Type"].startswith("text/event-stream")
            requests.post(proxy.url + "/send_notification", json={"message": "over TLS"},
                          verify=str(proxy.ca_file), timeout=5)
            lines = stream.iter_lines(decode_unicode=True)
            assert next(lines) == "event: connected"  # the stream's opening event (its data is {})
            data = next(line for line in lines if line.startswith("data:") and line != "data: {}")
            assert json.loads(data.removeprefix("data:")) == {"message": "over TLS"}


def test_tls_alone_stays_http11(lab):
    with start_proxy(lab, tls=True) as proxy:
        assert proxy.url.startswith("https://")
        assert negotiated(proxy.url, proxy.ca_file) == "http/1.1"


def test_the_cli_serves_http2_and_ctrl_c_stops_everything():
    server = subprocess.Popen([sys.executable, "-u", "-m", "labs", "run", "manual_sse", "--behind-proxy", "--http2",
                               "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              start_new_session=True)
    try:
        lines = [server.stdout.readline() for _ in range(4)]
        assert all(lines), lines
        url = lines[0].split(" open ")[1].split()[0]
        assert url.startswith("https://127.0.0.1:"), lines
        ca_file = lines[3].split("--cacert ")[1].split(")")[0]
        assert "HTTP/2 over TLS" in lines[3] and os.path.exists(ca_file), lines
        assert negotiated(url, Path(ca_file)) == "h2"
        assert requests.get(url + "/health", verify=ca_file, timeout=5).json()["status"] == "ok"
        tree = process_tree(server.pid)
        os.killpg(server.pid, signal.SIGINT)
        output, _ = server.communicate(timeout=15)
        assert server.returncode == 0 and "Traceback" not in output, output
        assert_all_gone(tree)
        assert not os.path.exists(ca_file), "the CA's certificate goes with the process"
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)


def test_http2_without_the_proxy_is_refused_with_a_reason():
    result = subprocess.run([sys.executable, "-m", "labs", "run", "manual_sse", "--http2", "--port", "0"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "--http2 needs --behind-proxy" in result.stderr and "only over TLS" in result.stderr
    assert "Traceback" not in result.stderr
