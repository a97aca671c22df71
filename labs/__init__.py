"""sse-kit's lab servers and the runtime they share.

The pieces a notebook or test usually needs are importable from here::

    from labs import start_lab, EventStream, check, hint

They are imported on first use, not with the package: small helper processes such as
``python -m labs.runtime.watchdog`` then start without loading Flask, requests and the rest.
"""

from importlib import import_module

_EXPORTS = {
    "EventStream": "labs.runtime.client", "post_json": "labs.runtime.client",
    "check": "labs.runtime.exercises", "hint": "labs.runtime.exercises", "progress": "labs.runtime.exercises",
    "LabServer": "labs.runtime.launcher", "start_lab": "labs.runtime.launcher",
    "start_proxy": "labs.runtime.nginx", "TimedStream": "labs.runtime.stream_timing",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'labs' has no attribute {name!r}")
