"""Lab ``json_roundtrip``: JSON between a browser and Flask, and what goes wrong.

``POST /echo`` answers with everything the server saw: the raw body, the content
type, and what ``request.get_json`` made of it, so a student can see each step of the
round trip.  A body that is not JSON is answered with a clear 415 or 400 JSON error.
"""

from __future__ import annotations

from flask import jsonify, request

from labs.errors import ApiError
from labs.notify import read_json_object
from labs.webapp import create_lab_app

# The echo shows at most this much of a raw body (the whole body is still read).
RAW_PREVIEW_BYTES = 2000


def create_app(config=None):
    app = create_lab_app("json_roundtrip", config)

    @app.post("/echo")
    def echo():
        raw = request.get_data(cache=True)
        seen = {
            "content_type": request.content_type,
            "raw_body": raw[:RAW_PREVIEW_BYTES].decode("utf-8", errors="replace"),
            "raw_length": len(raw),
        }
        try:
            seen["parsed"] = read_json_object()
        except ApiError as exc:
            # Show what went wrong next to what arrived: the lesson is in the contrast.
            return jsonify({**exc.body(), "received": seen}), exc.status
        seen["parsed_type"] = type(seen["parsed"]).__name__
        return jsonify(received=seen)

    return app
