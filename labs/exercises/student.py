"""The notebook side of exercises: ``check("N.M")``, ``hint("N.M")`` and ``progress()``.

``check`` finds the exercise cell as it was last run (IPython keeps every cell's source),
has the judge run it beside the check, and prints one line. Hints step up: none before a
try, the first after a wrong attempt, the next on ``hint("N.M")``; the last one points to
``solutions/``, where the reference answer is.
"""

from __future__ import annotations

import re

from labs.exercises import sandbox
from labs.exercises.judge import NOT_STARTED, SOLVED, Verdict, judge
from labs.exercises.registry import get_exercise

_verdicts: dict[str, Verdict] = {}
_hints_shown: dict[str, int] = {}


# Exercise id -> its cell's source as last run, seen by the pre_run_cell hook (watch_cells).
# ``In`` stays empty when cells run without history, as nbval runs them.
_ran: dict[str, str] = {}
_OPENING = re.compile(r"^\s*# Exercise (\d+\.\d+)\b")


def _remember(info) -> None:
    source = getattr(info, "raw_cell", None) or ""
    match = _OPENING.match(source)
    if match:
        _ran[match.group(1)] = source


def watch_cells() -> None:
    """In IPython, remember each exercise cell as it runs (called when this module is imported)."""
    import sys

    if "IPython" not in sys.modules:
        return
    from IPython import get_ipython

    shell = get_ipython()
    if shell is not None and _remember not in shell.events.callbacks["pre_run_cell"]:
        shell.events.register("pre_run_cell", _remember)


def last_run_source(ident: str) -> str | None:
    """The source of the newest cell run in this kernel that starts ``# Exercise ident``."""
    if ident in _ran:
        return _ran[ident]
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    if shell is None:
        return None
    opening = re.compile(rf"^\s*# Exercise {re.escape(ident)}\b")
    for source in reversed(shell.user_ns.get("In", [])):
        if opening.match(source or ""):
            return source
    return None


def check(ident: str, source: str | None = None) -> None:
    exercise = get_exercise(ident)
    source = source if source is not None else last_run_source(ident)
    if source is None:
        print(f"❓ Exercise {ident}: run your exercise cell (the one starting '# Exercise {ident}') "
              "first, then this check.")
        return
    _sandbox_notice()
    verdict = judge(ident, source)
    _verdicts[ident] = verdict
    if verdict.status == SOLVED:
        print(f"✅ Exercise {ident} solved.")
        return
    if verdict.status == NOT_STARTED:
        print(f"⬜ Exercise {ident}: not started.")
        return
    print(f"❌ Exercise {ident} not solved yet: {verdict.reason}")
    level = _hints_shown[ident] = max(_hints_shown.get(ident, 0), 1)
    _print_hint(exercise.hints, level, ident)


_noticed: list[bool] = []


def _sandbox_notice() -> None:
    """Once per kernel, where answers cannot run in a sandbox: say so in one line."""
    status = sandbox.status()
    if not status.available and not _noticed:
        _noticed.append(True)
        print(f"ℹ️ No sandbox here, so your answer runs as a plain process: {status.description}.")


def hint(ident: str) -> None:
    exercise = get_exercise(ident)
    if ident not in _hints_shown:
        print(f"Have a go at exercise {ident} first, then run its check: hints come after a try.")
        return
    level = _hints_shown[ident] = min(_hints_shown[ident] + 1, len(exercise.hints) + 1)
    _print_hint(exercise.hints, level, ident)


def _print_hint(hints: tuple[str, ...], level: int, ident: str) -> None:
    if level > len(hints):
        number = int(ident.split(".")[0])
        print(f"   That was the last hint. The reference answer is in solutions/{number:02d}_*.py "
              f"(section 'Exercise {ident}'): compare it with yours once you have tried.")
        return
    more = f' More help: hint("{ident}").' if level < len(hints) else ""
    print(f"   Hint {level} of {len(hints)}: {hints[level - 1]}{more}")


def progress() -> dict[str, bool]:
    for ident, verdict in sorted(_verdicts.items()):
        print(f"{'✅' if verdict.solved else '❌'} Exercise {ident}: {verdict.status}")
    return {ident: verdict.solved for ident, verdict in _verdicts.items()}


# Under IPython, start remembering exercise cells as they run: a notebook imports ``check``
# (``from labs import check``, this module) before its exercise cells, and nbval runs cells
# without filling ``In``.
watch_cells()
