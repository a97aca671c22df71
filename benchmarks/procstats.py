"""CPU seconds and peak memory of a server's whole process tree, sampled with psutil.

A lab served with ``--workers`` is a tree: the ``python -m labs run`` process, the
gunicorn master, its worker(s) and, for labs that need it, a private Redis.  All of it is
the cost of serving the transport, so all of it is summed.  Sampling runs in a thread
(psutil calls block) every ``interval`` seconds; a process that appears later (a worker
restarted) is counted from zero.
"""

from __future__ import annotations

import threading

import psutil


class TreeSampler:
    def __init__(self, pid: int, interval: float = 0.2) -> None:
        self.root = psutil.Process(pid)
        self.interval = interval
        self._cpu: dict[int, float] = {}  # pid -> user+system seconds, last seen
        self._base: dict[int, float] = {}
        self.peak_rss = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="tree-sampler")

    def _processes(self) -> list[psutil.Process]:
        try:
            return [self.root, *self.root.children(recursive=True)]
        except psutil.Error:
            return []

    def sample(self) -> None:
        rss = 0
        for proc in self._processes():
            try:
                with proc.oneshot():
                    times = proc.cpu_times()
                    rss += proc.memory_info().rss
            except psutil.Error:
                continue  # it exited between listing and reading
            with self._lock:
                self._cpu[proc.pid] = times.user + times.system
        self.peak_rss = max(self.peak_rss, rss)

    def cpu_seconds(self) -> float:
        """CPU used by the tree since :meth:`start`."""
        with self._lock:
            return sum(used - self._base.get(pid, 0.0) for pid, used in self._cpu.items())

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def start(self) -> TreeSampler:
        self.sample()
        with self._lock:
            self._base = dict(self._cpu)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sample()
