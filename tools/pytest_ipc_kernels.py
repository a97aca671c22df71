"""A pytest plugin (``-p tools.pytest_ipc_kernels`` in pyproject.toml's ``addopts``): the
kernels nbval starts for the notebooks talk over Unix sockets, not TCP.

For TCP, jupyter_client picks five free ports by binding and releasing them, and the kernel
binds them a moment later. Under ``make test`` thousands of outgoing connections take local
ports from the same range, and once one took such a port in between: "Address already in
use", and the kernel died before it answered. A socket file in a folder of the kernel's own
cannot be taken. The tests' own kernels (``tests/test_launcher.py:start_kernel``) use
:class:`IpcKernelManager` too. Students' kernels (JupyterLab's) are left as they are.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

from jupyter_client.manager import KernelManager

_folders: list[str] = []


class IpcKernelManager(KernelManager):
    """jupyter_client's KernelManager, on Unix sockets in a temporary folder of its own
    (removed by :meth:`remove_folder`, or when this process exits)."""

    def __init__(self, **kwargs):
        self.folder = tempfile.mkdtemp(prefix="sse-kit-kernel-")
        _folders.append(self.folder)
        kwargs.setdefault("transport", "ipc")
        kwargs.setdefault("ip", os.path.join(self.folder, "kernel"))
        super().__init__(**kwargs)

    def remove_folder(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


@atexit.register
def _remove_folders() -> None:
    for folder in _folders:
        shutil.rmtree(folder, ignore_errors=True)


def pytest_configure(config) -> None:
    try:
        import nbval.kernel
    except ImportError:  # nbval not installed: nothing to change
        return
    nbval.kernel.KernelManager = IpcKernelManager
