"""The layout keeps the lessons apart: no lab imports another lab, no lab page loads another lab's files.

``labs/<name>.py`` is one lesson each; what two labs share lives in ``labs/runtime/``
(Python) or ``static/common/`` (pages).  A lab that imports another couples two lessons
(a student reading one must read both, and a change to one breaks the other), and so
does a page that loads a script from another lab's folder.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from labs.runtime.registry import LABS
from labs.runtime.webapp import REPO_ROOT, STATIC_DIR

LABS_DIR = REPO_ROOT / "labs"
NOT_LESSONS = {"__init__", "__main__"}


def lab_modules() -> list[Path]:
    return sorted(path for path in LABS_DIR.glob("*.py") if path.stem not in NOT_LESSONS)


def imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, dotted name) of everything ``tree`` imports, as absolute names under ``labs``."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            # A relative import inside labs/ (level 1) is an import from the labs package.
            base = ("labs" + ("." + node.module if node.module else "")) if node.level == 1 else (node.module or "")
            found.append((node.lineno, base))
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
    assert lab_imports(lab, "from labs.runtime.polling_routes import read_cursor\nimport labs.runtime.sse\n"
                            "from labs import long_polling\nfrom labs.runtime import broker\n") == []

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
        "labs/<name>.py is for lessons only (one per lab in labs/runtime/registry.py); shared code: labs/runtime/"


def test_no_lab_imports_another_lab():
    found = [offence for path in lab_modules() for offence in lab_imports(path)]
    assert not found, "move what two labs share into labs/runtime/:\n" + "\n".join(found)


def test_no_lab_page_loads_a_file_from_another_labs_folder():
    pages = sorted(path for name in LABS for path in (STATIC_DIR / name).rglob("*")
                   if path.suffix in (".html", ".js", ".css"))
    assert len(pages) >= len(LABS), "every lab has a page"
    found = [offence for path in pages for offence in foreign_loads(path)]
    assert not found, "move what two pages share into static/common/:\n" + "\n".join(found)
