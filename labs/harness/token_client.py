"""A Python client for LLM-style token streams: POST, then read ``text/event-stream`` as it comes.

::

    completion = generate(lab.url + "/generate", "Tell me about SSE", 20)
    completion.text        # the tokens joined; completion.done: True once [DONE] came

    with TokenStream(lab.url + "/generate", {"prompt": "...", "max_tokens": 50}) as stream:
        for token in stream:          # one token at a time, as the server writes them
            if enough:
                break                 # leaving the block hangs up: the server stops generating

It is the browser's ``fetch()`` + ``response.body.getReader()`` loop (``static/common/
fetch-stream.js``) in Python: ``requests`` with ``stream=True`` hands over the bytes in
whatever chunks the network delivered, and the kit's incremental decoder
(:class:`labs.core.sse.EventStreamDecoder`) turns them into events.  The decoder keeps
whatever a chunk ends in the middle of (half a line, half of a UTF-8 character, a CR whose
LF comes in the next chunk), so nothing here depends on where the chunks were cut.

How a token stream speaks (the ``token_stream`` lab, and most language-model APIs):

- each token is an event whose data is JSON, ``{"index": 0, "token": "Hello"}``;
- ``data: [DONE]`` ends a complete answer (not JSON: check for it before parsing);
- ``event: error`` with a JSON body reports a failure after the stream began (the status
  was already 200); the stream then ends without ``[DONE]``;
- a refusal *before* the stream (bad input) is an ordinary 4xx JSON answer.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import requests

from labs.core.sse import Event, EventStreamDecoder

DONE = "[DONE]"


class GenerateRefused(RuntimeError):
    """The server refused the request before any stream began (a 4xx or 5xx JSON answer)."""

    def __init__(self, status: int, body: Any) -> None:
        self.status = status
        self.body = body
        super().__init__(f"{status}: {body}")


class TokenStreamError(RuntimeError):
    """The stream began, then reported a failure with ``event: error``."""

    def __init__(self, body: Any) -> None:
        self.body = body
        super().__init__(body.get("detail", body) if isinstance(body, dict) else body)


@dataclass
class Completion:
    """What a token stream delivered: its tokens, and how it ended."""

    tokens: list[str] = field(default_factory=list)
    done: bool = False                     # ``data: [DONE]`` arrived: the answer is complete
    error: Any = None                      # the ``event: error`` body, if one arrived
    events: list[Event] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(self.tokens)

    def take(self, event: Event) -> bool:
        """Account for one event; False once the stream has said its last word."""
        self.events.append(event)
        if event.type == "error":
            try:
                self.error = json.loads(event.data)
            except ValueError:
                self.error = {"error": event.data}
            return False
        if event.data == DONE:  # before json.loads: [DONE] is not JSON
            self.done = True
            return False
        if event.type == "message":
            self.tokens.append(json.loads(event.data)["token"])
        return True


def token_events(chunks: Iterable[bytes], completion: Completion) -> Iterator[Event]:
    """Decode a token stream given as chunks of bytes, cut anywhere, into ``completion``, yielding
    each event as it is decoded; stop at the stream's last word.

    This is the whole client without the network (:class:`TokenStream` feeds it what arrives):
    the tests feed it the same bytes cut at random places and expect the same
    :class:`Completion` every time.
    """
    decoder = EventStreamDecoder()
    for chunk in chunks:
        for event in decoder.feed(chunk):
            going_on = completion.take(event)
            yield event
            if not going_on:
                return
    decoder.close()  # an event the stream did not finish is dropped, as a browser drops it


class TokenStream:
    """One ``POST`` answered with a token stream, read as it arrives.

    Iterating gives the tokens; ``completion`` holds everything so far.  A refusal before
    the stream raises :class:`GenerateRefused`; ``event: error`` raises
    :class:`TokenStreamError` when iteration reaches it.  ``close()`` (or leaving a
    ``with`` block) hangs up, which is how a client tells the server to stop.
    """

    def __init__(self, url: str, payload: Any, *, headers: dict[str, str] | None = None,
                 session: requests.Session | None = None, timeout: float = 10.0) -> None:
        self.url = url
        self.completion = Completion()
        self.chunks: list[bytes] = []  # the raw bytes, as the network cut them
        http = session or requests
        self.response = http.post(url, json=payload, stream=True, timeout=timeout,
                                  headers={"Accept": "text/event-stream", **(headers or {})})
        content_type = self.response.headers.get("Content-Type", "")
        if self.response.status_code != 200 or not content_type.startswith("text/event-stream"):
            body = self._body()
            self.response.close()
            raise GenerateRefused(self.response.status_code, body)

    def _body(self) -> Any:
        try:
            return self.response.json()
        except ValueError:
            return self.response.text[:500]

    def events(self) -> Iterator[Event]:
        """Every event as it is decoded, until the stream's last word (or its end); then hang up."""
        yield from token_events(self._arriving(), self.completion)
        self.close()

    def _arriving(self) -> Iterator[bytes]:
        for chunk in self.response.iter_content(chunk_size=None):  # whatever has arrived
            self.chunks.append(chunk)
            yield chunk

    def __iter__(self) -> Iterator[str]:
        for event in self.events():
            if event.type == "error":
                raise TokenStreamError(self.completion.error)
            if event.type == "message" and event.data != DONE:
                yield self.completion.tokens[-1]

    def close(self) -> None:
        """Hang up (closes the connection): the server's next look or write finds us gone."""
        self.response.close()

    def __enter__(self) -> TokenStream:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def generate(url: str, prompt: str, max_tokens: int, *, line_ending: str | None = None,
             headers: dict[str, str] | None = None, timeout: float = 10.0) -> Completion:
    """``POST`` the prompt, read the whole answer, return the :class:`Completion` (errors included)."""
    payload: dict[str, Any] = {"prompt": prompt, "max_tokens": max_tokens}
    if line_ending is not None:
        payload["line_ending"] = line_ending
    with TokenStream(url, payload, headers=headers, timeout=timeout) as stream:
        for _ in stream.events():
            pass
        return stream.completion
