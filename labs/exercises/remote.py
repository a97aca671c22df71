"""The check's side of an answer: the answer runs in a sandbox, the check holds proxies.

:class:`AnswerProcess` starts :mod:`~labs.exercises.answer_host` under the sandbox, hands it
the cell and keeps the channel. :class:`RemoteAnswer` is what a check receives (the ``answer``
of ``@exercise`` functions): ``answer.function("f")(1, "x")`` sends the arguments (plain data) to
the answer's process and returns what ``f`` returned there, as plain data, or as a
:class:`RemoteObject` when it is anything else (a generator, a Flask app, a response...).

A proxy reads attributes, calls, indexes, iterates and takes ``len`` over the channel. It does not
forward ``==``, ``hash`` or ``bool``: whatever an answer's objects claim about themselves stays on
their side, and a check compares plain values only (two proxies are equal when they stand for the
same object, which the reference says). Calls are copy-in, copy-out: a list, dict or set the
check passed ends up holding what the answer's copy held after the call. Nothing the answer prints is read as anything.
"""

from __future__ import annotations

import ast
import builtins
import itertools
import os
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from labs.exercises import channel, sandbox

OUTPUT_KEPT = 64 * 1024  # bytes of an answer's stdout and of its stderr kept; the rest is counted, not kept


class AnswerError(Exception):
    """The answer raised an exception with no builtin counterpart (its type name is kept)."""


class AnswerTimeout(BaseException):
    """The answer did not reply in time (not an Exception: a check's ``except`` cannot hide it)."""


class AnswerGone(BaseException):
    """The answer's process ended, or broke the channel, before replying."""


# ------------------------------------------------------------------ the answer's process

class _Output:
    """One of the answer's output pipes, read to the end; the first ``OUTPUT_KEPT`` bytes kept."""

    def __init__(self, pipe) -> None:
        self.kept, self.dropped = bytearray(), 0
        self.thread = threading.Thread(target=self._drain, args=(pipe,), daemon=True)
        self.thread.start()

    def _drain(self, pipe) -> None:
        with pipe:
            while chunk := pipe.read1(65536) if hasattr(pipe, "read1") else pipe.read(65536):
                room = OUTPUT_KEPT - len(self.kept)
                self.kept += chunk[:max(room, 0)]
                self.dropped += max(len(chunk) - max(room, 0), 0)

    def text(self) -> str:
        said = self.kept.decode(errors="replace")
        return said + (f"\n[{self.dropped} more bytes of output dropped]" if self.dropped else "")


