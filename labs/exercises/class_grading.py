"""``python -m labs grade-class (--repos FILE | --submissions DIR) [options]``: a whole class,
graded with THIS kit's checks, never the students'.

Each student's notebooks are staged into a private temporary folder,
``<tmp>/<student>/NN_name.ipynb``, and graded there by :func:`labs.exercises.grading.grade`
(one table, one JUnit file, one summary for the class). Only ``notebooks/*.ipynb`` is taken
from a student: their ``labs/``, ``solutions/``, ``tests/`` and workflows are never imported
or run (and, from a repository, not even checked out).

- ``--repos FILE``: one repository a line, ``URL [NAME]`` (any git URL: https, ssh, a local
  path or a bare repository; ``#`` starts a comment). NAME defaults to the URL's last part
  (``https://host/org/sse-kit-alice.git`` -> ``sse-kit-alice``). Each is cloned bare with
  ``git clone --depth 1`` (so nothing of it is checked out) and its notebooks are read from
  the commit with ``git cat-file``: regular files only, so a symbolic link reads nothing.
- ``--submissions DIR``: one sub-folder a student (its name is the student's); the notebooks
  are ``DIR/NAME/notebooks/*.ipynb`` when that folder exists (a repository's checkout), else
  ``DIR/NAME/*.ipynb``. Symbolic links are skipped.

Credentials for git given through ``GIT_CONFIG_*`` are dropped from the environment once
every repository is cloned, before any answer runs. A repository that cannot be cloned, or a
student with no notebook, is one error row for that student, and grading goes on. After the
table and the summary, one line a student: ``NAME  solved/total``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from labs.exercises import grading
from labs.exercises.grading import ERROR, SOLVED, Row

CLONE_TIMEOUT = 300  # seconds for one `git clone`
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
NOTEBOOK = re.compile(r"notebooks/([^/]+\.ipynb)")


class ClassListError(ValueError):
    """A repositories file or submissions folder that cannot be read as a class (exit 2)."""


@dataclass(frozen=True)
class Student:
    name: str
    source: str  # a git URL, or a folder of submissions


# ------------------------------------------------------------------ the class

def read_repos(path: Path) -> list[Student]:
    """The students of a repositories file: ``URL [NAME]`` a line, blank lines and ``#`` comments skipped."""
    students: dict[str, Student] = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        if len(words) > 2:
            raise ClassListError(f"{path}:{number}: expected `URL [NAME]`, got {line.strip()!r}")
        url = words[0]
        name = words[1] if len(words) == 2 else re.sub(r"\.git$", "", url.rstrip("/").rsplit("/", 1)[-1])
        name = name.rsplit(":", 1)[-1]  # git@host:repo.git
        if not NAME.fullmatch(name):
            raise ClassListError(f"{path}:{number}: {name!r} is not a usable student name "
                                 "(letters, digits, '.', '_' and '-'): give one after the URL")
        if name in students:
            raise ClassListError(f"{path}:{number}: two repositories would be called {name!r}: "
                                 "give each line a name of its own (`URL NAME`)")
        students[name] = Student(name, url)
    if not students:
        raise ClassListError(f"{path}: no repository in it")
    return list(students.values())


def read_submissions(folder: Path) -> list[Student]:
    """The students of a folder of submissions: one sub-folder each (hidden ones skipped)."""
    if not folder.is_dir():
        raise ClassListError(f"{folder}: no such folder")
    students = [Student(path.name, str(path)) for path in sorted(folder.iterdir())
                if path.is_dir() and not path.is_symlink() and not path.name.startswith(".")]
    if not students:
        raise ClassListError(f"{folder}: no sub-folder in it (one a student)")
    for student in students:
        if not NAME.fullmatch(student.name):
            raise ClassListError(f"{folder}: {student.name!r} is not a usable student name "
                                 "(letters, digits, '.', '_' and '-')")
    return students


# ------------------------------------------------------------------ staging

def stage_folder(source: Path, into: Path) -> str | None:
    """Copy a student's notebooks (regular files only) into ``into``; the problem, if any."""
    folder = source / "notebooks" if (source / "notebooks").is_dir() else source
    if folder.is_symlink():
        return f"{folder.name}/ is a symbolic link: not read"
    found = [path for path in sorted(folder.glob("*.ipynb")) if path.is_file() and not path.is_symlink()]
    for path in found:
        shutil.copyfile(path, into / path.name)
    return None if found else f"no notebook (*.ipynb) in {folder.name}/"


