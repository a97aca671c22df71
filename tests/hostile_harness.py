"""A throw-away copy of the kit, graded by ``python -m labs grade`` as a chosen user, watched.

Used by tests/test_hostile_answers.py. Hostile answers may poison the kit or its venv, so the
grader never runs over the checkout under test: :func:`make_kit` copies the repository's files
(``git ls-files``, untracked ones included) into a fresh folder with a venv of its own, made
with ``-m venv --without-pip`` from a Python that the grading user may run. That venv's
site-packages holds a ``.pth`` naming the copy's root (as ``make venv``'s ``sse_kit.pth`` does)
and a symbolic link to the checkout's own site-packages, so the packages are the checkout's
while every path the kit sees (``sys.prefix``, its own files) is the copy's.

:func:`grade` runs the real command, as root or as another user (``setpriv``), with a mark in
its environment, and samples ``/proc`` while it runs: the grader's peak memory, the most
processes it and its descendants had at once, and the largest of them. :func:`leftovers`
finds what is still running afterwards: anything carrying the mark, naming the run's folder
on its command line or working in it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import stat
import subprocess
import sys
import sysconfig
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARK = "SSE_KIT_HOSTILE_RUN"
NOBODY = 65534
PAGE = os.sysconf("SC_PAGE_SIZE")
SETPRIV = shutil.which("setpriv") or "/usr/bin/setpriv"


@dataclass
class Kit:
    """A copy of the kit (``kit``) and its venv, in ``base`` with the run's other folders."""

    base: Path  # everything of this copy's runs lives below it
    kit: Path  # the copy of the repository
    python: Path  # the copy's venv's python
    uid: int | None  # the grading user (None: the test's own)

    @property
    def venv(self) -> Path:
        return self.kit / ".venv"

    def command(self, *args: str) -> list[str]:
        """``args`` run as this kit's user."""
        if self.uid is None:
            return list(args)
        return [SETPRIV, f"--reuid={self.uid}", f"--regid={self.uid}", "--clear-groups", "--", *args]

    def environment(self, mark: str, **extra: str) -> dict[str, str]:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.base / "home"),
               "TMPDIR": str(self.base / "tmp"), "LANG": "C.UTF-8", MARK: mark}
        env.update(extra)
        return env


def user_problem(uid: int | None) -> str | None:
    """Why this machine cannot grade as ``uid`` (None: root itself), or None when it can."""
    if os.geteuid() != 0:
        return f"grading as root and as uid {NOBODY} needs the tests to run as root (they run as uid {os.geteuid()})"
    if uid is None:
        return None
    if not os.access(SETPRIV, os.X_OK):
        return "setpriv (util-linux) is not installed"
    try:
        run = subprocess.run([SETPRIV, f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--", "/bin/true"],
                             capture_output=True, text=True, timeout=30)
    except OSError as exc:
        return f"setpriv failed: {exc}"
    if run.returncode != 0:
        return f"setpriv cannot switch to uid {uid}: {run.stderr.strip()}"
    python = python_for(uid)
    if not _runs_as(uid, python):
        return (f"uid {uid} can run neither this Python nor {python}: a venv for that user needs a Python of the "
                f"same version it can reach (e.g. Debian's python{sys.version_info.major}.{sys.version_info.minor})")
    return None


def python_for(uid: int | None) -> Path:
    """The Python the copy's venv is made from: the checkout's own for root, and for another user
    too where that user can run it (GitHub's setup-python puts it in a world-readable folder);
    else the system's ``/usr/bin/python3.X`` of the same minor version (so the checkout's
    compiled packages load), since the checkout's may live where others cannot go (/root)."""
    own = Path(getattr(sys, "_base_executable", sys.executable))
    if uid is None or _runs_as(uid, own):
        return own
    return Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}")


def _runs_as(uid: int, python: Path) -> bool:
    try:
        # access(2) as that user: running it is no proof (an exec that cannot reach the path can
        # end up in another python of the same name).
        run = subprocess.run([SETPRIV, f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--", "/usr/bin/test",
                              "-x", str(python)], capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    return run.returncode == 0


def copy_repository(dest: Path) -> None:
    listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            capture_output=True, check=True).stdout
    for name in sorted(set(listed.decode().split("\0")) - {""}):
        source = ROOT / name
        if not source.is_file() or source.is_symlink():
            continue  # deleted in the working tree but still in the index, or a link
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, dest / name)


