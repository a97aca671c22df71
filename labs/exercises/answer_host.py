"""Inside the sandbox: run one exercise cell, then do what its check asks, over the channel.

``python -m labs.exercises.answer_host FD`` is started by the judge's check process
under bubblewrap (:mod:`~labs.exercises.sandbox`), with one end of a socket as ``FD``.
The first message is the cell (``run``); then every request (``get``, ``call``, ``getattr``,
``getitem``, ``len``, ``iter``, ``next``, ``serve``) is answered on a thread of its own, so a
check can wait on one call while it makes another. Results go back as plain data, or as a
reference to an object kept here (:mod:`~labs.exercises.channel`).

Nothing here is trusted: the answer shares this process and may change any of it. What it can
send back is data the check weighs, never a verdict.
"""

from __future__ import annotations

import itertools
import logging
import os
import socket
import sys
import threading
import traceback
from typing import Any

from labs.exercises import channel


class _Called:
    """A call's result, with its arguments as they are after it."""

    def __init__(self, value: Any, args: tuple, kwargs: dict) -> None:
        self.value, self.args, self.kwargs = value, args, kwargs


class Host:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.namespace: dict[str, Any] = {}
        self.filename = "<exercise>"
        self.objects: dict[int, Any] = {}
        self.numbers_of: dict[int, int] = {}
        self.numbers = itertools.count(1)
        self.write_lock = threading.Lock()

    # ------------------------------------------------------------ references

    def make_ref(self, value: Any) -> channel.Ref:
        """The same object always gets the same number (the check compares references by it)."""
        number = self.numbers_of.get(id(value))
        if number is None:
            number = self.numbers_of[id(value)] = next(self.numbers)
            self.objects[number] = value  # kept alive, so its id is never reused
        names = [f"{t.__module__}.{t.__qualname__}" for t in type(value).__mro__]
        ref = channel.Ref(number, "|".join(names[:8]), callable(value))
        return ref

    def resolve(self, ref: channel.Ref) -> Any:
        try:
            return self.objects[ref.number]
        except KeyError:
            raise LookupError(f"no object #{ref.number} here") from None

    # ------------------------------------------------------------ requests

    def reply(self, number: Any, message: dict) -> None:
        message["id"] = number
        with self.write_lock:
            channel.send(self.sock, message)

    def handle(self, request: dict) -> None:
        number = request.get("id")
        try:
            result = self.perform(request)
            if isinstance(result, _Called):
                message = {"ok": channel.encode(result.value, self.make_ref),
                           "after": channel.encode([result.args, result.kwargs], self.make_ref)}
            else:
                message = {"ok": channel.encode(result, self.make_ref)}
        except BaseException as exc:  # everything an answer raises goes back to its check
            message = {"raise": self.describe(exc)}
        try:
            self.reply(number, message)
        except (OSError, ValueError) as exc:  # too big to send, or the check is gone
            self.reply(number, {"raise": self.describe(exc)})

    def perform(self, request: dict) -> Any:
        op = request.get("op")
        arg = lambda key: channel.decode(request.get(key), self.resolve)  # noqa: E731
        if op == "run":
            self.filename = f"<exercise {request['ident']}>"
            code = compile(request["source"], self.filename, "exec")
            self.namespace["__name__"] = f"exercise_{request['ident'].replace('.', '_')}"
            from labs.exercises import inside

            inside.namespace = self.namespace  # what the kit's helpers here may look at
            exec(code, self.namespace)  # the student's cell, as a notebook would run it
            return None
        if op == "names":
            return sorted(name for name in self.namespace if not name.startswith("__"))
        if op == "get":
            name = request["name"]
            if name not in self.namespace:
                raise NameError(f"your cell should define `{name}`; it does not")
            return self.namespace[name]
        if op == "inside":  # one of the kit's helpers, on the answer's objects
            from labs.exercises import inside

            if request.get("name") not in inside.__all__:
                raise ValueError(f"no helper {request.get('name')!r} inside")
            return getattr(inside, request["name"])(*arg("args"))
        target = arg("target")
        if op == "call":  # the arguments go back too: a check sees what the answer did to them
            args, kwargs = arg("args"), arg("kwargs")
            return _Called(target(*args, **kwargs), args, kwargs)
        if op == "getattr":
            return getattr(target, request["name"])
        if op == "getitem":
            return target[arg("key")]
        if op == "len":
            return len(target)
        if op == "iter":
            return iter(target)
        if op == "next":
            return next(target)
        if op == "serve":
            return serve_wsgi(target)
        raise ValueError(f"unknown request {op!r}")

    def describe(self, exc: BaseException) -> dict:
        lines = [frame.lineno for frame in traceback.extract_tb(exc.__traceback__) if frame.filename == self.filename]
        if isinstance(exc, SyntaxError) and exc.filename == self.filename:
            lines.append(exc.lineno)
        try:
            args = channel.encode(tuple(exc.args))
        except (TypeError, ValueError):
            args = channel.encode((str(exc),))
        bases = [t.__name__ for t in type(exc).__mro__[1:] if t.__module__ == "builtins"]
        return {"type": type(exc).__name__, "message": str(exc)[:2000], "args": args, "bases": bases,
                "line": lines[-1] if lines else None}

    def serve_forever(self) -> None:
        while True:
            try:
                request = channel.receive(self.sock)
            except channel.ChannelError:
                os._exit(0)  # the check is done with us (or gone): nothing here outlives it
            if request.get("op") == "run":
                self.handle(request)  # the cell runs before anything is asked of it
            else:
                threading.Thread(target=self.handle, args=(request,), daemon=True).start()


def serve_wsgi(app: Any) -> int:
    """Serve a WSGI app (a Flask app) from threads of this process on 127.0.0.1; its port."""
    if not callable(app):
        raise TypeError(f"a {type(app).__name__} is not a WSGI app")
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.CRITICAL)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server.server_address[1]


def main(fd: int) -> None:
    sock = socket.socket(fileno=fd)
    sys.stdin.close()
    Host(sock).serve_forever()


if __name__ == "__main__":
    main(int(sys.argv[1]))
