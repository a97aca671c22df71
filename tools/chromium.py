"""Where the system's Chromium is, and the flags it needs on a machine with no network.

Used by the browser tests (tests/conftest.py) and tools/screenshots.py.  The kit never
downloads a browser: it drives Debian's ``chromium`` (or ``$CHROMIUM``) through Playwright.
"""

from __future__ import annotations

import os
import shutil

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    # Without these, Chromium keeps trying to reach Google's services, which a classroom
    # or CI machine with no network refuses, many connections at a time.
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def find_chromium() -> str | None:
    """``$CHROMIUM`` when it is set (and only it: a wrong path must not be replaced quietly by
    another browser), else Debian's ``/usr/bin/chromium``, else one on ``PATH``; or None."""
    chosen = os.environ.get("CHROMIUM")
    if chosen:
        return chosen if os.path.exists(chosen) else None
    for candidate in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and os.path.exists(candidate):
            return candidate
    return None