def make_kit(base: Path, uid: int | None) -> Kit:
    """A copy of the checkout in ``base/kit`` with its own venv, owned by the grading user."""
    base.mkdir(parents=True)
    kit = base / "kit"
    copy_repository(kit)
    python = python_for(uid)
    if not os.access(python, os.X_OK):
        raise RuntimeError(f"{python} is needed to make a venv the grading user can run; it is not there")
    subprocess.run([str(python), "-m", "venv", "--without-pip", str(kit / ".venv")], check=True, capture_output=True)
    tag = f"python{sys.version_info.major}.{sys.version_info.minor}"
    site = kit / ".venv" / "lib" / tag / "site-packages"
    (site / "_sse_kit_checkout").symlink_to(sysconfig.get_paths()["purelib"], target_is_directory=True)
    (site / "sse_kit.pth").write_text(f"{kit}\n{site / '_sse_kit_checkout'}\n")
    for folder in ("home", "tmp", "work"):
        (base / folder).mkdir()
    result = Kit(base, kit, kit / ".venv" / "bin" / "python", uid)
    if uid is not None:
        os.chmod(base, 0o755)
        for path in [base, *base.rglob("*")]:
            os.lchown(path, uid, uid)
    # The kit's own modules compiled now, as an installed kit's are, so an honest run writes nothing.
    subprocess.run(result.command(str(result.python), "-m", "compileall", "-q", str(kit / "labs")),
                   check=True, capture_output=True, env=result.environment("setup"))
    return result


def tree_digest(path: Path) -> dict[str, str]:
    """Every file, folder and link below ``path`` (links not followed) -> what it holds."""
    found: dict[str, str] = {}
    for folder, dirs, files in os.walk(path):
        for name in dirs + files:
            full = os.path.join(folder, name)
            info = os.lstat(full)
            if stat.S_ISLNK(info.st_mode):
                what = "link " + os.readlink(full)
            elif stat.S_ISDIR(info.st_mode):
                what = f"dir {info.st_mode:o}"
            elif stat.S_ISREG(info.st_mode):
                with open(full, "rb") as handle:
                    what = f"file {info.st_mode:o} {hashlib.sha256(handle.read()).hexdigest()}"
            else:
                what = f"other {info.st_mode:o}"
            found[os.path.relpath(full, path)] = what
    return found


