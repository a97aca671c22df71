"""Notebook 10's proxy faults by name, for ``python -m labs run NAME --behind-proxy --fault F``.

Each fault is one of notebook 10's cases exactly: the same :class:`~labs.harness.nginx.ProxySettings`
the notebook passes to ``start_proxy``, so what a browser shows in one command is what the
notebook measured.  ``--fault`` may be given more than once; the settings add up.

============================ ====== ==========================================================
fault                        nb 10  nginx (the proxy the browser reaches, unless said)
============================ ====== ==========================================================
``gzip``                     §3     ``gzip on`` for ``text/event-stream``, buffering on, the lab's
                                    ``X-Accel-Buffering: no`` ignored: **held**, the page's
                                    ``EventSource`` never opens (not even the headers arrive)
``read-timeout=S``           §4     ``proxy_read_timeout S`` (default 2), shorter than the lab's
                                    keep-alive: an idle stream is cut every S s; ``EventSource``
                                    reconnects with ``Last-Event-ID`` and misses nothing
``ignore-accel-buffering``   §2     the lab's header ignored, buffering on, no gzip: **live**
                                    (buffering alone does not hold small events)
``http1.0``                  §6     ``proxy_http_version 1.0`` to the lab: live, one upstream
                                    connection per request
``two-proxies``              §5     a second nginx (defaults) between this one and the lab; this
                                    one has gzip on and honours the header, which the inner one
                                    consumed: **held**
============================ ====== ==========================================================
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DEFAULT_READ_TIMEOUT = 2.0


@dataclass(frozen=True)
class Fault:
    name: str
    section: str  # where notebook 10 shows it
    outer: dict[str, Any]  # ProxySettings of the nginx the browser reaches
    inner: dict[str, Any] | None = None  # ProxySettings of a second nginx next to the lab, if any
    expect: str = ""


@dataclass
class FaultPlan:
    """The faults asked for, added up: settings for the outer nginx and, maybe, an inner one."""

    faults: list[Fault] = field(default_factory=list)
    outer: dict[str, Any] = field(default_factory=dict)
    inner: dict[str, Any] | None = None

    @property
    def proxies(self) -> int:
        return 1 if self.inner is None else 2


def _fixed(name: str, section: str, outer: dict, expect: str, inner: dict | None = None):
    def make(argument: str | None) -> Fault:
        if argument is not None:
            raise ValueError(f"--fault {name} takes no value (got {name}={argument})")
        return Fault(name, section, outer, inner, expect)
    return make


def _read_timeout(argument: str | None) -> Fault:
    try:
        seconds = DEFAULT_READ_TIMEOUT if argument is None else float(argument)
    except ValueError:
        raise ValueError(f"--fault read-timeout=S takes seconds, got {argument!r}") from None
    if not 0 < seconds <= 3600:
        raise ValueError(f"--fault read-timeout=S takes seconds in (0, 3600], got {argument!r}")
    return Fault("read-timeout", "section 4", {"read_timeout": seconds},
                 expect=f"after {seconds:g} s without a byte from the lab nginx cuts the stream ('upstream timed "
                        "out'); EventSource reconnects after retry: with Last-Event-ID and misses nothing. "
                        "The fix: a keep-alive shorter than the timeout (--config KEEPALIVE_SECONDS=...)")


FAULTS = {
    "gzip": _fixed("gzip", "section 3", {"gzip": True, "honour_accel_buffering": False},
                   "held: nothing reaches the browser, not even the response headers; the page's EventSource "
                   "never opens. Any fix of section 3 delivers live: run again without --fault"),
    "read-timeout": _read_timeout,
    "ignore-accel-buffering": _fixed(
        "ignore-accel-buffering", "section 2", {"honour_accel_buffering": False},
        "live: with buffering on and the lab's header ignored, nginx still passes each small event on at once"),
    "http1.0": _fixed("http1.0", "section 6", {"http_version": "1.0"},
                      "live, but nginx opens a new connection to the lab for every request (the header's "
                      "path shows HTTP/1.0 to the lab)"),
    "two-proxies": _fixed(
        "two-proxies", "section 5", {"gzip": True},
        "held: the inner nginx consumes the lab's X-Accel-Buffering, so the outer one (gzip on, header "
        "honoured) buffers and its gzip holds the stream", inner={}),
}


def parse_fault(text: str) -> Fault:
    """``"read-timeout=1"`` -> its :class:`Fault`; ValueError naming the faults for anything else."""
    name, sep, argument = text.partition("=")
    make = FAULTS.get(name.strip())
    if make is None:
        raise ValueError(f"no fault named {name!r}; the faults are: gzip, read-timeout=S, "
                         "ignore-accel-buffering, http1.0, two-proxies")
    return make(argument.strip() if sep else None)


def plan_faults(texts: list[str], *, http2: bool = False, keepalive_seconds: float | None = None) -> FaultPlan:
    """Add up the ``--fault`` arguments; ``http2`` is served by the outer nginx."""
    plan = FaultPlan(outer={"http2": True} if http2 else {})
    for text in texts:
        fault = parse_fault(text)
        if fault.name == "read-timeout" and keepalive_seconds is not None \
                and keepalive_seconds and fault.outer["read_timeout"] >= keepalive_seconds:
            raise ValueError(f"--fault read-timeout={fault.outer['read_timeout']:g} is not shorter than the lab's "
                             f"keep-alive ({keepalive_seconds:g} s): no stream would ever be cut")
        plan.faults.append(fault)
        plan.outer.update(fault.outer)
        if fault.inner is not None:
            plan.inner = {**(plan.inner or {}), **fault.inner}
    return plan


def describe(plan: FaultPlan) -> list[str]:
    """One line per fault: its name, where notebook 10 shows it, and what the browser will show."""
    return [f"fault {fault.name} (notebook 10, {fault.section}): {fault.expect}" for fault in plan.faults]
