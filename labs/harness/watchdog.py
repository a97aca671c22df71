"""Processes that die with whoever started them.

A lab server or Redis runs in its own process session, so a kernel interrupt (which
signals the kernel's whole process group) does not kill it halfway through a cell.
The price is that it would outlive its parent if the parent were killed outright
(nbval ends kernels with SIGKILL, a student closes the laptop lid...).  So every child
gets a pipe on its standard input and watches it: when the parent dies, for any
reason, the kernel closes the pipe, the child reads end-of-file and stops.

This works the same way on Linux and macOS and needs no cleanup code in the parent.
A guarded program (below) also stops if its guard finds it has a new parent: the pipe's
write end could have been inherited by some other process that lives on.

Run a non-Python program (such as ``redis-server``) under this guard with::

    python -m labs.harness.watchdog -- redis-server --port 6380

``--pass-fd N`` (before ``--``, repeatable) hands the program our open descriptor ``N``
(nginx gets its listening socket this way, see :mod:`labs.harness.nginx`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time


def exit_when_stdin_closes(on_eof=None) -> threading.Thread:
    """Start a daemon thread that ends this process once standard input reaches EOF.

    By default it sends this process SIGTERM, so the main thread's normal shutdown
    (``finally`` blocks, context managers) still runs.
    """

    def watch() -> None:
        try:
            while os.read(sys.stdin.fileno(), 4096):
                pass
        except OSError:
            pass
        if on_eof is not None:
            on_eof()
        else:
            os.kill(os.getpid(), signal.SIGTERM)

    thread = threading.Thread(target=watch, name="parent-watchdog", daemon=True)
    thread.start()
    return thread


def raise_on_sigterm() -> None:
    """Turn SIGTERM into KeyboardInterrupt so that Ctrl-C and ``kill`` clean up alike."""

    def handler(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, handler)


def guard(argv: list[str], pass_fds: tuple[int, ...] = ()) -> int:
    """Run ``argv`` as a child; stop it when our stdin closes or we are signalled."""
    parent = os.getppid()
    # A plain list, not a threading.Event: a signal handler runs in the main thread between
    # two bytecodes, possibly while that thread holds the Event's lock inside wait(), and
    # Event.set() would then wait for that lock for ever.  Appending to a list takes no lock.
    stopping: list[bool] = []

    def request_stop(*_) -> None:
        stopping.append(True)

    # Handlers first, then the program: a SIGTERM that came in between would otherwise
    # end the guard by default and leave the program running on its own.
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, request_stop)
    exit_when_stdin_closes(on_eof=request_stop)
    child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, pass_fds=pass_fds)
    for fd in pass_fds:  # the program has them now; a socket must close when the program ends
        os.close(fd)
    while not stopping:
        if child.poll() is not None:
            return child.returncode
        if os.getppid() != parent:  # orphaned, even if something else still holds our stdin pipe
            break
        time.sleep(0.1)
    child.terminate()
    try:
        return child.wait(5)
    except subprocess.TimeoutExpired:
        child.kill()
        return child.wait()


if __name__ == "__main__":
    args = sys.argv[1:]
    fds = []
    while args[:1] == ["--pass-fd"] and len(args) > 1:
        fds.append(int(args[1]))
        args = args[2:]
    if args[:1] == ["--"]:
        args = args[1:]
    if not args:
        sys.exit("usage: python -m labs.harness.watchdog [--pass-fd N]... -- PROGRAM [ARGS...]")
    sys.exit(guard(args, tuple(fds)))
