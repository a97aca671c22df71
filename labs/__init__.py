"""sse-kit's lab servers and the runtime they share.

The pieces a notebook or test usually needs are importable from here::

    from labs import start_lab, EventStream, check

They are imported on first use, not with the package: small helper processes such as
``python -m labs.watchdog`` then start without loading Flask, requests and the rest.
"""

from importlib import import_module

_EXPORTS = {
    "EventStream": "labs.client", "post_json": "labs.client",
    "check": "labs.exercises", "progress": "labs.exercises",
    "LabServer": "labs.launcher", "start_lab": "labs.launcher",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'labs' has no attribute {name!r}")
