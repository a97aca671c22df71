"""Exercises in the notebooks and their reference answers in ``solutions/``.

Conventions (CONTRIBUTING.md has the whole story):

- an **exercise cell** is a code cell tagged ``exercise`` whose first line is
  ``# Exercise N.M: title``; students write their answer there;
- the **check cell** right after it is tagged ``check`` and is ``check("N.M")``;
- ``solutions/NN_name.py`` holds the answers, one section per exercise, each opened by a
  line ``# %% Exercise N.M``; the section's code replaces the exercise cell's code.

``python tools/solutions.py OUT_DIR notebooks/*.ipynb`` writes solved copies (handy
for instructors); the tests use the same functions. Reading exercise cells lives in
``labs.exercises.notebooks`` (the grader uses it too, and never imports ``tools/``); check cells,
which only the workbook's tests read, are found here (:func:`check_cells`).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat

from labs.exercises.notebooks import exercise_cells, source, tags

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS_DIR = ROOT / "solutions"
SECTION_LINE = re.compile(r"^# %% Exercise (\d+\.\d+)\s*$", re.MULTILINE)
CHECK_CALL = re.compile(r"""\bcheck\(\s*["'](\d+\.\d+)["']""")


def check_cells(notebook) -> dict[str, int]:
    """Exercise id -> index of the check cell (a code cell tagged ``check``) that checks it."""
    found: dict[str, int] = {}
    for index, cell in enumerate(notebook["cells"]):
        if cell.get("cell_type") == "code" and "check" in tags(cell):
            for ident in CHECK_CALL.findall(source(cell)):
                found[ident] = index
    return found


def solution_file(notebook_path: Path) -> Path:
    return SOLUTIONS_DIR / (Path(notebook_path).stem + ".py")


def load_solutions(path: Path) -> dict[str, str]:
    """Exercise id -> code, from a solutions file."""
    if not path.exists():
        return {}
    text = path.read_text()
    parts = SECTION_LINE.split(text)
    # parts = [preamble, id1, code1, id2, code2, ...]
    return {ident: code.strip("\n") + "\n" for ident, code in zip(parts[1::2], parts[2::2], strict=True)}


def solve(notebook, solutions: dict[str, str]):
    """A copy of ``notebook`` with every exercise cell replaced by its solution."""
    solved = nbformat.from_dict(notebook)
    for ident, index in exercise_cells(solved).items():
        cell = solved.cells[index]
        first_line = cell.source.splitlines()[0]
        cell.source = first_line + "  (reference solution)\n" + solutions[ident]
    return solved


def main(argv: list[str]) -> int:
    out_dir = Path(argv[0])
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in argv[1:]:
        path = Path(name)
        notebook = nbformat.read(path, as_version=4)
        nbformat.write(solve(notebook, load_solutions(solution_file(path))), out_dir / path.name)
        print(f"wrote {out_dir / path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
