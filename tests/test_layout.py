"""The layout keeps its parts apart, as the README draws them.

``labs/<name>.py`` is one lesson each.  Below the lessons are three parts, and the arrows
between them go one way:

- ``labs/core/``, the lesson core: what a lesson stands on; it imports nothing else of ``labs``;
- ``labs/harness/``: starts, proxies, clusters and drives labs; it imports the core;
- ``labs/exercises/``: checks, judge, sandbox, grader; it imports the core and the harness.

A lesson imports only the core.  The harness and the exercises start a lesson by name
(``labs.harness.registry``), never by importing it.  The CLI (``labs/__main__.py``) and the
package's names (``labs/__init__.py``) sit on top and may use any part.  A lab that imports
another couples two lessons (a student reading one must read both), and so does a page that
loads a script from another lab's folder: what two pages share lives in ``static/common/``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from labs.core.webapp import REPO_ROOT, STATIC_DIR
from labs.harness.registry import LABS

LABS_DIR = REPO_ROOT / "labs"
NOT_LESSONS = {"__init__", "__main__"}


def lab_modules() -> list[Path]:
    return sorted(path for path in LABS_DIR.glob("*.py") if path.stem not in NOT_LESSONS)


def imported_modules(tree: ast.AST, bases: bool = True) -> list[tuple[int, str]]:
    """(line, dotted name) of everything ``tree`` imports, as absolute names under ``labs``.

    ``from x import y`` gives ``x`` and ``x.y`` (``y`` may be a module); ``bases=False``: only ``x.y``."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            # A relative import inside labs/ (level 1) is an import from the labs package.
            base = ("labs" + ("." + node.module if node.module else "")) if node.level == 1 else (node.module or "")
            found += [(node.lineno, base)] if bases else []
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]  # from labs import polling
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            name = getattr(node.func, "attr", None) or getattr(node.func, "id", None)
            if name in ("import_module", "__import__"):
                found.append((node.lineno, node.args[0].value))
    return found


def lab_imports(path: Path, source: str | None = None) -> list[str]:
    """Every import of another lab module in ``path`` (a ``labs/<name>.py``)."""
    source = path.read_text(encoding="utf-8") if source is None else source
    tree = ast.parse(source, filename=str(path))
    found = []
    for line, module in imported_modules(tree):
        parts = module.split(".")
        if len(parts) >= 2 and parts[0] == "labs" and parts[1] in LABS and parts[1] != path.stem:
            found.append(f"labs/{path.name}:{line}: imports labs.{parts[1]}")
    return sorted(set(found))


# A file a page loads: an HTML src/href, or a path in a JavaScript string.
LOADED = re.compile(r"""(?:\b(?:src|href)\s*=\s*["']?|["'`])/?(?:static/)(?P<folder>[A-Za-z0-9_-]+)/""")


def foreign_loads(path: Path, text: str | None = None) -> list[str]:
    """Files of another lab's folder that ``path`` (under ``static/<lab>/``) loads."""
    text = path.read_text(encoding="utf-8") if text is None else text
    own = path.relative_to(STATIC_DIR).parts[0]
    found = []
    for match in LOADED.finditer(text):
        folder = match.group("folder")
        if folder in LABS and folder != own:
            line = text.count("\n", 0, match.start()) + 1
            found.append(f"{path.relative_to(REPO_ROOT)}:{line}: loads from static/{folder}/")
    return found


def test_the_checks_see_what_they_look_for():
    lab = LABS_DIR / "long_polling.py"
    assert lab_imports(lab, "from labs.polling import read_cursor\nimport labs.manual_sse as m\n"
                            "from labs import websockets\nfrom . import webhooks\nfrom .sse_blueprint import x\n"
                            "importlib.import_module('labs.event_stream')\n") == sorted([
        "labs/long_polling.py:1: imports labs.polling", "labs/long_polling.py:2: imports labs.manual_sse",
        "labs/long_polling.py:3: imports labs.websockets", "labs/long_polling.py:4: imports labs.webhooks",
        "labs/long_polling.py:5: imports labs.sse_blueprint", "labs/long_polling.py:6: imports labs.event_stream"])
    assert lab_imports(lab, "from labs.core.polling_routes import read_cursor\nimport labs.core.sse\n"
                            "from labs import long_polling\nfrom labs.core import broker\n") == []

    page = STATIC_DIR / "long_polling" / "index.html"
    assert foreign_loads(page, '<script src="static/common/lab.js"></script>\n'
                               '<script src="static/polling/feed.js"></script>\n'
                               '<link rel="stylesheet" href="/static/manual_sse/x.css">\n'
                               '<script src="static/long_polling/page.js"></script>') == [
        "static/long_polling/index.html:2: loads from static/polling/",
        "static/long_polling/index.html:3: loads from static/manual_sse/"]
    script = STATIC_DIR / "long_polling" / "page.js"
    assert foreign_loads(script, 'fetch("static/webhooks/data.json");\nconst s = `static/common/x`;') == [
        "static/long_polling/page.js:1: loads from static/webhooks/"]


