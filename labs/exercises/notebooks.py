"""Reading exercises out of notebooks: exercise cells and submissions.

Conventions (CONTRIBUTING.md, "Exercises and solutions"):

- an **exercise cell** is a code cell tagged ``exercise`` whose first line is
  ``# Exercise N.M: title``; the student writes the answer there;
- the **check cell** after it is tagged ``check`` and is one line, ``check("N.M")`` (the grader
  never reads it: it runs the kit's own check by id; ``tools/solutions.py`` finds check cells for
  the workbook's tests).

The shipped notebooks are read strictly (:func:`exercise_cells` refuses an untitled or
doubled exercise: that is a bug in the workbook). A student's submission is read leniently
(:func:`submitted_answers`): whatever it holds, the grader only learns which answer goes with
which exercise, never anything else from it.
"""

from __future__ import annotations

import json
import re

EXERCISE_LINE = re.compile(r"^# Exercise (\d+\.\d+)\b")


def tags(cell) -> list[str]:
    metadata = cell.get("metadata")
    found = metadata.get("tags") if isinstance(metadata, dict) else None
    return [tag for tag in found if isinstance(tag, str)] if isinstance(found, list) else []


def source(cell) -> str:
    """A cell's source as one string (a notebook file may store it as a list of lines)."""
    text = cell.get("source", "")
    return "".join(line for line in text if isinstance(line, str)) if isinstance(text, list) else str(text)


def exercise_id(cell) -> str | None:
    """``"N.M"`` when the cell's first line is ``# Exercise N.M...``, else None."""
    match = EXERCISE_LINE.match(source(cell))
    return match.group(1) if match else None


def _is_exercise_cell(cell) -> bool:
    return cell.get("cell_type") == "code" and "exercise" in tags(cell)


def exercise_cells(notebook) -> dict[str, int]:
    """Exercise id -> index of its cell in ``notebook.cells`` (strict: for shipped notebooks)."""
    found: dict[str, int] = {}
    for index, cell in enumerate(notebook["cells"]):
        if _is_exercise_cell(cell):
            ident = exercise_id(cell)
            if ident is None:
                raise ValueError(f"cell {index} is tagged 'exercise' but does not start with '# Exercise N.M'")
            if ident in found:
                raise ValueError(f"exercise {ident} appears twice")
            found[ident] = index
    return found


def read_notebook(path) -> dict:
    """A notebook file's JSON, with its cells (raises ValueError when it is not a notebook).

    Plain JSON, not nbformat: the grader reads only cells' types, tags and sources, and
    starts in a fraction of the time without nbformat's schema machinery.
    """
    try:
        with open(path, encoding="utf-8") as file:
            notebook = json.load(file)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not a readable notebook ({type(exc).__name__}: {exc})") from None
    if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list) or not all(
            isinstance(cell, dict) for cell in notebook["cells"]):
        raise ValueError("not a notebook: no list of cells in it")
    return notebook


def submitted_answers(notebook) -> dict[str, str]:
    """Exercise id -> source of the submission's exercise cell for it (lenient).

    Only code cells tagged ``exercise`` whose first line still reads ``# Exercise N.M``
    count; every other cell is ignored. When a submission holds two cells for one
    exercise, the later one counts (the one a "Run All" leaves defined).
    """
    answers: dict[str, str] = {}
    for cell in notebook["cells"]:
        if _is_exercise_cell(cell):
            ident = exercise_id(cell)
            if ident is not None:
                answers[ident] = source(cell)
    return answers
