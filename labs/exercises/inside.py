"""The kit's own helpers that a check runs *inside* the answer's sandbox, on the answer's objects.

Some answers are objects that only mean something where they live: a blueprint to mount on an
app, an app whose routes to list. A check asks for one of these by name
(``answer.inside("mount_blueprint", blueprint, "/admin")``); the answer's process runs it and sends
back plain data or a reference. What comes back is weighed like anything else the answer's side
says: as data, never as a verdict. Only the functions named in ``__all__`` can be asked for.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import CodeType
from typing import Any

__all__ = ["mount_blueprint", "url_rules", "view_owners", "flask_sse_views", "new", "throw", "call_keeping",
           "socketio_client", "spy_install", "spy_arm", "spy_report", "drive_async_stream"]

namespace: dict[str, Any] = {}  # the answer's cell's names (set by the host when the cell runs)

# Classes a check may make on the answer's side, to hand to the answer and watch (a queue the
# check fills, a lock the answer must hold, the exercise's own box or set): "module.Name".
SHAREABLE = {
    "queue.Queue", "queue.SimpleQueue", "threading.Lock", "threading.RLock", "threading.Event",
    "threading.Condition", "labs.harness.client.Event",
    "labs.exercises.nb04.fan_out.GuardedSet", "labs.exercises.nb06.Box",
}


def new(qualified_name: str, *args: Any) -> Any:
    """An object of one of the :data:`SHAREABLE` classes, made here with ``args``."""
    from importlib import import_module

    if qualified_name not in SHAREABLE:
        raise ValueError(f"{qualified_name} is not a class a check may make here")
    module, _, name = qualified_name.rpartition(".")
    return getattr(import_module(module), name)(*args)


def throw(generator: Any, exception_name: str, message: str) -> Any:
    """``generator.throw(ExceptionName(message))`` for a builtin exception (what a server does
    when a write fails: ``BrokenPipeError`` at the paused ``yield``)."""
    import builtins

    cls = getattr(builtins, exception_name, None)
    if not (isinstance(cls, type) and issubclass(cls, Exception)):
        raise ValueError(f"{exception_name} is not a builtin exception")
    return generator.throw(cls(message))


class Kept:
    """A call's ``result`` and the ``args`` it was given, kept here for the check to read later
    (an inbox the answer's handlers go on filling after the call returned)."""

    def __init__(self, result: Any, args: tuple) -> None:
        self.result, self.args = result, args


def call_keeping(function: Any, *args: Any) -> Kept:
    """``function(*args)``, with its arguments kept where the answer can still change them."""
    return Kept(function(*args), args)


def socketio_client(url: str) -> Any:
    """A ``socketio.Client`` (no reconnection) connected to ``url`` over WebSocket, to hand to the answer."""
    import socketio

    client = socketio.Client(reconnection=False)
    client.connect(url, transports=["websocket"], wait_timeout=10)
    return client


def mount_blueprint(blueprint: Any, url_prefix: str, app_name: str = "exercise") -> Any:
    """A fresh Flask app with ``blueprint`` registered under ``url_prefix``."""
    from flask import Flask

    app = Flask(app_name)
    app.register_blueprint(blueprint, url_prefix=url_prefix)
    return app


def url_rules(app: Any) -> list[tuple[str, str, list[str]]]:
    """(rule, endpoint, methods) of every URL rule of a Flask app, sorted."""
    return sorted((rule.rule, rule.endpoint, sorted(rule.methods or ())) for rule in app.url_map.iter_rules())


def view_owners(app: Any) -> dict[str, str]:
    """Endpoint -> the qualified type name of the object a view is bound to ('' for a plain function)."""
    owners = {}
    for endpoint, view in app.view_functions.items():
        owner = getattr(view, "__self__", None)
        owners[endpoint] = "" if owner is None else f"{type(owner).__module__}.{type(owner).__qualname__}"
    return owners


# ------------------------------------------------------------------ 8.1: a stand-in for compare_digest

def signature_forms(value: Any) -> set[str]:
    """The spellings of a signature a compare could have been handed: the header as sent, its
    hex part, as str or bytes, or the raw digest bytes; all lower-cased."""
    forms: set[str] = set()
    text = None
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        forms.add(raw.hex())
        try:
            text = raw.decode("ascii")
        except UnicodeDecodeError:
            pass
    elif isinstance(value, str):
        text = value
    if text is not None:
        text = text.strip().lower()
        forms |= {text, text.removeprefix("sha256=")}
    return forms


class _CompareSpy:
    """Stands in for ``hmac.compare_digest``: records each call, and can answer the opposite of
    the truth for the comparison that decides the case, to see whether the answer's result
    follows the constant-time comparison or something else (``==``)."""

    def __init__(self, real) -> None:
        self.real = real
        self.expected = self.received = None
        self.flip = False
        self.calls: list[tuple[Any, Any, bool]] = []  # (a, b, what it answered), deciding calls only
        self.all_calls: list[tuple[Any, Any]] = []

    def deciding(self, a: Any, b: Any) -> bool:
        if self.expected is None or self.received is None:
            return False
        fa, fb = signature_forms(a), signature_forms(b)
        return (self.expected in fa and self.received in fb) or (self.expected in fb and self.received in fa)

    def __call__(self, a, b):
        result = self.real(a, b)
        self.all_calls.append((_plain(a), _plain(b)))
        if self.deciding(a, b):
            if self.flip:
                result = not result
            self.calls.append((_plain(a), _plain(b), result))
        return result


def _plain(value: Any) -> Any:
    return bytes(value) if isinstance(value, (bytes, bytearray, memoryview)) else (
        value if isinstance(value, str) else repr(value))


_spy: list[_CompareSpy] = []


def spy_install() -> None:
    """Put the stand-in wherever the answer can reach ``compare_digest``: the hmac and secrets
    modules, and any name in the answer's cell bound to the real function."""
    import hmac
    import secrets

    if _spy:
        return
    spy = _CompareSpy(hmac.compare_digest)
    _spy.append(spy)
    for name, value in list(namespace.items()):
        if value is spy.real:
            namespace[name] = spy
    hmac.compare_digest = secrets.compare_digest = spy


def spy_arm(expected: str | None, received: str | None, flip: bool) -> None:
    spy = _spy[0]
    spy.expected, spy.received, spy.flip, spy.calls, spy.all_calls = expected, received, flip, [], []


def spy_report() -> tuple[list, list]:
    return _spy[0].calls, _spy[0].all_calls


def flask_sse_views(app: Any) -> dict[str, str]:
    """Endpoint -> "blueprint" for a view of a mounted flask-sse Blueprint, "uses" for a view that
    calls flask-sse's ``stream``/``messages``, "" for any other (4.4: /manual-stream is the student's own)."""
    import inspect

    import flask_sse

    found = {}
    for endpoint, view in app.view_functions.items():
        if isinstance(getattr(view, "__self__", None), flask_sse.ServerSentEventsBlueprint):
            found[endpoint] = "blueprint"
        else:
            found[endpoint] = "uses" if _streams_with_flask_sse(inspect.unwrap(view), flask_sse) else ""
    return found


def _code_objects(code: Any) -> Iterator[Any]:
    yield code
    for const in code.co_consts:
        if isinstance(const, CodeType):
            yield from _code_objects(const)


def _streams_with_flask_sse(view: Any, flask_sse: Any) -> bool:
    """Whether a view is flask-sse's own stream, or calls its ``stream``/``messages``."""
    if isinstance(getattr(view, "__self__", None), flask_sse.ServerSentEventsBlueprint):
        return True
    code = getattr(view, "__code__", None)
    if code is None:
        return False
    names = set().union(*(c.co_names for c in _code_objects(code)))
    scope = getattr(view, "__globals__", {})
    uses_it = any(isinstance(scope.get(n), flask_sse.ServerSentEventsBlueprint) or scope.get(n) is flask_sse
                  for n in names)
    return uses_it and bool(names & {"stream", "messages"})


# ------------------------------------------------------------------ 16.1: an async stream, served as ASGI serves it

class _Hub:
    """What 16.1's ``notifications(hub)`` is given: ``join()`` an ``asyncio.Queue``, ``leave(queue)``."""

    def __init__(self) -> None:
        self.joined: list[Any] = []
        self.left: list[Any] = []

    def join(self) -> Any:
        import asyncio

        queue: asyncio.Queue = asyncio.Queue()
        self.joined.append(queue)
        return queue

    def leave(self, queue: Any) -> None:
        self.left.append(queue)


def drive_async_stream(events: Any, messages: list, how: str, after: int) -> dict[str, Any]:
    """Run ``events(hub)``, an async generator function, as Quart or Starlette runs a streamed
    body: a task iterates it, and the check's ``messages`` go into the queue it joined. ``how``:
    ``"end"`` (every message, then ``None``), ``"cancel"`` (``after`` messages, a quiet spell,
    then the task is cancelled: the server's answer to ``http.disconnect``) or ``"close"``
    (``after`` messages, the reader stops taking them, the task is cancelled and the generator,
    paused at its ``yield``, is closed with ``aclose()``).  Returns what happened, as plain data."""
    import threading

    record: dict[str, Any] = {"items": [], "joined": 0, "left": 0, "left_its_queue": False, "ticks": None,
                              "state": "running", "close_error": None, "hung": False}
    worker = threading.Thread(target=_run_drive, args=(events, messages, how, after, record), daemon=True)
    worker.start()
    worker.join(10)
    record["hung"] = worker.is_alive()
    return {key: (list(value) if isinstance(value, list) else value) for key, value in record.items()}


def _run_drive(events: Any, messages: list, how: str, after: int, record: dict) -> None:
    import asyncio

    try:
        asyncio.run(_drive(events, messages, how, after, record))
    except BaseException as exc:  # reported to the check as data
        record["state"] = f"error: {type(exc).__name__}: {exc}"


async def _drive(events: Any, messages: list, how: str, after: int, record: dict) -> None:
    import asyncio
    import time

    hub = _Hub()
    stream = events(hub)
    if not hasattr(stream, "__anext__"):
        record["state"] = f"not an async generator: {type(stream).__name__}"
        return
    gate = asyncio.Event()  # "close": the reader stops taking items

    async def serve() -> None:
        async for item in stream:
            record["items"].append(item.decode("utf-8", "replace") if isinstance(item, bytes) else
                                   item if isinstance(item, str) else f"<a {type(item).__name__}>")
            if how == "close" and len(hub.joined) and sum("data:" in i for i in record["items"]) >= after:
                await gate.wait()  # a write that does not finish: the generator stays paused at its yield

    task = asyncio.get_running_loop().create_task(serve())
    for _ in range(100):  # a second for the generator to join
        if hub.joined or task.done():
            break
        await asyncio.sleep(0.01)
    queue = hub.joined[0] if hub.joined else None
    for message in messages[:after] if how != "end" else messages:
        if queue is not None:
            queue.put_nowait(message)
        await asyncio.sleep(0.02)
    if how == "end":
        if queue is not None:
            queue.put_nowait(None)
        await asyncio.wait([task], timeout=2)
    else:
        started, ticks = time.monotonic(), 0
        while time.monotonic() - started < 0.5:  # a quiet spell: does the loop go on running?
            await asyncio.sleep(0.01)
            ticks += 1
        record["ticks"] = ticks
        task.cancel()
        await asyncio.wait([task], timeout=1)
        if how == "close":
            try:
                async with asyncio.timeout(1):
                    await stream.aclose()
            except BaseException as exc:  # reported to the check as data
                record["close_error"] = f"{type(exc).__name__}: {exc}"
    record["state"] = ("running" if not task.done() else "cancelled" if task.cancelled() else
                       f"error: {type(task.exception()).__name__}: {task.exception()}" if task.exception()
                       else "finished")
    record["joined"], record["left"] = len(hub.joined), len(hub.left)
    record["left_its_queue"] = bool(hub.left) and all(q is queue for q in hub.left)
