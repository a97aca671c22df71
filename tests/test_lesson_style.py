"""Every lesson has one shape, the one ``labs/manual_sse.py`` shows (CONTRIBUTING.md, "one lesson style").

A student who has read one lesson knows where to look in the next:

- a module-level ``bp = Blueprint(...)``, and the lesson's routes as small top-level view
  functions decorated on it (none defined inside ``create_app``, where a reader cannot
  find, import or test them);
- the state kept between requests in one object in ``app.extensions["<lab name>"]``, reached
  through one accessor named ``lab()`` (never ``get_state``, ``polling_lab`` or ``state``);
- ``create_app(config)`` last: it builds the state, registers the blueprint and returns the app.

The checks read each lesson's source with :mod:`ast`; each rule is shown failing on a small
bad source too, so that a passing lesson means something.
"""

from __future__ import annotations

import ast
import textwrap

import pytest

from labs.core.webapp import REPO_ROOT
from labs.harness.registry import LABS

# Decorators that make a function a route (Flask, Quart and Blueprint spellings).
ROUTE_DECORATORS = {"route", "get", "post", "put", "patch", "delete", "websocket"}
OLD_ACCESSOR_NAMES = {"get_state", "polling_lab", "state"}
FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)


def _called_name(node: ast.AST) -> str | None:
    """``Blueprint`` for ``Blueprint(...)`` and ``flask.Blueprint(...)``; else None."""
    if not isinstance(node, ast.Call):
        return None
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)


def _module_blueprint(tree: ast.Module) -> list[str]:
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else \
            [node.target] if isinstance(node, ast.AnnAssign) else []
        if _called_name(getattr(node, "value", None)) == "Blueprint" \
                and any(isinstance(target, ast.Name) for target in targets):
            return []
    return ["no module-level Blueprint assigned to a name (bp = Blueprint(...))"]


def _create_app_last(tree: ast.Module) -> list[str]:
    functions = [node.name for node in tree.body if isinstance(node, FUNCTIONS)]
    if "create_app" not in functions:
        return ["no top-level create_app"]
    if functions[-1] != "create_app":
        return [f"create_app is not the last top-level function: {functions[-1]} comes after it"]
    return []


def _is_route_decorator(decorator: ast.AST) -> bool:
    func = decorator.func if isinstance(decorator, ast.Call) else decorator
    return isinstance(func, ast.Attribute) and func.attr in ROUTE_DECORATORS


def _no_routes_in_create_app(tree: ast.Module) -> list[str]:
    problems = []
    for top in tree.body:
        if not (isinstance(top, FUNCTIONS) and top.name == "create_app"):
            continue
        nested = {node.name: node for node in ast.walk(top) if isinstance(node, FUNCTIONS) and node is not top}
        for node in nested.values():
            if any(_is_route_decorator(d) for d in node.decorator_list):
                problems.append(f"route {node.name} is defined inside create_app (line {node.lineno})")
        for node in ast.walk(top):
            if _called_name(node) == "add_url_rule":
                views = [arg for arg in [*node.args, *(k.value for k in node.keywords)]
                         if isinstance(arg, ast.Lambda) or (isinstance(arg, ast.Name) and arg.id in nested)]
                if views:
                    problems.append(f"add_url_rule with a view defined inside create_app (line {node.lineno})")
    return problems


def _keeps_state_in_extensions(tree: ast.Module) -> bool:
    for node in ast.walk(tree):
        targets = node.targets if isinstance(node, ast.Assign) else []
        for target in targets:
            if isinstance(target, ast.Subscript) and isinstance(target.value, ast.Attribute) \
                    and target.value.attr == "extensions":
                return True
    return False


def _accessor_named_lab(tree: ast.Module) -> list[str]:
    defined = {node.name for node in tree.body if isinstance(node, FUNCTIONS)}
    imported = {alias.asname or alias.name for node in tree.body if isinstance(node, ast.ImportFrom)
                for alias in node.names}
    problems = [f"accessor named {name}: call it lab()" for name in sorted(OLD_ACCESSOR_NAMES & (defined | imported))]
    if _keeps_state_in_extensions(tree) and "lab" not in defined | imported:
        problems.append("keeps state in app.extensions but has no accessor lab()")
    return problems


RULES = {
    "blueprint": _module_blueprint,
    "create_app last": _create_app_last,
    "no nested routes": _no_routes_in_create_app,
    "accessor lab()": _accessor_named_lab,
}


def style_problems(source: str, filename: str = "<lesson>") -> dict[str, list[str]]:
    """Each rule's complaints about ``source`` (rules with none are left out)."""
    tree = ast.parse(source, filename=filename)
    found = {rule: check(tree) for rule, check in RULES.items()}
    return {rule: problems for rule, problems in found.items() if problems}


@pytest.mark.parametrize("name", sorted(LABS))
def test_the_lesson_has_the_house_style(name):
    path = REPO_ROOT / "labs" / f"{name}.py"
    assert style_problems(path.read_text(encoding="utf-8"), str(path)) == {}


GOOD = """
    from dataclasses import dataclass
    from flask import Blueprint, current_app, jsonify
    from labs.core.webapp import create_lab_app

    @dataclass
    class Demo:
        count: int = 0

    def lab() -> Demo:
        return current_app.extensions["demo"]

    bp = Blueprint("demo", __name__)

    @bp.get("/stats")
    def stats():
        return jsonify(count=lab().count)

    def create_app(config=None):
        app = create_lab_app("demo", config)
        app.extensions["demo"] = Demo()

        @app.before_request
        def not_a_route():  # a hook, not a view: allowed
            pass

        app.register_blueprint(bp)
        return app
"""


def test_the_model_source_passes():
    assert style_problems(textwrap.dedent(GOOD)) == {}


BAD = {
    "blueprint": [
        ('bp = Blueprint("demo", __name__)', "from flask import Flask"),
        ('bp = Blueprint("demo", __name__)', "def make():\n    bp = Blueprint('demo', __name__)\n    return bp"),
    ],
    "create_app last": [
        ("    return app\n", "    return app\n\ndef helper():\n    pass\n"),
        ("def create_app(config=None):", "def make_app(config=None):"),
    ],
    "no nested routes": [
        ("    @app.before_request", "    @app.get('/extra')"),
        ("    @app.before_request", "    @bp.route('/extra', methods=['POST'])"),
        ("    app.register_blueprint(bp)", "    app.add_url_rule('/extra', view_func=not_a_route)\n"
                                              "    app.register_blueprint(bp)"),
        ("    app.register_blueprint(bp)", "    app.add_url_rule('/x', 'x', lambda: 'x')\n"
                                              "    app.register_blueprint(bp)"),
    ],
    "accessor lab()": [
        ("def lab() -> Demo:", "def get_state() -> Demo:"),
        ("def lab() -> Demo:", "def state() -> Demo:"),
        ("def lab() -> Demo:", "def demo() -> Demo:"),
        ("from flask import Blueprint, current_app, jsonify",
         "from flask import Blueprint, current_app, jsonify\nfrom labs.core.polling_routes import polling_lab"),
    ],
}


@pytest.mark.parametrize(("rule", "old", "new"),
                         [(rule, old, new) for rule, cases in BAD.items() for old, new in cases])
def test_each_rule_reports_a_bad_lesson(rule, old, new):
    source = textwrap.dedent(GOOD)
    assert old in source
    problems = style_problems(source.replace(old, new, 1))
    assert list(problems) == [rule], problems
