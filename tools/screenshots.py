"""Screenshots of every lab page, taken from headless Chromium (``make screenshots``).

They go to ``docs/screenshots/NAME.png`` and the README shows them, so the pictures are
always of the pages as they are: run this again after changing a page.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from labs.harness.browser import CHROMIUM_FLAGS, find_chromium
from labs.harness.launcher import LabServer
from labs.harness.registry import LABS

# The repository is on the venv's path (tools/link_project.py), so this runs from anywhere.
ROOT = Path(__file__).resolve().parent.parent

OUT = ROOT / "docs" / "screenshots"
# Pages that show something only after a click: what to click so the picture is worth having.
FIRST_CLICK = {"event_stream": "text=Run this example"}
NOTIFICATION_LABS = {"sse_blueprint", "manual_sse", "polling", "long_polling", "websockets", "webhooks"}


def main(names: list[str], out: Path = OUT) -> int:
    from playwright.sync_api import sync_playwright

    executable = find_chromium()
    if executable is None:
        sys.exit("no Chromium: install Debian's 'chromium' or set CHROMIUM")
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_FLAGS)
        for name in names or list(LABS):
            with LabServer(name) as lab:
                page = browser.new_page(viewport={"width": 1000, "height": 720})
                page.goto(lab.url + "/")
                time.sleep(1.5)  # let the page connect (networkidle never comes for a stream)
                if name in FIRST_CLICK:
                    page.click(FIRST_CLICK[name])
                    time.sleep(1.5)
                if name in NOTIFICATION_LABS:
                    for text in ["Hello, class!", "<b>markup shows as text</b>"]:
                        lab.publish(text)
                    time.sleep(2.5)  # let polling pages make their next request
                path = out / f"{name}.png"
                page.screenshot(path=str(path), full_page=True)
                page.close()
                print(f"wrote {path}")
        browser.close()
    return 0


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["--out"]:  # tools/screenshots.py --out DIR [NAME ...]
        sys.exit(main(args[2:], Path(args[1])))
    sys.exit(main(args))
