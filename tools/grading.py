"""The graders' commands, read from the README: the one place they are written down.

The grading tests (tests/test_grading_all_*.py) run ``labs grade`` as written, and
tests/test_readme.py checks that the graders' workflows run the very same commands
(.github/workflows/grade.yml: ``labs grade`` on a student's notebooks; grade-class.yml:
``labs grade-class``), so the README, the workflows and what the tests prove cannot drift apart.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PREFIX = ".venv/bin/python -m labs grade"
CLASS_PREFIX = ".venv/bin/python -m labs grade-class"


def readme_command(prefix: str) -> list[str]:
    """The argv of the README's one shell line ``PREFIX ...`` (``PREFIX`` then a space)."""
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(), re.S)
    lines = [line.split("#", 1)[0].strip() for block in blocks for line in block.splitlines()]
    commands = [line for line in lines if line.startswith(prefix + " ")]
    if len(commands) != 1:
        raise LookupError(f"expected one `{prefix}` command in the README's shell blocks, found {len(commands)}")
    return shlex.split(commands[0])


def readme_grading_command() -> list[str]:
    """The argv of the README's ``.venv/bin/python -m labs grade ...`` line."""
    return readme_command(PREFIX)


def readme_class_grading_command() -> list[str]:
    """The argv of the README's ``.venv/bin/python -m labs grade-class ...`` line."""
    return readme_command(CLASS_PREFIX)
