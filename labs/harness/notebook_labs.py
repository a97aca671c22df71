"""Which notebooks start which lab, read from the notebooks themselves (``python -m labs list``).

A notebook starts lab ``NAME`` when one of its code cells calls ``start_lab("NAME")``,
``start_cluster("NAME")`` or ``LabServer("NAME")``, or one of its cells (code or text) gives
the command ``labs run NAME`` / ``labs cluster NAME``; a notebook that runs the transport
showdown (``showdown(``) starts the lab of every transport in :data:`benchmarks.TRANSPORTS` (the
CLI passes their names in: the harness does not import the benchmarks, which stand on it).
The registry's own notebook for each lab counts too.  Nothing here is written by hand, so a
new notebook shows up in the list the moment it starts a lab.

Parts: notebooks 00-09 are Part I (the transports on localhost), 10-13 Part II (proxies,
HTTP/2, auth, clusters), 14 on Part III.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"

_CALLS = re.compile(r"""\b(?:start_lab|start_cluster|LabServer)\(\s*["']([a-z_]+)["']""")
_COMMANDS = re.compile(r"\blabs (?:run|cluster) ([a-z_]+)")


# Notebook 10's fault that shows a lab best (default: gzip, the stream held).  flask-sse sends no
# headers before its first event: a short read timeout is a 504, which EventSource never retries.
FAULT_DEMOS = {"sse_blueprint": ("read-timeout=1", "a 504 that EventSource never retries")}


def part(notebook: str) -> str:
    number = int(notebook[:2]) if notebook[:2].isdigit() else 0
    return "Part I" if number < 10 else "Part II" if number < 14 else "Part III"


def labs_started_by(path: Path, showdown_labs: frozenset[str] = frozenset()) -> set[str]:
    """The lab names one notebook starts (see the module's doc); ``showdown_labs``, the labs of the
    showdown's transports, are what a ``showdown(`` call starts (the CLI, above the benchmarks, knows them)."""
    cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
    found: set[str] = set()
    for cell in cells:
        source = "".join(cell.get("source", []))
        found.update(_COMMANDS.findall(source))
        if cell.get("cell_type") == "code":
            found.update(_CALLS.findall(source))
            if re.search(r"\bshowdown\(", source):
                found |= showdown_labs
    return found


@lru_cache(maxsize=1)
def _index(folder: str, showdown_labs: frozenset[str]) -> dict[str, tuple[str, ...]]:
    starts: dict[str, set[str]] = {}
    for path in sorted(Path(folder).glob("[0-9][0-9]_*.ipynb")):
        for name in labs_started_by(path, showdown_labs):
            starts.setdefault(name, set()).add(path.stem)
    return {name: tuple(sorted(notebooks)) for name, notebooks in starts.items()}


def notebooks_for(lab, folder: Path = NOTEBOOKS, showdown_labs: frozenset[str] = frozenset()) -> list[str]:
    """Every notebook that starts ``lab`` (a registry ``Lab``), its own first in number order."""
    found = set(_index(str(folder), showdown_labs).get(lab.name, ()))
    found.add(lab.notebook)
    return sorted(found)


def demo_commands(lab, notebooks: list[str]) -> list[str]:
    """The command(s) an instructor types to show ``lab``, one per Part II setting it is used in."""
    commands = [f"python -m labs run {lab.name}"]
    numbers = {notebook[:2] for notebook in notebooks}
    if "10" in numbers:
        fault, what = FAULT_DEMOS.get(lab.name, ("gzip", "the held stream"))
        commands.append(f"python -m labs run {lab.name} --behind-proxy --fault {fault}   (notebook 10: {what}; "
                        "the faults: gzip, read-timeout=S, ignore-accel-buffering, http1.0, two-proxies)")
    if "11" in numbers:
        commands.append(f"python -m labs run {lab.name} --behind-proxy --http2 --port 8443   (HTTP/2, notebook 11)")
    if "12" in numbers:
        commands.append(f"python -m labs run {lab.name} --config 'ALLOWED_ORIGINS=[\"http://127.0.0.1:8001\"]'"
                        " --port 5000, then: python -m labs second-origin --api http://127.0.0.1:5000 --port 8001"
                        "   (CORS from another origin, notebook 12)")
    if "13" in numbers and not lab.single_process:
        commands.append(f"python -m labs cluster {lab.name} --nodes 3   (then type help: stop/start/rolling, "
                        "notebook 13)")
    return commands
