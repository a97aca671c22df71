"""``python -m labs grade-class``: a whole class graded with this kit's checks, never the students'.

A small class of real git repositories (bare, pushed to from a work tree each, as a student
pushes to GitHub) is graded twice, from the repositories file (each cloned) and from a folder
of the students' checkouts, by the real command in a child process with ``--timeout 5``:

- alice solved notebook 00; bob submitted it as shipped;
- carol's repository does not exist: one error row, and grading goes on;
- erin's ``notebooks/00_...ipynb`` is a symbolic link to a solved copy: not read;
- mallory answers wrongly and ships her own ``labs/`` whose check for 0.1 always passes, and
  whose ``labs/__init__.py``, ``tests/conftest.py`` and ``solutions/`` leave a trace if they are
  ever imported: her grade is the wrong answer's (and, graded with her own kit, she passes).
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

from labs.exercises.notebooks import exercise_cells
from tools import solutions

ROOT = Path(__file__).resolve().parent.parent
WELCOME = ROOT / "notebooks" / "00_welcome_and_setup.ipynb"
WRONG = "# Exercise 0.1: ask a lab if it is healthy\ndef is_healthy(url):\n    return True\n"
TRACE = "import pathlib\npathlib.Path({path!r}).touch()\n"
STUDENTS = ["alice", "bob", "carol", "erin", "mallory"]


def git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", "-c", "user.name=Student", "-c", "user.email=student@example.org",
                    "-c", "init.defaultBranch=main", *args], cwd=cwd, check=True, capture_output=True)


def notebook(kind: str) -> str:
    shipped = nbformat.read(WELCOME, as_version=4)
    if kind == "solved":
        shipped = solutions.solve(shipped, solutions.load_solutions(solutions.solution_file(WELCOME)))
    elif kind == "wrong":
        shipped.cells[exercise_cells(shipped)["0.1"]].source = WRONG
    return nbformat.writes(shipped)


def cheating_kit(work: Path, trace: Path) -> None:
    """A copy of the kit whose check 0.1 always passes, and whose code leaves a trace if run."""
    shutil.copytree(ROOT / "labs", work / "labs", ignore=shutil.ignore_patterns("__pycache__"))
    check = work / "labs/exercises/nb00.py"
    text = check.read_text()
    line = '    is_healthy = answer.function("is_healthy")\n'
    assert line in text, "the test's edit of the check must still apply"
    check.write_text(text.replace(line, "    return  # edited by the student: always passes\n" + line))
    init = work / "labs/__init__.py"
    init.write_text(TRACE.format(path=str(trace)) + init.read_text())
    for name in ("tests/conftest.py", "solutions/00_welcome_and_setup.py", "sitecustomize.py"):
        (work / name).parent.mkdir(exist_ok=True)
        (work / name).write_text(TRACE.format(path=str(trace)))


def repository(tmp: Path, name: str, files: dict[str, str], trace: Path) -> Path:
    """A bare repository ``repos/NAME.git`` holding ``files``, pushed from the work tree ``work/NAME``."""
    work, bare = tmp / "work" / name, tmp / "repos" / f"{name}.git"
    (work / "notebooks").mkdir(parents=True)
    for path, text in files.items():
        (work / path).write_text(text)
    if name == "erin":
        (work / "notebooks" / WELCOME.name).symlink_to("../solved.ipynb")
    if name == "mallory":
        cheating_kit(work, trace)
    git("init", "-q", cwd=work)
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", "my work", cwd=work)
    bare.mkdir(parents=True)
    git("init", "-q", "--bare", cwd=bare)
    git("push", "-q", str(bare), "HEAD:refs/heads/main", cwd=work)
    return bare


def grade_class(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "labs", "grade-class", "--timeout", "5", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def parse(run: subprocess.CompletedProcess) -> tuple[dict[tuple[str, str], str], dict[str, str]]:
    """(student, exercise) -> "result reason", and student -> "solved/total ..." (spaces squeezed)."""
    sandbox, *lines = run.stdout.splitlines()
    assert sandbox.startswith("sandbox: "), run.stdout + run.stderr
    assert lines[0].split() == ["notebook", "exercise", "result", "reason"], run.stdout + run.stderr
    end = next(i for i, line in enumerate(lines) if line.startswith(("NOT all solved", "all solved")))
    rows = {}
    for line in lines[1:end]:
        notebook, ident, rest = line.split(None, 2)
        rows[(notebook.split("/")[0], ident)] = " ".join(rest.split())
    totals = {line.split()[0]: " ".join(line.split()[1:]) for line in lines[end + 1:]
              if not line.startswith("JUnit report")}
    return rows, totals


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The class graded from its repositories and from its checkouts: {mode: (run, rows, totals, junit)}."""
    tmp = tmp_path_factory.mktemp("class")
    trace = tmp / "student-code-ran"
    files = {"alice": {f"notebooks/{WELCOME.name}": notebook("solved")},
             "bob": {f"notebooks/{WELCOME.name}": notebook("shipped")},
             "erin": {"solved.ipynb": notebook("solved")},
             "mallory": {f"notebooks/{WELCOME.name}": notebook("wrong")}}
    lines = [f"{repository(tmp, name, given, trace)}  # {name}'s" for name, given in files.items()]
    lines.insert(2, f"{tmp / 'repos' / 'nowhere.git'} carol")
    (tmp / "repos.txt").write_text("# the class\n\n" + "\n".join(lines) + "\n")
    results = {}
    for mode, args in {"repos": ["--repos", "repos.txt"], "submissions": ["--submissions", "work"]}.items():
        if mode == "submissions":
            (tmp / "work" / "carol").mkdir()  # nothing submitted
        run = grade_class(tmp, *args, "--junitxml", f"{mode}.xml")
        results[mode] = (run, *parse(run), ET.parse(tmp / f"{mode}.xml").getroot())
    return tmp, trace, results


