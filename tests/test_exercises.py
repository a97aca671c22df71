"""Exercises, checks and solutions, on every shipped notebook; and the check helper itself.

- every exercise cell is followed by its check cell, which is exactly ``check("N.M")``
  (after one import line at most), prints one line and shows no ``Out[...]``;
- every exercise has a registered check with two hints or more, and a reference answer;
- exercises are numbered for their notebook, 1, 2, 3... in order;
- every notebook is stored executed top to bottom (strict nbval has outputs to compare);
- ``check``/``hint`` step up: no hint before a try, the first after a wrong try, the next on
  ``hint``, the last pointing to ``solutions/``; both return None (no stray ``Out``).

Whether each check judges answers right is tests/test_exercise_checks*.py; the graders'
command is tests/test_grading*.py.
"""

from __future__ import annotations

import re

import nbformat
import pytest

from labs.exercises import get_exercise, student
from labs.exercises.notebooks import exercise_cells
from tools import solutions

NOTEBOOKS = sorted((solutions.ROOT / "notebooks").glob("*.ipynb"))
IMPORT_LINE = re.compile(r"from labs import (check|hint|check, hint|hint, check)")


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ holds no notebook"


def _key(ident: str) -> list[int]:
    return [int(part) for part in ident.split(".")]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_exercise_has_a_check_cell_that_is_one_call(path):
    notebook = nbformat.read(path, as_version=4)
    exercises, checks = exercise_cells(notebook), solutions.check_cells(notebook)
    assert exercises, f"{path.name} has no exercise"
    assert set(checks) == set(exercises), "every exercise needs exactly one check cell, and vice versa"
    code = [i for i, cell in enumerate(notebook.cells) if cell.cell_type == "code"]
    for ident, index in exercises.items():
        following = code[code.index(index) + 1] if code.index(index) + 1 < len(code) else None
        assert checks[ident] == following, f"the check cell of exercise {ident} must be the code cell after it"
        lines = [line for line in notebook.cells[checks[ident]].source.strip().splitlines() if line.strip()]
        assert lines[-1] == f'check("{ident}")', f"the check cell of {ident} should be `check(\"{ident}\")`: {lines}"
        assert all(IMPORT_LINE.fullmatch(line) for line in lines[:-1]) and len(lines) <= 2, (
            f"the check cell of {ident} holds only `check(\"{ident}\")` (after one import line at most): {lines}")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_exercise_has_a_registered_check_hints_and_a_reference_answer(path):
    notebook = nbformat.read(path, as_version=4)
    exercises = exercise_cells(notebook)
    answers = solutions.load_solutions(solutions.solution_file(path))
    assert set(answers) == set(exercises), f"solutions/{path.stem}.py must answer exactly these exercises"
    for ident in exercises:
        exercise = get_exercise(ident)  # LookupError: no check in labs/exercises/nbNN.py
        assert len(exercise.hints) >= 2, f"exercise {ident} needs two hints or more, a nudge first"
        assert all(hint.strip() for hint in exercise.hints)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_exercises_are_numbered_for_their_notebook_in_order(path):
    notebook = nbformat.read(path, as_version=4)
    exercises = exercise_cells(notebook)
    number = int(path.name[:2])
    in_order = sorted(exercises, key=exercises.get)
    assert in_order == [f"{number}.{m}" for m in range(1, len(in_order) + 1)], in_order


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stored_executed(path):
    """Strict nbval compares against stored outputs, so a notebook saved unexecuted
    would check nothing.  Execution counts 1, 2, 3... prove one clean top-to-bottom run."""
    notebook = nbformat.read(path, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    counts = [cell.execution_count for cell in code]
    assert counts == list(range(1, len(code) + 1)), f"re-run it with `make notebooks`; counts are {counts}"
    for ident, index in solutions.check_cells(notebook).items():
        outputs = notebook.cells[index].outputs
        printed = "".join(out.get("text", "") for out in outputs if out.output_type == "stream")
        assert printed.startswith("⬜") and printed.count("\n") == 1, (
            f"the stored check of {ident} should print one line, ⬜ not started: {printed!r}")
        assert not [out for out in outputs if out.output_type != "stream"], f"check {ident} shows an Out[...]"


# ---------------------------------------------------------------- the check helper


STUB = ("# Exercise 0.1: ask a lab if it is healthy\nimport requests\n\n\n"
        "def is_healthy(url):\n    raise NotImplementedError\n")
WRONG = "# Exercise 0.1: ask a lab if it is healthy\n\n\ndef is_healthy(url):\n    return True\n"


@pytest.fixture
def fresh_student(monkeypatch):
    """The notebook side as in a new kernel: no exercise checked, no hint shown."""
    monkeypatch.setattr(student, "_verdicts", {})
    monkeypatch.setattr(student, "_hints_shown", {})
    return student


def test_hints_step_up_from_nothing_to_the_solutions_folder(fresh_student, capsys):
    from labs import check, hint

    hints = get_exercise("0.1").hints
    assert hint("0.1") is None
    assert "Hint" not in capsys.readouterr().out, "no hint before a try"

    assert check("0.1", STUB) is None
    untouched = capsys.readouterr().out
    assert untouched.startswith("⬜") and "not started" in untouched and "Hint" not in untouched

    assert check("0.1", WRONG) is None
    first = capsys.readouterr().out
    assert first.startswith("❌ Exercise 0.1 not solved yet:") and f"Hint 1 of {len(hints)}: {hints[0]}" in first
    assert 'hint("0.1")' in first, "the first hint says where more help is"
    for level in range(2, len(hints) + 1):
        assert hint("0.1") is None
        assert f"Hint {level} of {len(hints)}: {hints[level - 1]}" in capsys.readouterr().out
    assert hint("0.1") is None
    last = capsys.readouterr().out
    assert "solutions/00_*.py" in last and "Exercise 0.1" in last and "Hint" not in last

    assert check("0.1", WRONG) is None  # trying again does not start the hints over
    assert "Hint 1 of" not in capsys.readouterr().out


def test_a_solved_exercise_says_so_and_shows_no_hint(fresh_student, capsys):
    from labs import check, progress

    reference = solutions.load_solutions(solutions.SOLUTIONS_DIR / "00_welcome_and_setup.py")["0.1"]
    assert check("0.1", reference) is None
    out = capsys.readouterr().out
    assert out == "✅ Exercise 0.1 solved.\n"
    assert progress() == {"0.1": True}


def test_check_outside_a_notebook_asks_for_the_exercise_cell_to_be_run(fresh_student, capsys):
    from labs import check

    assert check("0.1") is None  # no IPython here, so no cell was run
    out = capsys.readouterr().out
    assert "run your exercise cell" in out and "Hint" not in out
