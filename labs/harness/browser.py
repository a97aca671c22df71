"""One way to find and drive headless Chromium, for tests, notebooks, checks and screenshots.

Where the browser comes from, in this order:

1. ``CHROMIUM``: the path of a Chromium or Chrome program, if set.  Only that one: a wrong
   path is an error, never quietly replaced by another browser;
2. Chromium's *headless shell*, installed on the system (Debian's ``chromium-headless-shell``
   package) or downloaded by Playwright (``python -m playwright install chromium`` fetches
   it beside the full browser);
3. a Chromium or Chrome installed on the system (Debian's ``/usr/bin/chromium``, one on
   ``PATH``, macOS's and Windows' usual places);
4. the full Chromium Playwright downloads itself, found on disk only.

Why the headless shell first: the kit only ever drives a browser headless, and the headless
shell is the same Chromium (Blink, V8, the network stack) without the desktop browser around
it; it is what Playwright itself launches for headless runs.  Measured on this project's
2-core machine (Chromium 156, a lab page with an open ``EventSource``): a new tab costs
0.26 s of CPU in the headless shell and 1.7 s in the full browser, and an idle tab 0.014 s
against 0.065 s a second.  Over ``make test`` that was 85 s of Chromium CPU instead of 351 s.

The kit never downloads a browser: not here, not in ``make lab`` or ``make test``.  When
none is found, :class:`BrowserUnavailable` says how to get one, in words a student can act
on (a notebook shows just that, not a traceback).

Driving it, always through Playwright, always headless:

- :func:`chromium`: a context manager for scripts, checks and tools (Playwright's sync API);
- :func:`headless_chromium`: the same for notebooks (``async with``: a notebook already runs
  an event loop, so Playwright's async API is the one that works there; ``await`` works at
  the top level of a cell).

Both close the browser when the block ends, however it ends.  And if the process driving it
is killed outright (a killed kernel; nbval ends kernels with SIGKILL), the browser goes too:
Playwright's driver exits when its standard input (a pipe from this process) closes, and
Chromium exits when its DevTools pipe from the driver closes.  ``tests/test_browser_finder.py``
kills a driving process both ways and checks that no Chromium is left.
"""

from __future__ import annotations

import contextlib
import glob
import importlib.util
import os
import shutil
import sys
from pathlib import Path

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    # Without these, Chromium keeps trying to reach Google's services, which a classroom
    # or CI machine with no network refuses, many connections at a time.
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
"""Flags for every launch.  ``--disable-quic``: the labs speak TCP, and notebook 11 counts
TCP connections (HTTP/1.1) and streams in one TCP connection (HTTP/2), not HTTP/3."""

HOW_TO_GET_ONE = """\
This needs a Chromium (or Chrome) browser, and none was found. Any one of these gives you one:
  * install your system's Chromium: `sudo apt install chromium` (Debian/Ubuntu; Debian's
    `chromium-headless-shell` package, headless only, is lighter still), or install Google Chrome;
  * let Playwright download its own, once, on a machine with internet access:
        python -m playwright install chromium
  * or point the kit at a browser you already have: set CHROMIUM=/path/to/chromium (or chrome)
    before starting Jupyter.
Then restart the kernel and run this notebook again."""

SHELL_NAMES = ("chromium-headless-shell", "chrome-headless-shell")
SHELL_PATHS = ("/usr/lib/chromium/chromium-headless-shell",)  # Debian's (/usr/bin's is a shell script around it)
SYSTEM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
SYSTEM_PATHS = (
    "/usr/bin/chromium",
    "/Applications/Chromium.app/Contents/MacOS/Chromium",
    "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
    r"C:\Program Files\Google\Chrome\Application\chrome.exe",
    r"C:\Program Files (x86)\Google\Chrome\Application\chrome.exe",
)
# Inside Playwright's chromium_headless_shell-<revision> folders, new and old layouts.
PLAYWRIGHT_SHELLS = (
    "chrome-headless-shell-linux64/chrome-headless-shell", "chrome-headless-shell-linux-arm64/chrome-headless-shell",
    "chrome-headless-shell-mac-*/chrome-headless-shell", "chrome-headless-shell-win64/chrome-headless-shell.exe",
    "chrome-linux/headless_shell", "chrome-mac/headless_shell", "chrome-win/headless_shell.exe",
)
# Inside Playwright's chromium-<revision> folders, old and new layouts, every platform.
PLAYWRIGHT_EXECUTABLES = (
    "chrome-linux64/chrome", "chrome-linux-arm64/chrome", "chrome-linux/chrome",
    "chrome-mac-*/Google Chrome for Testing.app/Contents/MacOS/Google Chrome for Testing",
    "chrome-mac/Chromium.app/Contents/MacOS/Chromium",
    "chrome-win64/chrome.exe", "chrome-win/chrome.exe",
)


class BrowserUnavailable(RuntimeError):
    """No browser to drive; the message says why and how to get one."""

    def _render_traceback_(self) -> list[str]:
        # IPython shows this instead of a traceback: the message is all a student needs.
        return [f"⚠️  No browser: {self}"]


def _is_program(path: str | os.PathLike | None) -> bool:
    return bool(path) and os.path.isfile(path) and os.access(path, os.X_OK)


def system_browser(search_path: str | None = None, system_paths: tuple[str, ...] | None = None,
                   names: tuple[str, ...] = SYSTEM_NAMES) -> str | None:
    """A Chromium or Chrome installed on this system (first ``system_paths[0]``, then one of
    ``names`` on ``search_path``, then the other usual places; default: ``SYSTEM_PATHS``), or None."""
    system_paths = SYSTEM_PATHS if system_paths is None else system_paths
    if system_paths and _is_program(system_paths[0]):
        return system_paths[0]
    for name in names:
        found = shutil.which(name, path=search_path)
        if found:
            return found
    return next((candidate for candidate in system_paths[1:] if _is_program(candidate)), None)


