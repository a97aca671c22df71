"""The launcher and the CLI: labs start, answer, and never outlive whoever started them.

Every way a notebook or test run can end is tried: a normal stop, a failing cell, an
interrupted cell, a kernel killed outright, pytest killed outright, Ctrl-C on
``python -m labs run``.  After each, the lab server and the Redis it started must be
gone, checked by process lookup.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable

import psutil
import pytest
import requests

from labs.core.webapp import REPO_ROOT as ROOT
from labs.harness.client import EventStream
from labs.harness.launcher import LabServer, start_lab
from labs.harness.processes import wait_until
from labs.harness.registry import LABS
from labs.harness.serve import READY_PREFIX
from tools.pytest_ipc_kernels import IpcKernelManager


def process_tree(pid: int) -> list[int]:
    root = psutil.Process(pid)
    return [pid] + [child.pid for child in root.children(recursive=True)]


def running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def assert_all_gone(pids: list[int], timeout: float = 10.0) -> None:
    wait_until(lambda: not any(running(pid) for pid in pids), timeout, interval=0.1)
    survivors = [(pid, psutil.Process(pid).cmdline()) for pid in pids if running(pid)]
    assert not survivors, f"still running: {survivors}"


def redis_pids(pids: list[int]) -> list[int]:
    found = []
    for pid in pids:
        try:
            if any("redis-server" in part for part in psutil.Process(pid).cmdline()):
                found.append(pid)
        except psutil.NoSuchProcess:
            pass
    return found


def describe(pids: list[int]) -> list[tuple[int, str]]:
    out = []
    for pid in pids:
        try:
            out.append((pid, " ".join(psutil.Process(pid).cmdline())))
        except psutil.NoSuchProcess:
            out.append((pid, "<gone>"))
    return out


def lab_and_redis_running(pid: int, name: str) -> list[int]:
    """Check that ``pid`` is lab ``name``'s server and that a redis-server runs among its
    descendants; return the whole tree (to check later that none of it survives)."""
    assert running(pid), f"the lab server {pid} is not running"
    cmdline = psutil.Process(pid).cmdline()
    assert cmdline[cmdline.index("labs"):][:3] == ["labs", "run", name], cmdline
    tree = process_tree(pid)
    # The server itself (its process name), not the watchdog whose arguments name it.
    servers = [p for p in tree if running(p) and psutil.Process(p).name() == "redis-server"]
    assert servers, f"no redis-server among the lab's descendants: {describe(tree)}"
    # Each lives in a session of its own (an interrupt to the kernel's group misses them).
    assert os.getsid(pid) == pid, "the lab should lead a process session of its own"
    return tree


def assert_killing_leaves_nothing(argv: list[str], started, **popen) -> None:
    """Run ``argv``; ``started(process)`` waits until it has started its servers, checks them and
    returns their processes.  Then ``argv`` is SIGKILLed (nothing runs in it: no atexit, no
    finally), and every one of those processes must go."""
    process = subprocess.Popen(argv, **popen)
    try:
        tree = started(process)
        process.kill()
        process.wait()
        assert_all_gone(tree)
    finally:
        process.kill()


def inner_pytest(tmp_path, servers: str, pids: str) -> tuple[list[str], Callable[[], list[int]]]:
    """A real pytest's command line for one test in ``tmp_path`` that opens ``servers`` (what
    follows ``with``, e.g. ``start_lab("manual_sse") as lab``) and holds them; and a function
    that waits until they run and returns ``pids`` (a list expression, e.g. ``[lab.pid]``)."""
    pid_file = tmp_path / "pids.json"
    (tmp_path / "test_inner.py").write_text(textwrap.dedent(f"""
        import json, os, time
        from labs import start_lab, start_proxy

        def test_holds_servers():
            with {servers}:
                with open({str(pid_file) + ".tmp"!r}, "w") as out:
                    out.write(json.dumps({pids}))
                os.replace({str(pid_file) + ".tmp"!r}, {str(pid_file)!r})  # whole or absent
                time.sleep(120)
    """))

    def started_pids() -> list[int]:
        assert wait_until(pid_file.exists, 30), f"the inner test did not start {servers}"
        return json.loads(pid_file.read_text())

    # Without the plugins this test does not need (they take seconds to load).
    quiet = [arg for plugin in ("xdist", "xdist.looponfail", "nbval", "anyio", "hypothesispytest")
             for arg in ("-p", f"no:{plugin}")]
    return [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *quiet, str(tmp_path)], started_pids


@pytest.fixture(autouse=True)
def _no_external_redis(monkeypatch):
    # A lab started with redis=True uses REDIS_URL when it answers; these tests need the
    # private redis-server the lab starts itself, so that its pid can be checked.
    monkeypatch.delenv("REDIS_URL", raising=False)


def test_start_lab_answers_health_and_stop_ends_the_whole_tree():
    lab = start_lab("json_roundtrip", redis=True)
    try:
        assert lab.get("/health").json() == {"status": "ok", "lab": "json_roundtrip"}
        tree = process_tree(lab.pid)
        assert redis_pids(tree), "--redis should have started a private redis-server under the lab"
    finally:
        lab.stop()
    assert_all_gone(tree)


def test_the_lab_binds_loopback_only_by_default():
    with start_lab("json_roundtrip") as lab:
        assert lab.url.startswith("http://127.0.0.1:")
        addresses = {conn.laddr.ip for conn in psutil.Process(lab.pid).net_connections(kind="tcp")
                     if conn.status == psutil.CONN_LISTEN}
        assert addresses == {"127.0.0.1"}


def test_gunicorn_workers_serve_and_stop_with_the_lab():
    with start_lab("json_roundtrip", workers=2) as lab:
        assert lab.get("/health").status_code == 200
        tree = process_tree(lab.pid)
        assert len(tree) >= 3, "an arbiter and two workers"
    assert_all_gone(tree)


def test_gunicorn_workers_tune_the_garbage_collector():
    # gunicorn validates each setting (a hook must take exactly the worker), and the hook
    # must freeze start-up objects and raise the thresholds (in a child: it is global state).
    from gunicorn.config import Config

    from labs.harness.registry import get_lab
    from labs.harness.serve import GC_THRESHOLDS, _tune_gc_for_many_connections, gunicorn_options

    cfg = Config()
    for key, value in gunicorn_options(get_lab("manual_sse"), 3, 1).items():
        cfg.set(key, value)
    assert cfg.post_worker_init is _tune_gc_for_many_connections
    code = ("import gc, json; from labs.harness.serve import _tune_gc_for_many_connections as tune; "
            "before = gc.get_threshold(); tune(None); "
            "print(json.dumps([before, gc.get_threshold(), gc.get_freeze_count()]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    before, after, frozen = json.loads(out)
    assert before != list(GC_THRESHOLDS) and before[0] < GC_THRESHOLDS[0]  # Python's defaults (700 until 3.13,
    # 2000 from 3.13): the hook really changes something
    assert after == list(GC_THRESHOLDS)
    assert frozen > 0


def test_a_lab_that_cannot_start_reports_its_output():
    with pytest.raises(Exception, match="no lab named"):
        LabServer("no_such_lab")
    lab = LabServer("json_roundtrip", extra_args=["--config-json", "{not json"])
    with pytest.raises(RuntimeError, match="JSONDecodeError|Expecting property name"):
        lab.start(timeout=10)


def test_no_orphan_when_the_starting_process_is_killed(tmp_path):
    script = tmp_path / "starter.py"
    script.write_text(textwrap.dedent("""
        import json, sys, time
        from labs import start_lab
        lab = start_lab("json_roundtrip", redis=True)
        print(json.dumps({"pid": lab.pid}), flush=True)
        time.sleep(120)
    """))

    def started(starter):
        return lab_and_redis_running(json.loads(starter.stdout.readline())["pid"], "json_roundtrip")

    assert_killing_leaves_nothing([sys.executable, str(script)], started, stdout=subprocess.PIPE, text=True)


def test_no_orphan_when_pytest_itself_is_killed(tmp_path):
    argv, started_pids = inner_pytest(tmp_path, 'start_lab("sse_blueprint") as lab', "[lab.pid]")  # it needs Redis

    def started(inner):
        tree = lab_and_redis_running(started_pids()[0], "sse_blueprint")
        assert running(inner.pid)
        return tree

    assert_killing_leaves_nothing(argv, started, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def start_kernel():
    """A Python kernel on Unix sockets, not TCP (tools/pytest_ipc_kernels.py says why), ready.
    Returns (manager, client); :func:`stop_kernel` undoes it."""
    manager = IpcKernelManager(kernel_name="python3")
    manager.start_kernel()
    client = manager.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)
    except BaseException:
        stop_kernel(manager, client)
        raise
    return manager, client


def stop_kernel(manager, client) -> None:
    client.stop_channels()
    if manager.is_alive():
        manager.shutdown_kernel(now=True)
    manager.cleanup_resources()
    manager.remove_folder()


@pytest.fixture
def kernel():
    manager, client = start_kernel()
    yield manager, client
    stop_kernel(manager, client)


def test_nbvals_kernels_talk_over_unix_sockets_too():
    # tools/pytest_ipc_kernels.py, loaded into every pytest process by addopts.
    import glob

    import nbval.kernel

    manager, client = nbval.kernel.start_new_kernel(kernel_name=nbval.kernel.CURRENT_ENV_KERNEL_NAME)
    try:
        assert manager.transport == "ipc"
        assert glob.glob(manager.ip + "-*"), "the kernel's socket files"
        assert client.execute_interactive("1 + 1", timeout=30)["content"]["status"] == "ok"
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def iopub_of(client, msg_id: str, timeout: float):
    """The kernel's broadcast messages about one request, as they come."""
    while True:
        msg = client.get_iopub_msg(timeout=timeout)
        if msg["parent_header"].get("msg_id") == msg_id:
            yield msg


