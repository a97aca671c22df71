"""Who asked?  What a lab sees of its client, directly and through proxies (notebook 10).

Behind a reverse proxy every request comes from the proxy: ``request.remote_addr`` is the
proxy's address, the scheme and host are the ones the proxy used to reach the lab.  The
proxy says who really asked in ``X-Forwarded-For`` / ``-Proto`` / ``-Host`` / ``-Port``
(see :mod:`labs.harness.nginx`), but the lab must choose to believe it: a client can send
those headers too.

- ``GET /whoami`` (every lab) answers what the lab sees: ``remote_addr``, ``scheme``,
  ``host``, the ``X-Forwarded-*`` headers that came in, and ``trusted_proxies``;
- config ``TRUSTED_PROXIES`` (default 0): how many proxies stand in front of the lab.
  With N > 0 the app is wrapped in Werkzeug's ``ProxyFix``, which takes the client from
  the last N entries of each header (the ones those N proxies wrote).  More than the
  proxies you really have lets any client choose the address the lab sees.
"""

from __future__ import annotations

from flask import Flask, jsonify, request
from werkzeug.middleware.proxy_fix import ProxyFix


def trusted_proxies(app: Flask) -> int:
    raw = app.config.get("TRUSTED_PROXIES", 0)
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
        raise ValueError(f"TRUSTED_PROXIES must be a whole number >= 0 (proxies in front of the lab), got {raw!r}")
    return raw


def add_whoami(app: Flask) -> None:
    """``GET /whoami``, and ``ProxyFix`` when ``TRUSTED_PROXIES`` says there are proxies."""
    hops = trusted_proxies(app)
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)

    @app.get("/whoami")
    def whoami():
        forwarded = {name: value for name, value in sorted(request.headers.items())
                     if name.lower().startswith("x-forwarded-")}
        return jsonify(remote_addr=request.remote_addr, scheme=request.scheme, host=request.host,
                       forwarded_headers=forwarded, trusted_proxies=hops)
