"""The kit's own helpers that a check runs *inside* the answer's sandbox, on the answer's objects.

Some answers are objects that only mean something where they live: a blueprint to mount on an
app, an app whose routes to list. A check asks for one of these by name
(``answer.inside("mount_blueprint", blueprint, "/admin")``); the answer's process runs it and sends
back plain data or a reference. What comes back is weighed like anything else the answer's side
says: as data, never as a verdict. Only the functions named in ``__all__`` can be asked for.
"""

from __future__ import annotations

from typing import Any

__all__ = ["mount_blueprint", "url_rules", "view_owners"]


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
