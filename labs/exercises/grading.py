"""``python -m labs grade [--junitxml FILE] [--timeout SECONDS] PATH...``: the graders' command.

PATH is a submitted notebook or a folder of them (every ``*.ipynb`` inside, recursively;
hidden folders such as ``.ipynb_checkpoints`` are skipped). For each submission:

- the kit decides which exercises exist: those of the shipped notebook with the same file
  name in the repository's ``notebooks/``, and every check registered for that notebook's
  number (so deleting an exercise from a notebook never removes it from the grade);
- the student's answers are the submission's exercise cells alone (code cells tagged
  ``exercise`` whose first line is ``# Exercise N.M``); every other cell is ignored, because
  the checks are the kit's own (``labs/exercises/nbNN.py``), run by id;
- each answer is judged by :func:`labs.exercises.judge.judge`: the check in a fresh
  process (forked from a preloaded one) that never runs answer code, the answer in a sandbox
  beside it (bubblewrap: see :mod:`labs.exercises.sandbox`), with a time limit, so a
  hang or a crash fails that exercise alone. Two run at a time. The report's first line (and
  the JUnit file's ``sandbox`` property) says which sandbox the answers ran in.

The result is a table (one row per exercise), a summary line, optionally a JUnit XML file
(one test case per exercise), and exit status 0 only when every exercise is solved.
"""

from __future__ import annotations

import os
import re
import signal
import sys
import time
import xml.etree.ElementTree as ET
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from labs.exercises import notebooks as nb
from labs.exercises import sandbox
from labs.exercises.judge import judge
from labs.exercises.registry import get_exercise, notebook_exercises