def stage_repository(url: str, into: Path, scratch: Path) -> str | None:
    """Clone ``url`` bare (nothing checked out) and write its ``notebooks/*.ipynb`` into ``into``."""
    clone = scratch / "repository.git"
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true", "GIT_LFS_SKIP_SMUDGE": "1"}
    try:
        done = subprocess.run(["git", "clone", "--quiet", "--bare", "--depth", "1", "--", url, str(clone)],
                              capture_output=True, text=True, timeout=CLONE_TIMEOUT, env=env, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return f"could not clone {url}: no answer within {CLONE_TIMEOUT} s"
    if done.returncode != 0:
        reason = " ".join(line for line in done.stderr.splitlines() if not line.startswith("warning:"))
        return f"could not clone {url}: {reason or f'git exited with {done.returncode}'}"
    listing = subprocess.run(["git", "--git-dir", str(clone), "ls-tree", "-z", "HEAD", "notebooks/"],
                             capture_output=True, timeout=60, env=env)
    if listing.returncode != 0:
        return f"{url}: no commit to grade (an empty repository?)"
    found = 0
    for entry in listing.stdout.split(b"\0"):
        meta, _, path = entry.decode("utf-8", "replace").partition("\t")
        match = NOTEBOOK.fullmatch(path)
        if match and meta.split()[:2] in (["100644", "blob"], ["100755", "blob"]):
            blob = subprocess.run(["git", "--git-dir", str(clone), "cat-file", "blob", meta.split()[2]],
                                  capture_output=True, timeout=60, check=True)
            (into / match.group(1)).write_bytes(blob.stdout)
            found += 1
    return None if found else f"no notebook (*.ipynb) in notebooks/ of {url}"


def stage(students: list[Student], root: Path, from_repos: bool) -> list[str | Row]:
    """Stage every student under ``root``: a folder to grade, or the error row of one who has none."""
    items: list[str | Row] = []
    for number, student in enumerate(students, 1):
        into = root / "class" / student.name
        into.mkdir(parents=True)
        print(f"staging {number}/{len(students)}: {student.name}", file=sys.stderr, flush=True)
        if from_repos:
            scratch = root / "clones" / student.name
            scratch.mkdir(parents=True)
            problem = stage_repository(student.source, into, scratch)
            shutil.rmtree(scratch, ignore_errors=True)
        else:
            problem = stage_folder(Path(student.source), into)
        items.append(Row(student.name, "", "", ERROR, problem) if problem else str(into))
    return items


def forget_git_credentials() -> None:
    """Drop what git was given through the environment (``GIT_CONFIG_COUNT``/``_KEY_n``/``_VALUE_n``:
    grade-class.yml passes a token that way), so that no judge started after cloning inherits it."""
    for key in [key for key in os.environ if key.startswith(("GIT_CONFIG_", "GIT_ASKPASS", "GIT_TOKEN"))]:
        del os.environ[key]


# ------------------------------------------------------------------ reporting

def per_student(rows: list[Row], students: list[Student]) -> list[str]:
    """One line a student: ``NAME  solved/total`` (and how many submission-level errors)."""
    width = max(len(student.name) for student in students)
    lines = []
    for student in students:
        mine = [row for row in rows if row.notebook.split("/", 1)[0] == student.name]
        exercises = [row for row in mine if row.exercise]
        solved = sum(row.outcome == SOLVED for row in exercises)
        problems = len(mine) - len(exercises)
        extra = f"  ({grading._count(problems, 'error')} reading the submission)" if problems else ""
        lines.append(f"{student.name:<{width}}  {solved}/{len(exercises)} solved{extra}")
    return lines


def main(repos: str | None = None, submissions: str | None = None, junitxml: str | None = None,
         timeout: float | None = None, jobs: int = grading.JOBS, require_sandbox: bool = False) -> int:
    started = time.monotonic()
    try:
        grading.sandbox_line(require_sandbox)  # refused before cloning anything
        students = read_repos(Path(repos)) if repos else read_submissions(Path(submissions or ""))
    except (grading.SandboxRequired, ClassListError, OSError) as exc:
        print(f"grade-class: {exc}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="sse-kit-class-") as tmp:
        items = stage(students, Path(tmp), from_repos=bool(repos))
        forget_git_credentials()
        try:
            rows = grading.grade(items, timeout=timeout, jobs=jobs, require_sandbox=require_sandbox,
                                 base=Path(tmp) / "class")
        except grading.SandboxRequired as exc:
            print(f"grade-class: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("grading interrupted: no summary and no report", file=sys.stderr, flush=True)
            return 130
    seconds = time.monotonic() - started
    print(grading.summary(rows, seconds), flush=True)
    for line in per_student(rows, students):
        print(line, flush=True)
    if junitxml:
        grading.write_junit(rows, Path(junitxml), seconds, grading.sandbox_line())
        print(f"JUnit report: {junitxml}", flush=True)
    return 0 if rows and all(row.outcome == SOLVED for row in rows) else 1
