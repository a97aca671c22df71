"""``python -m labs grade``: no pass a submission did not earn, one row and one JUnit case
per exercise, a hang that fails alone, and the exit status.

One class of synthetic submissions is built from the shipped notebooks 00 and 05 (each
student's folder is one scenario: a cheat, a mistake, a hang...) and graded once, by the
real command in a child process with ``--timeout 5 --jobs 3``; each test reads its rows.
"""

from __future__ import annotations

import copy
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import nbformat
import pytest

from labs.exercises.notebooks import exercise_cells, submitted_answers
from tools import solutions

ROOT = Path(__file__).resolve().parent.parent
WELCOME = ROOT / "notebooks" / "00_welcome_and_setup.ipynb"
POLLING = ROOT / "notebooks" / "05_short_polling.ipynb"
MARKER = "# secret-marker-7f3a: cell source must never reach the report"
OK_CHECK = 'print("✅ Exercise 0.1 solved.")\n'


def shipped(path: Path = WELCOME):
    return nbformat.read(path, as_version=4)


def solved(path: Path = WELCOME):
    return solutions.solve(shipped(path), solutions.load_solutions(solutions.solution_file(path)))


def exercise_source(body: str, ident: str = "0.1") -> str:
    return f"# Exercise {ident}: ask a lab if it is healthy\n{MARKER}\n{body}"


def with_answer(body: str, notebook=None):
    notebook = notebook or shipped()
    notebook.cells[exercise_cells(notebook)["0.1"]].source = exercise_source(body)
    return notebook


def add_cells(notebook, *sources: str, after: int | None = None):
    """Code cells (untagged) inserted after cell ``after`` (default: after the exercise)."""
    at = (exercise_cells(notebook)["0.1"] if after is None else after) + 1
    for source in reversed(sources):
        notebook.cells.insert(at, nbformat.v4.new_code_cell(source))
    return notebook


NOISE = [
    # The answer defined outside the exercise cell, the check redefined, the grading switch of
    # old unset and set, and an environment variable the judge might read.
    "def is_healthy(url):\n    return True\n",
    "def check(*args, **kwargs):\n    print('✅ solved')\n",
    "import os\nos.environ.pop('SSE_KIT_GRADING', None)\nos.environ['SSE_KIT_GRADING'] = '0'\n"
    "os.environ['PYTHONPATH'] = '/nowhere'\n",
]
HANG = "import queue\n\n\ndef is_healthy(url):\n    return queue.Queue().get()  # waits forever\n"
STUBBORN_HANG = ("import time\n\n\ndef is_healthy(url):\n    while True:\n        try:\n            time.sleep(60)\n"
                 "        except BaseException:  # swallows the judge's own time-out too\n            pass\n")
COLOURS = ("def is_healthy(url):\n    print('\\x1b[31mred\\x1b[0m')\n"
           "    raise ValueError('\\x1b[1;31mboom\\x1b[0m')\n")


def _first_line_changed():
    notebook = solved()
    cell = notebook.cells[exercise_cells(notebook)["0.1"]]
    cell.source = "# my answer to the health exercise\n" + cell.source
    return notebook


def _untagged():
    notebook = solved()
    notebook.cells[exercise_cells(notebook)["0.1"]].metadata["tags"] = []
    return notebook


def _without(notebook, index: int):
    del notebook.cells[index]
    return notebook


def _check_edited():
    notebook = shipped()
    for index in solutions.check_cells(notebook).values():
        notebook.cells[index].source = OK_CHECK
    return notebook


def _polling_with_a_hang_first():
    """5.1 hangs, 5.2 is solved, 5.3 is deleted (its check would start a lab: slow under load
    for the 5 s limit here)."""
    notebook = solved(POLLING)
    cells = exercise_cells(notebook)
    notebook.cells[cells["5.1"]].source = "# Exercise 5.1: the cursor filter\n" + HANG.replace(
        "is_healthy(url)", "messages_after(log, cursor)")
    del notebook.cells[cells["5.3"]]
    return notebook


