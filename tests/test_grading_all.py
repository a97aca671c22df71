"""The README's grading command, as written, on every shipped notebook and every solved one.

This file covers notebooks 00-04, ``test_grading_all_late.py`` covers 05 on (a file per
xdist worker). The command is read from the README (``tools/grading.py``) and run once per
file on two folders: ``shipped/`` (copies of the notebooks as they ship: every exercise must
fail as "not started", and nothing else may appear) and ``solved/`` (the notebooks with the
answers from ``solutions/`` put in: every exercise must pass). The JUnit report it writes is
what the tests read, as a grader's CI would.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import nbformat
import pytest

from labs.exercises.notebooks import exercise_cells
from tools import solutions
from tools.grading import readme_grading_command

ROOT = Path(__file__).resolve().parent.parent
NUMBERS = range(0, 5)  # the notebooks this file covers


def notebooks(numbers) -> list[Path]:
    return [path for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")) if int(path.name[:2]) in numbers]


def pytest_generate_tests(metafunc):
    if "path" in metafunc.fixturenames:
        paths = notebooks(metafunc.module.NUMBERS)
        metafunc.parametrize("path", paths, ids=[path.stem for path in paths])


@pytest.fixture(scope="module")
def report(request, tmp_path_factory):
    """The README's command on shipped/ and solved/: (the finished run, {classname: {name: (tag, type)}})."""
    tmp = tmp_path_factory.mktemp("graded")
    (tmp / "shipped").mkdir()
    (tmp / "solved").mkdir()
    for path in notebooks(request.module.NUMBERS):
        shutil.copy(path, tmp / "shipped" / path.name)
        answers = solutions.load_solutions(solutions.solution_file(path))
        nbformat.write(solutions.solve(nbformat.read(path, as_version=4), answers), tmp / "solved" / path.name)
    argv = readme_grading_command()
    assert argv[:4] == [".venv/bin/python", "-m", "labs", "grade"] and argv[-1] == "notebooks", argv
    junit = argv[argv.index("--junitxml") + 1]
    # As written, with this venv's python, on the two folders instead of notebooks/.
    run = subprocess.run([sys.executable, *argv[1:-1], "shipped", "solved"], cwd=tmp, capture_output=True,
                         text=True, timeout=600)
    assert (tmp / junit).exists(), run.stdout[-3000:] + run.stderr[-3000:]
    cases: dict[str, dict[str, tuple[str | None, str | None]]] = {}
    for case in ET.parse(tmp / junit).getroot().iter("testcase"):
        problem = next((child for child in case if child.tag in ("failure", "error")), None)
        outcome = (problem.tag, problem.get("type")) if problem is not None else (None, None)
        cases.setdefault(case.get("classname"), {})[case.get("name")] = outcome
    return run, cases


def expected_names(path: Path) -> set[str]:
    notebook = nbformat.read(path, as_version=4)
    return {notebook.cells[index].source.splitlines()[0].lstrip("# ").strip()
            for index in exercise_cells(notebook).values()}


def test_the_shipped_notebook_fails_at_exactly_its_exercises_as_not_started(path, report):
    run, cases = report
    got = cases.get(f"shipped.{path.stem}")
    assert got, f"{path.name} was not graded:\n{run.stdout[-3000:]}{run.stderr[-3000:]}"
    assert set(got) == expected_names(path), "one test case per exercise, named after it"
    wrong = {name: outcome for name, outcome in got.items() if outcome != ("failure", "not started")}
    assert not wrong, f"every shipped exercise should fail as not started; these did not: {wrong}"
    assert run.returncode == 1


def test_the_solved_notebook_passes_every_exercise(path, report):
    run, cases = report
    got = cases.get(f"solved.{path.stem}")
    assert got, f"{path.name} was not graded:\n{run.stdout[-3000:]}{run.stderr[-3000:]}"
    assert set(got) == expected_names(path)
    failed = {name: outcome for name, outcome in got.items() if outcome != (None, None)}
    rows = [line for line in run.stdout.splitlines() if line.startswith(f"solved/{path.name}")]
    assert not failed, "with the answers from solutions/, every exercise passes:\n" + "\n".join(rows)
