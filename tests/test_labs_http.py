"""Every lab in the registry starts and serves its health check and its page over HTTP.

No browser: this runs where Chromium is missing (tests/test_pages.py covers the pages
in a browser).  One lab per test, started as a real server with the ``lab_server`` fixture
(a lab that needs Redis gets a private one from ``python -m labs run``).
"""

from __future__ import annotations

import pytest

from labs.harness.registry import LABS


@pytest.mark.parametrize("name", list(LABS))
def test_lab_serves_health_and_its_page(name, lab_server):
    lab = lab_server(name)

    health = lab.get("/health")
    assert health.status_code == 200, health.text
    assert health.headers["Content-Type"].split(";")[0] == "application/json"
    body = health.json()
    assert isinstance(body, dict), body
    assert body.get("status") == "ok" and body.get("lab") == name, body

    page = lab.get("/")
    assert page.status_code == 200, page.text[:500]
    assert page.headers["Content-Type"].split(";")[0] == "text/html"
    html = page.text
    assert name in html
    # The page is this lab's own, in the shared frame (see CONTRIBUTING.md).
    assert f'data-lab="{name}"' in html, html[:500]
    assert "static/common/lab.js" in html
