"""The graders' command, read from the README: the one place it is written down.

The grading tests (tests/test_grading_all_*.py) run it, and tests/test_readme.py checks that
the graders' workflow (.github/workflows/grade.yml) runs the very same command, so the
README, the workflow and what the tests prove cannot drift apart.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PREFIX = ".venv/bin/python -m labs grade"


def readme_grading_command() -> list[str]:
    """The argv of the README's one shell line ``.venv/bin/python -m labs grade ...``."""
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(), re.S)
    lines = [line.split("#", 1)[0].strip() for block in blocks for line in block.splitlines()]
    commands = [line for line in lines if line.startswith(PREFIX)]
    if len(commands) != 1:
        raise LookupError(f"expected one grading command in the README's shell blocks, found {len(commands)}")
    return shlex.split(commands[0])
