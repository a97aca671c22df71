"""After each notebook that pytest runs (``--nbval``), nothing it started may be left running.

Each notebook's kernel is started with a mark of its own in its environment; every lab
server, Redis and helper process the notebook starts inherits it.  When nbval has stopped
the kernel (it kills the kernel's process group, as a crash would), any process still
carrying the mark is an orphan, and the notebook's last cell fails, naming it.
"""

from __future__ import annotations

import os
import time
import uuid

import psutil
import pytest

MARK = "SSE_KIT_NOTEBOOK_RUN"
GRACE_SECONDS = 15  # a lab's watchdog notices its parent is gone within a second or so


def _is_notebook_cell(item) -> bool:
    return str(item.fspath).endswith(".ipynb")


def _marked(mark: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter():
        if process.pid == os.getpid():
            continue
        try:
            if process.environ().get(MARK) == mark:
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            pass
    return found


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    # The kernel starts while the notebook's first cell is set up: mark it before that.
    if _is_notebook_cell(item) and getattr(item.parent, "_sse_kit_mark", None) is None:
        item.parent._sse_kit_mark = os.environ[MARK] = uuid.uuid4().hex
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item, nextitem):
    yield  # after this, a notebook whose last cell this was has had its kernel stopped
    mark = getattr(item.parent, "_sse_kit_mark", None)
    if mark is None or (nextitem is not None and nextitem.parent is item.parent):
        return
    os.environ.pop(MARK, None)
    deadline = time.monotonic() + GRACE_SECONDS
    while (left := _marked(mark)) and time.monotonic() < deadline:
        time.sleep(0.2)
    if left:
        names = [f"{p.pid} {' '.join(p.cmdline())[:120]}" for p in left if p.is_running()]
        for process in left:  # don't let one notebook's orphans disturb the rest of the run
            try:
                process.kill()
            except psutil.Error:
                pass
        if names:
            pytest.fail(f"{item.fspath.basename} left processes running after its kernel stopped: {names}",
                        pytrace=False)
