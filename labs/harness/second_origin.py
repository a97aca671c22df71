"""The other origin of notebook 12 (the ``secure_stream`` lab): one page, served from another port.

Two origins differ by scheme, host or port, so a second port on this machine is enough to
show CORS in a real browser.  :func:`serve_elsewhere` serves
``static/secure_stream/elsewhere.html`` (and the scripts it loads, nothing else) from a thread
of this process and yields its origin; open ``<origin>/?api=<the lab's URL>``: the page logs in
to the lab and opens its stream the three ways, across origins.  The lab answers it only if
the origin is in its ``ALLOWED_ORIGINS``.

From a shell (the lab in another terminal)::

    python -m labs run secure_stream --config 'ALLOWED_ORIGINS=["http://127.0.0.1:8001"]'
    python -m labs second-origin --api http://127.0.0.1:5000 --port 8001
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from labs.core.webapp import STATIC_DIR
from labs.harness.thread_server import serve_in_thread

LAB = "secure_stream"  # the lab whose page this is (static/secure_stream/)


class ElsewhereHandler(BaseHTTPRequestHandler):
    """Serves the other origin's page and the shared scripts it loads; nothing else."""

    FILES = {"/": "secure_stream/elsewhere.html", "/static/common/lab.css": "common/lab.css",
             "/static/common/lab.js": "common/lab.js", "/static/common/sse-decoder.js": "common/sse-decoder.js",
             "/static/common/fetch-stream.js": "common/fetch-stream.js",
             "/static/secure_stream/listen.js": "secure_stream/listen.js",
             "/static/secure_stream/elsewhere.js": "secure_stream/elsewhere.js"}
    TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
             ".css": "text/css; charset=utf-8"}

    def do_GET(self):  # the name http.server calls
        name = self.FILES.get(self.path.split("?")[0])
        body = (STATIC_DIR / name).read_bytes() if name else json.dumps({"error": "not found"}).encode()
        self.send_response(200 if name else 404)
        self.send_header("Content-Type", self.TYPES[name[name.rindex("."):]] if name else "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serve_elsewhere(host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Another origin (another port), serving a page that talks to a lab: yields its origin.

    Open ``<origin>/?api=<lab url>``.  It runs in threads of this process
    (:func:`~labs.harness.thread_server.serve_in_thread`) and stops at the end of the ``with`` block.
    """
    with serve_in_thread(ThreadingHTTPServer((host, port), ElsewhereHandler)) as origin:
        yield origin


def run(api: str, *, host: str = "127.0.0.1", port: int = 8001) -> int:
    """``python -m labs second-origin``: serve the other origin until Ctrl-C, saying what to open."""
    if not api.startswith(("http://", "https://")):
        raise SystemExit(f"second-origin: --api takes the lab's URL, such as http://127.0.0.1:5000, not {api!r}")
    try:
        server = ThreadingHTTPServer((host, port), ElsewhereHandler)
    except OSError as exc:
        raise SystemExit(f"second-origin: cannot listen on {host}:{port}: {exc.strerror}") from None
    # Ctrl-C is welcome from the moment the first line is out, so it is caught before that.
    with serve_in_thread(server) as origin, contextlib.suppress(KeyboardInterrupt):
        print(f"second origin: serving on {origin}\nopen {origin}/?api={api.rstrip('/')}\n"
              f"(the lab must allow this origin: python -m labs run {LAB} "
              f"--config 'ALLOWED_ORIGINS={json.dumps([origin])}'; Ctrl-C stops)", flush=True)
        threading.Event().wait()
    return 0