def run_cell(client, code: str, timeout: float = 60) -> dict:
    """Execute ``code`` in the kernel; return its reply content and printed text.

    With ``stop_on_error=False``, as nbval sends cells: otherwise, after a failing cell,
    ipykernel aborts whatever request reaches it before it has cleared its queue, and on
    a busy machine the test's next cell can be that request.
    """
    text = []
    msg_id = client.execute(code, stop_on_error=False)
    for msg in iopub_of(client, msg_id, timeout):
        if msg["msg_type"] == "stream":
            text.append(msg["content"]["text"])
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            break
    reply = shell_reply(client, msg_id, timeout)
    reply["text"] = "".join(text)
    return reply


def execute_until_printed(client, code: str, timeout: float = 60) -> tuple[str, int]:
    """Send ``code`` and return its msg_id and the first number it prints, while it runs."""
    msg_id = client.execute(code, stop_on_error=False)
    for msg in iopub_of(client, msg_id, timeout):
        if msg["msg_type"] == "stream":
            return msg_id, int(msg["content"]["text"].split()[0])
        if msg["msg_type"] == "error":
            raise AssertionError(f"the cell failed: {msg['content']['ename']}: {msg['content']['evalue']}")


def shell_reply(client, msg_id: str, timeout: float) -> dict:
    # Skip replies to other requests (start-up sends kernel_info requests of its own).
    while True:
        msg = client.get_shell_msg(timeout=timeout)
        if msg["parent_header"].get("msg_id") == msg_id:
            return msg["content"]


