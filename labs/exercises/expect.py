"""What a check expects of a value an answer gave back: each function returns the value (as the
check wants it) or raises ``AssertionError`` with a sentence that names the call and the value.

    seconds = expect.number(choose_delay(3), "choose_delay(3)", "a number of seconds", finite=True)
    events = decode(expect.text(replay_text(history, 0, None), "replay_text(...)"))
"""

from __future__ import annotations

import math
from typing import Any

from labs.core.sse import Event, decode


def number(value: Any, call: str, kind: str = "a number", *, finite: bool = False) -> float:
    """``value`` as a float; an int or a float (not a bool) passes, and with ``finite`` not inf or nan."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (finite and not math.isfinite(value)):
        raise AssertionError(f"{call} should return {kind}; it returned {value!r}")
    return float(value)


def whole_number(value: Any, call: str, kind: str = "a whole number (an int)") -> int:
    """``value`` when it is an int (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise AssertionError(f"{call} should return {kind}; it returned {value!r}")
    return value


def text(value: Any, call: str) -> str:
    """Event-stream text: a str, or bytes in UTF-8."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8")
    if not isinstance(value, str):
        raise AssertionError(f"{call} should return event-stream text (a str); it returned {value!r}")
    return value


def event_json(event: Event, where: str) -> Any:
    """The JSON an event's data holds."""
    try:
        return event.json()
    except ValueError:
        raise AssertionError(f"{where}: the data of a `{event.type}` event should be JSON such as "
                             f"{{\"message\": \"...\"}}; it was {event.data!r}") from None


def is_comment_only(stream_text: str) -> bool:
    """True for text that dispatches nothing and holds at least one comment line (a keep-alive)."""
    return decode(stream_text) == [] and any(line.startswith(":") for line in stream_text.splitlines())
