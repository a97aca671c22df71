"""The `text/event-stream` format: one encoder and one browser-exact decoder.

Every lab, notebook and test in the kit uses this module; nothing else writes or
parses event-stream bytes by hand.

The decoder follows the WHATWG HTML Standard, section "Server-sent events",
"Interpreting an event stream", step by step, so that what it dispatches is what a
browser's ``EventSource`` dispatches for the same bytes.  The comments quote the rule
each line implements.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

# Any of the three line endings the format allows.  The encoder must split on all of
# them: a lone CR inside a message would otherwise end the line in the browser.
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_CR_OR_LF = re.compile(r"[\r\n]")


# --------------------------------------------------------------------------- encoder

def _single_line(name: str, value: str) -> str:
    if "\r" in value or "\n" in value:
        raise ValueError(
            f"SSE {name!r} must be a single line: {value!r} contains a CR or LF, "
            "which would end the field early and let the rest be read as new fields"
        )
    return value


def encode_event(
    data: str | None = None,
    *,
    event: str | None = None,
    id: str | int | None = None,
    retry: int | None = None,
    comment: str | None = None,
) -> str:
    """Return one complete event-stream block, ending with the blank line.

    ``data`` may contain any text, newlines included: each of its lines becomes its own
    ``data:`` line, and the browser joins them back with ``\\n``.  So no message text can
    end the event early or smuggle in an ``event:`` or ``id:`` field.  The format cannot
    carry a CR in data: CR and CRLF come back as LF.  When exact text matters, send JSON
    (:func:`encode_json_event`), which escapes every line ending.
    """
    lines: list[str] = []
    if comment is not None:
        lines += [":" + (" " + part if part else "") for part in _LINE_BREAK.split(comment)]
    if event is not None:
        lines.append("event: " + _single_line("event", str(event)))
    if id is not None:
        ident = _single_line("id", str(id))
        if "\0" in ident:
            raise ValueError("SSE 'id' must not contain U+0000: browsers ignore such an id")
        lines.append("id: " + ident)
    if retry is not None:
        if isinstance(retry, bool) or not isinstance(retry, int) or retry < 0:
            raise ValueError(f"SSE 'retry' must be a whole number of milliseconds >= 0, got {retry!r}")
        lines.append(f"retry: {retry}")
    if data is not None:
        lines += ["data: " + part for part in _LINE_BREAK.split(str(data))]
    if not lines:
        raise ValueError("an SSE event needs at least one of data, event, id, retry or comment")
    return "\n".join(lines) + "\n\n"


def encode_json_event(obj: Any, **fields: Any) -> str:
    """Encode ``obj`` as JSON in the event's data (``event=``, ``id=``... as for encode_event)."""
    return encode_event(json.dumps(obj), **fields)


def keep_alive(text: str = "keep-alive") -> str:
    """A comment line: browsers ignore it, but it keeps proxies from closing a quiet stream."""
    return encode_event(comment=text)


# --------------------------------------------------------------------------- decoder

@dataclass(frozen=True)
class Event:
    """What a browser's EventSource dispatches: ``event.type``, ``event.data``, ``event.lastEventId``."""

    type: str
    data: str
    id: str

    def json(self) -> Any:
        """``JSON.parse(event.data)``: the data is always a string until you parse it."""
        return json.loads(self.data)

    def as_dict(self) -> dict[str, str]:
        return {"type": self.type, "data": self.data, "id": self.id}


