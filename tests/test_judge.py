"""The judge ends with whoever asked for the verdict: a killed kernel leaves no answer running."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import psutil

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
