"""``python -m labs cluster``'s typed commands, against a real 3-node cluster with readers.

One cluster, started by the CLI as an instructor would: the lab page's header counts every
node's readers ('connected' through Redis) and names the node and pid its stream is on; a
killed node comes back with ``start N``; ``stop N`` says goodbye; rolling restarts with a fixed
and a jittered goodbye ``retry:`` print reconnects per second and their peak, and the readers
(a publisher posting all along) miss nothing and get nothing twice.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading

import pytest
import requests

from benchmarks.cluster_readers import ReaderPool, Reconnect
from labs.harness.cluster_console import parse_retry
from labs.harness.processes import wait_until

READERS = 9


class ClusterCli:
    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-u", "-m", "labs", "cluster", "manual_sse", "--nodes", "3", "--port", "0",
             "--config", "RETRY_MS=300"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True)
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        assert wait_until(lambda: any("type a command" in line for line in self.lines), 60), self.output
        self.url = next(line for line in self.lines if " open " in line).split(" open ")[1].split()[0]

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def pids(self) -> dict[str, int]:
        """Each node's pid, as last printed (at the start, by status or by a restart)."""
        found = {}
        for line in self.lines:
            match = re.search(r"(node\d) .*\(?pid (\d+)", line)
            if match:
                found[match.group(1)] = int(match.group(2))
        return found

    def type(self, command: str, until: str, timeout: float = 40) -> list[str]:
        """Type ``command``; the lines it printed, up to the one containing ``until``."""
        start = len(self.lines)
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        assert wait_until(lambda: any(until in line for line in self.lines[start:]), timeout), \
            f"{command}: no {until!r} in\n" + "\n".join(self.lines[start:])
        return self.lines[start:]

    def stop(self) -> int:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGINT)
        try:
            return self.process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            return -9


def peak(lines: list[str]) -> int:
    return int(re.search(r"done; peak (\d+) reconnects/s", lines[-1]).group(1))


def test_rolling_takes_jitter_or_fixed_and_nothing_else():
    assert parse_retry("") is None and parse_retry("fixed") == (2000, 2000) and parse_retry("jitter") == (1000, 5000)
    assert parse_retry("jitter=200-1800") == (200, 1800) and parse_retry("fixed=750") == (750, 750)
    for bad in ("sometimes", "jitter=5-1", "fixed=-1", "jitter=a-b"):
        with pytest.raises(ValueError, match="rolling takes"):
            parse_retry(bad)


def _page_counts_every_node(page, cli: ClusterCli) -> dict:
    """The page: its own stream and the readers, on three nodes, all counted; its header says
    which node and pid serve it (returned)."""
    page.goto(cli.url + "/")
    page.wait_for_function(f"document.getElementById('lab-clients').dataset.clients === '{READERS + 1}'",
                           timeout=10_000)
    assert page.text_content("#lab-clients") == f"{READERS + 1} connected (3 nodes)"
    page.wait_for_function("document.getElementById('lab-served').dataset.node", timeout=5_000)
    header = page.eval_on_selector("#lab-served", "node => ({...node.dataset, text: node.textContent})")
    assert header["path"] == "nginx" and cli.pids()[header["node"]] == int(header["pid"])
    assert f"stream on {header['node']} pid {header['pid']}" in header["text"]
    return header


@pytest.mark.browser
def test_the_cluster_console_restarts_nodes_and_counts_every_node(page):
    cli = ClusterCli()
    try:
        with ReaderPool(cli.url, READERS, Reconnect("server"), seed=27) as pool:
            header = _page_counts_every_node(page, cli)
            acknowledged, stop = [], threading.Event()

            def publish() -> None:
                while not stop.wait(0.05):
                    with contextlib.suppress(requests.RequestException, ValueError, KeyError):
                        acknowledged.append(requests.post(cli.url + "/send_notification", json={"message": "m"},
                                                          timeout=5).json()["id"])

            publisher = threading.Thread(target=publish)
            publisher.start()
            try:
                killed = cli.type("kill 3", "done; peak")
                assert any("node3 killed (SIGKILL)" in line for line in killed)
                cli.type("start 3", "started again")
                status = cli.type("status", "readers on the cluster")
                assert all(" up, pid " in line for line in status if re.search(r"node\d http", line)), status
                stopped = cli.type("stop 1", "done; peak")
                assert any("goodbye" in line for line in stopped)
                cli.type("start 1", "started again")
                goodbyes_before = [len(reader.goodbyes) for reader in pool.readers]
                fixed = cli.type("rolling fixed=1000", "done; peak")
                goodbyes_fixed = [len(reader.goodbyes) for reader in pool.readers]
                jittered = cli.type("rolling jitter=200-1800", "done; peak")
            finally:
                stop.set()
                publisher.join()
            assert pool.wait_for(acknowledged, timeout=10)
            tally = pool.tally(acknowledged)
            retries = [(r.goodbyes[before:middle], r.goodbyes[middle:])
                       for r, before, middle in zip(pool.readers, goodbyes_before, goodbyes_fixed, strict=True)]

        assert len(acknowledged) > 50 and tally["missed"] == 0 and tally["repeated"] == 0, tally
        # Every goodbye of the fixed run said 1000 ms; the jittered ones were spread over 200-1800 ms.
        fixed_retries = [ms for first, _ in retries for ms in first]
        jitter_retries = [ms for _, second in retries for ms in second]
        assert len(fixed_retries) >= READERS and set(fixed_retries) == {1000}, fixed_retries
        assert len(jitter_retries) >= READERS and all(200 <= ms <= 1800 for ms in jitter_retries)
        assert len(set(jitter_retries)) > 1, jitter_retries
        assert any("rolling restart, fixed retry: 1000 ms" in line for line in fixed)
        assert sum(bool(re.search(r"node\d: stopped in", line)) for line in jittered) == 3
        print(f"\nreconnect peaks: fixed {peak(fixed)}/s, jittered {peak(jittered)}/s ({READERS} readers); {tally}")
        assert peak(fixed) > 0 and peak(jittered) > 0
        # The page read on through it all: a new node and pid in its header, nothing twice.
        page.wait_for_function(f"document.getElementById('lab-served').dataset.pid !== '{header['pid']}'",
                               timeout=5_000)
        page.wait_for_function("ids => ids.every(id => manualSse.received.some(r => r.id === String(id)))",
                               arg=acknowledged, timeout=10_000)
        received = page.evaluate("manualSse.received.map(r => r.id)")
        assert len(received) == len(set(received)), "the page got a message twice"
    finally:
        assert cli.stop() == 0, cli.output
    assert "Traceback" not in cli.output, cli.output