def test_labs_holds_the_lessons_and_every_lesson_is_a_registered_lab():
    assert {path.stem for path in lab_modules()} == set(LABS), \
        "labs/<name>.py is for lessons only (one per lab in labs/harness/registry.py); shared code: labs/core/"


def test_no_lab_imports_another_lab():
    found = [offence for path in lab_modules() for offence in lab_imports(path)]
    assert not found, "move what two labs share into labs/core/:\n" + "\n".join(found)


def test_no_lab_page_loads_a_file_from_another_labs_folder():
    pages = sorted(path for name in LABS for path in (STATIC_DIR / name).rglob("*")
                   if path.suffix in (".html", ".js", ".css"))
    assert len(pages) >= len(LABS), "every lab has a page"
    found = [offence for path in pages for offence in foreign_loads(path)]
    assert not found, "move what two pages share into static/common/:\n" + "\n".join(found)


# ------------------------------------------------------------------ the parts and their arrows

PARTS = ("core", "harness", "exercises")
OUTSIDE = ("benchmarks", "tools", "tests", "solutions")  # they stand on labs/, never under it
MAY_IMPORT = {"lesson": {"core"}, "core": {"core"}, "harness": {"core", "harness"},
              "exercises": {"core", "harness", "exercises"}}


def part_of(module: str) -> str | None:
    """Which part a module under ``labs`` belongs to: a lesson, one of PARTS, or None (the CLI,
    the package itself, or nothing of ``labs``)."""
    parts = module.split(".")
    if parts[0] in OUTSIDE:
        return parts[0]
    if parts[0] != "labs" or len(parts) < 2:
        return None
    if parts[1] in PARTS:
        return parts[1]
    return "lesson" if parts[1] in LABS else None


def wrong_arrows(path: Path, source: str | None = None) -> list[str]:
    """Every import in ``path`` (a file under ``labs/``) that its part may not make."""
    relative = path.relative_to(REPO_ROOT).with_suffix("")
    module = ".".join(relative.parts[:-1] if relative.name == "__init__" else relative.parts)
    mine = part_of(module)
    if mine is None:
        return []
    source = path.read_text(encoding="utf-8") if source is None else source
    found: dict[int, str] = {}
    # Shortest name first: `from labs.x import y` is reported as labs.x, not also as labs.x.y.
    for line, name in sorted(imported_modules(ast.parse(source, filename=str(path))), key=lambda i: len(i[1])):
        theirs = part_of(name)
        if theirs is not None and theirs not in MAY_IMPORT[mine] and name != module and line not in found:
            found[line] = f"{relative}.py:{line}: the {mine} imports {name} ({theirs})"
    return [found[line] for line in sorted(found)]


def test_the_arrow_check_sees_each_kind_of_wrong_arrow():
    core, harness, exercise, lesson = (LABS_DIR / "core" / "sse.py", LABS_DIR / "harness" / "launcher.py",
                                       LABS_DIR / "exercises" / "nb05.py", LABS_DIR / "polling.py")
    assert wrong_arrows(core, "from labs.harness.launcher import start_lab\nimport labs.core.errors\n") == [
        "labs/core/sse.py:1: the core imports labs.harness.launcher (harness)"]
    assert wrong_arrows(core, "from labs import exercises\n") == [
        "labs/core/sse.py:1: the core imports labs.exercises (exercises)"]
    assert wrong_arrows(harness, "from labs.exercises.judge import judge\nfrom labs.core import sse\n") == [
        "labs/harness/launcher.py:1: the harness imports labs.exercises.judge (exercises)"]
    assert wrong_arrows(harness, "def f():\n    from labs import manual_sse\n") == [
        "labs/harness/launcher.py:2: the harness imports labs.manual_sse (lesson)"]
    assert wrong_arrows(harness, "from benchmarks.transports import TRANSPORTS\n") == [
        "labs/harness/launcher.py:1: the harness imports benchmarks.transports (benchmarks)"]
    assert wrong_arrows(exercise, "import importlib\nimportlib.import_module('labs.polling')\n"
                                  "from labs.harness import nginx\n") == [
        "labs/exercises/nb05.py:2: the exercises imports labs.polling (lesson)"]
    assert wrong_arrows(lesson, "from labs.harness.client import EventStream\nfrom labs.core.webapp import x\n"
                                "from labs.exercises import check\n") == [
        "labs/polling.py:1: the lesson imports labs.harness.client (harness)",
        "labs/polling.py:3: the lesson imports labs.exercises (exercises)"]


