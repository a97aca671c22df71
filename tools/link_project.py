"""Make the repository importable from anywhere in the venv (notebooks run in notebooks/).

A one-line ``.pth`` file in site-packages naming the repository root does it without
building a package, so editing ``labs/`` takes effect at once.
"""

import pathlib
import sysconfig

root = pathlib.Path(__file__).resolve().parent.parent
site_packages = pathlib.Path(sysconfig.get_paths()["purelib"])
(site_packages / "sse_kit.pth").write_text(str(root) + "\n")
print(f"linked {root} into {site_packages}")
