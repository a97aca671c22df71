"""Where the judge's check processes come from, quickly: one clean process, forked per answer.

Starting Python, importing the checks and the libraries they use (Flask, requests, Playwright,
Redis's client) cost about 0.1-0.5 s of CPU for every answer judged. So the first judgement
with ``judge(..., preloaded=True)`` in a process (the grader, a test worker) starts this
module once: a Python that imports all of that, runs no answer ever, and waits. For each answer
it forks a child, which

- leads a process session of its own (so the judge can kill it and everything it started);
- takes the three pipes the judge handed over (its stdin, stdout and stderr) and a fresh
  working directory;
- runs :func:`labs.exercises.check_process.main`, exactly as a process started from scratch
  would: it moves into a network namespace of its own, imports the check, starts the answer in
  its sandbox, decides the verdict, and ends with ``os._exit``.

Answers never run here or in the children: they run in sandboxes the children start, in PID
namespaces of their own, so no answer can see, signal or stop this server. Should it stop or
wedge all the same, a request it does not answer within ``REPLY_SECONDS`` costs that one
judgement, and the server is replaced. It ends when the process that started it goes (its end
of the socket closes), and a child ends, with its whole process group, when the server goes.
Linux only (fork after imports is not safe on macOS); elsewhere the judge starts each process
from scratch, as before.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from importlib import import_module
from pathlib import Path

from labs.exercises import check_process

# What the checks import when they run: imported once here, not once per answer.
PRELOAD = ("flask", "werkzeug.serving", "requests", "redis", "socketio", "playwright.sync_api",
           "labs.harness.launcher", "labs.harness.client", "labs.harness.redis_server")


REPLY_SECONDS = 10.0  # for the server to fork a judge: it takes milliseconds
START_SECONDS = 60.0  # for a new server's first reply, which waits for its imports (seconds under load)


def available() -> bool:
    return sys.platform.startswith("linux") and hasattr(os, "fork") and hasattr(socket, "send_fds")


# ------------------------------------------------------------------ the judge's side

def kill_group(pid: int) -> None:
    """SIGKILL the process group that judge process ``pid`` leads, if it is still there."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class _Server:
    def __init__(self) -> None:
        self.first = True
        self.sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        with theirs:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "labs.exercises.forkserver", str(theirs.fileno())],
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                start_new_session=True)

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        """Kill it (the next judgement starts a new one); its forked judges die with it."""
        kill_group(self.process.pid)
        self.sock.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass

    def fork(self, workdir: str, fds: list[int]) -> int:
        # A stopped or wedged server costs one judgement, not the run.
        self.sock.settimeout(START_SECONDS if self.first else REPLY_SECONDS)
        self.first = False
        try:
            socket.send_fds(self.sock, [json.dumps({"workdir": workdir}).encode()], fds)
            reply = self.sock.recv(4096)
        except OSError as exc:  # socket.timeout included
            self.stop()
            raise OSError(f"the judge's fork server did not answer ({exc or 'timed out'})") from None
        if not reply:
            self.stop()
            raise OSError("the judge's fork server stopped")
        answer = json.loads(reply)
        if "pid" not in answer:
            raise OSError(f"the judge's fork server refused: {answer.get('error')}")
        return answer["pid"]


_server: _Server | None = None
_server_lock = threading.Lock()


class Forked:
    """A judge process forked by the server: its pid (and process group) and our ends of its pipes."""

    def __init__(self, workdir: str) -> None:
        global _server
        child_in, self._stdin = os.pipe()
        self._stdout, child_out = os.pipe()
        self._stderr, child_err = os.pipe()
        try:
            with _server_lock:
                if _server is None or not _server.alive():
                    _server = _Server()
                self.pid = _server.fork(workdir, [child_in, child_out, child_err])
        except BaseException:
            for fd in (self._stdin, self._stdout, self._stderr):
                os.close(fd)
            raise
        finally:
            for fd in (child_in, child_out, child_err):
                os.close(fd)

    def communicate(self, text: str, timeout: float) -> tuple[str, str]:
        """Write ``text`` to its stdin, then read its stdout and stderr to the end (as
        ``Popen.communicate`` does); ``subprocess.TimeoutExpired`` after ``timeout`` s."""
        try:
            os.write(self._stdin, text.encode())  # the child reads it first thing, so this cannot block long
        except BrokenPipeError:
            pass  # it is gone already: what it wrote says why
        finally:
            self._close("_stdin")
        chunks: dict[int, list[bytes]] = {self._stdout: [], self._stderr: []}
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as selector:
            for fd in chunks:
                selector.register(fd, selectors.EVENT_READ)
            while selector.get_map():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise subprocess.TimeoutExpired("judge", timeout)
                for key, _ in selector.select(left):
                    data = os.read(key.fd, 65536)
                    if data:
                        chunks[key.fd].append(data)
                    else:
                        selector.unregister(key.fd)
        out, err = (b"".join(chunks[fd]).decode(errors="replace") for fd in (self._stdout, self._stderr))
        return out, err

    def kill_group(self) -> None:
        kill_group(self.pid)
        for name in ("_stdin", "_stdout", "_stderr"):  # stdin too, if communicate never ran
            self._close(name)

    def _close(self, name: str) -> None:
        """Close one of our pipe ends once (a second close could hit a number reused since)."""
        fd = getattr(self, name)
        if fd is not None:
            setattr(self, name, None)
            os.close(fd)


# ------------------------------------------------------------------ the server

def _preload() -> None:
    for path in sorted(Path(__file__).parent.glob("nb[0-9][0-9]*")):
        import_module(f"labs.exercises.{path.stem}")
    for name in PRELOAD:
        try:
            import_module(name)
        except ImportError:
            pass  # a check that needs it says so when it runs


def _child(sock: socket.socket, fds: list[int], workdir: str) -> None:
    """In the forked child: become a judge process started for this one answer."""
    sock.close()
    os.setsid()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the server's setting; checks wait for their servers
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(workdir)
    check_process.main(parent=os.getppid())


def serve(fd: int) -> None:
    sock = socket.socket(fileno=fd)
    _preload()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped as they end
    while True:
        try:
            message, fds, _flags, _address = socket.recv_fds(sock, 4096, 3)
        except OSError:
            return
        if not message:
            return  # whoever started us is gone
        if len(fds) != 3:
            for descriptor in fds:
                os.close(descriptor)
            sock.sendall(json.dumps({"error": "three pipes expected"}).encode())
            continue
        pid = os.fork()
        if pid == 0:
            try:
                _child(sock, fds, json.loads(message)["workdir"])
            finally:
                os._exit(70)  # check_process.main ends with os._exit; this is for its own failure
        for descriptor in fds:
            os.close(descriptor)
        sock.sendall(json.dumps({"pid": pid}).encode())


if __name__ == "__main__":
    serve(int(sys.argv[1]))
