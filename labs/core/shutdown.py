"""Leaving gracefully: on SIGTERM, tell every reader when to come back, then stop.

A deploy stops a server with SIGTERM.  Cutting its streams there and then sends every
reader back at the same moment: each ``EventSource`` waits its ``retry:`` time (the same
for all of them) and they all reconnect together, a storm that lands on the servers still
running.  Instead a server that is asked to stop first says goodbye to each reader with a
last event carrying a ``retry:`` of its own, picked at random in a range (jitter), so the
readers come back spread out over that range (notebook 13 plots both).

:func:`on_sigterm` registers something that can say goodbye (the ``manual_sse`` lab's
state): an object with ``say_goodbye()`` (end every stream with its last event) and
``pending()`` (streams still open).  The first SIGTERM starts the goodbye in a thread;
once every stream has ended, or after :data:`GRACE_SECONDS`, the process signals itself
again and the handler that was there before (the development server's, gunicorn's
worker's) stops the server as it always did.  Further SIGTERMs in between change nothing.
The hook is installed once per process, and only from the main thread (where Python runs
signal handlers); elsewhere (an app made in a test's thread) it is simply not installed.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
import weakref
from typing import Any

from labs.core.sse import encode_json_event

GRACE_SECONDS = 1.5  # at most this long between SIGTERM and stopping, goodbyes or not
DEFAULT_SHUTDOWN_RETRY_MS = (1000, 5000)
MAX_RETRY_MS = 3_600_000

_targets: weakref.WeakSet = weakref.WeakSet()
_hook: dict[str, Any] = {"installed": False, "previous": None, "started": False, "done": False}


def retry_range(value: Any) -> tuple[int, int]:
    """A ``retry:`` setting as ``(low, high)`` milliseconds: ``2000`` is fixed, ``[1000, 5000]`` a range."""
    pair = [value, value] if isinstance(value, int) else (list(value) if isinstance(value, (list, tuple)) else [])
    if len(pair) != 2 or any(isinstance(v, bool) or not isinstance(v, int) for v in pair) \
            or not 0 <= pair[0] <= pair[1] <= MAX_RETRY_MS:
        raise ValueError(f"a retry must be whole milliseconds, one number or [low, high] with "
                         f"0 <= low <= high <= {MAX_RETRY_MS}; got {value!r}")
    return pair[0], pair[1]


def pick_retry_ms(bounds: tuple[int, int], rng: random.Random | None = None) -> int:
    """One reader's ``retry:``: uniform in ``bounds`` (both ends included)."""
    return (rng or random).randint(*bounds)


def goodbye_event(bounds: tuple[int, int]) -> bytes:
    """A stream's last event when its server is stopping: ``event: goodbye`` with this reader's own
    ``retry:`` picked in ``bounds``, so that readers do not all come back in the same millisecond."""
    retry = pick_retry_ms(bounds)
    return encode_json_event({"reason": "server stopping", "retry_ms": retry}, event="goodbye", retry=retry).encode()


def on_sigterm(target: Any) -> bool:
    """Have ``target`` say goodbye on SIGTERM; False if this thread cannot install the hook."""
    if not _hook["installed"]:
        if threading.current_thread() is not threading.main_thread():
            return False
        _hook["previous"] = signal.getsignal(signal.SIGTERM)
        signal.signal(signal.SIGTERM, _handler)
        _hook["installed"] = True
    _targets.add(target)
    return True


def _handler(signum, frame) -> None:
    if _hook["done"]:  # the goodbyes are said: stop the way this process always stopped
        previous = _hook["previous"]
        if callable(previous):
            previous(signum, frame)
        else:  # SIG_DFL (or SIG_IGN): put it back and let it act
            signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
            os.kill(os.getpid(), signum)
        return
    if not _hook["started"]:
        _hook["started"] = True
        # Not here: a signal handler interrupts the main thread anywhere, maybe holding a
        # lock that saying goodbye needs.  A thread of its own (a greenlet under gevent) can wait.
        _spawn(_say_goodbye_then_stop, signum)


def _spawn(function, *args) -> None:
    """Run ``function`` beside the main thread, without waiting here for it to start.

    Under gunicorn's gevent worker a Python signal handler runs inside gevent's event loop,
    where even ``Thread.start()`` (which waits for the thread to begin) is a blocking call
    that gevent refuses; a greenlet is spawned there instead.
    """
    try:
        from gevent import monkey
    except ImportError:
        monkey = None
    if monkey is not None and monkey.is_module_patched("threading"):
        import gevent

        gevent.spawn(function, *args)
    else:
        threading.Thread(target=function, args=args, daemon=True, name="goodbye").start()


def _say_goodbye_then_stop(signum: int) -> None:
    targets = list(_targets)
    for target in targets:
        target.say_goodbye()
    deadline = time.monotonic() + GRACE_SECONDS
    while any(target.pending() for target in targets) and time.monotonic() < deadline:
        time.sleep(0.02)
    _hook["done"] = True
    os.kill(os.getpid(), signum)
