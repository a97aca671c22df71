"""One browser finder for tests, notebooks, checks and screenshots (labs.harness.browser).

- the order: ``CHROMIUM`` (a wrong one is an error, never replaced), then a headless shell
  (the system's, then Playwright's), then the system's Chromium or Chrome, then Playwright's
  own downloaded browser, all found on disk only;
- with none, words a student can act on (in a notebook: those words, not a traceback);
- a browser driven from a notebook is closed when its block ends, and dies with its kernel
  however the kernel ends (SIGKILL of the kernel alone or of its process group).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil
import pytest
from test_launcher import assert_all_gone, execute_until_printed, kernel, run_cell, shell_reply  # noqa: F401

from labs.harness import browser as finder
from labs.harness.browser import HOW_TO_GET_ONE, BrowserUnavailable, find_browser


def program(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def places(tmp_path):
    """A system PATH, a Playwright folder and CHROMIUM, all under tmp_path and all empty."""
    return {"path": tmp_path / "bin", "playwright": tmp_path / "ms-playwright", "home": tmp_path / "home"}


def find(places, **environ):
    env = {"HOME": str(places["home"]), "PLAYWRIGHT_BROWSERS_PATH": str(places["playwright"]), **environ}
    return find_browser(environ=env, search_path=str(places["path"]), system_paths=(), shell_paths=())


def test_the_order_is_chromium_variable_then_headless_shells_then_full_browsers(places, tmp_path):
    downloaded_old = program(places["playwright"] / "chromium-1200" / "chrome-linux64" / "chrome")
    downloaded = program(places["playwright"] / "chromium-1255" / "chrome-linux64" / "chrome")
    program(places["playwright"] / "chromium_headless_shell-1300" / "chrome-headless-shell-linux64" / "x")
    assert find(places) == str(downloaded), "the newest of Playwright's own, when nothing else is there"
    assert downloaded_old != downloaded
    system = program(places["path"] / "google-chrome")
    assert find(places) == str(system), "a system Chrome before Playwright's"
    chromium = program(places["path"] / "chromium")
    assert find(places) == str(chromium), "Chromium before Chrome"
    shell_old = program(places["playwright"] / "chromium_headless_shell-1190" / "chrome-linux" / "headless_shell")
    assert find(places) == str(shell_old), "Playwright's headless shell (its old layout) before any full browser"
    shell = program(places["playwright"] / "chromium_headless_shell-1300" / "chrome-headless-shell-linux64"
                    / "chrome-headless-shell")
    assert find(places) == str(shell), "the newest headless shell"
    system_shell = program(places["path"] / "chromium-headless-shell")
    assert find(places) == str(system_shell), "the system's headless shell before Playwright's"
    chosen = program(tmp_path / "elsewhere" / "my-chromium")
    assert find(places, CHROMIUM=str(chosen)) == str(chosen), "CHROMIUM before everything"


def test_debians_headless_shell_is_found_by_its_real_path(tmp_path):
    # Debian's /usr/bin/chromium-headless-shell is a shell script that starts the real program without
    # `exec`; the real one first, so that the browser Playwright starts and stops is Chromium itself.
    assert finder.SHELL_PATHS[0] == "/usr/lib/chromium/chromium-headless-shell"
    real = program(tmp_path / "lib" / "chromium-headless-shell")
    program(tmp_path / "bin" / "chromium-headless-shell")
    found = find_browser(environ={"HOME": str(tmp_path)}, search_path=str(tmp_path / "bin"), system_paths=(),
                         shell_paths=(str(real),))
    assert found == str(real)


def test_a_chromium_variable_naming_nothing_is_an_error_not_a_fallback(places):
    program(places["path"] / "chromium")
    with pytest.raises(BrowserUnavailable, match="CHROMIUM='/nonexistent/chromium' is not a program"):
        find(places, CHROMIUM="/nonexistent/chromium")


def test_playwrights_folder_follows_its_own_rules(tmp_path):
    home = tmp_path / "home"
    assert finder.playwright_browser_folders({"HOME": str(home)})[0] == home / ".cache" / "ms-playwright"
    assert finder.playwright_browser_folders({"HOME": str(home), "XDG_CACHE_HOME": str(tmp_path / "c")})[0] \
        == tmp_path / "c" / "ms-playwright"
    assert finder.playwright_browser_folders({"PLAYWRIGHT_BROWSERS_PATH": str(tmp_path / "p")}) == [tmp_path / "p"]
    inside = finder.playwright_browser_folders({"PLAYWRIGHT_BROWSERS_PATH": "0", "HOME": str(home)})[0]
    assert inside.name == ".local-browsers" and "playwright" in inside.parts


def test_with_no_browser_it_says_how_to_get_one_and_downloads_nothing(places, monkeypatch):
    def no_processes(*args, **kwargs):
        raise AssertionError(f"the finder ran a program: {args}")

    monkeypatch.setattr(subprocess, "Popen", no_processes)
    with pytest.raises(BrowserUnavailable) as raised:
        find(places)
    assert str(raised.value) == HOW_TO_GET_ONE
    for way in ("apt install chromium", "python -m playwright install chromium", "CHROMIUM=", "restart the kernel"):
        assert way in HOW_TO_GET_ONE
    assert finder.find_chromium() is not None, "this machine has one (the browser tests need it)"


def test_the_notebooks_first_cell_says_what_it_found(capsys, monkeypatch):
    assert finder.browser_check() is True
    assert capsys.readouterr().out == "✅ Found a Chromium to drive headless: this notebook's browser cells will run.\n"
    monkeypatch.setenv("CHROMIUM", "/nonexistent/chromium")
    assert finder.browser_check() is False
    assert capsys.readouterr().out.startswith("⚠️  No browser: CHROMIUM='/nonexistent/chromium'")


def test_the_old_import_path_is_the_same_finder():
    from tools import chromium

    assert chromium.find_chromium is finder.find_chromium and chromium.CHROMIUM_FLAGS is finder.CHROMIUM_FLAGS


# ---------------------------------------------------------------- driving it, and never leaving it behind

def browsers_under(pid: int) -> list[int]:
    """Chromium processes among ``pid``'s descendants (Playwright starts it in a session of its own)."""
    found = []
    for child in psutil.Process(pid).children(recursive=True):
        try:
            if "chrom" in child.name().lower() or "headless" in child.name().lower():
                found.append(child.pid)
        except psutil.NoSuchProcess:
            pass
    return found


