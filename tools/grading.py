"""The graders' command, read from the README: the one place it is written down.

The grading test (tests/test_exercises.py) runs it, and tests/test_readme.py checks that
the graders' workflow (.github/workflows/grade.yml) runs the very same command, so the
README, the workflow and what the tests prove cannot drift apart.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


def readme_grading_command() -> tuple[dict[str, str], list[str]]:
    """``(environment, argv)`` of the README's ``SSE_KIT_GRADING=1 ...`` command."""
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(), re.S)
    lines = [line.strip() for block in blocks for line in block.splitlines()
             if line.strip().startswith("SSE_KIT_GRADING=")]
    if len(lines) != 1:
        raise LookupError(f"expected one grading command in the README's shell blocks, found {len(lines)}")
    words = shlex.split(lines[0])
    env = {}
    while words and re.fullmatch(r"[A-Z_]+=.*", words[0]):
        key, _, value = words.pop(0).partition("=")
        env[key] = value
    return env, words