@pytest.mark.parametrize("mode", ["repos", "submissions"])
def test_each_student_gets_the_grade_of_their_notebooks_under_the_kits_checks(graded, mode):
    _, _, results = graded
    run, rows, totals, _ = results[mode]
    assert run.returncode == 1, run.stdout + run.stderr
    assert [student for student, _ in rows] == STUDENTS, run.stdout
    assert rows[("alice", "0.1")].split()[0] == "solved"
    assert rows[("bob", "0.1")].startswith("not solved not started:")
    assert rows[("carol", "-")].startswith("error"), "grading went on after carol, and says why"
    assert ("could not clone" if mode == "repos" else "no notebook") in rows[("carol", "-")]
    assert rows[("erin", "-")].startswith("error no notebook"), "a symbolic link is not read"
    mallory = rows[("mallory", "0.1")]
    assert mallory.startswith("not solved") and mallory.endswith(": you returned True"), mallory
    unread = "0/0 solved (1 error reading the submission)"
    assert totals == {"alice": "1/1 solved", "bob": "0/1 solved", "carol": unread, "erin": unread,
                      "mallory": "0/1 solved"}


@pytest.mark.parametrize("mode", ["repos", "submissions"])
def test_the_junit_report_has_a_case_per_student_and_exercise(graded, mode):
    _, _, results = graded
    *_, junit = results[mode]
    (sandbox,) = [p.get("value") for p in junit.iter("property") if p.get("name") == "sandbox"]
    assert sandbox, "the report says where the answers ran"
    cases = {case.get("classname"): next((child.tag for child in case), None) for case in junit.iter("testcase")}
    assert cases == {"alice.00_welcome_and_setup": None, "bob.00_welcome_and_setup": "failure", "carol": "error",
                     "erin": "error", "mallory.00_welcome_and_setup": "failure"}


def test_no_student_code_ran_and_the_cheat_was_real(graded):
    tmp, trace, _ = graded
    assert not trace.exists(), "the grader imported or ran a student's labs/, tests/ or solutions/"
    # The control: graded with her own kit, mallory's wrong answer passes.
    own = subprocess.run([sys.executable, "-m", "labs", "grade", "--timeout", "5", "notebooks"],
                         cwd=tmp / "work" / "mallory", capture_output=True, text=True, timeout=120)
    (row,) = [line for line in own.stdout.splitlines() if line.startswith(f"notebooks/{WELCOME.name}")]
    assert own.returncode == 0 and row.split()[1:3] == ["0.1", "solved"], own.stdout + own.stderr
    assert trace.exists()


def test_a_class_list_that_cannot_be_read_is_refused(tmp_path):
    (tmp_path / "twice.txt").write_text("/srv/a/sse-kit.git\n/srv/b/sse-kit.git\n")
    run = grade_class(tmp_path, "--repos", "twice.txt")
    assert run.returncode == 2 and "two repositories would be called 'sse-kit'" in run.stderr, run.stderr
    assert not run.stdout


def test_git_credentials_are_dropped_before_any_answer_runs(monkeypatch):
    from labs.exercises import class_grading

    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", "http.https://github.com/.extraheader")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", "AUTHORIZATION: basic c2VjcmV0")
    monkeypatch.setenv("GIT_DIR_UNRELATED", "kept")
    class_grading.forget_git_credentials()
    assert not [key for key in os.environ if key.startswith("GIT_CONFIG_")]
    assert os.environ["GIT_DIR_UNRELATED"] == "kept"
