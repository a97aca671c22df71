"""Exercise 10.1's nginx: the student's ``location`` block inside a site's config (gzip for
streams, ``X-Accel-Buffering`` ignored, a short read timeout, ``Connection: close`` to the lab),
run by a private nginx; ``nginx -t``'s complaint becomes a sentence about the student's block."""

from __future__ import annotations

import re
import socket
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

SITE_READ_TIMEOUT = 2  # seconds: the http block's proxy_read_timeout, shorter than every keep-alive interval

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
def run_nginx(config: Callable[[str, str], str]) -> Iterator[str]:
    """A private nginx running ``config(listen, prefix)``; yields its URL.

    As the runtime's proxy does (labs.harness.nginx): a private directory, nginx in the
    foreground under the watchdog, and the listening socket bound here and handed over."""
    import requests

    from labs.harness.nginx import find_nginx, nginx_on_socket, private_directory
    from labs.harness.processes import wait_until

    binary = find_nginx()
    with private_directory("sse-kit-exercise-nginx-") as prefix:
        conf = Path(prefix) / "nginx.conf"
        sock = socket.create_server(("127.0.0.1", 0), backlog=256)
        try:
            url = f"http://127.0.0.1:{sock.getsockname()[1]}"
            conf.write_text(config(f"127.0.0.1:{sock.getsockname()[1]}", prefix))
            tested = subprocess.run([binary, "-t", "-q", "-p", prefix, "-c", str(conf), "-e", "stderr"],
                                    capture_output=True, text=True, timeout=15)
            if tested.returncode != 0:
                raise NginxRefused(tested.stderr.replace(str(conf), "nginx.conf"))
            process = nginx_on_socket(binary, prefix, conf, sock)
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


def nginx_says(refusal: str, block_starts: int, block_lines: int) -> str:
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


def config_for(block: str, upstream: str, lab_url: str) -> tuple[Callable[[str, str], str], int]:
    """The config around ``block`` (for _nginx), and the config line just before the block."""
    indented = "\n".join("        " + line if line.strip() else "" for line in block.strip("\n").splitlines())

    def config(listen: str, prefix: str) -> str:
        return CONFIG_10_1.format(prefix=prefix, upstream=upstream, lab=lab_url.split("//")[1],
                                  listen=listen, block=indented, read_timeout=SITE_READ_TIMEOUT)

    before = CONFIG_10_1.split("{block}")[0].count("\n")
    return config, before