def test_every_import_goes_the_way_the_layout_allows():
    files = sorted(LABS_DIR.rglob("*.py"))
    assert {part_of(".".join(path.relative_to(REPO_ROOT).with_suffix("").parts)) for path in files} >= \
        {"lesson", *PARTS}, "every part has files"
    found = [offence for path in files for offence in wrong_arrows(path)]
    assert not found, "an import the layout does not allow (see this file's docstring):\n" + "\n".join(found)


def test_labs_has_exactly_the_lessons_the_parts_and_the_entry_points():
    folders = {path.name for path in LABS_DIR.iterdir() if path.is_dir() and path.name != "__pycache__"}
    assert folders == set(PARTS), f"labs/ holds the lessons and {PARTS}; found folders {sorted(folders)}"


# ------------------------------------------------------------------ no import cycles

def module_name(path: Path) -> str:
    """``labs/core/sse.py`` -> ``labs.core.sse``; a package's ``__init__.py`` is the package."""
    relative = path.relative_to(REPO_ROOT).with_suffix("")
    return ".".join(relative.parts[:-1] if relative.name == "__init__" else relative.parts)


def import_graph(sources: dict[str, str]) -> dict[str, set[str]]:
    """Module -> the modules of ``sources`` (module -> its source) that it imports, at the top or in
    a function.  ``from labs.x import name`` is an import of ``labs.x.name`` if that is a module,
    else of ``labs.x``."""
    graph: dict[str, set[str]] = {}
    for module, source in sources.items():
        graph[module] = set()
        for _, name in imported_modules(ast.parse(source, filename=module), bases=False):
            while name and name not in sources:
                name = name.rpartition(".")[0]
            if name and name != module:
                graph[module].add(name)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One cycle of ``graph`` as ``[a, b, ..., a]``, or ``[]`` when it has none."""
    done: set[str] = set()
    path: list[str] = []

    def visit(node: str) -> list[str]:
        if node in path:
            return path[path.index(node):] + [node]
        if node in done:
            return []
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if cycle := visit(target):
                return cycle
        path.pop()
        done.add(node)
        return []

    for node in sorted(graph):
        if cycle := visit(node):
            return cycle
    return []


def test_the_cycle_check_finds_a_made_up_cycle():
    sources = {"labs.a": "from labs.b import f\n", "labs.b": "def g():\n    from labs import c\n",
               "labs.c": "import importlib\nimportlib.import_module('labs.a')\n", "labs.d": "from labs.a import x\n"}
    assert import_graph(sources) == {"labs.a": {"labs.b"}, "labs.b": {"labs.c"}, "labs.c": {"labs.a"},
                                     "labs.d": {"labs.a"}}
    assert find_cycle(import_graph(sources)) == ["labs.a", "labs.b", "labs.c", "labs.a"]
    # A package that imports its module, which imports a sibling module: no cycle ...
    package = {"labs.p": "from labs.p.one import f\n", "labs.p.one": "from labs.p import two\n", "labs.p.two": ""}
    assert import_graph(package) == {"labs.p": {"labs.p.one"}, "labs.p.one": {"labs.p.two"}, "labs.p.two": set()}
    assert find_cycle(import_graph(package)) == []
    # ... but one that takes a name from the package (not a module) goes back into it.
    package["labs.p.two"] = "import json\nfrom labs.p import helper\n"
    assert find_cycle(import_graph(package)) == ["labs.p", "labs.p.one", "labs.p.two", "labs.p"]


def test_no_import_cycle_in_labs_or_benchmarks():
    files = sorted(LABS_DIR.rglob("*.py")) + sorted((REPO_ROOT / "benchmarks").rglob("*.py"))
    graph = import_graph({module_name(path): path.read_text(encoding="utf-8") for path in files})
    assert "labs.exercises.check_process" in graph["labs.exercises.forkserver"], "the graph sees imports"
    cycle = find_cycle(graph)
    assert not cycle, ("an import cycle (put what both sides need in a module of its own that both import): "
                       + " -> ".join(cycle))
