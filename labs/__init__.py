"""sse-kit: the lessons (`labs/<name>.py`), their core, the harness and the exercises.

The pieces a notebook or test usually needs are importable from here::

    from labs import start_lab, EventStream, check, hint

They are imported on first use, not with the package: small helper processes such as
``python -m labs.harness.watchdog`` then start without loading Flask, requests and the rest.
"""

from importlib import import_module

_EXPORTS = {
    "EventStream": "labs.harness.client", "post_json": "labs.harness.client",
    "check": "labs.exercises.student", "hint": "labs.exercises.student", "progress": "labs.exercises.student",
    "LabServer": "labs.harness.launcher", "start_lab": "labs.harness.launcher",
    "start_proxy": "labs.harness.nginx", "TimedStream": "labs.harness.stream_timing",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'labs' has no attribute {name!r}")
