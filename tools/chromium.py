"""Kept for the scripts and notebooks that import it from here: the browser finder now lives
in the runtime, :mod:`labs.harness.browser` (``CHROMIUM``, then a system Chromium or Chrome,
then Playwright's own downloaded browser; never a download)."""

from labs.harness.browser import CHROMIUM_FLAGS, BrowserUnavailable, find_browser, find_chromium

__all__ = ["CHROMIUM_FLAGS", "BrowserUnavailable", "find_browser", "find_chromium"]
