"""Lab ``json_roundtrip``: JSON between a browser and Flask, and what goes wrong.

``POST /echo`` answers with everything the server saw: the raw body, the content
type, what ``request.get_json`` made of it, and the exact bytes ``jsonify`` sends
back, so a student can see each step of the round trip.  A body that is not JSON is
answered with a clear 415 or 400 JSON error that says how to fix the request.

The other routes stage the classic mistakes for the page: ``GET /events`` is a tiny
event stream whose data is JSON (``event.data`` is a string until ``JSON.parse``), and
``GET /dumps`` vs ``GET /jsonify`` return the same dict with ``json.dumps`` (served as
``text/html``) and with ``jsonify`` (``application/json``).
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from labs.core.errors import ApiError
from labs.core.notify import read_json_object
from labs.core.sse import encode_json_event
from labs.core.webapp import create_lab_app

# The echo shows at most this much of a raw body (the whole body is still read).
RAW_PREVIEW_BYTES = 2000

# What each refusal needs, said as the fix a student would type in their fetch() call.
FIXES = {
    415: "add the header 'Content-Type: application/json' to the request "
         "(fetch: headers: {'Content-Type': 'application/json'})",
    400: "send JSON text: body: JSON.stringify(yourObject), not the object itself",
}

# A fixed payload: the json.dumps route serves text/html, so it must never echo input.
DEMO_PAYLOAD = {"status": "ok", "message": "the same dict, two ways"}


def _what_get_json_does() -> dict:
    """``request.get_json()`` as a view would call it: its value, or the error it raises."""
    try:
        return {"value": request.get_json(), "error": None}
    except HTTPException as exc:
        return {"value": None, "error": f"{exc.code} {exc.name}"}
    except RecursionError:  # not a ValueError, so Flask does not turn it into a 400 itself
        return {"value": None, "error": "RecursionError: nested too deeply (Flask would answer 500)"}


def _what_jsonify_sends(value) -> dict:
    response = jsonify(value)
    return {"content_type": response.content_type, "body": response.get_data(as_text=True)}


bp = Blueprint("json_roundtrip", __name__)


@bp.post("/echo")
def echo():
    raw = request.get_data(cache=True)
    seen = {
        "content_type": request.content_type,
        "raw_body": raw[:RAW_PREVIEW_BYTES].decode("utf-8", errors="replace"),
        "raw_length": len(raw),
    }
    get_json = _what_get_json_does()
    try:
        seen["parsed"] = read_json_object()
    except ApiError as exc:
        # Show what went wrong next to what arrived: the lesson is in the contrast.
        body = {**exc.body(), "fix": FIXES.get(exc.status, ""), "received": seen, "get_json": get_json}
        return jsonify(body), exc.status
    seen["parsed_type"] = type(seen["parsed"]).__name__
    return jsonify(received=seen, get_json=get_json, jsonify_sends=_what_jsonify_sends(seen["parsed"]))


@bp.get("/events")
def events():
    # One JSON event, then the stream ends; the page closes its EventSource after it.
    body = encode_json_event({"message": "Hello from the server"}, event="notify", id=1, retry=10000)
    return Response(body, mimetype="text/event-stream", headers={"Cache-Control": "no-cache"})


@bp.get("/dumps")
def dumps():
    # The mistake on purpose: a str return value is served as text/html.
    return json.dumps(DEMO_PAYLOAD)


@bp.get("/jsonify")
def jsonify_route():
    return jsonify(DEMO_PAYLOAD)


def create_app(config: dict[str, Any] | None = None) -> Flask:
    # Nothing is kept between requests: every answer is made from its request alone.
    app = create_lab_app("json_roundtrip", config)
    app.register_blueprint(bp)
    return app