SHIPPED_DIR = Path(__file__).resolve().parents[2] / "notebooks"  # the repository's own
JOBS = 2  # exercises judged at once: each judge is one process, and this machine has two cores
SOLVED, NOT_SOLVED, ERROR = "solved", "not solved", "error"
MISSING = "missing"
_CONTROL = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-_]|[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Task:
    """One exercise of one submission, waiting for the judge."""

    notebook: str  # the submission's path, as the grader names it
    ident: str
    title: str
    source: str | None  # the exercise cell, or None when the submission has none for it


@dataclass(frozen=True)
class Row:
    """One line of the report: an exercise's result (or a submission that could not be read)."""

    notebook: str
    exercise: str  # "" for a submission-level problem
    title: str
    status: str  # solved, not started, missing, not solved, error
    reason: str = ""
    seconds: float = 0.0

    @property
    def outcome(self) -> str:
        """``solved``, ``not solved`` (not started and missing included) or ``error``."""
        return self.status if self.status in (SOLVED, ERROR) else NOT_SOLVED

    @property
    def classname(self) -> str:
        stem = self.notebook[:-len(".ipynb")] if self.notebook.endswith(".ipynb") else self.notebook
        return stem.replace(os.sep, ".").replace("/", ".").strip(".")

    @property
    def name(self) -> str:
        return self.title or "submission"

    @property
    def message(self) -> str:
        """The reason as one short line of plain text (no colour codes, no control characters)."""
        detail = self.reason if self.status == self.outcome else f"{self.status}: {self.reason}"
        text = " ".join(_CONTROL.sub(" ", detail).split())
        return text if len(text) <= 500 else text[:497] + "..."


# ------------------------------------------------------------------ what to grade

def label(path: Path, base: Path | None = None) -> str:
    """How the report names a submission: its path relative to ``base`` (default: here) when it is below it."""
    try:
        return str(path.resolve().relative_to((base or Path.cwd()).resolve()))
    except ValueError:
        return str(path)


def find_submissions(paths: list[str | Row], base: Path | None = None) -> list[Path | Row]:
    """Every notebook to grade, in a stable order; a Row for a path that holds none (a Row
    given instead of a path, e.g. a student whose repository could not be cloned, stays)."""
    found: list[Path | Row] = []
    for name in paths:
        path = Path(name) if not isinstance(name, Row) else None
        if path is None:
            found.append(name)
        elif path.is_file():
            found.append(path)
        elif path.is_dir():
            inside = sorted(p for p in path.rglob("*.ipynb")
                            if not any(part.startswith(".") for part in p.relative_to(path).parts))
            found.extend(inside or [Row(label(path, base), "", "", ERROR, "no notebook (*.ipynb) in this folder")])
        else:
            found.append(Row(name, "", "", ERROR, "no such file or folder"))
    return found


def expected_exercises(shipped: Path) -> dict[str, str]:
    """Exercise id -> title ("Exercise 4.1: ...") for a shipped notebook, checks included."""
    notebook = nb.read_notebook(shipped)
    titles = {ident: nb.source(notebook["cells"][index]).splitlines()[0].lstrip("# ").strip()
              for ident, index in nb.exercise_cells(notebook).items()}
    number = shipped.name.split("_")[0]
    if number.isdigit():
        for ident in notebook_exercises(int(number)):
            titles.setdefault(ident, f"Exercise {ident}")
    return dict(sorted(titles.items(), key=lambda item: [int(part) for part in item[0].split(".")]))


def plan(path: Path, shipped_dir: Path = SHIPPED_DIR, base: Path | None = None) -> list[Task | Row]:
    """The exercises of one submission, each with the student's answer (or None)."""
    name = label(path, base)
    shipped = shipped_dir / path.name
    if not shipped.is_file():
        return [Row(name, "", "", ERROR, f"no shipped notebook is called {path.name}; "
                                         "a submission keeps its notebook's file name")]
    try:
        answers = nb.submitted_answers(nb.read_notebook(path))
        expected = expected_exercises(shipped)
    except Exception as exc:  # an unreadable submission (or kit) is one error row, not a crash
        return [Row(name, "", "", ERROR, str(exc))]
    return [Task(name, ident, title, answers.get(ident)) for ident, title in expected.items()]


# ------------------------------------------------------------------ judging

def judge_task(task: Task, timeout: float | None) -> Row:
    """Judge one exercise in a fresh process; anything that goes wrong is this row's error."""
    started = time.monotonic()
    if task.source is None:
        return Row(task.notebook, task.ident, task.title, MISSING,
                   f"no exercise cell `# Exercise {task.ident}` (tagged `exercise`) in the submission: "
                   "it was deleted, or its first line changed")
    try:
        get_exercise(task.ident)
        verdict = judge(task.ident, task.source, timeout, preloaded=True)
    except LookupError:
        status, reason = ERROR, f"the kit has no check for exercise {task.ident} (labs/exercises)"
    except Exception as exc:  # the grader's own trouble, reported on this exercise only
        status, reason = ERROR, f"the grader could not judge it: {type(exc).__name__}: {exc}"
    else:
        status, reason = verdict.status, verdict.reason
    return Row(task.notebook, task.ident, task.title, status, reason, time.monotonic() - started)


class SandboxRequired(Exception):
    """``--require-sandbox`` was given and answers cannot run in a sandbox here."""


def sandbox_line(require_sandbox: bool = False) -> str:
    """``sandbox: ...``, the first line of every report; SandboxRequired if one is required and missing."""
    status = sandbox.status()
    if require_sandbox and not status.available:
        raise SandboxRequired(f"--require-sandbox: no sandbox for answers here: {status.description}")
    return f"sandbox: {status.description}"


def grade(paths: list[str | Row], timeout: float | None = None, jobs: int = JOBS,
          out: TextIO | None = None, shipped_dir: Path = SHIPPED_DIR, require_sandbox: bool = False, *,
          base: Path | None = None) -> list[Row]:
    """Grade every submission under ``paths``; print each row as soon as it (and those
    before it) are judged, always in the same order. The first line says where answers run.
    Rows name submissions relative to ``base`` (default: the current folder)."""
    out = out or sys.stdout
    print(sandbox_line(require_sandbox), file=out, flush=True)
    items: list[Task | Row] = []
    for found in find_submissions(paths, base):
        items.extend([found] if isinstance(found, Row) else plan(found, shipped_dir, base))
    width = max([len(item.notebook) for item in items] + [len("notebook")])
    print(header(width), file=out, flush=True)
    rows: list[Row] = []
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = [pool.submit(judge_task, item, timeout) if isinstance(item, Task) else _done(item)
                   for item in items]
        try:
            for future in futures:
                rows.append(future.result())
                print(format_row(rows[-1], width), file=out, flush=True)
        except KeyboardInterrupt:
            pool.shutdown(wait=False, cancel_futures=True)
            _stop_judges()
            raise
    return rows


def _stop_judges() -> None:
    """Kill the judges still running (each leads a process group of its own, under the fork
    server or not), so that Ctrl-C stops grading at once rather than after the slowest
    answer's time limit."""
    import psutil

    for child in psutil.Process().children(recursive=True):
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _done(row: Row) -> Future:
    future: Future = Future()
    future.set_result(row)
    return future


# ------------------------------------------------------------------ reporting

def header(width: int) -> str:
    return f"{'notebook':<{width}}  {'exercise':<8}  {'result':<10}  reason"


def format_row(row: Row, width: int) -> str:
    return f"{row.notebook:<{width}}  {row.exercise or '-':<8}  {row.outcome:<10}  {row.message}".rstrip()


def summary(rows: list[Row], seconds: float) -> str:
    counts = {outcome: sum(row.outcome == outcome for row in rows) for outcome in (SOLVED, NOT_SOLVED, ERROR)}
    notebooks = len({row.notebook for row in rows})
    verdict = "all solved" if rows and counts[SOLVED] == len(rows) else "NOT all solved"
    return (f"{verdict}: {_count(len(rows), 'exercise')} in {_count(notebooks, 'notebook')}: "
            f"{counts[SOLVED]} solved, {counts[NOT_SOLVED]} not solved, {_count(counts[ERROR], 'error')} "
            f"({seconds:.0f} s)")


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def write_junit(rows: list[Row], path: Path, seconds: float, sandbox: str = "") -> None:
    """JUnit XML: one test case per exercise; not solved is a failure, error an error; the
    suite's ``sandbox`` property says where the answers ran."""
    failures = sum(row.outcome == NOT_SOLVED for row in rows)
    errors = sum(row.outcome == ERROR for row in rows)
    counts = {"tests": str(len(rows)), "failures": str(failures), "errors": str(errors), "time": f"{seconds:.3f}"}
    suites = ET.Element("testsuites", name="sse-kit grading", **counts)
    suite = ET.SubElement(suites, "testsuite", name="sse-kit grading", skipped="0", **counts)
    if sandbox:
        properties = ET.SubElement(suite, "properties")
        ET.SubElement(properties, "property", name="sandbox", value=sandbox.removeprefix("sandbox: "))
    for row in rows:
        case = ET.SubElement(suite, "testcase", classname=row.classname, name=row.name, time=f"{row.seconds:.3f}")
        if row.outcome != SOLVED:
            tag = "error" if row.outcome == ERROR else "failure"
            ET.SubElement(case, tag, message=row.message, type=row.status).text = row.message
    ET.indent(suites)
    ET.ElementTree(suites).write(path, encoding="utf-8", xml_declaration=True)


def main(paths: list[str], junitxml: str | None = None, timeout: float | None = None, jobs: int = JOBS,
         require_sandbox: bool = False) -> int:
    started = time.monotonic()
    try:
        rows = grade(paths, timeout=timeout, jobs=jobs, require_sandbox=require_sandbox)
    except SandboxRequired as exc:
        print(exc, file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt:
        print("grading interrupted: no summary and no report", file=sys.stderr, flush=True)
        return 130
    seconds = time.monotonic() - started
    print(summary(rows, seconds), flush=True)
    if junitxml:
        write_junit(rows, Path(junitxml), seconds, sandbox_line())
        print(f"JUnit report: {junitxml}", flush=True)
    return 0 if rows and all(row.outcome == SOLVED for row in rows) else 1