HOLD_A_BROWSER = textwrap.dedent("""
    import os, sys, time
    from labs.harness.browser import chromium
    with chromium() as browser:
        tab = browser.new_page()
        tab.goto("about:blank")
        print(os.getpid(), flush=True)
        time.sleep(120)
""")


@pytest.mark.browser
@pytest.mark.parametrize("whole_group", [False, True], ids=["the-process-alone", "its-process-group"])
def test_a_script_killed_outright_leaves_no_browser(whole_group):
    holder = subprocess.Popen([sys.executable, "-c", HOLD_A_BROWSER], stdout=subprocess.PIPE, text=True,
                              start_new_session=True)
    try:
        assert holder.stdout.readline().strip() == str(holder.pid)
        tree = [holder.pid, *[child.pid for child in psutil.Process(holder.pid).children(recursive=True)]]
        assert browsers_under(holder.pid), "a Chromium was started"
        if whole_group:
            os.killpg(holder.pid, signal.SIGKILL)
        else:
            holder.kill()
        holder.wait()
        assert_all_gone(tree, timeout=15)
    finally:
        if holder.poll() is None:
            os.killpg(holder.pid, signal.SIGKILL)


NOTEBOOK_BROWSER = """
import os, psutil
from labs.harness.browser import headless_chromium
async with headless_chromium() as browser:
    tab = await browser.new_page()
    await tab.goto("about:blank")
    print(os.getpid(), await tab.evaluate("1 + 1"), flush=True)
    {body}
"""
WAITING = NOTEBOOK_BROWSER.format(body="import asyncio; await asyncio.sleep(60)")


@pytest.mark.browser
def test_in_a_notebook_the_block_closes_the_browser_even_when_a_cell_fails_or_is_interrupted(kernel):  # noqa: F811
    manager, client = kernel
    reply = run_cell(client, NOTEBOOK_BROWSER.format(body="pass"))
    assert reply["status"] == "ok" and reply["text"].split()[1] == "2", reply
    kernel_pid = int(reply["text"].split()[0])
    assert not browsers_under(kernel_pid), "closed at the end of the block"

    reply = run_cell(client, NOTEBOOK_BROWSER.format(body="raise ValueError('a student mistake')"))
    assert reply["ename"] == "ValueError"
    assert_all_gone(browsers_under(kernel_pid))
    assert not browsers_under(kernel_pid)

    msg_id, _ = execute_until_printed(client, WAITING)
    held = browsers_under(kernel_pid)
    assert held, "a browser while the cell runs"
    manager.interrupt_kernel()  # the ■ button
    assert shell_reply(client, msg_id, 30)["ename"] in ("KeyboardInterrupt", "CancelledError")
    assert_all_gone(held)


@pytest.mark.browser
def test_a_killed_kernel_leaves_no_browser(kernel):  # noqa: F811
    manager, client = kernel
    msg_id, kernel_pid = execute_until_printed(client, WAITING)
    tree = [kernel_pid, *[child.pid for child in psutil.Process(kernel_pid).children(recursive=True)]]
    assert browsers_under(kernel_pid)
    manager.signal_kernel(signal.SIGKILL)  # as nbval ends a kernel: no finally runs
    assert_all_gone(tree, timeout=15)


@pytest.mark.browser
def test_without_a_browser_a_notebook_shows_how_to_get_one_not_a_traceback(kernel):  # noqa: F811
    _, client = kernel
    reply = run_cell(client, "import os\nos.environ['CHROMIUM'] = ''\nos.environ['PATH'] = ''\n"
                             "os.environ['PLAYWRIGHT_BROWSERS_PATH'] = '/nonexistent'\n"
                             "from labs.harness import browser\nbrowser.SYSTEM_PATHS = browser.SHELL_PATHS = ()\n"
                             "async with browser.headless_chromium() as b:\n    pass")
    assert reply["ename"] == "BrowserUnavailable", reply
    assert reply["traceback"] == [f"⚠️  No browser: {HOW_TO_GET_ONE}"]
