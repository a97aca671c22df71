"""Reading exercises out of notebooks: exercise cells, check cells, and submissions.

Conventions (CONTRIBUTING.md, "Exercises and solutions"):

- an **exercise cell** is a code cell tagged ``exercise`` whose first line is
  ``# Exercise N.M: title``; the student writes the answer there;
- the **check cell** after it is tagged ``check`` and is one line, ``check("N.M")``.

The shipped notebooks are read strictly (:func:`exercise_cells` refuses an untitled or
doubled exercise: that is a bug in the workbook). A student's submission is read leniently
(:func:`submitted_answers`): whatever it holds, the grader only learns which answer goes with
which exercise, never anything else from it.
"""

from __future__ import annotations

import re

import nbformat

EXERCISE_LINE = re.compile(r"^# Exercise (\d+\.\d+)\b")
CHECK_CALL = re.compile(r"""\bcheck\(\s*["'](\d+\.\d+)["']""")


def tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def exercise_id(cell) -> str | None:
    """``"N.M"`` when the cell's first line is ``# Exercise N.M...``, else None."""
    match = EXERCISE_LINE.match(cell.get("source", ""))
    return match.group(1) if match else None


def _is_exercise_cell(cell) -> bool:
    return cell.get("cell_type") == "code" and "exercise" in tags(cell)


def exercise_cells(notebook) -> dict[str, int]:
    """Exercise id -> index of its cell in ``notebook.cells`` (strict: for shipped notebooks)."""
    found: dict[str, int] = {}
    for index, cell in enumerate(notebook.cells):
        if _is_exercise_cell(cell):
            ident = exercise_id(cell)
            if ident is None:
                raise ValueError(f"cell {index} is tagged 'exercise' but does not start with '# Exercise N.M'")
            if ident in found:
                raise ValueError(f"exercise {ident} appears twice")
            found[ident] = index
    return found


def check_cells(notebook) -> dict[str, int]:
    """Exercise id -> index of the check cell that checks it."""
    found: dict[str, int] = {}
    for index, cell in enumerate(notebook.cells):
        if cell.get("cell_type") == "code" and "check" in tags(cell):
            for ident in CHECK_CALL.findall(cell.get("source", "")):
                found[ident] = index
    return found


def read_notebook(path) -> nbformat.NotebookNode:
    """A notebook file, read as nbformat 4 (raises ValueError when it is not one)."""
    try:
        return nbformat.read(str(path), as_version=4)
    except Exception as exc:  # nbformat raises several kinds for a file that is not a notebook
        raise ValueError(f"not a readable notebook ({type(exc).__name__}: {exc})") from None


def submitted_answers(notebook) -> dict[str, str]:
    """Exercise id -> source of the submission's exercise cell for it (lenient).

    Only code cells tagged ``exercise`` whose first line still reads ``# Exercise N.M``
    count; every other cell is ignored. When a submission holds two cells for one
    exercise, the later one counts (the one a "Run All" leaves defined).
    """
    answers: dict[str, str] = {}
    for cell in notebook.get("cells", []):
        if _is_exercise_cell(cell):
            ident = exercise_id(cell)
            if ident is not None:
                answers[ident] = cell.get("source", "")
    return answers
