"""Rules for the pages and the labs that a reader can check without running anything.

- Pages insert untrusted text with ``textContent``: no ``innerHTML``, ``outerHTML``,
  ``insertAdjacentHTML`` or ``document.write`` in our own JavaScript and HTML.
- No CDN: no URL in a page or script points off the machine (localhost is fine).
- Every vendored file in ``static/vendor`` has its LICENSE next to it.
- The labs use a real Redis: no lab module imports fakeredis.

Comments are not code: they may name a sink ("never innerHTML") or cite a URL.
A failure lists every offence as ``file:line: what``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from labs.core.webapp import REPO_ROOT, STATIC_DIR

VENDOR_DIR = STATIC_DIR / "vendor"
LABS_DIR = REPO_ROOT / "labs"


def own_files(*suffixes: str) -> list[Path]:
    """Our files under static/ (static/vendor is someone else's code)."""
    return sorted(path for path in STATIC_DIR.rglob("*")
                  if path.is_file() and path.suffix in suffixes and VENDOR_DIR not in path.parents)


def where(path: Path, line: int) -> str:
    return f"{path.relative_to(REPO_ROOT)}:{line}"


# ------------------------------------------------------------- comments out

def _blank(text: str) -> str:
    """The same length and line breaks, nothing else: line numbers stay right."""
    return re.sub(r"[^\n]", " ", text)


def strip_js_comments(code: str) -> str:
    """Blank out // and /* */ comments, leaving string and template literals alone."""
    out: list[str] = []
    i, n = 0, len(code)
    while i < n:
        char = code[i]
        if char in "'\"`":
            end = i + 1
            while end < n and code[end] != char:
                if code[end] == "\\":
                    end += 1
                elif code[end] == "\n" and char != "`":
                    break  # an unclosed quote (a regex literal, say): stop at the line's end
                end += 1
            out.append(code[i:end + 1])
            i = end + 1
        elif code.startswith("//", i):
            end = code.find("\n", i)
            end = n if end == -1 else end
            out.append(_blank(code[i:end]))
            i = end
        elif code.startswith("/*", i):
            end = code.find("*/", i + 2)
            end = n if end == -1 else end + 2
            out.append(_blank(code[i:end]))
            i = end
        else:
            out.append(char)
            i += 1
    return "".join(out)


SCRIPT = re.compile(r"(<script\b[^>]*>)(.*?)(</script\s*>)", re.IGNORECASE | re.DOTALL)


def strip_html_comments(html: str) -> str:
    """Blank out <!-- --> comments, and JavaScript comments inside <script> elements."""
    html = re.sub(r"<!--.*?-->", lambda m: _blank(m.group(0)), html, flags=re.DOTALL)
    return SCRIPT.sub(lambda m: m.group(1) + strip_js_comments(m.group(2)) + m.group(3), html)


def code_of(path: Path, text: str | None = None) -> str:
    text = path.read_text(encoding="utf-8") if text is None else text
    if path.suffix == ".js":
        return strip_js_comments(text)
    if path.suffix == ".html":
        return strip_html_comments(text)
    if path.suffix == ".css":
        return re.sub(r"/\*.*?\*/", lambda m: _blank(m.group(0)), text, flags=re.DOTALL)
    return text


def offences(path: Path, pattern: re.Pattern, text: str | None = None, allowed=lambda match: False) -> list[str]:
    code = code_of(path, text)
    found = []
    for match in pattern.finditer(code):
        if not allowed(match):
            line = code.count("\n", 0, match.start()) + 1
            found.append(f"{where(path, line)}: {match.group(0).strip()}")
    return found


# ------------------------------------------------------------- the rules

HTML_SINKS = re.compile(r"\b(?:innerHTML|outerHTML|insertAdjacentHTML|document\s*\.\s*write(?:ln)?)\b")

# An absolute URL (http, https, ws, wss) or a protocol-relative one in src=, href=, url(),
# import or fetch; the host is captured to allow this machine only.
URL = re.compile(
    r"""(?:\b(?:https?|wss?)://|(?:\b(?:src|href)\s*=\s*["']?|\burl\(\s*["']?|\bimport\s*\(?\s*["']|\bfrom\s*["']|\bfetch\(\s*["'`])//)"""
    r"""(?P<host>\[[0-9a-fA-F:]+\]|[^/\s"'`:)>]*)""",
    re.IGNORECASE,
)
LOCAL_HOSTS = {"localhost", "127.0.0.1", "[::1]", "0.0.0.0"}


def is_local(match: re.Match) -> bool:
    return match.group("host").lower() in LOCAL_HOSTS


def sink_offences(path: Path, text: str | None = None) -> list[str]:
    return offences(path, HTML_SINKS, text)


def url_offences(path: Path, text: str | None = None) -> list[str]:
    return offences(path, URL, text, allowed=is_local)


def fakeredis_imports(path: Path, source: str | None = None) -> list[str]:
    source = path.read_text(encoding="utf-8") if source is None else source
    found = []
    for node in ast.walk(ast.parse(source, filename=str(path))):
        modules: list[str] = []
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            modules = [node.module or ""]
        elif isinstance(node, ast.Call):
            name = getattr(node.func, "attr", None) or getattr(node.func, "id", None)
            if name in ("import_module", "__import__") and node.args \
                    and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                modules = [node.args[0].value]
        if any(module.split(".")[0] == "fakeredis" for module in modules):
            found.append(f"{where(path, node.lineno)}: imports {', '.join(modules)}")
    return found


# ------------------------------------------------------------- the tests

def test_the_checks_see_what_they_look_for():
    page_js = STATIC_DIR / "example" / "page.js"
    page_html = STATIC_DIR / "example" / "index.html"
    assert sink_offences(page_js, "// never innerHTML\nlet a = 1; /* outerHTML */\nel.innerHTML = text;\n") \
        == ["static/example/page.js:3: innerHTML"]
    assert sink_offences(page_js, 'const url = "http://x/"; document.write(url);') \
        == ["static/example/page.js:1: document.write"]
    assert sink_offences(page_js, "el.textContent = '// not a comment'; el.insertAdjacentHTML('beforeend', s);") \
        == ["static/example/page.js:1: insertAdjacentHTML"]
    assert sink_offences(page_html, "<!-- innerHTML -->\n<script>\n// outerHTML\nx.outerHTML = y;\n</script>") \
        == ["static/example/index.html:4: outerHTML"]

    assert url_offences(page_html, '<script src="https://cdn.example.com/lib.js"></script>') \
        == ["static/example/index.html:1: https://cdn.example.com"]
    assert url_offences(page_html, '<link href="//fonts.example.net/a.css">') \
        == ["static/example/index.html:1: href=\"//fonts.example.net"]
    assert url_offences(page_js, 'import x from "https://esm.example.org/x.js";\nfetch("http://api.example.com/");') \
        == ["static/example/page.js:1: https://esm.example.org", "static/example/page.js:2: http://api.example.com"]
    assert url_offences(page_js, 'new WebSocket("wss://example.com/ws")') == ["static/example/page.js:1: wss://example.com"]
    assert url_offences(page_js, 'fetch("http://localhost:5000/x"); fetch("http://127.0.0.1/"); fetch("/stream");'
                                 '\n// see https://html.spec.whatwg.org/\n') == []

    lab = LABS_DIR / "example.py"
    fake = "fake" + "redis"  # spelled apart so that a plain grep of the repo finds no import of it
    assert fakeredis_imports(lab, f"import os\nimport {fake}\nfrom {fake} import FakeRedis\n"
                                  f"importlib.import_module('{fake}.aioredis')\n") == [
        "labs/example.py:2: imports fakeredis", "labs/example.py:3: imports fakeredis",
        "labs/example.py:4: imports fakeredis.aioredis"]
    assert fakeredis_imports(lab, "import redis\n# fakeredis is not for labs\n") == []


def test_pages_never_insert_markup():
    files = own_files(".js", ".html")
    assert files, "no pages found under static/"
    found = [offence for path in files for offence in sink_offences(path)]
    assert not found, "use textContent, never these:\n" + "\n".join(found)


def test_pages_load_nothing_from_off_the_machine():
    files = own_files(".js", ".html", ".css")
    found = [offence for path in files for offence in url_offences(path)]
    assert not found, "no CDN, no remote URL (vendor it under static/vendor, use relative URLs):\n" + "\n".join(found)


def test_every_vendored_file_has_a_license_next_to_it():
    if not VENDOR_DIR.is_dir():
        pytest.skip("nothing vendored")
    files = sorted(path for path in VENDOR_DIR.rglob("*") if path.is_file())
    missing = [str(path.relative_to(REPO_ROOT)) for path in files
               if not any(sibling.is_file() and sibling.name.upper().startswith(("LICENSE", "LICENCE", "COPYING"))
                          for sibling in path.parent.iterdir())]
    assert not missing, "vendored without a LICENSE beside it:\n" + "\n".join(missing)


def test_labs_never_import_fakeredis():
    files = sorted(LABS_DIR.rglob("*.py"))
    assert files
    found = [offence for path in files for offence in fakeredis_imports(path)]
    assert not found, "the labs use a real Redis (labs.harness.redis_server):\n" + "\n".join(found)
