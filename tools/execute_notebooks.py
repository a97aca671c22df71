"""Re-execute notebooks in place (``make notebooks``), so their stored outputs are true.

Strict nbval compares a fresh run against the stored outputs; run this after editing a
notebook, then read the diff.  The shipped notebooks show their exercises as not started.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient


def execute(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    started = time.monotonic()
    client = NotebookClient(notebook, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    nbformat.write(notebook, path)
    print(f"executed {path} in {time.monotonic() - started:.1f} s")


def main(paths: list[str]) -> int:
    for name in paths:
        execute(Path(name))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
