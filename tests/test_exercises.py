"""Exercises, solutions and the grading switch, checked on every shipped notebook.

- every exercise cell has a check cell and a reference solution (and nothing extra);
- with ``SSE_KIT_GRADING=1``, the shipped notebooks fail exactly at their check cells,
  and the notebooks with the solutions applied pass, as a grader's nbval run sees them;
- every notebook is committed executed top to bottom (strict nbval has outputs to compare).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import nbformat
import pytest

from labs.runtime.exercises import GRADING_VARIABLE, ExerciseNotSolved, check
from tools import solutions
from tools.grading import readme_grading_command

NOTEBOOKS = sorted((solutions.ROOT / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ holds no notebook"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_exercise_has_a_check_and_a_solution(path):
    notebook = nbformat.read(path, as_version=4)
    exercises = solutions.exercise_cells(notebook)
    checks = solutions.check_cells(notebook)
    answers = solutions.load_solutions(solutions.solution_file(path))
    assert exercises, f"{path.name} has no exercise"
    assert set(checks) == set(exercises), "every exercise needs exactly one check cell, and vice versa"
    assert set(answers) == set(exercises), f"solutions/{path.stem}.py must answer exactly these exercises"
    number = str(int(path.name[:2]))
    for ident, index in exercises.items():
        assert ident.split(".")[0] == number, f"exercise {ident} is numbered for another notebook"
        assert checks[ident] > index, f"the check of exercise {ident} must come after the exercise"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stored_executed(path):
    """Strict nbval compares against stored outputs, so a notebook saved unexecuted
    would check nothing.  Execution counts 1, 2, 3... prove one clean top-to-bottom run."""
    notebook = nbformat.read(path, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    counts = [cell.execution_count for cell in code]
    assert counts == list(range(1, len(code) + 1)), f"re-run it with `make notebooks`; counts are {counts}"
    for index in solutions.check_cells(notebook).values():
        assert notebook.cells[index].outputs, f"check cell {index} has no stored output"


def _junit_results(report: Path) -> dict[tuple[str, str], bool]:
    results = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        failed = any(child.tag in ("failure", "error") for child in case)
        results[(case.get("classname"), case.get("name"))] = not failed
    return results


@pytest.mark.timeout(900)  # runs every notebook twice
def test_grading_mode_fails_exactly_at_unsolved_exercises_and_passes_when_solved(tmp_path):
    shipped_dir, solved_dir = tmp_path / "shipped", tmp_path / "solved"
    shipped_dir.mkdir()
    solved_dir.mkdir()
    expected_failures: dict[str, set[str]] = {}
    for path in NOTEBOOKS:
        notebook = nbformat.read(path, as_version=4)
        shutil.copy(path, shipped_dir / path.name)
        answers = solutions.load_solutions(solutions.solution_file(path))
        nbformat.write(solutions.solve(notebook, answers), solved_dir / path.name)
        # nbval names items "Cell K", K counting code cells only.
        code_number = {index: k for k, index in enumerate(
            i for i, cell in enumerate(notebook.cells) if cell.cell_type == "code")}
        expected_failures[path.stem] = {f"Cell {code_number[i]}" for i in solutions.check_cells(notebook).values()}

    # The README's grading command, as written, but on the two folders here (and with
    # this venv's python, no cache folder left behind, and the report in tmp_path).
    readme_env, argv = readme_grading_command()
    assert readme_env == {GRADING_VARIABLE: "1"}
    assert argv[:3] == [".venv/bin/python", "-m", "pytest"] and argv[-1] == "notebooks"
    assert "--junitxml=grading.xml" in argv
    report = tmp_path / "grading.xml"
    argv = [sys.executable, *argv[1:-1], "-p", "no:cacheprovider", "-q", "shipped", "solved"]
    run = subprocess.run(argv, cwd=tmp_path, env={**os.environ, **readme_env},
                         capture_output=True, text=True, timeout=900)
    assert report.exists(), run.stdout[-3000:] + run.stderr[-3000:]
    results = _junit_results(report)

    for path in NOTEBOOKS:
        shipped = {name: ok for (cls, name), ok in results.items() if cls.startswith(f"shipped.{path.stem}")}
        solved = {name: ok for (cls, name), ok in results.items() if cls.startswith(f"solved.{path.stem}")}
        assert shipped and solved, f"{path.name} was not run: {run.stdout[-2000:]}"
        failed_shipped = {name for name, ok in shipped.items() if not ok}
        assert failed_shipped == expected_failures[path.stem], (
            f"{path.name} in grading mode should fail exactly at its check cells")
        assert all(solved.values()), (
            f"{path.name} with its solutions failed at {sorted(n for n, ok in solved.items() if not ok)}")


# ---------------------------------------------------------------- the check helper


def test_check_reports_solved(capsys, monkeypatch):
    monkeypatch.delenv(GRADING_VARIABLE, raising=False)
    assert check("9.9", lambda: None) is True
    assert "✅ Exercise 9.9 solved" in capsys.readouterr().out


@pytest.mark.parametrize("problem, shown", [
    (NotImplementedError(), "not started"),
    (AssertionError("the id must be a string"), "not yet: the id must be a string"),
    (KeyError("data"), "your code raised KeyError"),
])
def test_check_reports_unsolved_with_hint_and_keeps_going(problem, shown, capsys, monkeypatch):
    monkeypatch.delenv(GRADING_VARIABLE, raising=False)

    def test():
        raise problem

    assert check("9.9", test, hint="look at the data field") is False
    out = capsys.readouterr().out
    assert "❌ Exercise 9.9" in out and shown in out and "Hint: look at the data field" in out


def test_check_fails_under_the_grading_switch(monkeypatch):
    monkeypatch.setenv(GRADING_VARIABLE, "1")

    def test():
        raise NotImplementedError

    with pytest.raises(ExerciseNotSolved, match="Exercise 9.9 is not solved"):
        check("9.9", test)
    assert check("9.8", lambda: None) is True  # solved exercises pass in grading mode too
