"""Set up the environment for the workbook (run by ``make venv`` and by Binder's postBuild).

1. Make the repository importable from anywhere in the environment (notebooks run in
   notebooks/): a one-line ``.pth`` file in site-packages naming the repository root does
   it without building a package, so editing ``labs/`` takes effect at once.
2. JupyterLab's settings for the workbook: no "get notified about official Jupyter news?"
   pop-up greeting a new student, and no requests to jupyter.org for news or updates.
   They go where JupyterLab reads defaults for this environment
   (``<app dir>/settings/overrides.d/``); a student's own choice in the Settings Editor
   still wins.
"""

from __future__ import annotations

import json
import pathlib
import sysconfig

ROOT = pathlib.Path(__file__).resolve().parent.parent

# JupyterLab 4's notification plugin: fetchNews is "true" (always), "false" (never) or
# "none" (ask: the pop-up); checking for updates needs news fetching on.
JUPYTERLAB_OVERRIDES = {
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False},
}
OVERRIDES_FILE = "sse-kit.json"


def link_repository() -> pathlib.Path:
    site_packages = pathlib.Path(sysconfig.get_paths()["purelib"])
    (site_packages / "sse_kit.pth").write_text(str(ROOT) + "\n")
    return site_packages


def jupyterlab_overrides_path() -> pathlib.Path:
    """Where JupyterLab (of this environment, or JUPYTERLAB_DIR) reads settings overrides."""
    from jupyterlab.commands import get_app_dir

    return pathlib.Path(get_app_dir()) / "settings" / "overrides.d" / OVERRIDES_FILE


def write_jupyterlab_settings() -> pathlib.Path:
    path = jupyterlab_overrides_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(JUPYTERLAB_OVERRIDES, indent=2) + "\n")
    return path


def main() -> None:
    print(f"linked {ROOT} into {link_repository()}")
    print(f"wrote JupyterLab's settings for the workbook to {write_jupyterlab_settings()}")


if __name__ == "__main__":
    main()