class AnswerProcess:
    """The sandboxed process that runs one answer; ``deadline`` is a ``time.monotonic()`` value."""

    def __init__(self, scratch: str, deadline: float) -> None:
        self.deadline = deadline
        self.sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        env = {key: value for key, value in os.environ.items()
               if key in ("PATH", "LANG", "LC_ALL", "PYTHONPATH", "SYSTEMROOT")}
        env.update(PYTHONDONTWRITEBYTECODE="1", PYTHONUNBUFFERED="1", PYTHONSAFEPATH="1")
        with theirs:
            self.process = sandbox.popen(
                [sys.executable, "-m", "labs.exercises.answer_host", str(theirs.fileno())], scratch,
                pass_fds=(theirs.fileno(),), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.stdout, self.stderr = _Output(self.process.stdout), _Output(self.process.stderr)
        self.numbers = itertools.count(1)
        self.pending: dict[int, Future] = {}
        self.lock = threading.Lock()
        self.broken: str | None = None
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        while True:
            try:
                message = channel.receive(self.sock)
                future = self.pending.pop(message.get("id"), None)
            except (channel.ChannelError, TypeError) as exc:  # TypeError: an unhashable id
                self.broken = str(exc)
                with self.lock:
                    waiting, self.pending = list(self.pending.values()), {}
                for future in waiting:
                    future.set_result(None)
                return
            if future is not None and not future.done():
                future.set_result(message)

    def call(self, target: Any, args: tuple, kwargs: dict) -> Any:
        """Call an object of the answer's with plain arguments, and apply to the check's own lists,
        dicts and sets whatever the call did to their copies there (as if they had been shared)."""
        reply: dict = {}
        result = self.request("call", target=target, args=channel.encode(args), kwargs=channel.encode(kwargs),
                              reply=reply)
        try:
            after = channel.decode(reply.get("after", [None, None]), lambda ref: RemoteObject(self, ref))
            if isinstance(after, list) and len(after) == 2:
                _copy_back(list(args), after[0]), _copy_back(kwargs, after[1])
        except channel.ChannelError:
            pass
        return result

    def request(self, op: str, timeout: float | None = None, reply: dict | None = None, **fields: Any) -> Any:
        """Ask the answer's process to do ``op``; its plain result (proxies for objects), or the
        exception the answer raised, rebuilt here."""
        future: Future = Future()
        with self.lock:
            number = next(self.numbers)
            self.pending[number] = future
            try:
                channel.send(self.sock, {"id": number, "op": op, **fields})
            except OSError:
                self.pending.pop(number, None)
                raise AnswerGone(self.why_gone()) from None
            if self.broken:
                future.set_result(None)
        left = self.deadline - time.monotonic()
        wait = max(0.0, left if timeout is None else min(timeout, left))
        try:
            message = future.result(wait)
        except FutureTimeout:
            self.pending.pop(number, None)
            raise AnswerTimeout(f"your answer did not reply within {wait:.3g} s") from None
        if message is None:
            raise AnswerGone(self.why_gone())
        if reply is not None:
            reply.update(message)
        try:
            if "ok" in message:
                return channel.decode(message["ok"], lambda ref: RemoteObject(self, ref))
            raise_info = message.get("raise")
            if type(raise_info) is not dict:
                raise channel.ChannelError("a reply that is neither a result nor an exception")
            error = rebuild_exception(raise_info)
        except channel.ChannelError as exc:
            raise AnswerGone(f"your answer's process sent something that is not a reply ({exc})") from None
        raise error

    def why_gone(self) -> str:
        try:
            code = self.process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            code = None
        last = [line for line in self.stderr.text().splitlines() if line.strip()][-1:]
        how = {None: "closed its channel", -9: "was killed (a limit: memory, CPU or processes?)"}.get(
            code, f"ended with exit status {code}")
        return f"your answer's process {how}" + (f"; it said: {last[0][:300]}" if last else "")

    def close(self) -> None:
        try:
            self.sock.close()
        finally:
            sandbox.end(self.process)


def _copy_back(originals: Any, after: Any) -> None:
    """Make each mutable container in ``originals`` hold what its copy ``after`` holds."""
    if isinstance(originals, dict) and isinstance(after, dict):
        pairs = [(originals[key], after[key]) for key in originals if key in after]
    elif isinstance(originals, list) and isinstance(after, (list, tuple)) and len(after) == len(originals):
        pairs = list(zip(originals, after, strict=True))
    else:
        return
    for original, new in pairs:
        if type(original) is list and isinstance(new, list):
            original[:] = new
        elif type(original) is dict and isinstance(new, dict):
            original.clear()
            original.update(new)
        elif type(original) is set and isinstance(new, set):
            original.clear()
            original.update(new)


def rebuild_exception(info: dict) -> BaseException:
    """The answer's exception as one the check can catch: the builtin class of the same name
    (or the nearest builtin base the answer named), else :class:`AnswerError`; never anything
    that is not an ``Exception``. Its ``answer_type`` and ``answer_line`` say where it came from."""
    name = str(info.get("type", "Exception"))[:200]
    message = str(info.get("message", ""))[:2000]
    bases = [str(base) for base in info.get("bases", []) if type(base) is str][:20]
    found: type[BaseException] = AnswerError
    for candidate in [name, *bases]:
        cls = getattr(builtins, candidate, None)
        if isinstance(cls, type) and issubclass(cls, Exception) and cls is not AssertionError:
            found = cls
            break
    args = channel.decode(info.get("args", {"$t": []}))
    try:
        error = found(*args) if isinstance(args, tuple) else found(message)
    except Exception:
        error = found(message) if found is not AnswerError else AnswerError(message)
    if found is AnswerError:
        error = AnswerError(message)
    error.answer_type = name  # type: ignore[attr-defined]
    error.answer_message = message  # type: ignore[attr-defined]
    line = info.get("line")
    error.answer_line = line if type(line) is int else None  # type: ignore[attr-defined]
    return error


# ------------------------------------------------------------------ proxies

class RemoteObject:
    """An object that lives in the answer's process."""

    __slots__ = ("_process", "_ref")

    def __init__(self, process: AnswerProcess, ref: channel.Ref) -> None:
        object.__setattr__(self, "_process", process)
        object.__setattr__(self, "_ref", ref)

    def __channel_ref__(self) -> channel.Ref:
        return self._ref

    @property
    def remote_types(self) -> list[str]:
        """The qualified names of its type and bases, as the answer's side reported them."""
        return self._ref.type_name.split("|")

    def is_a(self, qualified_name: str) -> bool:
        return qualified_name in self.remote_types

    @property
    def remote_callable(self) -> bool:
        return self._ref.callable

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._process.call(self._encode_self(), args, kwargs)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return self._process.request("getattr", target=self._encode_self(), name=name)

    def __getitem__(self, key: Any) -> Any:
        return self._process.request("getitem", target=self._encode_self(), key=channel.encode(key))

    def __len__(self) -> int:
        size = self._process.request("len", target=self._encode_self())
        if type(size) is not int or size < 0:
            raise TypeError("len() of the answer's object is not a count")
        return size

    def __iter__(self) -> RemoteObject:
        iterator = self._process.request("iter", target=self._encode_self())
        if not isinstance(iterator, RemoteObject):
            raise TypeError("the answer's object gave no iterator")
        return iterator

    def __next__(self) -> Any:
        return self._process.request("next", target=self._encode_self())

    def __eq__(self, other: object) -> bool:
        """The same object of the answer's (decided here, from the reference: never asked of it)."""
        return isinstance(other, RemoteObject) and other._process is self._process and (
            other._ref.number == self._ref.number)

    def __hash__(self) -> int:
        return hash((id(self._process), self._ref.number))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("an answer's object is read from here, not changed")

    def __repr__(self) -> str:
        return f"<the answer's {self.remote_types[0]}>"

    def _encode_self(self) -> Any:
        return channel.encode(self._ref)


# ------------------------------------------------------------------ what a check receives

class RemoteAnswer:
    """What the student's exercise cell defined, as a check sees it (the cell ran elsewhere)."""

    def __init__(self, process: AnswerProcess, source: str) -> None:
        self.process = process
        self.source = source

    @property
    def namespace(self):
        raise AttributeError("the answer runs in a sandbox: use answer.names(), answer.get(name) or answer.value(name)")

    def names(self) -> list[str]:
        return list(self.process.request("names"))

    def get(self, name: str, default: Any = None) -> Any:
        """``name``'s value (plain data or a proxy), or ``default`` when the cell did not define it."""
        try:
            return self.process.request("get", name=name)
        except NameError:
            return default

    def value(self, name: str) -> Any:
        """The value the cell gave ``name``. ``NotImplemented`` (a stub's) means not started."""
        missing = object()
        value = self.get(name, missing)
        if value is missing:
            raise AssertionError(f"your cell should define `{name}`; it does not")
        if value is NotImplemented:
            raise NotImplementedError(name)
        return value

    def function(self, name: str) -> RemoteObject:
        """The function the cell defined as ``name`` (a proxy: call it with plain data)."""
        value = self.value(name)
        if not (isinstance(value, RemoteObject) and value.remote_callable):
            raise AssertionError(f"`{name}` should be a function; it is a {_type_name(value)}")
        return value

    def literal(self, name: str) -> Any:
        """A prediction: the value of ``name``, written out as a literal in the cell. Read from the
        source without running anything; ``name = NotImplemented`` means not started."""
        found = None
        for node in ast.walk(ast.parse(self.source)):
            if isinstance(node, ast.Assign) and any(
                    isinstance(target, ast.Name) and target.id == name for target in node.targets):
                found = node.value if found is None or node.col_offset == 0 else found
        if found is None:
            raise AssertionError(f"assign your prediction to `{name}` with `{name} = ...`")
        if isinstance(found, ast.Name) and found.id == "NotImplemented":
            raise NotImplementedError(name)
        try:
            return ast.literal_eval(found)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            raise AssertionError(
                f"write `{name}` out as a literal value (a prediction, made before running "
                "anything), not as an expression that computes it") from None

    def inside(self, helper: str, *args: Any) -> Any:
        """Run one of the kit's helpers (:mod:`~labs.exercises.inside`) in the answer's
        process, on its objects (proxies) and plain data."""
        return self.process.request("inside", name=helper, args=channel.encode(args))

    def serve(self, target: str | RemoteObject) -> str:
        """Serve a WSGI app the answer made (a name, or a proxy) from the answer's sandbox, on
        127.0.0.1; its base URL."""
        app = self.value(target) if isinstance(target, str) else target
        port = self.process.request("serve", target=channel.encode(app))
        if type(port) is not int or not 0 < port < 65536:
            raise AssertionError("the answer's app could not be served")
        return f"http://127.0.0.1:{port}"

    def test_client(self, target: str | RemoteObject) -> HttpTestClient:
        """Something like Flask's test client for the answer's app, over real HTTP."""
        return HttpTestClient(self.serve(target))

    def output(self) -> str:
        """What the answer printed so far (capped), for messages; never read for a verdict."""
        return self.process.stdout.text() + self.process.stderr.text()


def _type_name(value: Any) -> str:
    return value.remote_types[0].rsplit(".", 1)[-1] if isinstance(value, RemoteObject) else type(value).__name__


class HttpTestClient:
    """Flask's test-client calls (``get``, ``post``...) sent over HTTP to an app served from the
    answer's sandbox; responses read whole into :class:`PlainResponse`."""

    def __init__(self, url: str, timeout: float = 10) -> None:
        import requests

        self.url, self.timeout, self.session = url, timeout, requests.Session()

    def open(self, path: str, method: str = "GET", *, json: Any = None, data: Any = None,
             headers: dict | None = None, query_string: dict | None = None, content_type: str | None = None,
             **_: Any) -> PlainResponse:
        headers = dict(headers or {})
        if content_type:
            headers["Content-Type"] = content_type
        response = self.session.request(method, self.url + path, json=json, data=data, headers=headers,
                                        params=query_string, timeout=self.timeout, allow_redirects=False)
        return PlainResponse(response)

    def get(self, path: str, **kwargs: Any) -> PlainResponse:
        return self.open(path, "GET", **kwargs)

    def post(self, path: str, **kwargs: Any) -> PlainResponse:
        return self.open(path, "POST", **kwargs)

    def put(self, path: str, **kwargs: Any) -> PlainResponse:
        return self.open(path, "PUT", **kwargs)

    def delete(self, path: str, **kwargs: Any) -> PlainResponse:
        return self.open(path, "DELETE", **kwargs)

    def options(self, path: str, **kwargs: Any) -> PlainResponse:
        return self.open(path, "OPTIONS", **kwargs)


class PlainResponse:
    """The parts of a Werkzeug test response that checks read."""

    def __init__(self, response) -> None:
        self.status_code = response.status_code
        self.status = f"{response.status_code} {response.reason}"
        self.headers = response.headers
        self.data = response.content
        self.content_type = response.headers.get("Content-Type", "")
        self.mimetype = self.content_type.split(";")[0].strip().lower()

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")

    def get_data(self, as_text: bool = False):
        return self.text if as_text else self.data

    def get_json(self, silent: bool = False) -> Any:
        import json

        try:
            return json.loads(self.data)
        except ValueError:
            if silent:
                return None
            raise

    @property
    def json(self) -> Any:
        return self.get_json(silent=True)
