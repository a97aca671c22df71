"""A small HTTP server run from daemon threads of this process: for a check, a test, a notebook.

:func:`serve_in_thread` serves any ``http.server``-style server (``serve_forever``,
``shutdown``) and yields its URL; :func:`serve_wsgi` serves a WSGI app (a Flask app) that way
on a free port.  Both stop when the ``with`` block ends.  The exercises' checks
(``labs.exercises.support``) and the second origin of notebook 12
(:mod:`labs.harness.second_origin`) use them.  A lab for a notebook is started otherwise, in a
process of its own (:mod:`labs.harness.launcher`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def url_of(server: Any) -> str:
    """``http://HOST:PORT`` of a bound server (an address of every interface shown as 127.0.0.1)."""
    host, port = server.server_address[:2]
    host = "127.0.0.1" if host in ("0.0.0.0", "") else host
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


@contextmanager
def serve_in_thread(server: Any) -> Iterator[str]:
    """Serve ``server`` (an ``http.server`` or Werkzeug server, already bound) from daemon threads
    of this process; yields its URL; shut down and closed when the block ends."""
    server.daemon_threads = True  # a reader still connected never holds up the end
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        yield url_of(server)
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def serve_wsgi(app: Any, quiet_below: int = logging.ERROR, *, host: str = "127.0.0.1",
               port: int = 0) -> Iterator[str]:
    """Serve a WSGI app (a Flask app) with Werkzeug's threaded server, by :func:`serve_in_thread`
    (a free port unless ``port`` says which); yields its URL.

    Werkzeug logs nothing below ``quiet_below`` (its request lines are INFO)."""
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(quiet_below)
    with serve_in_thread(make_server(host, port, app, threaded=True)) as url:
        yield url
