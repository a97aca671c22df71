"""JupyterLab greets a new student without the "get notified about official Jupyter news?" pop-up.

``tools/link_project.py`` (run by ``make venv`` and Binder's ``postBuild``) writes the
setting where JupyterLab reads this environment's defaults; here a real JupyterLab server,
with no user settings of its own (a new student), is asked what its default is.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import threading
import time

import requests

from labs.core.webapp import REPO_ROOT
from labs.harness.processes import ManagedProcess
from tools.link_project import JUPYTERLAB_OVERRIDES, OVERRIDES_FILE, jupyterlab_overrides_path

PLUGIN = "@jupyterlab/apputils-extension:notification"


def get_once_listening(url: str, token: str, timeout: float = 30.0) -> requests.Response:
    """GET ``url``, retrying while nothing listens there yet (a server prints its address first)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return requests.get(url, params={"token": token}, timeout=10)
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_link_project_writes_the_setting_where_jupyterlab_reads_overrides(tmp_path):
    env = {**os.environ, "JUPYTERLAB_DIR": str(tmp_path / "lab")}
    subprocess.run([sys.executable, "tools/link_project.py"], cwd=REPO_ROOT, env=env, check=True,
                   capture_output=True, timeout=60)
    settings_dir = tmp_path / "lab" / "settings"
    assert json.loads((settings_dir / "overrides.d" / OVERRIDES_FILE).read_text()) == JUPYTERLAB_OVERRIDES
    # JupyterLab's own reader of that folder finds it.
    from jupyterlab_server.settings_utils import _get_overrides

    overrides, error = _get_overrides(str(settings_dir))
    assert error == "" and overrides[PLUGIN]["fetchNews"] == "false"


def test_this_environments_jupyterlab_has_news_off(tmp_path):
    assert jupyterlab_overrides_path().exists(), "run `make venv` (tools/link_project.py)"
    token = secrets.token_hex(16)
    ready = threading.Event()
    url: list[str] = []

    def on_line(line: str) -> None:
        if not ready.is_set() and (found := re.search(r"(http://127\.0\.0\.1:\d+)/lab", line)):
            url.append(found.group(1))
            ready.set()

    argv = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1", "--ServerApp.port=0",
            f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={tmp_path}"]
    if os.getuid() == 0:
        argv.append("--allow-root")
    # A new student: no user settings, config or runtime files of this machine's user.
    env = {**os.environ, "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "user-settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"),
           "JUPYTER_CONFIG_DIR": str(tmp_path / "config"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    env.pop("JUPYTERLAB_DIR", None)
    server = ManagedProcess(argv, env=env, on_line=on_line)
    try:
        assert ready.wait(60), f"JupyterLab did not start; its output:\n{server.log}"
        answer = get_once_listening(f"{url[0]}/lab/api/settings/{PLUGIN}", token)
        assert answer.status_code == 200, answer.text
        schema = answer.json()["schema"]["properties"]
        # The schema's own default is "none" (ask: the pop-up); the workbook's is "false" (never).
        assert schema["fetchNews"]["default"] == "false"
        assert schema["checkForUpdates"]["default"] is False
    finally:
        server.stop()
