"""labs.harness.thread_server: the one helper that serves a small server from threads of this process.

The exercises' checks (through labs.exercises.support, which re-exports it), notebook 12's
second origin and tests use it.  Real sockets, real HTTP.
"""

from __future__ import annotations

import logging
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from flask import Flask

from labs.exercises import support
from labs.harness import thread_server
from labs.harness.thread_server import serve_in_thread, serve_wsgi, url_of


class Hello(BaseHTTPRequestHandler):
    def do_GET(self):  # the name http.server calls
        body = f"hello from {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_serve_in_thread_serves_until_the_block_ends():
    with serve_in_thread(ThreadingHTTPServer(("127.0.0.1", 0), Hello)) as url:
        assert url.startswith("http://127.0.0.1:")
        assert requests.get(url + "/x", timeout=5).text == "hello from /x"
    with pytest.raises(requests.ConnectionError):
        requests.get(url + "/x", timeout=5)


def test_serve_wsgi_serves_a_flask_app_on_a_free_port_and_quiets_werkzeug():
    app = Flask(__name__)
    app.get("/hi")(lambda: {"hi": True})
    with serve_wsgi(app, logging.CRITICAL) as first, serve_wsgi(app) as second:
        assert first != second
        assert requests.get(first + "/hi", timeout=5).json() == requests.get(second + "/hi", timeout=5).json()
    assert logging.getLogger("werkzeug").level == logging.ERROR
    with pytest.raises(requests.ConnectionError):
        requests.get(first + "/hi", timeout=5)


def test_an_address_of_every_interface_is_shown_as_this_machine():
    class Bound:
        server_address = ("0.0.0.0", 8001)

    assert url_of(Bound()) == "http://127.0.0.1:8001"
    Bound.server_address = ("::1", 8001, 0, 0)
    assert url_of(Bound()) == "http://[::1]:8001"


def test_the_checks_use_the_harness_helper_not_a_copy():
    assert support.serve_wsgi is thread_server.serve_wsgi
    assert support.serve_in_thread is thread_server.serve_in_thread
