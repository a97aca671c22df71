"""Fixtures shared by every test: lab servers, a real Redis, and headless Chromium."""

from __future__ import annotations

import collections
import importlib
import os

import pytest

from labs.harness.browser import CHROMIUM_FLAGS, find_chromium
from labs.harness.launcher import LabServer
from labs.harness.redis_server import RedisServer

# In CI a missing browser is a failure, not a skip (.ci/run sets this).
REQUIRE_BROWSER = os.environ.get("SSE_KIT_REQUIRE_BROWSER", "") == "1"


@pytest.fixture(scope="session")
def redis_server():
    """A real Redis: REDIS_URL if it answers, else a private server the kit starts."""
    with RedisServer() as server:
        yield server


@pytest.fixture
def private_redis():
    """A Redis of this test's own, which it may stop and restart."""
    with RedisServer(private=True) as server:
        yield server


@pytest.fixture
def lab_server():
    """``lab_server("name", **options)`` starts a lab; every one is stopped after the test."""
    started: list[LabServer] = []

    def start(name: str, **kwargs) -> LabServer:
        lab = LabServer(name, **kwargs).start()
        started.append(lab)
        return lab

    yield start
    for lab in started:
        lab.stop()


@pytest.fixture(scope="module")
def lab_options():
    """``LabServer``'s options (``config``, ``workers``, ``redis``) for the module's ``lab``.

    A module overrides this fixture to configure its lab; the override may use other
    fixtures or be parametrized (then every test using ``lab`` runs once per value).
    """
    return {}


@pytest.fixture(scope="module")
def lab(request, lab_options):
    """The module's one lab, named by the module's ``LAB_NAME``, shared by its tests.

    Starting a lab takes a second or two, so a module whose tests only talk to it (fresh
    ids, channels and stream readers each, nothing that depends on another test) shares
    one; a test that stops or reconfigures its lab uses ``lab_server`` instead.
    """
    with LabServer(_lab_name(request), **lab_options) as server:
        yield server


def _lab_name(request) -> str:
    name = getattr(request.module, "LAB_NAME", None)
    if name is None:
        pytest.fail(f"{request.module.__name__} uses the lab fixtures: set LAB_NAME = '<lab>' in it", pytrace=False)
    return name


@pytest.fixture
def app(request, lab_options):
    """The module's lab (``LAB_NAME``, configured by ``lab_options``) as an in-process
    Flask app: no server, no port, no subprocess.  For tests of what the app answers to a
    request (validation, 4xx errors) where a real server adds nothing; anything about
    streaming, servers, processes or the network keeps ``lab`` or ``lab_server``."""
    name = _lab_name(request)
    module = importlib.import_module(f"labs.{name}")
    return module.create_app({**lab_options.get("config", {}), "TESTING": True})


@pytest.fixture
def client(app):
    """Flask's test client for ``app``: ``client.post("/path", json=...)``, no HTTP."""
    return app.test_client()


# One browser per xdist worker: a Playwright driver plus Chromium costs about 1 s of CPU to
# start, and every test gets contexts of its own (no shared storage). Playwright's sync API
# keeps an asyncio loop running in this thread while it is open, so code that tests run
# in-process must not call asyncio.run() directly: the benchmarks use runner.run_async.
@pytest.fixture(scope="session")
def _playwright():
    executable = find_chromium()
    if executable is None:
        message = ("no Chromium found (install Debian's 'chromium-headless-shell' or 'chromium', or set "
                   "CHROMIUM=/path/to/chromium)")
        if REQUIRE_BROWSER:
            pytest.fail(message + "; SSE_KIT_REQUIRE_BROWSER=1 makes this a failure")
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        yield playwright, executable


@pytest.fixture(scope="session")
def browser(_playwright):
    """Headless Chromium as labs.harness.browser finds it: a headless shell where there is one."""
    playwright, executable = _playwright
    chromium = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_FLAGS)
    yield chromium
    chromium.close()


@pytest.fixture
def page(browser):
    """A fresh browser tab (its own context: no shared storage between tests)."""
    context = browser.new_context()
    tab = context.new_page()
    yield tab
    context.close()


@pytest.fixture
def tls_context(browser):
    """One browser profile (its tabs share connections, as a user's tabs do) that accepts
    the kit's private certificates (labs.harness.certificates): for tests only."""
    context = browser.new_context(ignore_https_errors=True)
    yield context
    context.close()


@pytest.fixture
def new_page(browser):
    """``new_page()`` opens another independent tab; all are closed after the test."""
    contexts = []

    def open_page(**context_options):
        context = browser.new_context(**context_options)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


def pytest_terminal_summary(terminalreporter):
    """One line that says so when browser tests were skipped, and why: a run can otherwise
    pass with every browser test skipped and mention it only in the short summary."""
    reasons: collections.Counter[str] = collections.Counter()
    for report in terminalreporter.stats.get("skipped", []):
        if "browser" in getattr(report, "keywords", {}):
            reasons[_skip_reason(report)] += 1
    for reason, count in reasons.most_common():
        tests = "test was" if count == 1 else "tests were"
        terminalreporter.write_sep("!", f"{count} browser {tests} SKIPPED: {reason}", yellow=True, bold=True)


def _skip_reason(report) -> str:
    if isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:
        return report.longrepr[2].removeprefix("Skipped: ")
    return str(report.longrepr)