@pytest.mark.parametrize("start", [
    "start_lab('json_roundtrip', redis=True)",
    "start_lab('manual_sse', workers=2)",  # a gunicorn arbiter, two workers and their Redis
    "start_lab('quart_sse', redis=True)",  # uvicorn (ASGI) and a Redis
], ids=["dev-server", "gunicorn-workers", "uvicorn"])
def test_no_orphan_when_the_kernel_is_killed(kernel, start):
    manager, client = kernel
    reply = run_cell(client, f"from labs import start_lab\nlab = {start}\nprint(lab.pid)")
    assert reply["status"] == "ok", reply
    name = start.split("'")[1]
    tree = lab_and_redis_running(int(reply["text"]), name)
    if "workers" in start:
        assert len(tree) >= 4, f"arbiter, two workers and Redis: {describe(tree)}"
    manager.signal_kernel(signal.SIGKILL)  # as nbval ends a kernel: no atexit, no finally
    assert_all_gone(tree)


def test_no_orphan_when_a_cell_fails(kernel, tmp_path):
    _, client = kernel
    go = tmp_path / "go"
    # The cell holds its lab until the test has looked at the processes, then fails.
    msg_id, pid = execute_until_printed(client, textwrap.dedent(f"""
        import os
        from labs import start_lab
        from labs.harness.processes import wait_until
        pids = []
        with start_lab('json_roundtrip', redis=True) as lab:
            pids.append(lab.pid)
            print(lab.pid, flush=True)
            wait_until(lambda: os.path.exists({str(go)!r}), 30)
            raise ValueError('a student mistake')
    """))
    tree = lab_and_redis_running(pid, "json_roundtrip")
    go.touch()
    reply = shell_reply(client, msg_id, 60)
    assert reply["status"] == "error" and reply["ename"] == "ValueError", reply
    assert int(run_cell(client, "print(pids[0])")["text"]) == pid
    assert_all_gone(tree)


