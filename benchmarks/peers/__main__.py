"""``python -m benchmarks.peers NAME [--port P]``: serve a peer (``fastapi``, ``starlette``, ``floor``).

It binds its socket, prints ``LAB READY <url>`` as a lab does, and (``--exit-with-parent``)
exits when its parent does: the lifeline of :mod:`labs.harness.watchdog`.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from labs.harness.serve import READY_PREFIX, bind_socket, url_of
from labs.harness.watchdog import exit_when_stdin_closes

APPS = {"fastapi": "benchmarks.peers.fastapi_app", "starlette": "benchmarks.peers.starlette_app"}
PEERS = [*APPS, "floor"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.peers")
    parser.add_argument("name", choices=PEERS)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--exit-with-parent", action="store_true")
    args = parser.parse_args(argv)
    if args.exit_with_parent:
        exit_when_stdin_closes()  # SIGTERM on EOF: uvicorn stops; the floor's default handler ends it
    sock = bind_socket(args.host, args.port)
    print(READY_PREFIX + url_of(sock, args.host), flush=True)
    if args.name == "floor":
        from benchmarks.peers.floor import serve

        serve(sock)
        return 0
    import uvicorn

    app = importlib.import_module(APPS[args.name]).app
    config = uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False, timeout_graceful_shutdown=1)
    uvicorn.Server(config).run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