class EventStreamDecoder:
    """Incremental decoder: feed it bytes in chunks of any size, get dispatched events.

    ``last_event_id`` and ``retry`` hold what the browser would remember for reconnecting.
    """

    def __init__(self, *, chromium_quirks: bool = True) -> None:
        # chromium_quirks=False follows the specification's text where Chromium differs
        # (only one case is known: a line break right after a leading BOM).
        self.chromium_quirks = chromium_quirks
        # "Streams must be decoded using the UTF-8 decode algorithm": invalid bytes
        # become U+FFFD; an incremental decoder keeps a character split across chunks.
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._bom_checked = False
        # Chromium quirk (see _feed_text): a CR or LF right after a leading BOM is not a
        # line break but part of the first line.
        self._break_after_bom_is_text = False
        self._line: list[str] = []
        self._after_cr = False  # a CR ended the last line; a following LF belongs to it
        self._data: list[str] = []
        self._has_data = False
        self._event_type = ""
        self._last_event_id_buffer = ""
        self.last_event_id = ""
        self.retry: int | None = None
        self.comments = 0

    def feed(self, chunk: bytes | str) -> list[Event]:
        if isinstance(chunk, str):
            chunk = chunk.encode("utf-8")
        return self._feed_text(self._utf8.decode(chunk, final=False))

    def close(self) -> list[Event]:
        """End of stream.  "If the file ends in the middle of an event, before the final
        empty line, the incomplete event is not dispatched": pending data is discarded."""
        self._utf8.decode(b"", final=True)
        self._line.clear()
        self._data.clear()
        self._has_data = False
        self._event_type = ""
        return []

    def _feed_text(self, text: str) -> list[Event]:
        if not self._bom_checked and text:
            self._bom_checked = True
            if text[0] == "\ufeff":  # one leading BYTE ORDER MARK is ignored
                text = text[1:]
                self._break_after_bom_is_text = self.chromium_quirks
        events: list[Event] = []
        start = 0
        if self._break_after_bom_is_text and text:
            # Chromium (and so Chrome and Edge) skips its line-break test for the byte that
            # follows a leading BOM: a CR or LF there joins the first line instead of ending
            # it, so "\ufeff\ndata: x" is one line with the unknown field "\ndata".
            # Measured against /usr/bin/chromium by tests/test_sse_browser.py.
            self._break_after_bom_is_text = False
            if text[0] in "\r\n":
                self._line.append(text[0])
                start = 1
        for match in _CR_OR_LF.finditer(text, start):
            pos = match.start()
            if self._after_cr and pos == start and text[pos] == "\n":
                # The LF of a CRLF whose CR ended the previous line (maybe in another chunk).
                self._after_cr = False
                start = pos + 1
                continue
            self._after_cr = text[pos] == "\r"
            self._line.append(text[start:pos])
            event = self._process_line("".join(self._line))
            self._line.clear()
            if event is not None:
                events.append(event)
            start = pos + 1
        rest = text[start:]
        if rest:
            self._after_cr = False
            self._line.append(rest)
        return events

    def _process_line(self, line: str) -> Event | None:
        if line == "":  # "If the line is empty (a blank line): Dispatch the event"
            return self._dispatch()
        if line.startswith(":"):  # "If the line starts with a U+003A COLON: Ignore the line"
            self.comments += 1
            return None
        if ":" in line:
            field, value = line.split(":", 1)
            if value.startswith(" "):  # "If value starts with a U+0020 SPACE, remove it"
                value = value[1:]
        else:  # "the whole line as the field name, and the empty string as the field value"
            field, value = line, ""
        if field == "event":
            self._event_type = value
        elif field == "data":
            self._data.append(value)
            self._has_data = True
        elif field == "id":
            if "\0" not in value:  # an id containing U+0000 NULL is ignored
                self._last_event_id_buffer = value
        elif field == "retry":
            if value and all("0" <= ch <= "9" for ch in value):  # only ASCII digits
                digits = value.lstrip("0") or "0"
                # Chromium ignores a value too big for 64 bits (and int() refuses very
                # long digit strings), so a huge retry is ignored rather than a crash.
                if len(digits) <= 20 and int(digits) < 2**64:
                    self.retry = int(digits)
        # any other field name is ignored
        return None

    def _dispatch(self) -> Event | None:
        # 1. The last event ID string is set from the buffer (which is never reset).
        self.last_event_id = self._last_event_id_buffer
        # 2. An empty data buffer dispatches nothing; the type buffer is reset too.
        if not self._has_data:
            self._event_type = ""
            return None
        # 3. The data lines are joined with LF (the trailing LF is removed).
        data = "\n".join(self._data)
        event = Event(type=self._event_type or "message", data=data, id=self.last_event_id)
        self._data.clear()
        self._has_data = False
        self._event_type = ""
        return event


def iter_events(chunks: Iterable[bytes | str]) -> Iterator[Event]:
    """Decode a whole stream given as an iterable of chunks (e.g. ``response.iter_content()``)."""
    decoder = EventStreamDecoder()
    for chunk in chunks:
        yield from decoder.feed(chunk)
    decoder.close()


def decode(stream: bytes | str) -> list[Event]:
    """Decode a complete stream held in memory."""
    return list(iter_events([stream]))
