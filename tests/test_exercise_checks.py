"""Every exercise's check, judged on answers the student has not written yet.

For each exercise of notebooks 00-03 and 08 on (``test_exercise_checks_04.py`` and
``test_exercise_checks_05_07.py`` run the same tests on the others, so that the two xdist
workers share the work, about evenly):

- every ``# %% Exercise N.M correct: why`` section of ``tests/exercise_variants/NN_name.py``
  is judged solved, and every ``# %% Exercise N.M wrong: why`` section is not (not solved,
  or an error: never solved, never "not started");
- every exercise has at least one correct answer besides the reference, and one wrong one;
- an untouched exercise's check cell shows "not started" and no hint.

The reference answers (solved) and the shipped stubs (not started) are judged once, by the
graders' own command, in ``test_grading_all.py`` and ``test_grading_all_late.py``.

Everything goes through the real judge (a fresh process per answer), two answers at a time.
"""

from __future__ import annotations

import re
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from labs.exercises import student
from labs.exercises.judge import ERROR, NOT_SOLVED, NOT_STARTED, SOLVED, Verdict, judge
from labs.exercises.notebooks import exercise_cells

ROOT = Path(__file__).resolve().parent.parent
VARIANTS_DIR = ROOT / "tests" / "exercise_variants"
SECTION = re.compile(r"^# %% Exercise (\d+\.\d+) (correct|wrong): (.+)$", re.MULTILINE)
NUMBERS = (0, 1, 2, 3, 8, 9, *range(10, 100))  # the notebooks this file covers (any new one too)


@dataclass(frozen=True)
class Variant:
    file: str
    ident: str
    kind: str  # "correct" or "wrong"
    why: str
    source: str

    @property
    def id(self) -> str:
        return f"{self.ident}-{self.kind}-{self.why[:60]}"


def notebooks(numbers) -> list[Path]:
    return [path for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")) if int(path.name[:2]) in numbers]


def variants(numbers) -> list[Variant]:
    found = []
    for path in sorted(VARIANTS_DIR.glob("[0-9][0-9]_*.py")):
        if int(path.name[:2]) not in numbers:
            continue
        parts = SECTION.split(path.read_text())  # [preamble, id, kind, why, code, id, kind, why, code...]
        for ident, kind, why, code in zip(parts[1::4], parts[2::4], parts[3::4], parts[4::4], strict=True):
            found.append(Variant(path.name, ident, kind, why.strip(), f"# Exercise {ident}: {kind} variant\n{code}"))
    return found


def stubs(numbers) -> dict[str, str]:
    """Exercise id -> the shipped exercise cell's source."""
    found = {}
    for path in notebooks(numbers):
        notebook = nbformat.read(path, as_version=4)
        found.update({ident: notebook.cells[index].source for ident, index in exercise_cells(notebook).items()})
    return found


def pytest_generate_tests(metafunc):
    numbers = metafunc.module.NUMBERS
    if "variant" in metafunc.fixturenames:
        cases = variants(numbers)
        metafunc.parametrize("variant", cases, ids=[case.id for case in cases])
    if "ident" in metafunc.fixturenames:
        metafunc.parametrize("ident", sorted(stubs(numbers), key=lambda i: [int(p) for p in i.split(".")]))


class Judgements:
    """Every answer of this module, handed to the judge two at a time as soon as the module
    starts, so that each test only waits for its own verdict."""

    def __init__(self, answers: list[tuple[str, str]]) -> None:
        self.pool = ThreadPoolExecutor(max_workers=2)
        self.futures: dict[tuple[str, str], Future] = {}
        for ident, source in answers:
            self.submit(ident, source)

    def submit(self, ident: str, source: str) -> Future:
        if (ident, source) not in self.futures:
            self.futures[(ident, source)] = self.pool.submit(judge, ident, source, preloaded=True)
        return self.futures[(ident, source)]

    def verdict(self, ident: str, source: str) -> Verdict:
        return self.submit(ident, source).result()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


@pytest.fixture(scope="module")
def judged(request):
    numbers = request.module.NUMBERS
    answers = [(v.ident, v.source) for v in variants(numbers)]
    judgements = Judgements(answers)
    yield judgements
    judgements.close()


def test_a_correct_answer_is_solved_and_a_wrong_one_is_not(variant, judged):
    verdict = judged.verdict(variant.ident, variant.source)
    if variant.kind == "correct":
        assert verdict.status == SOLVED, (
            f"{variant.file}, exercise {variant.ident}, correct ({variant.why}): judged {verdict.status}: "
            f"{verdict.reason}")
    else:
        assert verdict.status in (NOT_SOLVED, ERROR), (
            f"{variant.file}, exercise {variant.ident}, wrong ({variant.why}): judged {verdict.status}"
            f"{': ' + verdict.reason if verdict.reason else ''}")
        assert verdict.reason, "a wrong answer is told what is wrong"


def test_every_exercise_has_other_correct_answers_and_wrong_ones(ident):
    kinds = [v.kind for v in variants(range(100)) if v.ident == ident]
    number = int(ident.split(".")[0])
    assert kinds.count("correct") >= 1, (
        f"tests/exercise_variants/{number:02d}_*.py needs a `# %% Exercise {ident} correct: ...` answer "
        "besides the reference")
    assert kinds.count("wrong") >= 1, (
        f"tests/exercise_variants/{number:02d}_*.py needs a `# %% Exercise {ident} wrong: ...` answer")


def test_an_untouched_exercise_shows_not_started_and_no_hint(ident, capsys, monkeypatch):
    stub = stubs(range(100))[ident]
    # What the student sees when running the check cell on the untouched stub; that the real
    # judge calls every shipped stub "not started" is the graders' test (test_grading_all*.py).
    verdict = Verdict(ident, NOT_STARTED, "replace each `raise NotImplementedError` with your answer")

    def same_judge(asked_ident, source, timeout=None):
        assert (asked_ident, source) == (ident, stub)
        return verdict

    monkeypatch.setattr(student, "judge", same_judge)
    monkeypatch.setattr(student, "_hints_shown", {})
    assert student.check(ident, stub) is None
    printed = capsys.readouterr().out
    assert printed.startswith("⬜") and "not started" in printed and printed.count("\n") == 1, printed
    assert "hint" not in printed.lower(), printed
