"""Peers of the kit's SSE labs for ``python -m benchmarks.asgi``: the same stream written with
FastAPI's own SSE, with sse-starlette, and the floor (raw asyncio).  Not lessons: each is one
screen, written the way its framework's documentation shows."""

from __future__ import annotations

from labs.harness.launcher import LabServer


class PeerServer(LabServer):
    """A peer started like a lab (``LAB READY``, ``/health``, dies with its parent)."""

    def __init__(self, name: str) -> None:
        super().__init__("manual_sse")  # a LabServer's fields; the name below is what runs
        self.name = name

    def argv(self) -> list[str]:
        return ["-m", "benchmarks.peers", self.name, "--host", self.host, "--port", "0", "--exit-with-parent"]