# scenario (the student's folder) -> (the submission, {exercise: expected status}, a part of the
# first exercise's reason). "no pass" is "not solved" or "error": anything but solved.
SCENARIOS = {
    # Sorted first, so every later row shows that grading went on after a hang.
    "a_hang": (lambda: with_answer(HANG), {"0.1": "error"}, "longer than 5 s"),
    "a_stubborn_hang": (lambda: with_answer(STUBBORN_HANG), {"0.1": "error"}, "longer than 5 s"),
    "b_hang_then_solved": (_polling_with_a_hang_first, {"5.1": "error", "5.2": "solved", "5.3": "missing"},
                           "longer than 5 s"),
    "shipped": (shipped, {"0.1": "not started"}, "NotImplementedError"),
    "solved": (solved, {"0.1": "solved"}, ""),
    "solved_with_noise": (lambda: add_cells(solved(), *NOISE), {"0.1": "solved"}, ""),
    "check_redefined": (lambda: add_cells(shipped(), NOISE[1]), {"0.1": "not started"}, "NotImplementedError"),
    "check_edited": (_check_edited, {"0.1": "not started"}, "NotImplementedError"),
    "check_deleted": (lambda: _without(shipped(), solutions.check_cells(shipped())["0.1"]), {"0.1": "not started"}, ""),
    "cells_added": (lambda: add_cells(shipped(), *NOISE, OK_CHECK), {"0.1": "not started"}, ""),
    "environment_set": (lambda: add_cells(shipped(), NOISE[2], after=0), {"0.1": "not started"}, ""),
    "exercise_deleted": (lambda: _without(solved(), exercise_cells(solved())["0.1"]), {"0.1": "missing"},
                         "deleted"),
    "first_line_changed": (_first_line_changed, {"0.1": "missing"}, "first line changed"),
    "untagged": (_untagged, {"0.1": "missing"}, "tagged `exercise`"),
    "machinery_check": (lambda: with_answer("from labs import check\n\n\ndef is_healthy(url):\n    return True\n"),
                      {"0.1": "no pass"}, "you returned True"),
    "machinery_redefines_check": (lambda: with_answer("def check(ident):\n    pass\n\n\ndef is_healthy(url):\n"
                                                    "    return True\n"), {"0.1": "no pass"}, "you returned True"),
    "machinery_module": (lambda: with_answer("import labs.exercises as machinery\n\n\n"
                                           "def is_healthy(url):\n    return True\n"),
                       {"0.1": "no pass"}, "you returned True"),
    "machinery_sys_modules": (lambda: with_answer("import sys\nsys.modules.pop('labs.exercises.nb00', None)\n"
                                                "\n\ndef is_healthy(url):\n    return True\n"),
                            {"0.1": "no pass"}, "you returned True"),
    "machinery_builtins": (lambda: with_answer("import builtins\nbuiltins.AssertionError = type('X', (Exception,), {})"
                                             "\n\n\ndef is_healthy(url):\n    return True\n"),
                         {"0.1": "no pass"}, "you returned True"),
    "registry_replaced": (lambda: with_answer("from labs.exercises import registry as ex\n"
                                              "ex._REGISTRY.clear()\n\n\ndef is_healthy(url):\n    return True\n"),
                          {"0.1": "no pass"}, ""),
    "colours": (lambda: with_answer(COLOURS), {"0.1": "error"}, "ValueError"),
}


def write(folder: Path, scenario: str, notebook, name: str) -> None:
    (folder / scenario).mkdir(parents=True)
    nbformat.write(notebook, folder / scenario / name)


