"""The instructor's one-command demos of notebook 10's faults, each in a real browser, and the
header that says which way a page came (``#lab-served``).

Every CLI below (``python -m labs run manual_sse --behind-proxy --fault F``) is started at once
by one fixture, so the file costs about one start-up; each page is then checked against what
notebook 10 measured: gzip and two proxies hold the stream (the page's EventSource never
opens), the fix (no fault) and the other faults deliver, a short read timeout cuts the stream
and the page reconnects with nothing missed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
import requests

from labs.harness.nginx import ProxySettings
from labs.harness.processes import wait_until
from labs.harness.proxy_faults import FAULTS, parse_fault, plan_faults

HOLD_SECONDS = 1.5  # notebook 10's "held": nothing at all in this long
RETRY = ["--config", "RETRY_MS=300"]  # a page cut by the read timeout is back within 0.3 s

RUNS = {  # name: the CLI's arguments after `labs run manual_sse --behind-proxy --port 0`
    "fix": [],
    "gzip": ["--fault", "gzip"],
    "read-timeout": ["--fault", "read-timeout=1", *RETRY],
    "ignore-accel-buffering": ["--fault", "ignore-accel-buffering"],
    "http1.0": ["--fault", "http1.0"],
    "two-proxies": ["--fault", "two-proxies"],
    "h2": ["--http2"],
    "relay": ["--relay"],  # reader -> relay -> nginx -> lab
}


class Cli:
    """``python -m labs run manual_sse --behind-proxy ...`` in a session of its own."""

    def __init__(self, args: list[str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-u", "-m", "labs", "run", "manual_sse", "--behind-proxy", "--port", "0", *args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
            start_new_session=True)
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    @property
    def url(self) -> str:
        marks = (" open ", " serving on ")  # nginx in front; the relay in front
        assert wait_until(lambda: any(m in line for line in self.lines for m in marks), 60), self.output
        line = next(line for line in self.lines if any(m in line for m in marks))
        return line.split(next(m for m in marks if m in line))[1].split()[0]

    def publish(self, message: str) -> None:
        lab = next(line for line in self.lines if "listens privately on" in line).rsplit(" ", 1)[1]
        requests.post(lab + "/send_notification", json={"message": message}, timeout=5).raise_for_status()

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGINT)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def clis():
    running = {name: Cli(args) for name, args in RUNS.items()}
    try:
        for cli in running.values():
            cli.url  # noqa: B018 (waits until it serves)
        yield running
    finally:
        for cli in running.values():
            cli.stop()


# ---------------------------------------------------------------- the faults, as settings

def test_each_fault_is_notebook_10s_case_exactly():
    held = plan_faults(["gzip"])
    assert ProxySettings(**held.outer) == ProxySettings(gzip=True, honour_accel_buffering=False)  # nb 10, §3
    assert ProxySettings(**held.outer).buffering and held.inner is None
    assert plan_faults(["read-timeout=1"]).outer == {"read_timeout": 1.0}  # §4
    assert plan_faults(["ignore-accel-buffering"]).outer == {"honour_accel_buffering": False}  # §2
    assert plan_faults(["http1.0"]).outer == {"http_version": "1.0"}  # §6
    chain = plan_faults(["two-proxies"])  # §5: "inner: defaults, outer: gzip"
    assert chain.inner == {} and chain.outer == {"gzip": True} and chain.proxies == 2
    assert plan_faults(["gzip"], http2=True).outer["http2"] is True
    assert set(FAULTS) == {"gzip", "read-timeout", "ignore-accel-buffering", "http1.0", "two-proxies"}


@pytest.mark.parametrize("bad, why", [("brotli", "no fault named 'brotli'"), ("gzip=1", "takes no value"),
                                      ("read-timeout=soon", "takes seconds"), ("read-timeout=0", r"in \(0, 3600\]")])
def test_a_wrong_fault_is_refused_with_the_list(bad, why):
    with pytest.raises(ValueError, match=why):
        parse_fault(bad)


def test_a_read_timeout_no_shorter_than_the_keepalive_is_refused():
    with pytest.raises(ValueError, match="not shorter than the lab's keep-alive"):
        plan_faults(["read-timeout=20"], keepalive_seconds=15)
    result = subprocess.run([sys.executable, "-m", "labs", "run", "manual_sse", "--fault", "gzip"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "--fault needs --behind-proxy" in result.stderr


def test_the_cli_prints_each_fault_with_its_config(clis):
    gzip = clis["gzip"].output
    assert "fault gzip (notebook 10, section 3): held" in gzip
    assert "gzip_types application/json text/css application/javascript text/event-stream;" in gzip
    assert "proxy_ignore_headers X-Accel-Buffering;" in gzip and "proxy_buffering on;" in gzip
    chain = clis["two-proxies"].output
    assert "----- outer nginx.conf -----" in chain and "----- inner nginx.conf -----" in chain
    assert "manual_sse: fault" not in clis["fix"].output and "----- nginx.conf" not in clis["fix"].output


# ---------------------------------------------------------------- in the browser

def served(page) -> dict:
    page.wait_for_function("document.getElementById('lab-served').dataset.pid", timeout=10_000)
    return page.eval_on_selector("#lab-served", "node => ({...node.dataset, text: node.textContent})")


@pytest.mark.browser
def test_every_fault_in_the_browser(clis, new_page):
    pages = {}
    for name, cli in clis.items():
        pages[name] = new_page(ignore_https_errors=True)
        pages[name].goto(cli.url + "/")
    opened = "window.manualSse && window.manualSse.opens() > 0"
    for name in ("fix", "ignore-accel-buffering", "http1.0", "read-timeout", "h2", "relay"):
        pages[name].wait_for_function(opened, timeout=10_000)
    began = time.monotonic()
    for name in ("fix", "ignore-accel-buffering", "http1.0"):  # live: an event is on the page at once
        clis[name].publish(f"live through {name}")
        pages[name].wait_for_function(f"manualSse.received.some(r => r.message === 'live through {name}')",
                                      timeout=2_000)
    # Held: after as long, the gzip and two-proxy pages have not even opened their stream.
    time.sleep(max(0.0, HOLD_SECONDS - (time.monotonic() - began)))
    for name in ("gzip", "two-proxies"):
        assert pages[name].evaluate("manualSse.opens()") == 0, name
        assert pages[name].text_content("#lab-state") == "connecting…", name
    # The read timeout (1 s, the lab's keep-alive 15 s) cuts the idle stream; EventSource comes
    # back with Last-Event-ID and a message published meanwhile is not missed.
    timed_out = pages["read-timeout"]
    timed_out.wait_for_function("manualSse.opens() >= 2", timeout=5_000)
    clis["read-timeout"].publish("after the cut")
    timed_out.wait_for_function("manualSse.received.some(r => r.message === 'after the cut')", timeout=5_000)

    # The header says which way each page came.
    paths = {name: served(page) for name, page in pages.items()}
    assert paths["fix"]["path"] == "nginx" and paths["fix"]["protocol"] == "http/1.1"
    assert paths["fix"]["text"].startswith("via nginx (HTTP/1.1, HTTP/1.1 to the lab) · pid ")
    assert paths["two-proxies"]["path"] == "nginx nginx"
    assert paths["http1.0"]["upstream"] == "HTTP/1.0"
    assert paths["h2"]["protocol"] == "h2" and paths["h2"]["path"] == "nginx"
    assert "via nginx (HTTP/2" in paths["h2"]["text"]
    assert paths["relay"]["path"] == "relay nginx" and paths["relay"]["text"].startswith("via relay → nginx")
    pid = int(paths["fix"]["pid"])
    assert str(pid) in clis["fix"].output or pid > 0


@pytest.mark.browser
def test_the_header_of_a_page_served_directly(page, lab_server):
    lab = lab_server("manual_sse")
    page.goto(lab.url + "/")
    seen = served(page)
    assert seen["path"] == "direct" and seen["protocol"] == "http/1.1" and seen["node"] == ""
    assert int(seen["pid"]) == requests.get(lab.url + "/stats", timeout=5).json()["pid"]
    assert seen["text"] == f"direct (HTTP/1.1) · pid {seen['pid']}"
