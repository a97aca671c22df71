"""The judge ends with whoever asked for the verdict: a killed kernel leaves no answer running."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap
import time

import psutil
import pytest

HANGING_ANSWER = "import time\ndef is_healthy(url):\n    time.sleep(300)\n"


def test_a_killed_caller_takes_its_judge_and_the_answer_with_it():
    caller = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        from labs.runtime.exercises.judge import judge
        judge("0.1", {HANGING_ANSWER!r}, timeout=120)
    """)])
    try:
        deadline = time.monotonic() + 30
        workers = []
        while not workers and time.monotonic() < deadline:
            workers = [child for child in psutil.Process(caller.pid).children(recursive=True)
                       if "labs.runtime.exercises.judge" in " ".join(child.cmdline())]
            time.sleep(0.1)
        assert workers, "the judge's worker process never started"
        caller.kill()  # as a killed kernel would be: no cleanup code runs
        caller.wait()
        gone, alive = psutil.wait_procs(workers, timeout=10)
        assert not alive, f"the judge outlived its caller: {alive}"
    finally:
        if caller.poll() is None:
            caller.kill()


def test_a_worker_that_fails_to_start_with_efault_is_started_again(monkeypatch):
    # Linux's vfork-then-exec returned EFAULT once in a full run (two judges starting at once).
    from labs.runtime.exercises import judge as judge_module

    real_popen, calls = subprocess.Popen, []

    def flaky_popen(*args, **kwargs):
        calls.append(args)
        if len(calls) == 1:
            raise OSError(errno.EFAULT, os.strerror(errno.EFAULT), sys.executable)
        return real_popen(*args, **kwargs)

    monkeypatch.setattr(judge_module.subprocess, "Popen", flaky_popen)
    verdict = judge_module.judge("8.1", "# Exercise 8.1\nraise NotImplementedError\n")
    assert verdict.status == judge_module.NOT_STARTED, verdict
    assert len(calls) == 2


def test_any_other_failure_to_start_the_worker_is_not_hidden(monkeypatch):
    from labs.runtime.exercises import judge as judge_module

    def failing_popen(*args, **kwargs):
        raise OSError(errno.ENOENT, "No such file or directory", sys.executable)

    monkeypatch.setattr(judge_module.subprocess, "Popen", failing_popen)
    with pytest.raises(FileNotFoundError):  # raised at once, not retried into a verdict
        judge_module.judge("8.1", "# Exercise 8.1\nraise NotImplementedError\n")
