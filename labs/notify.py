"""The notification interface shared by every notification lab.

``POST /send_notification`` with ``{"message": "..."}``.  Validation lives here once so
that every transport refuses the same bad input with the same clear 4xx answer, before
anything is published (nothing is ever half-sent).
"""

from __future__ import annotations

import hmac
import json

from flask import current_app, request

from labs.errors import ApiError

# The documented limit on one message: 64 KiB of UTF-8.
MAX_MESSAGE_BYTES = 64 * 1024


def check_publish_token() -> None:
    """In classroom mode (config ``PUBLISH_TOKEN`` set) only the instructor may publish.

    The token is compared in constant time so its value cannot be guessed byte by byte
    from response timings.
    """
    token = current_app.config.get("PUBLISH_TOKEN")
    if not token:
        return
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), str(token).encode()):
        raise ApiError(401, "publishing needs the instructor's token",
                       "send the header 'Authorization: Bearer <token>'")


def read_json_object() -> dict:
    """The request body as a JSON object, or an ApiError saying exactly what is wrong."""
    if not request.is_json:
        raise ApiError(415, "unsupported content type",
                       f"expected 'Content-Type: application/json', got {request.content_type or 'none'!r}")
    raw = request.get_data(cache=True)
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ApiError(400, "invalid JSON", "the body is not valid UTF-8") from None
    except json.JSONDecodeError as exc:
        raise ApiError(400, "invalid JSON", f"{exc.msg} at line {exc.lineno} column {exc.colno}") from None
    if not isinstance(data, dict):
        raise ApiError(400, "expected a JSON object",
                       f'send {{"message": "..."}}, not a JSON {type(data).__name__}')
    return data


def read_message(data: dict, field: str = "message") -> str:
    """The non-empty string ``data[field]``, within the size limit."""
    if field not in data:
        raise ApiError(400, f"missing field {field!r}", f'send {{"{field}": "..."}}')
    message = data[field]
    if not isinstance(message, str):
        raise ApiError(400, f"field {field!r} must be a string", f"got a JSON {type(message).__name__}")
    if not message.strip():
        raise ApiError(400, f"field {field!r} is empty", "send some text")
    size = len(message.encode("utf-8"))
    if size > MAX_MESSAGE_BYTES:
        raise ApiError(413, "message too large",
                       f"{size} bytes of UTF-8; the limit is {MAX_MESSAGE_BYTES} bytes (64 KiB)")
    return message


def read_notification() -> str:
    """Everything a ``POST /send_notification`` view checks, in order; returns the message."""
    check_publish_token()
    return read_message(read_json_object())