def test_interrupting_a_cell_stops_its_lab_but_not_earlier_ones(kernel):
    manager, client = kernel
    reply = run_cell(client, "from labs import start_lab\n"
                             "kept = start_lab('json_roundtrip', redis=True)\nprint(kept.pid)")
    assert reply["status"] == "ok", reply
    kept_tree = lab_and_redis_running(int(reply["text"]), "json_roundtrip")
    msg_id, inner_pid = execute_until_printed(client, textwrap.dedent("""
        import time
        with start_lab('sse_blueprint') as lab:  # a lab that always needs Redis
            print(lab.pid, flush=True)
            time.sleep(60)
    """))
    inner_tree = lab_and_redis_running(inner_pid, "sse_blueprint")
    manager.interrupt_kernel()  # the ■ button: SIGINT to the kernel
    reply = shell_reply(client, msg_id, 30)
    assert reply["status"] == "error" and reply["ename"] == "KeyboardInterrupt"
    assert_all_gone(inner_tree)
    # The lab from the earlier cell lives in its own session: the interrupt missed it
    # and its Redis.
    survivors = [pid for pid in kept_tree if running(pid)]
    assert survivors == kept_tree, describe(kept_tree)
    health = run_cell(client, "print(kept.get('/health').status_code)")
    assert health["text"].strip() == "200", health
    run_cell(client, "kept.stop()")
    assert_all_gone(kept_tree)


# ---------------------------------------------------------------- the CLI

def labs_cli(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "labs", *args], capture_output=True, text=True, timeout=60, **kwargs)


def test_list_names_every_lab():
    out = labs_cli("list").stdout
    names = [line.split()[0] for line in out.splitlines()]
    assert names == list(LABS)
    assert names == ["event_stream", "json_roundtrip", "sse_blueprint", "manual_sse",
                     "polling", "long_polling", "websockets", "webhooks", "token_stream", "secure_stream",
                     "quart_sse"]


def test_list_gives_each_lab_its_summary_and_notebook():
    lines = labs_cli("list").stdout.splitlines()
    for line, lab in zip(lines, LABS.values(), strict=True):
        notebooks = re.search(r"\[notebooks? ([^\]]+)\]$", line).group(1).split(", ")
        assert lab.summary in line and lab.notebook in notebooks, line


def test_list_names_every_notebook_that_starts_a_lab(tmp_path):
    lines = {line.split()[0]: line for line in labs_cli("list").stdout.splitlines()}
    assert lines["manual_sse"].endswith("[notebooks 04_manual_sse, 09_transport_showdown, 10_through_a_proxy, "
                                        "11_connection_limits_and_http2, 13_scaling_out, "
                                        "14_dead_clients_and_real_clients, 16_flask_and_asgi_side_by_side]")
    assert lines["websockets"].endswith("[notebooks 07_websockets, 09_transport_showdown, 13_scaling_out]")
    assert lines["event_stream"].endswith("[notebook 01_event_stream_format]")
    verbose = labs_cli("list", "--verbose").stdout
    block = verbose.split("manual_sse ", 1)[1].split("\npolling ", 1)[0]
    assert "Part I: 04_manual_sse, 09_transport_showdown" in block
    assert "Part II: 10_through_a_proxy, 11_connection_limits_and_http2, 13_scaling_out" in block
    assert "demo: python -m labs run manual_sse --behind-proxy --fault gzip" in block
    assert "demo: python -m labs cluster manual_sse --nodes 3" in block
    secure = verbose.split("secure_stream ", 1)[1].split("\nquart_sse ", 1)[0]
    assert "python -m labs second-origin --api http://127.0.0.1:5000 --port 8001" in secure
    # Read from the notebooks themselves: a new one that starts a lab is listed with no other change.
    from labs.harness.notebook_labs import notebooks_for

    (tmp_path / "14_new.ipynb").write_text(json.dumps({"cells": [
        {"cell_type": "code", "source": ['lab = start_lab("polling")\n']},
        {"cell_type": "markdown", "source": ["Or in a terminal: `python -m labs cluster token_stream`"]}]}))
    assert notebooks_for(LABS["polling"], tmp_path) == ["05_short_polling", "14_new"]
    assert notebooks_for(LABS["token_stream"], tmp_path) == ["14_new", "15_llm_streams_and_resumable_generations"]
    assert notebooks_for(LABS["event_stream"], tmp_path) == ["01_event_stream_format"]
    (tmp_path / "15_race.ipynb").write_text(json.dumps({"cells": [
        {"cell_type": "code", "source": ["results = showdown(clients=[10])\n"]}]}))
    assert notebooks_for(LABS["webhooks"], tmp_path, showdown_labs=frozenset({"webhooks"})) == [
        "08_webhooks", "15_race"]
    assert "15_race" not in notebooks_for(LABS["webhooks"], tmp_path)