def playwright_browser_folders(environ: dict[str, str] | None = None) -> list[Path]:
    """Where ``python -m playwright install`` puts browsers (they may not exist)."""
    environ = os.environ if environ is None else environ
    chosen = environ.get("PLAYWRIGHT_BROWSERS_PATH")
    if chosen and chosen != "0":
        return [Path(chosen).expanduser()]
    folders = []
    if chosen == "0":  # "inside the package": playwright/driver/package/.local-browsers
        try:
            import playwright

            folders.append(Path(playwright.__file__).parent / "driver" / "package" / ".local-browsers")
        except ImportError:
            pass
    home = Path(environ.get("HOME") or Path.home())
    if sys.platform == "darwin":
        folders.append(home / "Library" / "Caches" / "ms-playwright")
    elif sys.platform == "win32":
        folders.append(Path(environ.get("LOCALAPPDATA") or home / "AppData" / "Local") / "ms-playwright")
    else:
        folders.append(Path(environ.get("XDG_CACHE_HOME") or home / ".cache") / "ms-playwright")
    return folders


def playwright_browser(environ: dict[str, str] | None = None, *, shell: bool = False) -> str | None:
    """The newest Chromium (``shell``: headless shell) that Playwright downloaded, found on
    disk only; or None."""
    prefix = "chromium_headless_shell-" if shell else "chromium-"
    found: list[tuple[int, str]] = []
    for folder in playwright_browser_folders(environ):
        for revision_dir in glob.glob(str(folder / f"{prefix}*")):
            revision = Path(revision_dir).name.removeprefix(prefix)
            for pattern in PLAYWRIGHT_SHELLS if shell else PLAYWRIGHT_EXECUTABLES:
                for executable in glob.glob(os.path.join(revision_dir, pattern)):
                    if _is_program(executable):
                        found.append((int(revision) if revision.isdigit() else 0, executable))
    return max(found)[1] if found else None


def find_browser(*, environ: dict[str, str] | None = None, search_path: str | None = None,
                 system_paths: tuple[str, ...] | None = None, shell_paths: tuple[str, ...] | None = None) -> str:
    """The browser to drive, in the order given in this module's doc; else BrowserUnavailable.

    ``environ`` stands in for ``os.environ``, ``search_path`` for ``PATH``, ``system_paths``
    and ``shell_paths`` for the usual places of a browser and of a headless shell (for tests).
    """
    environ = os.environ if environ is None else environ
    chosen = environ.get("CHROMIUM")
    if chosen:
        if not _is_program(chosen):
            raise BrowserUnavailable(f"CHROMIUM={chosen!r} is not a program that exists: point it at a Chromium "
                                     "or Chrome, or unset it to use the system's or Playwright's")
        return chosen
    search_path = search_path if search_path is not None else environ.get("PATH", os.defpath)
    found = (system_browser(search_path, SHELL_PATHS if shell_paths is None else shell_paths, SHELL_NAMES)
             or playwright_browser(environ, shell=True)
             or system_browser(search_path, system_paths)
             or playwright_browser(environ))
    if found is None:
        raise BrowserUnavailable(HOW_TO_GET_ONE)
    return found


def find_chromium() -> str | None:
    """:func:`find_browser`, or None when there is none (a wrong ``CHROMIUM`` included)."""
    try:
        return find_browser()
    except BrowserUnavailable:
        return None


def browser_check(out=None) -> bool:
    """For a notebook's first cell: say whether a browser was found (or how to get one).

    Prints one line that is the same on every machine that has a browser (no path, no
    version), so a notebook's stored output stays reproducible.
    """
    out = out or sys.stdout
    try:
        find_browser()
    except BrowserUnavailable as exc:
        print(f"⚠️  No browser: {exc}", file=out)
        return False
    if importlib.util.find_spec("playwright") is None:  # installed with the kit; checked, not assumed
        print("⚠️  Playwright is not installed: `pip install -r requirements.txt`, then restart the kernel.", file=out)
        return False
    print("✅ Found a Chromium to drive headless: this notebook's browser cells will run.", file=out)
    return True


def launch_options(executable: str | None = None, **extra) -> dict:
    """Keyword arguments for Playwright's ``chromium.launch``: our browser, headless, our flags."""
    return {"executable_path": executable or find_browser(), "headless": True,
            "args": list(CHROMIUM_FLAGS), **extra}


@contextlib.contextmanager
def chromium(**launch):
    """Headless Chromium through Playwright's sync API; closed when the block ends.

    ``with chromium() as browser: tab = browser.new_page()``.  Not inside a notebook
    (whose event loop the sync API refuses): use :func:`headless_chromium` there.
    """
    options = launch_options(**launch)  # BrowserUnavailable before anything starts
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(**options)
        try:
            yield browser
        finally:
            browser.close()


@contextlib.asynccontextmanager
async def headless_chromium(**launch):
    """Headless Chromium for a notebook (Playwright's async API); closed when the block ends.

    ::

        async with headless_chromium() as browser:
            context = await browser.new_context()     # one "browser profile": its tabs share connections
            tab = await context.new_page()
            await tab.goto(url)
            print(await tab.evaluate("document.title"))

    Without a browser it raises :class:`BrowserUnavailable`, which a notebook shows as the
    few lines that say how to get one.
    """
    options = launch_options(**launch)
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(**options)
        try:
            yield browser
        finally:
            await browser.close()
