"""Every lab page shares one frame, and works on a phone-sized screen.

For each notification lab, in headless Chromium at a phone's viewport: the header names
the lab and its notebook, the live count shows the class joining, a published message
appears as text (markup included), and the wire panel shows the raw traffic.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from labs.harness.registry import LABS

pytestmark = pytest.mark.browser

NOTIFICATION_LABS = ["sse_blueprint", "manual_sse", "polling", "long_polling", "websockets", "webhooks"]
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
COUNT = re.compile(r"^(\d+) connected")


# What each transport's wire panel shows once the test's message has gone through: the
# raw traffic of that transport, not just the message.
WIRE_TRAFFIC = {
    "sse_blueprint": r'event: notify \| data: \{"message": "Hello <b>class</b>',
    "manual_sse": r'event: notify \| id: \d+ \| data: \{"message": "Hello <b>class</b>',
    "polling": r'⇒ GET updates\?since=\d+.*⇐ 200 \(\d+ bytes\) \{.*Hello <b>class</b>',
    "long_polling": r'⇒ GET updates\?since=\d+.*⇐ 200 \(\d+ bytes\) \{.*Hello <b>class</b>',
    "websockets": r'⇐ 42\["notify",\{"message":"Hello <b>class</b>',
    "webhooks": r'event: notify  data: \{"message": "Hello <b>class</b>',
}


def connected(page) -> int:
    match = COUNT.match(page.locator("#lab-clients").inner_text().strip())
    return int(match.group(1)) if match else -1


@pytest.mark.parametrize("name", list(LABS))
def test_every_page_has_the_shared_frame(name, lab_server, page):
    lab = lab_server(name)
    page.set_viewport_size(PHONE["viewport"])
    page.goto(lab.url + "/")
    expect(page.locator(".lab-header h1")).to_have_text(name)
    expect(page.locator(".lab-header .notebook")).to_contain_text(LABS[name].notebook)
    expect(page.locator("#lab-state")).to_be_visible()
    expect(page.locator(".wire h2")).to_have_text("On the wire")
    # Nothing wider than the phone: no sideways scrolling to read the page.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["viewport"]["width"] + 1


@pytest.mark.parametrize("name", NOTIFICATION_LABS)
def test_notification_page_on_a_phone(name, lab_server, new_page):
    lab = lab_server(name)
    first = new_page(**PHONE)
    first.goto(lab.url + "/")
    # The page counts itself once its own connection is made (the count is polled).
    first.wait_for_function("() => parseInt(document.querySelector('#lab-clients').textContent) >= 1",
                            timeout=15000)
    before = connected(first)
    assert before >= 1

    second = new_page(**PHONE)
    second.goto(lab.url + "/")
    # The class sees itself join: the first phone's count goes up.
    first.wait_for_function(
        f"() => parseInt(document.querySelector('#lab-clients').textContent) >= {before + 1}", timeout=15000)

    message = "Hello <b>class</b> & friends"
    assert lab.publish(message).status_code < 300
    for phone in (first, second):
        expect(phone.locator("main")).to_contain_text(message, timeout=15000)
        assert phone.locator("main b").count() == 0, "markup in a message must show as text"
        expect(phone.locator("#wire")).to_contain_text(re.compile(WIRE_TRAFFIC[name]), timeout=15000)
        # The header's state says the transport is up (its "ok" look), not just present.
        expect(phone.locator("#lab-state")).to_have_class(re.compile(r"\bok\b"), timeout=15000)
