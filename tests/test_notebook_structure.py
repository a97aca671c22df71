"""Every notebook has the parts a learner relies on, in one style, and links to the next one."""

import re

import nbformat
import pytest

from labs.exercises.notebooks import exercise_cells
from tools.solutions import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def markdown(path) -> str:
    notebook = nbformat.read(path, as_version=4)
    return "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown")


def test_notebooks_are_numbered_in_order():
    numbers = [int(path.name[:2]) for path in NOTEBOOKS]
    assert numbers == list(range(len(NOTEBOOKS))), f"numbered 00, 01, ... without gaps: {numbers}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_title_objectives_prerequisites_exercises_takeaways_and_next(path):
    text = markdown(path)
    number = path.name[:2]
    assert re.match(rf"# {number} · \S", text), "starts with its numbered title"
    assert "## Learning objectives" in text, "has the '## Learning objectives' heading"
    assert re.search(r"\*\*Prerequisites", text) and re.search(r"\*\*Time", text), (
        "says at the top what it assumes (**Prerequisites**) and how long it takes (**Time**)")
    exercises = re.search(r"^## .*exercises", text, re.I | re.M)
    assert exercises, "has a section of exercises"
    assert "## Key takeaways" in text, "ends with key takeaways"
    assert text.find("## Key takeaways") > exercises.start(), "takeaways come after the exercises"
    assert len(re.findall(r"predict", text, re.I)) >= 2, "asks at least two 'predict, then run' questions"
    index = NOTEBOOKS.index(path)
    if index + 1 < len(NOTEBOOKS):
        following = NOTEBOOKS[index + 1].name
        assert f"]({following})" in text, f"links to {following}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_exercise_has_its_heading(path):
    notebook = nbformat.read(path, as_version=4)
    text = markdown(path)
    for ident in exercise_cells(notebook):
        assert re.search(rf"^### Exercise {re.escape(ident)}: \S", text, re.M), (
            f"exercise {ident} needs a '### Exercise {ident}: title' heading")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_sections_are_numbered_without_gaps(path):
    numbers = [int(n) for n in re.findall(r"^## (\d+)[.·] ", markdown(path), re.M)]
    start = numbers[0] if numbers else 1  # a "0. Set-up" section may come first
    assert start in (0, 1) and numbers == list(range(start, start + len(numbers))), (
        f"sections numbered 1, 2, 3... without gaps: {numbers}")
