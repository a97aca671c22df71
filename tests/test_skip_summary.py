"""`make test` says in one line when browser tests were skipped, and why (tests/conftest.py).

Checked in a child pytest run as `make test` runs it (two xdist workers), with Chromium
made unfindable: two browser tests skip, one other test passes.
"""

from __future__ import annotations

import os
import subprocess
import sys

from labs.core.webapp import REPO_ROOT

BROWSER_TESTS = ["tests/test_browser_smoke.py::test_chromium_loads_a_lab_page",
                 "tests/test_json_roundtrip.py::test_page_round_trip_works"]
OTHER_TEST = "tests/test_json_roundtrip.py::test_dumps_is_served_as_html_and_jsonify_as_json"
NO_CHROMIUM = ("no Chromium found (install Debian's 'chromium-headless-shell' or 'chromium', or set "
               "CHROMIUM=/path/to/chromium)")


def child_pytest(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "CHROMIUM": "/nonexistent/chromium", "SSE_KIT_REQUIRE_BROWSER": ""}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=180)


def summary_lines(output: str) -> list[str]:
    return [line.strip("! ") for line in output.splitlines() if "browser test" in line and "SKIPPED" in line]


def test_skipped_browser_tests_are_counted_in_one_line_with_the_reason():
    run = child_pytest("-n", "1", "--dist", "loadfile", *BROWSER_TESTS, OTHER_TEST)
    assert run.returncode == 0, run.stdout[-3000:]
    assert "1 passed, 2 skipped" in run.stdout, run.stdout[-3000:]
    assert summary_lines(run.stdout) == [f"2 browser tests were SKIPPED: {NO_CHROMIUM}"], run.stdout[-3000:]


def test_no_such_line_when_no_browser_test_was_skipped():
    run = child_pytest(OTHER_TEST)
    assert run.returncode == 0 and "1 passed" in run.stdout, run.stdout[-3000:]
    assert summary_lines(run.stdout) == []
