"""The linter: ruff, pinned in requirements.txt and configured in pyproject.toml, finds nothing.

Run it yourself with ``.venv/bin/ruff check .`` (``--fix`` fixes what it can).  Every
Python file and notebook in the repository is checked; only the venv is left out.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SKIPPED_DIRS = {".venv", ".git", "__pycache__", ".ipynb_checkpoints", ".ruff_cache", ".pytest_cache", ".hypothesis"}
NOQA = re.compile(r"#\s*noqa\b(?::\s*(?P<codes>[A-Za-z0-9, ]+))?", re.IGNORECASE)


def ruff(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ruff", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def our_files() -> list[Path]:
    """The repository's Python files and notebooks: what git tracks, or would (not what .gitignore
    leaves out, such as the app notebook 04 saves for the student to run)."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.splitlines()
    return sorted(ROOT / name for name in listed
                  if Path(name).suffix in (".py", ".ipynb") and (ROOT / name).is_file()
                  and not SKIPPED_DIRS & set(Path(name).parts[:-1]))


def test_ruff_finds_nothing():
    result = ruff("check", "--no-cache", "--output-format", "concise", ".")
    assert result.returncode == 0, f"ruff check found problems (`.venv/bin/ruff check --fix .` fixes some):\n" \
                                   f"{result.stdout}{result.stderr}"


def test_the_ruff_that_runs_is_the_pinned_one():
    pins = dict(line.split("==") for line in (ROOT / "requirements.txt").read_text().splitlines()
                if "==" in line and not line.startswith("#"))
    assert ruff("--version").stdout.split() == ["ruff", pins["ruff"]]


def test_ruff_checks_every_python_file_and_notebook():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["ruff"]
    assert config.get("extend-exclude", []) == [".venv"] and "exclude" not in config
    checked = {Path(line) for line in ruff("check", "--show-files", ".").stdout.splitlines() if line.strip()}
    ours = our_files()
    assert any(path.suffix == ".ipynb" for path in ours) and any(path.parts[-2] == "tests" for path in ours)
    assert [path for path in ours if path not in checked] == []


def test_the_configuration_catches_what_it_should(tmp_path):
    # The repository's own settings, on a file with one mistake of each kind they select.
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import sys\nimport os\n"  # I001 (order), F401 (os unused)
        "from typing import Callable\n"  # UP035
        "print(sys.argv, Callable, undefined_name)\n"  # F821
        "x = [i for i in range(3) if i in [1]]  # noqa: E731\n"  # RUF100: suppresses nothing
        "\n\ndef f(items=[]):  \n    return items\n"  # B006, W291 (trailing spaces)
        f"y = '{'z' * 130}'\n"  # E501 at 120
    )
    found = ruff("check", "--no-cache", "--config", str(ROOT / "pyproject.toml"), "--output-format", "concise",
                 str(sample), cwd=tmp_path)
    codes = set(re.findall(r": ([A-Z]+[0-9]+) ", found.stdout))
    assert {"I001", "F401", "UP035", "F821", "RUF100", "B006", "W291", "E501"} <= codes, found.stdout
    assert found.returncode == 1


def test_every_noqa_names_a_rule_ruff_knows():
    # A `noqa` for another linter's rule (flake8 plugins, wemake, bandit) silences nothing
    # here and only misleads; ruff's RUF100 catches unused ruff codes, this the foreign ones.
    foreign, blanket = [], []
    for path in our_files():
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            for marker in NOQA.finditer(line):
                where = f"{path.relative_to(ROOT)}:{number}"
                if not marker.group("codes"):
                    blanket.append(where)
                    continue
                for code in re.findall(r"[A-Z]+[0-9]+", marker.group("codes")):
                    if ruff("rule", code).returncode != 0:
                        foreign.append(f"{where} {code}")
    assert (foreign, blanket) == ([], [])


MAX_FUNCTION_LINES = 60


def long_functions(path: Path, source: str | None = None) -> list[str]:
    """Every function (or method) in ``path`` longer than MAX_FUNCTION_LINES, from its ``def`` to its last line."""
    import ast

    source = path.read_text(encoding="utf-8") if source is None else source
    found = []
    for node in ast.walk(ast.parse(source, filename=str(path))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            lines = node.end_lineno - node.lineno + 1
            if lines > MAX_FUNCTION_LINES:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.name} is {lines} lines")
    return found


def test_the_length_check_sees_a_long_function():
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES - 1))
    path = ROOT / "labs" / "example.py"
    assert long_functions(path, f"def fits():\n{body}\n") == []
    method = "\n".join("    " + line for line in body.splitlines())
    assert long_functions(path, f"class A:\n    async def long(self):\n{method}\n        y = 1\n") == [
        f"labs/example.py:2: long is {MAX_FUNCTION_LINES + 1} lines"]


def test_no_function_is_over_sixty_lines():
    found = [offence for path in our_files() if path.suffix == ".py" for offence in long_functions(path)]
    assert not found, f"split these (at most {MAX_FUNCTION_LINES} lines a function):\n" + "\n".join(found)
