"""The transport showdown: every notification lab measured on the same work.

``python -m benchmarks`` (see ``__main__``) or, from a notebook::

    from benchmarks import showdown
    results = showdown(clients=[5], messages=5, transports="manual_sse,polling_2s")

Each transport gets a lab server of its own (gunicorn, one gevent worker); all start
together, then are measured one at a time, N ascending, so no two workloads share the CPU.
:mod:`benchmarks.runner` says what is measured and how.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

from benchmarks.runner import Result, run_transport, start_lab, stop_fast
from benchmarks.transports import TRANSPORTS, Transport, select

__all__ = ["Result", "TRANSPORTS", "Transport", "run_transport", "select", "showdown"]


def _raise_file_limit() -> None:
    # 1,000 clients are 1,000 sockets here and 1,000 in the server (which inherits this).
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else 65536, hard))


def showdown(*, transports: str | Iterable[Transport] | None = None, clients: Iterable[int] = (1, 10, 100, 1000),
             messages: int = 50, rate: float = 10.0, budget_s: float | None = None,
             log: Callable[[str], None] | None = print) -> list[Result]:
    """Run every transport at every client count; a run that fails is a row saying why.

    ``budget_s``: runs that would start after this many seconds are skipped (and say so),
    so a slow or busy machine still ends in bounded time.
    """
    _raise_file_limit()
    chosen = select(transports) if transports is None or isinstance(transports, str) else list(transports)
    deadline = None if budget_s is None else time.monotonic() + budget_s

    def report(result: Result) -> None:
        if log is not None:
            log(f"{result.transport:<14} N={result.clients:<5} delivered {result.delivered}/{result.expected} "
                f"p99 {result.p99_ms:.1f} ms  {result.note}".rstrip())

    # Start every lab at once (a start is mostly waiting for imports), then measure one
    # transport at a time, so no two workloads ever share the CPU; idle labs cost nothing.
    with ThreadPoolExecutor(max_workers=len(chosen) or 1) as pool:
        starting = [pool.submit(start_lab, transport) for transport in chosen]
    results: list[Result] = []
    try:
        for transport, future in zip(chosen, starting, strict=True):
            error = future.exception()
            if error is not None:
                failed = []
                for n in clients:
                    row = Result(transport.name, transport.label, min(n, transport.max_clients), n, messages, rate)
                    row.note = f"failed: {type(error).__name__}: {str(error).splitlines()[0]}"[:160]
                    failed.append(row)
                results += failed
                continue
            results += run_transport(transport, list(clients), messages, rate, lab=future.result(),
                                     deadline=deadline, log=report)
    finally:
        for future in starting:  # labs not reached (an interrupt) are stopped too
            if future.exception() is None:
                stop_fast(future.result())
    return results
