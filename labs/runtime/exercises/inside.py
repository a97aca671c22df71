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

__all__ = ["mount_blueprint", "url_rules", "view_owners", "flask_sse_views", "new", "throw"]

# Classes a check may make on the answer's side, to hand to the answer and watch (a queue the
# check fills, a lock the answer must hold, the exercise's own box or set): "module.Name".
SHAREABLE = {
    "queue.Queue", "queue.SimpleQueue", "threading.Lock", "threading.RLock", "threading.Event",
    "threading.Condition", "labs.runtime.client.Event",
    "labs.runtime.exercises.nb04._GuardedSet", "labs.runtime.exercises.nb06.Box",
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
