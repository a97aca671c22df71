"""The browser fixture itself: the system Chromium loads a lab page over real HTTP, and
where there is no Chromium a browser test skips, or fails when CI's switch says so."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser


def test_chromium_loads_a_lab_page(lab_server, page):
    lab = lab_server("json_roundtrip")
    response = page.goto(lab.url + "/health")
    assert response.status == 200
    assert '"status":"ok"' in page.content().replace(" ", "")


@pytest.mark.parametrize("require, outcome", [("", "1 skipped"), ("1", "1 error")], ids=["skip", "fail-in-ci"])
def test_without_chromium_a_browser_test_skips_or_under_the_ci_switch_fails(require, outcome):
    here = Path(__file__)
    env = {**os.environ, "CHROMIUM": "/nonexistent/chromium", "SSE_KIT_REQUIRE_BROWSER": require}
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
                          f"{here}::test_chromium_loads_a_lab_page"],
                         cwd=here.parent.parent, env=env, capture_output=True, text=True, timeout=120)
    assert outcome in run.stdout, run.stdout[-2000:]
    assert "no Chromium found" in run.stdout, run.stdout[-2000:]
    if require:
        assert "SSE_KIT_REQUIRE_BROWSER=1 makes this a failure" in run.stdout
        assert run.returncode != 0
    else:
        assert run.returncode == 0
