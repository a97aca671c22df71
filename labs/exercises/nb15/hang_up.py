"""Exercise 15.2: ``token_events(tokens, stop)``, a generator that streams a model's tokens and lets
the model stop when the reader goes: served with Werkzeug, hung up on in the middle of an answer
(also while the "model" is silent), and timed until it sets ``stop``."""

from __future__ import annotations

import json
import queue
import random
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from labs.core.sse import EventStreamDecoder
from labs.exercises import Answer, exercise
from labs.exercises.nb15.tokens import random_tokens
from labs.exercises.remote import AnswerGone, AnswerTimeout
from labs.exercises.support import serve_wsgi


class _Model:
    """A model that writes tokens into a queue from its own thread, until told to stop."""

    def __init__(self, answer: Answer, tokens: list[str], *, gap: float, pause_after: int | None = None,
                 pause: float = 0.0) -> None:
        self.tokens, self.gap = tokens, gap
        self.pause_after, self.pause = pause_after, pause
        # the queue and the event live where the answer runs (it gets them as they are); here, proxies
        self.stop, self.queue = answer.inside("new", "threading.Event"), answer.inside("new", "queue.Queue")
        self.produced = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _wait(self, seconds: float) -> bool:
        return self.stop.wait(seconds)  # True: told to stop

    def _run(self) -> None:
        try:
            for index, token in enumerate(self.tokens):
                if self._wait(self.gap if index != self.pause_after else self.pause):
                    return
                self.queue.put(token)
                self.produced += 1
            self.queue.put(None)  # the end of the answer
        except (AnswerGone, AnswerTimeout):
            return  # the check is over and the answer's process with it: nobody reads the model any more


def _stream_app(token_events: Callable, models: queue.Queue):
    from flask import Flask, Response

    app = Flask("exercise_15_2")

    @app.post("/generate")
    def generate():
        model = models.get_nowait()
        model.thread.start()
        body = token_events(model.queue, model.stop)
        return Response(body, mimetype="text/event-stream")

    return app


def _open(url: str) -> tuple[socket.socket, Any]:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.sendall(b"POST /generate HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
    return sock, sock.makefile("rb")


def _readrandom_tokens(reader, want: int | None, deadline: float) -> tuple[list[str], bool]:
    """Read the chunked answer's events until `want` tokens (or the end); returns (tokens, done)."""
    decoder, tokens = EventStreamDecoder(), []
    while reader.readline().strip():  # the status line and headers
        pass
    while time.monotonic() < deadline:
        size = int(reader.readline().split(b";")[0] or b"0", 16)
        if size == 0:
            return tokens, False
        chunk = reader.read(size + 2)[:size]
        for event in decoder.feed(chunk):
            if event.data == "[DONE]":
                return tokens, True
            try:
                tokens.append(json.loads(event.data)["token"])
            except (ValueError, KeyError, TypeError):
                raise AssertionError(f"each token's event should carry JSON like {{\"token\": ...}}; one carried "
                                     f"{event.data!r}") from None
            if want is not None and len(tokens) >= want:
                return tokens, False
    raise AssertionError("the stream sent nothing for 10 s")


def _hang_up(sock: socket.socket, reader) -> None:
    reader.close()  # the file object holds the socket open too
    sock.close()


def _stopped_within(stop: threading.Event, seconds: float) -> float | None:
    start = time.monotonic()
    return time.monotonic() - start if stop.wait(seconds) else None


@exercise("15.2", hints=[
    "Run the check and read what it says: a generator is only told that its reader left when the server's write "
    "fails, or when the server closes it (GeneratorExit at its yield). Where does your generator release the model?",
    "Set `stop` in a `finally:` around the whole loop: it runs when the answer is done, when the server closes the "
    "generator, and when anything fails.",
    "While the model is silent your generator is blocked in tokens.get(), so it never writes and never learns the "
    "reader left. Wait with a timeout (get(timeout=...)) and yield a comment (': keep-alive') when nothing came.",
])
def check_15_2(answer: Answer) -> None:
    token_events = answer.function("token_events")
    tokens, stop = answer.inside("new", "queue.Queue"), answer.inside("new", "threading.Event")
    probe = token_events(tokens, stop)  # here, not in the server: a stub's error counts
    if hasattr(probe, "close"):
        probe.close()
    rng = random.Random()
    models: queue.Queue = queue.Queue()
    with serve_wsgi(_stream_app(token_events, models)) as url:
        whole = random_tokens(rng, rng.randint(4, 7))
        model = _Model(answer, whole, gap=0.01)
        models.put(model)
        sock, reader = _open(url)
        got, done = _readrandom_tokens(reader, None, time.monotonic() + 10)
        _hang_up(sock, reader)
        assert got == whole, f"a complete answer should carry the model's tokens {whole!r}; it carried {got!r}"
        assert done, "a complete answer ends with `data: [DONE]`"
        assert _stopped_within(model.stop, 2) is not None, "set `stop` when the answer is complete too"
        for pause in (None, 5.0):
            _check_hang_up(answer, url, models, rng, pause)


def _check_hang_up(answer: Answer, url: str, models: queue.Queue, rng: random.Random, pause: float | None) -> None:
    read = rng.randint(2, 4)
    model = _Model(answer, random_tokens(rng, 400), gap=0.02, pause_after=read if pause else None,
                   pause=pause or 0.0)
    models.put(model)
    sock, reader = _open(url)
    _readrandom_tokens(reader, read, time.monotonic() + 10)
    _hang_up(sock, reader)  # the reader goes
    took = _stopped_within(model.stop, 1.5)
    if took is None:
        when = (f"while the model was silent (it paused {pause:g} s after {read} tokens)" if pause
                else "while tokens kept coming")
        raise AssertionError(f"the reader hung up {when}, and 1.5 s later `stop` was still not set: the model "
                             f"kept working for nobody ({model.produced} tokens made so far)")
