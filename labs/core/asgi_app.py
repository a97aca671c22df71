"""The frame of an ASGI lab (Quart): what :func:`labs.core.webapp.create_lab_app` gives a Flask lab.

``GET /health``, ``GET /classroom``, ``GET /`` (``static/<name>/index.html``), ``/static/``,
JSON error handlers (no stack trace reaches a client), the 1 MiB request limit, and
:func:`read_notification`, the same checks as :func:`labs.core.notify.read_notification`
(the same functions do the checking; only reading the request is ``await``-ed).

What the WSGI frame installs and this one does not, and why:

- ``dead_readers`` sets ``TCP_USER_TIMEOUT`` and keep-alive on each request's socket, which a
  WSGI server puts in the environ.  An ASGI server shows the app no socket, so
  :mod:`labs.harness.serve` sets the same options on the listening socket, and Linux copies
  them to every connection it accepts: the same effect, set once.
- ``stream_guard`` wraps streamed Flask responses; an ASGI lab keeps its streams' count,
  cap and write deadline itself (:class:`labs.core.sse_async.StreamLimits`), and answers
  ``GET /capacity`` from it.
"""

from __future__ import annotations

import logging
from typing import Any

from quart import Quart, jsonify, request, send_from_directory
from werkzeug.exceptions import HTTPException

from labs.core.errors import ApiError
from labs.core.notify import parse_json_object, read_message, require_token
from labs.core.webapp import MAX_CONTENT_LENGTH, STATIC_DIR

log = logging.getLogger("labs")


def create_asgi_lab_app(name: str, config: dict[str, Any] | None = None) -> Quart:
    """A Quart app with the kit's common routes; the lab adds its own on top."""
    app = Quart(f"labs.{name}", static_folder=str(STATIC_DIR), static_url_path="/static")
    app.config["MAX_CONTENT_LENGTH"] = MAX_CONTENT_LENGTH
    app.config["LAB_NAME"] = name
    app.config.update(config or {})

    @app.get("/health")
    async def health():
        return jsonify(status="ok", lab=name)

    @app.get("/classroom")
    async def classroom():
        return jsonify(publish_token_required=bool(app.config.get("PUBLISH_TOKEN")))

    @app.get("/")
    async def page():
        return await send_from_directory(STATIC_DIR / name, "index.html")

    @app.errorhandler(ApiError)
    async def api_error(exc: ApiError):
        return jsonify(exc.body()), exc.status

    @app.errorhandler(HTTPException)
    async def http_error(exc: HTTPException):
        return jsonify(error=exc.name.lower(), detail=exc.description), exc.code or 500

    @app.errorhandler(Exception)
    async def unexpected(exc: Exception):
        log.exception("unhandled error in lab %s", name)
        return jsonify(error="internal server error", detail="see the lab server's log"), 500

    return app


def check_publish_token(app: Quart) -> None:
    require_token(app.config.get("PUBLISH_TOKEN"), request.headers.get("Authorization", ""))


async def read_notification(app: Quart) -> str:
    """Everything a ``POST /send_notification`` checks, in order; returns the message."""
    check_publish_token(app)
    if request.mimetype != "application/json" and not request.mimetype.endswith("+json"):
        raise ApiError(415, "unsupported content type",
                       f"expected 'Content-Type: application/json', got {request.content_type or 'none'!r}")
    raw = await request.get_data(cache=True, as_text=False)  # past MAX_CONTENT_LENGTH: 413
    return read_message(parse_json_object(raw, example='{"message": "..."}'))
