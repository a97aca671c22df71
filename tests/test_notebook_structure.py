"""Every notebook has the parts a learner relies on, in order, and links to the next one."""

import re

import nbformat
import pytest

from tools.solutions import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def markdown(path) -> str:
    notebook = nbformat.read(path, as_version=4)
    return "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown")


def test_notebooks_are_numbered_in_order():
    numbers = [int(path.name[:2]) for path in NOTEBOOKS]
    assert numbers == list(range(len(NOTEBOOKS))) and len(NOTEBOOKS) == 11


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_title_objectives_exercises_takeaways_and_next(path):
    text = markdown(path)
    number = path.name[:2]
    assert re.match(rf"# {number} · \S", text), "starts with its numbered title"
    lower = text.lower()
    assert "you will" in lower or "objectives" in lower, "says what the learner will be able to do"
    exercises = re.search(r"^#{2,3} .*exercise", text, re.I | re.M)
    assert exercises, "has a section of exercises"
    assert "## key takeaways" in lower, "ends with key takeaways"
    following = NOTEBOOKS[(NOTEBOOKS.index(path) + 1) % len(NOTEBOOKS)].name
    assert f"]({following})" in text, f"links to {following}"
    assert text.find("## Key takeaways") > exercises.start(), "takeaways come after the exercises"