def changes(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return sorted([f"added {name}" for name in after.keys() - before.keys()]
                  + [f"removed {name}" for name in before.keys() - after.keys()]
                  + [f"changed {name}" for name in before.keys() & after.keys() if before[name] != after[name]])


# ------------------------------------------------------------------ processes

def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError:
        return b""


def process_table() -> dict[int, tuple[str, int, int]]:
    """pid -> (state, parent pid, resident bytes), for every process."""
    table = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            text = _read(f"/proc/{name}/stat")
            if text:
                rest = text[text.rfind(b")") + 2:].split()
                table[int(name)] = (rest[0].decode(), int(rest[1]), int(rest[21]) * PAGE)
    return table


def descendants(pid: int, table: dict[int, tuple[str, int, int]]) -> set[int]:
    children: dict[int, list[int]] = {}
    for child, (_, parent, _) in table.items():
        children.setdefault(parent, []).append(child)
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def leftovers(base: Path, marks: set[str]) -> dict[int, str]:
    """Processes (not zombies) of these runs still there: they carry one of ``marks`` in their
    environment, name ``base`` on their command line, or work below it; -> their command line."""
    found = {}
    needle, me = str(base).encode(), os.getpid()
    wanted = {f"{MARK}={mark}".encode() for mark in marks}
    for pid, (state, _, _) in process_table().items():
        if pid == me or state == "Z":
            continue
        cmdline = _read(f"/proc/{pid}/cmdline")
        try:
            cwd = os.readlink(f"/proc/{pid}/cwd").encode()
        except OSError:
            cwd = b""
        if (needle in cmdline or cwd.startswith(needle)
                or wanted & set(_read(f"/proc/{pid}/environ").split(b"\0"))):
            found[pid] = cmdline.replace(b"\0", b" ").decode(errors="replace").strip()
    return found


def kill(pids) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


@dataclass
class Watch:
    """What a sampler saw while a grader ran."""

    grader_peak_bytes: int = 0  # the grader's own VmHWM
    most_processes: int = 0  # its descendants (and any process naming the run's folder) at once
    largest: tuple[int, str] = (0, "")  # the largest of those (resident bytes, command line)
    samples: int = 0


def _sample(grader: int, base: bytes, watch: Watch, named: dict[int, bool]) -> None:
    table = process_table()
    ours = descendants(grader, table)
    for pid in table.keys() - ours - {grader}:
        if pid not in named:
            named[pid] = base in _read(f"/proc/{pid}/cmdline")
        if named[pid]:
            ours.add(pid)
    watch.most_processes = max(watch.most_processes, len(ours))
    for pid in ours:
        if table[pid][2] > watch.largest[0]:
            watch.largest = (table[pid][2], _read(f"/proc/{pid}/cmdline").replace(b"\0", b" ").decode(errors="replace"))
    for line in _read(f"/proc/{grader}/status").splitlines():
        if line.startswith(b"VmHWM:"):
            watch.grader_peak_bytes = max(watch.grader_peak_bytes, int(line.split()[1]) * 1024)
    watch.samples += 1


@dataclass
class Graded:
    """One run of ``python -m labs grade``."""

    returncode: int | None  # None: it had not ended after the harness's own limit, and was killed
    stdout: str
    stderr: str
    seconds: float
    junit: Path
    watch: Watch
    mark: str
    left: dict[int, str] = field(default_factory=dict)  # what was still running once it ended

    def rows(self) -> dict[str, tuple[str, str]]:
        """The table's rows: the submission's folder -> (outcome, message)."""
        found = {}
        for line in self.stdout.splitlines():
            if line.startswith("class/"):
                notebook, _ident, rest = line.split(None, 2)
                outcome = "not solved" if rest.startswith("not solved") else rest.split()[0]
                found[notebook.split("/")[1]] = (outcome, rest[len(outcome):].strip())
        return found


def grade(kit: Kit, submissions: str, *args: str, limit: float, extra_env: dict[str, str] | None = None) -> Graded:
    """``python -m labs grade --junitxml ... ARGS class`` over ``kit``, with ``kit.base/work/
    submissions`` as its folder ``class``; killed (and said so) if it runs past ``limit`` s."""
    work = kit.base / "work" / f"run-{uuid.uuid4().hex[:8]}"
    shutil.copytree(kit.base / "work" / submissions, work / "class")
    junit = work / "report.xml"
    if kit.uid is not None:
        for path in [work, *work.rglob("*")]:
            os.lchown(path, kit.uid, kit.uid)
    mark, before = uuid.uuid4().hex, descendants(os.getpid(), process_table())
    command = kit.command(str(kit.python), "-m", "labs", "grade", "--junitxml", str(junit), *args, "class")
    started = time.monotonic()
    with open(work / "stdout", "wb") as out, open(work / "stderr", "wb") as err:
        grader = subprocess.Popen(command, cwd=work, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                  env=kit.environment(mark, **(extra_env or {})))
    watch, named, stop = Watch(), {}, threading.Event()

    def sample() -> None:
        while not stop.wait(0.2):
            _sample(grader.pid, str(kit.base).encode(), watch, named)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        returncode = grader.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        grader.kill()
        grader.wait()
        returncode = None
    finally:
        stop.set()
        sampler.join()
    seconds = time.monotonic() - started
    left: dict[int, str] = {}
    for _ in range(15):  # a judge killed a moment ago may take a moment to go
        left = leftovers(kit.base, {mark})
        table = process_table()
        left.update({pid: _read(f"/proc/{pid}/cmdline").replace(b"\0", b" ").decode(errors="replace")
                     for pid in descendants(os.getpid(), table) - before if table[pid][0] != "Z"})
        if not left:
            break
        time.sleep(0.2)
    return Graded(returncode, (work / "stdout").read_text(errors="replace"), _tail(work / "stderr"), seconds,
                  junit, watch, mark, left)


def _tail(path: Path, size: int = 20000) -> str:
    with open(path, "rb") as handle:
        handle.seek(max(0, path.stat().st_size - size))
        return handle.read().decode(errors="replace")
