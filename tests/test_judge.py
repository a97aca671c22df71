"""The judge ends with whoever asked for the verdict: a killed kernel leaves no answer running."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
import time

import psutil
import pytest

HANGING_ANSWER = "import time\ndef is_healthy(url):\n    time.sleep(300)\n"


def _command_line(process: psutil.Process) -> str:
    """A child's command line, or "" for one that has just exited (short-lived helpers come and go)."""
    try:
        return " ".join(process.cmdline())
    except psutil.NoSuchProcess:  # ZombieProcess is one too
        return ""


@pytest.mark.parametrize("preloaded", [False, True], ids=["started-from-scratch", "forked"])
def test_a_killed_caller_takes_its_judge_and_the_answer_with_it(preloaded):
    caller = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        from labs.exercises.judge import judge
        judge("0.1", {HANGING_ANSWER!r}, timeout=120, preloaded={preloaded})
    """)])
    try:
        deadline = time.monotonic() + 30
        workers: list = []
        wanted = 2 if preloaded else 1  # forked: the server, and the judge it forked for this answer
        while len(workers) < wanted and time.monotonic() < deadline:
            workers = [child for child in psutil.Process(caller.pid).children(recursive=True)
                       if "labs.exercises." in _command_line(child)]
            time.sleep(0.1)
        assert len(workers) >= wanted, f"the judge's worker process never started: {workers}"
        caller.kill()  # as a killed kernel would be: no cleanup code runs
        caller.wait()
        gone, alive = psutil.wait_procs(workers, timeout=10)
        assert not alive, f"the judge outlived its caller: {alive}"
    finally:
        if caller.poll() is None:
            caller.kill()


def test_a_judge_process_that_fails_to_start_with_efault_is_started_again(monkeypatch, tmp_path):
    # Linux's vfork-then-exec returned EFAULT once in a full run (two judges starting at once).
    from labs.exercises import judge as judge_module

    real_popen, calls = subprocess.Popen, []

    def flaky_popen(*args, **kwargs):
        calls.append(args)
        if len(calls) == 1:
            raise OSError(errno.EFAULT, os.strerror(errno.EFAULT), sys.executable)
        return real_popen(*args, **kwargs)

    monkeypatch.setattr(judge_module.subprocess, "Popen", flaky_popen)
    started = judge_module._Started(str(tmp_path))
    try:
        assert len(calls) == 2 and started.process.poll() is None
    finally:
        started.kill_group()


def test_any_other_failure_to_start_the_judge_process_is_not_hidden(monkeypatch, tmp_path):
    from labs.exercises import judge as judge_module

    def failing_popen(*args, **kwargs):
        raise OSError(errno.ENOENT, "No such file or directory", sys.executable)

    monkeypatch.setattr(judge_module.subprocess, "Popen", failing_popen)
    with pytest.raises(FileNotFoundError):  # raised at once, not retried into a verdict
        judge_module._Started(str(tmp_path))


@pytest.mark.parametrize("forked", [True, False], ids=["forked", "started-from-scratch"])
def test_both_ways_of_starting_a_judge_give_the_same_verdicts(forked, monkeypatch):
    from labs.exercises import forkserver
    from labs.exercises import judge as judge_module

    if forked and not forkserver.available():
        pytest.skip("the fork server is for Linux")
    answers = {"# Exercise 8.1\nraise NotImplementedError\n": judge_module.NOT_STARTED,
               "# Exercise 8.1\ndef verify_github_signature(*a):\n    return True\n": judge_module.NOT_SOLVED,
               "# Exercise 8.1\nimport time\ntime.sleep(60)\n": judge_module.ERROR}
    for source, status in answers.items():
        verdict = judge_module.judge("8.1", source, timeout=2, preloaded=forked)
        assert verdict.status == status, (source, verdict)


def test_forked_judges_are_fresh_copies_and_each_leads_its_own_process_group():
    from labs.exercises import forkserver
    from labs.exercises.judge import judge

    if not forkserver.available():
        pytest.skip("the fork server is for Linux")
    # An answer that leaves a mark in a module every judge imports: the next judge must not see it;
    # and an answer sees only its own processes (its sandbox's PID namespace), not its judge's.
    leaves = "# Exercise 8.1\nimport json\njson.sse_kit_mark = 1\nraise NotImplementedError\n"
    looks = ("# Exercise 8.1\nimport json, os\nassert not hasattr(json, 'sse_kit_mark')\n"
             "assert len([p for p in os.listdir('/proc') if p.isdigit()]) <= 3\nraise NotImplementedError\n")
    assert judge("8.1", leaves, preloaded=True).status == "not started"
    verdict = judge("8.1", looks, preloaded=True)
    assert verdict.status == "not started", verdict


def test_a_stopped_fork_server_costs_one_judgement_and_is_replaced(monkeypatch):
    from labs.exercises import forkserver
    from labs.exercises.judge import judge

    if not forkserver.available():
        pytest.skip("the fork server is for Linux")
    stub = "# Exercise 8.1\nraise NotImplementedError\n"
    assert judge("8.1", stub, preloaded=True).status == "not started"
    stopped = forkserver._server.process
    monkeypatch.setattr(forkserver, "REPLY_SECONDS", 1.0)
    os.kill(stopped.pid, signal.SIGSTOP)
    try:
        with pytest.raises(OSError, match="fork server"):
            judge("8.1", stub, preloaded=True)
        assert judge("8.1", stub, preloaded=True).status == "not started", "a new server took over"
        assert stopped.poll() is not None, "the stopped server was ended, not left behind"
    finally:
        if stopped.poll() is None:
            stopped.kill()
