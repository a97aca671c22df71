"""A cluster on one machine (labs.harness.cluster): nodes behind nginx on one Redis.

Delivery across nodes (and its failure with the in-memory broker), a killed node's readers
resuming through nginx with nothing missed or repeated, a stopping node's goodbye with a
jittered ``retry:``, a rolling restart that loses nothing, Socket.IO with and without
sticky sessions, long polling across nodes, the CLI, and nothing left running however the
starter ends.  Every wait is bounded; nothing here asserts on speed.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time

import psutil
import pytest
import requests
import socketio

from benchmarks.cluster_readers import ReaderPool, Reconnect, per_second
from labs.core.shutdown import pick_retry_ms, retry_range
from labs.harness.client import EventStream
from labs.harness.cluster import start_cluster
from labs.harness.launcher import LabServer
from labs.harness.nginx import ProxySettings, bundled_nginx, render_config
from labs.harness.processes import wait_until

WAIT = 15.0  # an upper bound for something to happen, never an assertion on speed
GOODBYE_MS = [100, 900]


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def assert_all_gone(pids: list[int]) -> None:
    wait_until(lambda: not any(alive(pid) for pid in pids), WAIT, interval=0.1)
    left = [(pid, " ".join(psutil.Process(pid).cmdline())[:100]) for pid in pids if alive(pid)]
    assert not left, f"still running: {left}"


@pytest.fixture(scope="module")
def cluster():
    """Three manual_sse nodes on one Redis behind nginx; tests that stop a node start it again."""
    config = {"RETRY_MS": 300, "SHUTDOWN_RETRY_MS": GOODBYE_MS}
    with start_cluster("manual_sse", 3, config=config) as running:
        yield running


@pytest.fixture(autouse=True)
def _every_node_up(request):
    yield
    if "cluster" in request.fixturenames:
        running = request.getfixturevalue("cluster")
        for node in running.nodes:
            running.start_node(node.index)


# ---------------------------------------------------------------- nginx's part

@pytest.mark.parametrize("balance", ["round_robin", "ip_hash", "least_conn"])
def test_the_load_balancers_config_names_every_node_and_nginx_accepts_it(balance, tmp_path):
    nodes = ["127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003"]
    settings = ProxySettings(balance=balance, fail_timeout=2, websockets=True, name_upstream=True)
    text = render_config(nodes, settings, listen="127.0.0.1:7000", prefix=str(tmp_path))
    lines = [line.split("#")[0].strip() for line in text.splitlines()]
    assert [line for line in lines if line.startswith("server 127.")] == [
        f"server {node} max_fails=1 fail_timeout=2s;" for node in nodes]
    assert ("ip_hash;" in lines) == (balance == "ip_hash") and ("least_conn;" in lines) == (balance == "least_conn")
    assert "proxy_set_header Connection $connection_upgrade;" in lines
    assert "add_header X-Upstream $upstream_addr always;" in lines
    (tmp_path / "nginx.conf").write_text(text)
    checked = subprocess.run([bundled_nginx(), "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"),
                              "-e", "stderr"], capture_output=True, text=True, timeout=10)
    assert checked.returncode == 0, checked.stderr
    with pytest.raises(ValueError, match="balance"):
        ProxySettings(balance="random")


def test_nginx_spreads_requests_over_every_node_and_each_node_names_its_process(cluster):
    answers = [cluster.get("/stats") for _ in range(6)]
    by_address = {response.headers["X-Upstream"] for response in answers}
    assert by_address == {node.address for node in cluster.nodes}, "round robin reaches every node"
    for response in answers:
        node = cluster.node_for(response.headers["X-Upstream"])
        assert cluster.node_for(response.json()["pid"]) is node, "/stats names the process that answered"


# ---------------------------------------------------------------- delivery across nodes

def test_a_message_published_to_one_node_reaches_readers_on_every_node(cluster):
    streams = [EventStream(node.url + "/stream") for node in cluster.nodes]
    try:
        text = f"to everyone {os.urandom(4).hex()}"
        published = cluster.publish(text, node=1).json()
        for stream in streams:
            event = stream.wait_for(1, type="notify", timeout=WAIT)[0]
            assert json.loads(event.data) == {"message": text} and event.id == str(published["id"])
    finally:
        for stream in streams:
            stream.close()


def test_with_the_in_memory_broker_readers_on_other_nodes_get_nothing():
    with start_cluster("manual_sse", 2, broker="memory") as memory:
        assert memory.redis is None
        streams = [EventStream(node.url + "/stream") for node in memory.nodes]
        try:
            assert memory.publish("only here", node=0).json()["id"] == 1
            assert streams[0].wait_for(1, type="notify", timeout=WAIT)[0].data == '{"message": "only here"}'
            time.sleep(1)  # a bounded look for something that must not come
            assert streams[1].events == [], "node 2 has a log of its own and never heard of it"
            assert memory.publish("there", node=1).json()["id"] == 1, "each node counts its own ids"
            assert {node.stats()["broker"] for node in memory.nodes} == {"memory"}
        finally:
            for stream in streams:
                stream.close()


# ---------------------------------------------------------------- a node lost

def test_a_killed_nodes_readers_resume_through_nginx_with_nothing_missed_or_repeated(cluster):
    with ReaderPool(cluster.url, 30, Reconnect("server")) as pool:
        ids = [cluster.publish(f"before {i}").json()["id"] for i in range(3)]
        victim = cluster.node_for(pool.readers[0].upstreams[-1])
        on_victim = sum(reader.upstreams[-1] == victim.address for reader in pool.readers)
        pids = victim.pids()
        cluster.kill_node(victim.index)
        assert not any(alive(pid) for pid in pids)
        ids += [cluster.publish(f"while down {i}").json()["id"] for i in range(10)]
        assert pool.wait_for(ids, WAIT), pool.tally(ids)
        tally = pool.tally(ids)
        assert tally["missed"] == 0 and tally["repeated"] == 0, tally
        assert tally["moved"] == on_victim > 0, "exactly the killed node's readers moved to another node"
        assert all(reader.upstreams[-1] != victim.address for reader in pool.readers)
        assert tally["goodbyes"] == 0, "a killed node says nothing"


def test_a_stopping_node_says_goodbye_with_a_retry_jittered_per_reader(cluster):
    node = cluster.nodes[2]
    streams = [EventStream(node.url + "/stream") for _ in range(8)]
    try:
        published = cluster.publish("last words", node=2).json()["id"]
        for stream in streams:
            stream.wait_for(1, type="notify", timeout=WAIT)
        cluster.stop_node(2)  # SIGTERM, as a deploy does
        assert not node.alive
        retries = []
        for stream in streams:
            assert stream.ended.wait(WAIT), "the stream ends after its goodbye"
            last = stream.events[-1]
            assert last.type == "goodbye", stream.events
            assert json.loads(last.data)["retry_ms"] == stream.decoder.retry
            assert last.id == str(published), "no id on the goodbye: Last-Event-ID stays the last message's"
            retries.append(stream.decoder.retry)
        assert all(GOODBYE_MS[0] <= retry <= GOODBYE_MS[1] for retry in retries), retries
        assert len(set(retries)) > 1, f"each reader gets its own retry: {retries}"
    finally:
        for stream in streams:
            stream.close()


def test_a_gunicorn_node_says_goodbye_too():
    # gunicorn's gevent worker runs signal handlers inside its event loop: the goodbye must
    # not block there (Thread.start() would), or the worker dies with nothing said.
    lab = LabServer("manual_sse", workers=1, config={"SHUTDOWN_RETRY_MS": 700}).start()
    try:
        stream = EventStream(lab.url + "/stream")
        os.kill(lab.pid, signal.SIGTERM)  # the arbiter passes it to its worker
        assert stream.ended.wait(WAIT)
        assert [event.type for event in stream.events] == ["goodbye"] and stream.decoder.retry == 700
        assert wait_until(lambda: not lab.process.alive(), WAIT)
        assert "Traceback" not in lab.log, lab.log
    finally:
        lab.stop()


def test_a_node_that_is_stopping_tells_a_newcomer_to_come_back_later():
    from labs.manual_sse import create_app

    app = create_app({"GOODBYE_ON_SIGTERM": False, "SHUTDOWN_RETRY_MS": [250, 250]})
    app.extensions["manual_sse"].leaving = True
    response = app.test_client().get("/stream")
    assert response.status_code == 200 and response.mimetype == "text/event-stream"
    body = response.get_data(as_text=True)
    assert body == 'event: goodbye\nretry: 250\ndata: {"reason": "server stopping", "retry_ms": 250}\n\n'


def test_the_goodbyes_retry_setting_is_checked_and_drawn_from_its_range():
    assert retry_range(2000) == (2000, 2000) and retry_range([1000, 5000]) == (1000, 5000)
    for bad in ([5, 1], [-1, 3], "3000", [1.5, 2], True):
        with pytest.raises(ValueError, match="retry"):
            retry_range(bad)
    draws = {pick_retry_ms((10, 20)) for _ in range(500)}
    assert draws == set(range(10, 21)), "every value in the range, both ends included"


def test_the_readers_reconnect_policies_and_the_storm_series():
    rng = random.Random(7)
    assert Reconnect("server").delay(1234, failures=5, rng=rng) == 1.234, "EventSource: the stream's retry:, always"
    backoff = Reconnect("backoff", base_s=1.0, cap_s=8.0)
    for failures, ceiling in [(0, 1.0), (2, 4.0), (3, 8.0), (10_000, 8.0)]:
        draws = [backoff.delay(3000, failures, rng) for _ in range(2000)]
        assert 0 <= min(draws) < 0.05 * ceiling and 0.95 * ceiling < max(draws) <= ceiling, (failures, ceiling)
    with pytest.raises(ValueError, match="kind"):
        Reconnect("sometimes")
    assert per_second([10.1, 10.2, 10.6, 11.9, 99.0], origin=10.0, seconds=2.0, width=0.5) == [4.0, 2.0, 0.0, 2.0]


# ---------------------------------------------------------------- a rolling restart

def test_a_rolling_restart_loses_nothing_and_repeats_nothing(cluster):
    with ReaderPool(cluster.url, 60, Reconnect("server")) as pool:
        ids: list[int] = []
        failed: list[str] = []
        stop = threading.Event()

        def publish() -> None:  # a publisher that keeps going through the restart
            while not stop.wait(0.05):
                try:
                    ids.append(cluster.publish("rolling").json()["id"])
                except (requests.RequestException, ValueError) as exc:
                    failed.append(type(exc).__name__)  # a 502 while a node stops: not acknowledged

        publisher = threading.Thread(target=publish, daemon=True)
        publisher.start()
        restarts = [node.restarts for node in cluster.nodes]
        try:
            steps = cluster.rolling_restart()
        finally:
            stop.set()
            publisher.join(WAIT)
        assert [step["node"] for step in steps] == ["node1", "node2", "node3"]
        assert [node.restarts for node in cluster.nodes] == [r + 1 for r in restarts]
        assert len(ids) > 10, (ids, failed)
        assert pool.wait_for(ids, WAIT), pool.tally(ids)
        tally = pool.tally(ids)
        assert tally["missed"] == 0 and tally["repeated"] == 0, tally
        assert tally["goodbyes"] >= pool.count, "every reader was on some node that stopped"
        assert pool.wait_connected(timeout=WAIT)
        whats = [(name, what) for _, name, what in cluster.timeline[-9:]]
        assert whats == [(f"node{i}", what) for i in (1, 2, 3) for what in ("stopping", "stopped", "started")]


# ---------------------------------------------------------------- Socket.IO behind the balancer

def socketio_client(url: str, transport: str, inbox: list) -> socketio.Client:
    client = socketio.Client(reconnection=False)
    client.on("notify", inbox.append)
    client.connect(url, transports=[transport], wait_timeout=WAIT)
    return client


def test_socketio_polling_needs_sticky_sessions_websocket_does_not():
    config = {"SOCKETIO_TRANSPORTS": ["polling", "websocket"]}
    with start_cluster("websockets", 2, config=config) as round_robin:
        # Engine.IO's polling handshake by hand (a python-socketio client only says
        # "ConnectionError", after waiting for answers that never come).
        opened = requests.get(round_robin.url + "/socket.io/?EIO=4&transport=polling", timeout=WAIT)
        assert opened.status_code == 200 and opened.text.startswith("0{"), opened.text
        sid = json.loads(opened.text[1:])["sid"]
        joined = requests.post(f"{round_robin.url}/socket.io/?EIO=4&transport=polling&sid={sid}", data="40",
                               timeout=WAIT)
        assert joined.headers["X-Upstream"] != opened.headers["X-Upstream"], "round robin: the other node"
        assert joined.status_code == 400 and "Invalid session" in joined.text, (joined.status_code, joined.text)
        inbox: list = []
        client = socketio_client(round_robin.url, "websocket", inbox)
        try:
            for i, _node in enumerate(round_robin.nodes):
                round_robin.publish(f"ws {i}", node=i)  # through Redis to whichever node holds it
            assert wait_until(lambda: len(inbox) == 2, WAIT), inbox
            assert sorted(item["message"] for item in inbox) == ["ws 0", "ws 1"]
        finally:
            client.disconnect()
        # The same two nodes behind a second nginx with ip_hash: one client address, one node.
        sticky = round_robin.add_balancer("ip_hash")
        assert "ip_hash;" in sticky.config_text
        inbox = []
        client = socketio_client(sticky.url, "polling", inbox)
        try:
            assert client.transport() == "polling"
            round_robin.publish("sticky", node=1)
            assert wait_until(lambda: inbox == [{"message": "sticky"}], WAIT), inbox
        finally:
            client.disconnect()


# ---------------------------------------------------------------- long polling across nodes

def test_long_polling_across_nodes_gets_every_message_once_in_order():
    with start_cluster("long_polling", 3) as polling:
        answers = []
        # A request held on node 1 is woken by a publish on node 3 (through Redis).
        held = threading.Thread(target=lambda: answers.append(
            requests.get(polling.nodes[0].url + "/updates?since=0&timeout=20", timeout=30)), daemon=True)
        held.start()
        assert wait_until(lambda: polling.nodes[0].stats()["waiting"] == 1, WAIT)
        polling.publish("wake up", node=2)
        held.join(WAIT)
        assert [m["message"] for m in answers[0].json()["messages"]] == ["wake up"]
        # A client polling through nginx lands on every node and misses nothing.
        # A client polling through nginx, one node after another, misses nothing.
        cursor, got, answered_by = answers[0].json()["cursor"], [], []
        for i in range(6):
            polling.publish(f"m{i}", node=i % 3)
            response = polling.get(f"/updates?since={cursor}&timeout=10")
            body = response.json()
            got += [m["message"] for m in body["messages"]]
            cursor = body["cursor"]
            answered_by.append(polling.node_for(int(response.headers["X-Lab-Process"])).name)
        assert got == [f"m{i}" for i in range(6)]
        assert sorted(set(answered_by)) == ["node1", "node2", "node3"], answered_by


# ---------------------------------------------------------------- the CLI and orphans

def test_the_cli_serves_a_cluster_and_ctrl_c_leaves_nothing_running():
    server = subprocess.Popen([sys.executable, "-m", "labs", "cluster", "manual_sse", "--nodes", "2", "--port", "0"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        first = server.stdout.readline()
        assert first.startswith("manual_sse: open http://127.0.0.1:"), first + server.stderr.read()
        url = first.split()[2]
        nodes = [server.stdout.readline() for _ in range(2)]
        assert all("listens privately on" in line for line in nodes), nodes
        assert requests.get(url + "/health", timeout=10).headers["X-Upstream"] in " ".join(nodes)
        tree = [server.pid, *(p.pid for p in psutil.Process(server.pid).children(recursive=True))]
        assert len(tree) >= 6, "the CLI, two nodes, nginx (guard, master, worker), Redis"
        os.killpg(server.pid, signal.SIGINT)  # Ctrl-C in the instructor's terminal
        assert server.wait(WAIT) == 0
        assert "Traceback" not in server.stderr.read()
        assert_all_gone(tree)
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)


def test_no_orphan_when_the_starting_process_is_killed(tmp_path):
    script = tmp_path / "starter.py"
    script.write_text(textwrap.dedent("""
        import json, time
        import psutil
        from labs.harness.cluster import start_cluster
        cluster = start_cluster("manual_sse", 2, workers=1)  # gunicorn: an arbiter and a worker per node
        print(json.dumps([p.pid for p in psutil.Process().children(recursive=True)]), flush=True)
        time.sleep(120)
    """))
    starter = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        pids = json.loads(starter.stdout.readline())
        assert len(pids) >= 7 and all(alive(pid) for pid in pids), pids
        starter.kill()  # SIGKILL: no atexit, no finally
        starter.wait()
        assert_all_gone(pids)
    finally:
        starter.kill()


def test_no_orphan_when_the_kernel_is_killed():
    from test_launcher import start_kernel, stop_kernel

    manager, client = start_kernel()
    try:
        printed: list[dict] = []
        code = ("import json, psutil\nfrom labs.harness.cluster import start_cluster\n"
                "cluster = start_cluster('manual_sse', 2)\n"
                "print(json.dumps([p.pid for p in psutil.Process().children(recursive=True)]))")
        reply = client.execute_interactive(code, timeout=120, output_hook=printed.append)
        assert reply["content"]["status"] == "ok", reply["content"]
        text = "".join(m["content"].get("text", "") for m in printed if m["msg_type"] == "stream")
        pids = json.loads(text)
        assert len(pids) >= 6 and all(alive(pid) for pid in pids), pids  # 2 nodes, nginx x3, Redis x2
        manager.signal_kernel(signal.SIGKILL)  # as nbval ends a kernel
        assert_all_gone(pids)
    finally:
        stop_kernel(manager, client)