def grade(cwd: Path, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "labs", "grade", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The whole class graded once: (the finished command, its table rows, the JUnit cases)."""
    tmp = tmp_path_factory.mktemp("grading")
    for scenario, (build, expected, _) in SCENARIOS.items():
        write(tmp / "class", scenario, build(), POLLING.name if "5.1" in expected else WELCOME.name)
    write(tmp / "class", "zz_renamed", solved(), "00_my_own_copy.ipynb")
    # Three judges at once: the three hangs (sorted first) wait out their 5 s together.
    run = grade(tmp, "--junitxml", "report.xml", "--timeout", "5", "--jobs", "3", "class")
    lines = run.stdout.splitlines()
    rows = {}
    assert lines[0].startswith("sandbox: "), run.stdout + run.stderr  # where the answers ran, said first
    lines = lines[1:]
    for line in lines[1:-2]:  # between the header and the summary + report lines
        notebook, ident, rest = line.split(None, 2)
        rows[(notebook.split("/")[1], ident)] = rest
    return run, lines, rows, ET.parse(tmp / "report.xml").getroot(), (tmp / "report.xml").read_text()


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_each_submission_gets_the_grade_it_earned(scenario, graded):
    run, _, rows, _, _ = graded
    _, expected, reason = SCENARIOS[scenario]
    outcomes = {"solved": {"solved"}, "error": {"error"}, "no pass": {"not solved", "error"}}
    for position, (ident, status) in enumerate(expected.items()):
        row = rows.get((scenario, ident))
        assert row is not None, f"no row for {scenario} {ident}:\n{run.stdout}\n{run.stderr}"
        assert row.split("  ")[0].strip() in outcomes.get(status, {"not solved"}), row
        if status in ("not started", "missing"):
            assert f"{status}:" in row, row
        if position == 0:
            assert reason in row, row


def test_a_submission_named_like_no_notebook_is_an_error_row(graded):
    _, _, rows, _, _ = graded
    (row,) = [rest for (scenario, ident), rest in rows.items() if scenario == "zz_renamed"]
    assert row.startswith("error") and "no shipped notebook is called 00_my_own_copy.ipynb" in row


def test_the_table_has_one_row_per_exercise_in_a_stable_order_and_a_summary(graded):
    run, lines, rows, _, _ = graded
    assert lines[0].split() == ["notebook", "exercise", "result", "reason"]
    expected = [(scenario, ident) for scenario, (_, exercises, _) in sorted(SCENARIOS.items())
                for ident in exercises] + [("zz_renamed", "-")]
    assert list(rows) == expected
    solved = sum(status == "solved" for _, exercises, _ in SCENARIOS.values() for status in exercises.values())
    assert lines[-2].startswith(f"NOT all solved: {len(expected)} exercises in {len(SCENARIOS) + 1} notebooks: "
                                f"{solved} solved, ")
    assert lines[-1] == "JUnit report: report.xml"
    assert run.returncode == 1, "not every exercise is solved"


def test_the_junit_report_has_one_case_per_exercise_named_after_it(graded):
    _, _, rows, root, text = graded
    cases = list(root.iter("testcase"))
    assert len(cases) == len(rows)
    for case, (scenario, ident) in zip(cases, rows, strict=True):
        if ident == "-":
            assert case.get("classname") == "class.zz_renamed.00_my_own_copy"
            assert case.find("error") is not None
            continue
        notebook = POLLING.stem if ident.startswith("5.") else WELCOME.stem
        assert case.get("classname") == f"class.{scenario}.{notebook}"
        assert f"Exercise {ident}" in case.get("name")
        if ident == "0.1":
            assert case.get("name") == "Exercise 0.1: ask a lab if it is healthy"
        status = SCENARIOS[scenario][1][ident]
        problems = [child for child in case if child.tag in ("failure", "error")]
        if status == "solved":
            assert not problems
        else:
            (problem,) = problems
            if status != "no pass":
                assert problem.tag == ("error" if status == "error" else "failure")
                assert problem.get("type") == status
            assert problem.get("message") and "\n" not in problem.get("message")
    suite = root.find("testsuite")
    assert int(suite.get("tests")) == len(cases)
    assert int(suite.get("failures")) == sum(case.find("failure") is not None for case in cases)
    assert int(suite.get("errors")) == sum(case.find("error") is not None for case in cases)


def test_the_report_carries_no_colour_codes_and_no_cell_source(graded):
    run, _, rows, _, text = graded
    assert "\x1b" not in text and "\x1b" not in run.stdout
    assert "boom" in rows[("colours", "0.1")], "the message itself is kept, without its colour codes"
    assert MARKER not in text and MARKER not in run.stdout
    assert "queue.Queue().get()" not in text


def test_exit_status_is_zero_only_when_everything_is_solved(tmp_path):
    write(tmp_path / "good", "alice", solved(), WELCOME.name)
    run = grade(tmp_path, "good")
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.splitlines()[-1].startswith("all solved: 1 exercise in 1 notebook: 1 solved")

    (tmp_path / "empty").mkdir()
    run = grade(tmp_path, "good", "empty", "nowhere.ipynb")
    assert run.returncode == 1
    assert "no notebook (*.ipynb) in this folder" in run.stdout and "no such file or folder" in run.stdout


def test_ctrl_c_stops_grading_and_every_judge_at_once(tmp_path):
    import psutil

    write(tmp_path / "class", "hang", with_answer(HANG), WELCOME.name)
    grader = subprocess.Popen([sys.executable, "-m", "labs", "grade", "--timeout", "300", "class"], cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        def judges_now():  # the fork server and the judges it forked (not a short-lived probe of bwrap)
            found = []
            for child in psutil.Process(grader.pid).children(recursive=True):
                try:
                    if "labs.exercises" in " ".join(child.cmdline()):
                        found.append(child)
                except psutil.NoSuchProcess:  # also a zombie: a helper that has just exited
                    pass
            return found

        deadline = time.monotonic() + 60
        while len(judges_now()) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        judges = judges_now()
        assert judges, "the judge never started"
        grader.send_signal(signal.SIGINT)
        out, err = grader.communicate(timeout=60)  # the hang's own limit is 300 s
    finally:
        if grader.poll() is None:
            grader.kill()
    assert grader.returncode == 130 and "grading interrupted" in err and "Traceback" not in err, err
    assert not [judge for judge in judges if judge.is_running() and judge.status() != psutil.STATUS_ZOMBIE]


def test_only_tagged_exercise_cells_are_read_from_a_submission():
    notebook = add_cells(solved(), "# Exercise 0.1: an untagged copy\ndef is_healthy(url):\n    return True\n")
    answers = submitted_answers(notebook)
    assert list(answers) == ["0.1"] and "untagged copy" not in answers["0.1"]
    twice = copy.deepcopy(notebook)
    twice.cells.append(nbformat.v4.new_code_cell("# Exercise 0.1: later\npass\n", metadata={"tags": ["exercise"]}))
    assert submitted_answers(twice)["0.1"].startswith("# Exercise 0.1: later"), "the later cell counts"


# Answers that try to reach the verdict's channel from inside their own process: the verdict is
# decided in the check's process, which runs no answer code, so there is nothing there to find
# (tests/test_hostile_answers.py tries the routes that worked against the old in-process judge).
FORGES = {
    "walks the frames to the verdict's nonce": (
        "import json, os\ntry:\n    raise ValueError\nexcept ValueError as e:\n    f = e.__traceback__.tb_frame\n"
        "while f is not None and 'nonce' not in f.f_locals:\n    f = f.f_back\n"
        "v = {'exercise': '0.1', 'status': 'solved', 'reason': ''}\n"
        "os.write(f.f_locals['report'], ('SSE-KIT-VERDICT ' + f.f_locals['nonce'] + ' ' + json.dumps(v) + "
        "'\\n').encode())\nos._exit(0)\n"),
    "patches json.dumps, which writes the verdict": (
        "import json\n_real = json.dumps\n\n\ndef fake(obj, *args, **kwargs):\n"
        "    if isinstance(obj, dict) and obj.get('exercise') == '0.1':\n"
        "        obj = dict(obj, status='solved', reason='')\n    return _real(obj, *args, **kwargs)\n\n\n"
        "json.dumps = fake\n\n\ndef is_healthy(url):\n    return True\n"),
    "walks from logging's currentframe": (
        "import logging, os\nf = logging.currentframe()\nwhile f is not None and 'write_verdict' not in f.f_locals:\n"
        "    f = f.f_back\nf.f_locals['write_verdict']('0.1', 'solved', '')\n"),
    "searches the garbage collector for the writer": (
        "import gc as g\nfor o in g.get_objects():\n    if getattr(o, '__name__', '') == 'write_verdict':\n"
        "        o('0.1', 'solved', '')\n"),
    "runs hidden code through a builtin found by attribute": (
        "run = getattr(print.__self__, 'ex' + 'ec')\nrun('import sys\\nf = sys._getframe()')\n"
        "def is_healthy(url):\n    return True\n"),
    "writes a module of its own that starts a thread to walk the frames": (
        "with open('helper_mod.py', 'w') as out:\n    out.write('import sys, threading\\n"
        "def walk():\\n    for f in sys._current_frames().values():\\n        while f is not None:\\n"
        "            w = f.f_locals.get(\"write_verdict\")\\n            if w: w(\"0.1\", \"solved\", \"\")\\n"
        "            f = f.f_back\\nthreading.Thread(target=walk).start()\\n')\nimport sys\nsys.path.insert(0, '.')\n"
        "import helper_mod\nimport time\ntime.sleep(1)\ndef is_healthy(url):\n    raise NotImplementedError\n"),
}


@pytest.mark.parametrize("how", FORGES)
def test_an_answer_cannot_forge_the_verdict_from_inside_the_judge(how):
    from labs.exercises.judge import judge

    assert judge("0.1", exercise_source(FORGES[how]), timeout=10).status != "solved"
