"""The README's commands run as written.

Every command in the README's shell blocks is taken from the file and run the way a new
user would: long-running ones (`make lab`, `python -m labs run`) until they answer, then
stopped with Ctrl-C.  `make test` is the command running this very test, so it is only
checked to exist (in .ci/run, tests/test_setup_files.py).
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

from labs.harness.processes import wait_until

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def readme_commands() -> list[str]:
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", README, re.S):
        for line in block.splitlines():
            command = line.split("#", 1)[0].strip()
            if command:
                commands.append(command)
    return commands


COMMANDS = readme_commands()


def start(command: str, env=None) -> subprocess.Popen:
    return subprocess.Popen(shlex.split(command), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True, env=env)


def read_until(process: subprocess.Popen, pattern: str, timeout: float = 120) -> re.Match:
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line)
        match = re.search(pattern, line)
        if match:
            return match
    raise AssertionError(f"{pattern!r} never appeared; output:\n{''.join(seen)[-3000:]}")


def interrupt(process: subprocess.Popen, sig: int = signal.SIGINT) -> int:
    os.killpg(process.pid, sig)
    try:
        return process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        raise


def test_readme_names_the_two_commands():
    assert COMMANDS[:2] == ["make lab", "make test"]


def test_make_lab_serves_the_workbook():
    lab = start("make lab", env={**os.environ, "JUPYTER_PORT": "0"})
    try:
        match = read_until(lab, r"(http://127\.0\.0\.1:\d+/lab\?token=\w+)")
        assert wait_until(lambda: _answers(match.group(1)), 30)
        page = requests.get(match.group(1), timeout=30)
        assert page.status_code == 200 and "JupyterLab" in page.text
        base, token = match.group(1).split("/lab?token=")
        listing = requests.get(f"{base}/api/contents", params={"token": token}, timeout=10).json()
        names = {item["name"] for item in listing["content"]}
        assert "00_welcome_and_setup.ipynb" in names, "JupyterLab opens on notebooks/"
        # And notebook 00 runs there, cell by cell, in a kernel of that server.
        cells, printed = run_notebook_in_server(base, token, "00_welcome_and_setup.ipynb")
        assert cells >= 5 and "Redis answers PING: True" in printed and "lab stopped" in printed, printed[-2000:]
    finally:
        # JupyterLab answers one Ctrl-C with a y/n question; SIGTERM ends it outright.
        interrupt(lab, signal.SIGTERM)


@pytest.mark.parametrize("command", [c for c in COMMANDS if c.startswith(".venv/bin/python -m labs")
                                     and not c.startswith(".venv/bin/python -m labs grade")])
def test_lab_commands_run_as_written(command):
    if " run " not in command:
        result = subprocess.run(shlex.split(command), cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip()
        return
    # The README says port 5000; a test must not depend on it being free.
    process = start(command + " --port 0")
    try:
        url = read_until(process, r"serving on (http://\S+)").group(1)
        assert wait_until(lambda: _healthy(url), 30)
    finally:
        assert interrupt(process) == 0


def _workflow(name: str) -> dict:
    import yaml

    return yaml.safe_load((ROOT / ".github/workflows" / name).read_text())


def _sandbox_step_before(steps: list[dict], step: dict) -> None:
    """bubblewrap is installed and allowed its user namespaces before the grader runs."""
    earlier = " ".join(s.get("run", "") for s in steps[:steps.index(step)])
    assert "apt-get install" in earlier and "bubblewrap" in earlier, earlier
    assert "sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0" in earlier, earlier


def test_the_students_workflow_grades_their_notebooks_with_the_courses_kit():
    """The README's grading command runs as written in tests/test_grading_all_*.py; the
    student-side workflow runs that very command, in a checkout of the kit the course names
    (never the student's own labs/), after the README's set-up step there, on the student's
    notebooks/."""
    from tools.grading import readme_grading_command

    argv = readme_grading_command()
    assert argv[:4] == [".venv/bin/python", "-m", "labs", "grade"] and "--junitxml" in argv
    steps = _workflow("grade.yml")["jobs"]["grade"]["steps"]
    (kit,) = [s for s in steps if s.get("with", {}).get("repository")]
    (own,) = [s for s in steps if "checkout" in s.get("uses", "") and s is not kit]
    assert kit["with"]["repository"] == "${{ vars.KIT_REPOSITORY }}" and kit["with"]["ref"] == "${{ vars.KIT_REF }}"
    assert kit["with"]["path"] != own["with"]["path"], "the kit and the student's repository stay apart"
    (check,) = [s for s in steps[:steps.index(kit)] if "KIT_REPOSITORY" in s.get("run", "")]
    assert "exit 1" in check["run"] and check["env"]["KIT_REPOSITORY"] == "${{ vars.KIT_REPOSITORY }}"
    (step,) = [s for s in steps if "labs grade" in s.get("run", "")]
    assert step["working-directory"] == kit["with"]["path"]
    assert shlex.split(step["run"]) == [*argv[:-1], f"../{own['with']['path']}/notebooks"]
    assert not step.get("env"), "the grade depends on nothing but the command (no grading switch)"
    assert "make venv" in COMMANDS
    assert any(s.get("run") == "make venv" and s.get("working-directory") == kit["with"]["path"]
               for s in steps[:steps.index(step)])
    _sandbox_step_before(steps, step)
    assert "SSE_KIT_GRADING" not in (ROOT / ".github/workflows/grade.yml").read_text() + README


def test_the_instructors_workflow_runs_the_readmes_class_grading_command():
    """grade-class.yml grades with the repository it runs in (the course's kit): the README's
    command, on the repositories file given when it is started, after `make venv`."""
    from tools.grading import readme_class_grading_command

    argv = readme_class_grading_command()
    assert argv[:4] == [".venv/bin/python", "-m", "labs", "grade-class"] and "--require-sandbox" in argv
    workflow = _workflow("grade-class.yml")
    assert set(workflow[True]) == {"workflow_dispatch"}, "started by hand only (`on:` reads as True)"
    steps = workflow["jobs"]["grade-class"]["steps"]
    (step,) = [s for s in steps if "labs grade-class" in s.get("run", "")]
    (line,) = [line for line in step["run"].splitlines() if "labs grade-class" in line]
    command = shlex.split(line.split(">", 1)[0])
    assert command == [*argv[:argv.index("--repos") + 1], "$REPOS", *argv[argv.index("--repos") + 2:]]
    assert step["env"]["REPOS"] == "${{ inputs.repos }}"
    assert any(s.get("run") == "make venv" for s in steps[:steps.index(step)])
    _sandbox_step_before(steps, step)


def test_the_webhook_senders_help_runs_as_the_instructors_guide_says():
    assert "`python -m labs send-webhook --help`" in README
    result = subprocess.run([".venv/bin/python", "-m", "labs", "send-webhook", "--help"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "--tamper" in result.stdout and "--replay" in result.stdout


@pytest.mark.browser
def test_make_screenshots_takes_real_pictures_of_a_page(tmp_path):
    # `make screenshots` runs tools/screenshots.py; here on one lab, into a folder of our own.
    assert "$(PY) tools/screenshots.py" in (ROOT / "Makefile").read_text()
    from tools.chromium import find_chromium

    if find_chromium() is None:
        if os.environ.get("SSE_KIT_REQUIRE_BROWSER") == "1":
            pytest.fail("no Chromium, and SSE_KIT_REQUIRE_BROWSER=1")
        pytest.skip("no Chromium")
    result = subprocess.run([".venv/bin/python", "tools/screenshots.py", "--out", str(tmp_path), "json_roundtrip"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    picture = (tmp_path / "json_roundtrip.png").read_bytes()
    assert picture[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(picture[16:20], "big"), int.from_bytes(picture[20:24], "big")
    assert width == 1000 and height >= 720, (width, height)
    assert len(picture) > 20_000, "a page with text and panels, not a blank image"


def run_notebook_in_server(base: str, token: str, name: str) -> tuple[int, str]:
    """Run every code cell of ``name`` in a new kernel of the Jupyter server at ``base``,
    over the server's own kernel WebSocket, as JupyterLab does when a student runs them.
    Returns how many cells ran (each one must succeed) and what they printed."""
    import json
    import uuid

    import nbformat
    import websocket  # websocket-client, which jupyter_server depends on

    cells = [c.source for c in nbformat.read(ROOT / "notebooks" / name, as_version=4).cells
             if c.cell_type == "code"]
    kernel = requests.post(f"{base}/api/kernels", params={"token": token}, json={"name": "python3"},
                           timeout=30).json()
    ws = websocket.create_connection(
        f"{base.replace('http', 'ws', 1)}/api/kernels/{kernel['id']}/channels?token={token}", timeout=60)
    session, printed = uuid.uuid4().hex, []
    try:
        for code in cells:
            msg_id = uuid.uuid4().hex
            ws.send(json.dumps({
                "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "student",
                           "session": session, "version": "5.3", "date": ""},
                "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
                "content": {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                            "allow_stdin": False, "stop_on_error": True}}))
            while True:
                msg = json.loads(ws.recv())
                if msg.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                if msg["msg_type"] == "stream":
                    printed.append(msg["content"]["text"])
                if msg["msg_type"] == "execute_reply":
                    assert msg["content"]["status"] == "ok", (code[:200], msg["content"])
                    break
    finally:
        ws.close()
        requests.delete(f"{base}/api/kernels/{kernel['id']}", params={"token": token}, timeout=30)
    return len(cells), "".join(printed)


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=5).status_code == 200
    except requests.RequestException:
        return False


def _healthy(url: str) -> bool:
    try:
        return requests.get(url + "/health", timeout=1).status_code == 200
    except requests.RequestException:
        return False


def test_readme_links_and_pictures_exist():
    targets = re.findall(r"\]\(([^)#\s]+)\)", README)
    local = [t for t in targets if not t.startswith(("http://", "https://"))]
    assert local, "the README shows the plot and the screenshots"
    missing = [t for t in local if not (ROOT / t).exists()]
    assert not missing, f"the README points at files that are not there: {missing}"
