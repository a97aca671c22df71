"""sse-kit's lab servers and the runtime they share.

The pieces a notebook or test usually needs are importable from here::

    from labs import start_lab, EventStream, check
"""

from labs.client import EventStream, post_json
from labs.exercises import check, progress
from labs.launcher import LabServer, start_lab

__all__ = ["EventStream", "LabServer", "check", "post_json", "progress", "start_lab"]
