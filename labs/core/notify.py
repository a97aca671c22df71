"""The notification interface shared by every notification lab.

``POST /send_notification`` with ``{"message": "..."}``.  Validation lives here once so
that every transport refuses the same bad input with the same clear 4xx answer, before
anything is published (nothing is ever half-sent).
"""

from __future__ import annotations

import hmac
import json

from flask import current_app, request

from labs.core.errors import ApiError

# The documented limit on one message: 64 KiB of UTF-8.
MAX_MESSAGE_BYTES = 64 * 1024

# JSON may spell half of a UTF-16 pair on its own ("\\ud800"); Python parses it into a str
# that is not Unicode text and cannot be encoded as UTF-8, so it could never be sent on.
LONE_SURROGATE = "a \\u escape names a lone UTF-16 surrogate (such as \\ud800), which is not a character"
# Python's JSON parser recurses once per level of [ or {, and gives up about 1,000 deep.
TOO_DEEP = "nested too deeply: no request of ours needs more than a few levels of [ and {"


def check_publish_token() -> None:
    """In classroom mode (config ``PUBLISH_TOKEN`` set) only the instructor may publish.

    The token is compared in constant time so its value cannot be guessed byte by byte
    from response timings.
    """
    require_token(current_app.config.get("PUBLISH_TOKEN"), request.headers.get("Authorization", ""))


def require_token(token, header: str) -> None:
    """The check itself, for any framework: ``header`` must be ``Bearer <token>`` (no token: anyone)."""
    if not token:
        return
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), str(token).encode()):
        raise ApiError(401, "publishing needs the instructor's token",
                       "send the header 'Authorization: Bearer <token>'")


def read_json_object() -> dict:
    """The request body as a JSON object, or an ApiError saying exactly what is wrong."""
    if not request.is_json:
        raise ApiError(415, "unsupported content type",
                       f"expected 'Content-Type: application/json', got {request.content_type or 'none'!r}")
    return parse_json_object(request.get_data(cache=True), example='{"message": "..."}')


def parse_json_object(raw: bytes | str, *, example: str = "{...}", whole_text: bool = True) -> dict:
    """``raw`` (JSON text, as UTF-8 bytes or a str) as a dict, or the 400 ApiError saying what
    is wrong with it.  ``whole_text=False`` lets lone surrogates through in values the caller
    never uses (the caller then checks the values it does use, e.g. with read_message)."""
    try:
        data = json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw)
    except UnicodeDecodeError:
        raise ApiError(400, "invalid JSON", "the body is not valid UTF-8") from None
    except json.JSONDecodeError as exc:
        raise ApiError(400, "invalid JSON", f"{exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise ApiError(400, "invalid JSON", TOO_DEEP) from None
    if not isinstance(data, dict):
        raise ApiError(400, "expected a JSON object", f"send {example}, not a JSON {type(data).__name__}")
    if whole_text and not is_unicode_text(json.dumps(data, ensure_ascii=False)):
        raise ApiError(400, "invalid JSON", LONE_SURROGATE)
    return data


def is_unicode_text(text: str) -> bool:
    """False when ``text`` holds a lone surrogate, i.e. cannot be written as UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def read_message(data: dict, field: str = "message") -> str:
    """The non-empty string ``data[field]``, within the size limit."""
    if field not in data:
        raise ApiError(400, f"missing field {field!r}", f'send {{"{field}": "..."}}')
    message = data[field]
    if not isinstance(message, str):
        raise ApiError(400, f"field {field!r} must be a string", f"got a JSON {type(message).__name__}")
    if not message.strip():
        raise ApiError(400, f"field {field!r} is empty", "send some text")
    if not is_unicode_text(message):
        raise ApiError(400, f"field {field!r} is not valid text", LONE_SURROGATE)
    size = len(message.encode("utf-8"))
    if size > MAX_MESSAGE_BYTES:
        raise ApiError(413, "message too large",
                       f"{size} bytes of UTF-8; the limit is {MAX_MESSAGE_BYTES} bytes (64 KiB)")
    return message


def read_notification() -> str:
    """Everything a ``POST /send_notification`` view checks, in order; returns the message."""
    check_publish_token()
    return read_message(read_json_object())
