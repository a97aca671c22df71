"""The browser fixture itself: the system Chromium loads a lab page over real HTTP."""

import pytest

pytestmark = pytest.mark.browser


def test_chromium_loads_a_lab_page(lab_server, page):
    lab = lab_server("json_roundtrip")
    response = page.goto(lab.url + "/health")
    assert response.status == 200
    assert '"status":"ok"' in page.content().replace(" ", "")