def test_every_notebook_the_registry_names_exists():
    shipped = {path.stem for path in (ROOT / "notebooks").glob("*.ipynb")}
    named = {lab.notebook for lab in LABS.values()}
    assert named <= shipped, f"no such notebook: {sorted(named - shipped)}"


def test_a_single_process_lab_refuses_several_workers():
    result = labs_cli("run", "webhooks", "--workers", "2", "--port", "0")
    assert result.returncode != 0
    assert "runs in one process only" in result.stderr and "delivery" in result.stderr


def test_unknown_lab_is_a_clear_error():
    result = labs_cli("run", "nope")
    assert result.returncode != 0
    assert "no lab named 'nope'" in result.stderr


@pytest.mark.parametrize("args", [
    ["json_roundtrip", "--redis"],  # the development server, and a Redis it started
    ["manual_sse", "--workers", "2"],  # gunicorn + gevent workers (and their Redis), a stream open
    ["quart_sse", "--redis"],  # uvicorn (ASGI) and a Redis, a stream open
], ids=["dev-server", "gunicorn", "uvicorn"])
def test_run_serves_and_ctrl_c_leaves_nothing_running_and_prints_no_traceback(args):
    server = subprocess.Popen([sys.executable, "-u", "-m", "labs", "run", *args, "--port", "0"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              start_new_session=True)
    try:
        url = None
        lines = []
        while url is None:
            line = server.stdout.readline()
            assert line, "".join(lines)
            lines.append(line)
            if line.startswith(READY_PREFIX):
                url = line[len(READY_PREFIX):].strip()
        assert wait_until(lambda: _answers(url), 20)
        tree = process_tree(server.pid)
        assert redis_pids(tree)
        reader = EventStream(url + "/stream") if args[0] in ("manual_sse", "quart_sse") else None
        os.killpg(server.pid, signal.SIGINT)  # Ctrl-C in the instructor's terminal
        output, _ = server.communicate(timeout=15)
        assert server.returncode == 0, output
        assert_all_gone(tree)
        # What the instructor's terminal shows: no traceback, no warning, just the lab's lines.
        assert "Traceback" not in output and "Warning" not in output, output
        if reader is not None:
            reader.close()
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)


def _answers(url: str) -> bool:
    try:
        return requests.get(url + "/health", timeout=1).status_code == 200
    except requests.RequestException:
        return False


# ---------------------------------------------------------------- the watchdog

def _guarded_sleep() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "labs.harness.watchdog", "--", "sleep", "60"], stdin=subprocess.PIPE)


@pytest.mark.parametrize("how", ["SIGTERM", "stdin closed", "both at once"])
def test_the_watchdog_stops_its_program_however_it_is_told(how):
    # Stopping a lab's Redis sends both at once (its lifeline closes and its group gets
    # SIGTERM); a watchdog that hung there would outlive the lab, so each way is repeated.
    for _ in range(10):
        guard = _guarded_sleep()
        assert wait_until(psutil.Process(guard.pid).children, 5)
        (program,) = psutil.Process(guard.pid).children()
        if how != "SIGTERM":
            guard.stdin.close()
        if how != "stdin closed":
            guard.send_signal(signal.SIGTERM)
        try:
            guard.wait(5)
        finally:
            guard.kill()
        assert_all_gone([guard.pid, program.pid], timeout=5)


def test_the_watchdog_stops_its_program_when_orphaned_even_if_its_stdin_stays_open(tmp_path):
    # The lifeline's write end can outlive the parent (inherited by some other process);
    # the watchdog then notices that its parent changed.
    pid_file = tmp_path / "pids"
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import os, subprocess, sys, time
        guard = subprocess.Popen([sys.executable, "-m", "labs.harness.watchdog", "--", "sleep", "60"],
                                 stdin=subprocess.PIPE)
        if os.fork() == 0:      # a child that keeps the pipe's write end open, and lives on
            time.sleep(30)
            os._exit(0)
        open({str(pid_file)!r}, "w").write(str(guard.pid))
        time.sleep(60)
    """)], start_new_session=True)
    try:
        assert wait_until(lambda: pid_file.exists() and pid_file.read_text(), 10)
        guard_pid = int(pid_file.read_text())
        assert wait_until(lambda: psutil.Process(guard_pid).children(), 5)
        tree = [guard_pid, *(p.pid for p in psutil.Process(guard_pid).children())]
        holder.kill()  # the parent dies; its forked child still holds the write end
        assert_all_gone(tree, timeout=5)
    finally:
        os.killpg(holder.pid, signal.SIGKILL)
