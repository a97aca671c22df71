"""The frame every lab app is built on: ``/health``, its page, and JSON errors.

Each lab's ``create_app(config)`` starts with :func:`create_lab_app` so that every lab
answers health checks the same way and never shows a stack trace to a client.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from flask import Flask, jsonify, request, send_from_directory
from werkzeug.exceptions import HTTPException

from labs.core import dead_readers, stream_guard
from labs.core.errors import ApiError
from labs.core.forwarded import add_whoami

REPO_ROOT = Path(__file__).resolve().parents[2]
STATIC_DIR = REPO_ROOT / "static"

# Whole request bodies above this are refused with 413 before anything reads them.
MAX_CONTENT_LENGTH = 1024 * 1024

log = logging.getLogger("labs")


def create_lab_app(name: str, config: dict[str, Any] | None = None) -> Flask:
    """A Flask app with the kit's common routes; the lab adds its own on top."""
    app = Flask(f"labs.{name}", static_folder=str(STATIC_DIR), static_url_path="/static")
    app.config["MAX_CONTENT_LENGTH"] = MAX_CONTENT_LENGTH
    app.config["LAB_NAME"] = name
    app.config.update(config or {})
    add_whoami(app)  # GET /whoami; ProxyFix if TRUSTED_PROXIES is set
    dead_readers.install(app)  # TCP_USER_TIMEOUT and keep-alive on every connection: vanished readers end
    stream_guard.install(app)  # a cap on open streams (the rest get a goodbye) and a deadline on each write

    @app.get("/health")
    def health():
        return jsonify(status="ok", lab=name)

    @app.get("/whereami")
    def whereami():
        # Where this request was served, for the page's header (static/common/lab.js): which
        # node and process answered, how many proxies passed it on (each nginx appends to
        # X-Forwarded-For), the HTTP version the last one spoke to the lab, and whether the
        # chaos relay stands in front (a TCP relay adds no header: its launcher says so).
        hops = [part for part in request.headers.get("X-Forwarded-For", "").split(",") if part.strip()]
        return jsonify(lab=name, node=app.config.get("NODE_NAME"), pid=os.getpid(), proxies=len(hops),
                       relay=bool(app.config.get("VIA_RELAY")), protocol=request.environ.get("SERVER_PROTOCOL"))

    @app.get("/classroom")
    def classroom():
        # The page asks the instructor for the token only when publishing needs one.
        return jsonify(publish_token_required=bool(app.config.get("PUBLISH_TOKEN")))

    @app.get("/")
    def page():
        # Each lab's page lives in static/<lab>/index.html and uses static/common/.
        return send_from_directory(STATIC_DIR / name, "index.html")

    @app.after_request
    def leave_the_date_to_the_server(response):
        # Both servers write a Date header on every response (Werkzeug's development
        # server and gunicorn).  Werkzeug's send_file, behind the page and /static/,
        # adds one of its own, which the development server sent as a second Date
        # header (gunicorn drops an app's Date; nginx warns about two).
        response.headers.remove("Date")
        return response

    @app.errorhandler(ApiError)
    def api_error(exc: ApiError):
        return jsonify(exc.body()), exc.status

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        body = {"error": exc.name.lower(), "detail": exc.description}
        return jsonify(body), exc.code or 500

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        # Log the traceback for the instructor's terminal; the client only learns that
        # something failed, never the internals.
        log.exception("unhandled error in lab %s", name)
        return jsonify(error="internal server error", detail="see the lab server's log"), 500

    return app
