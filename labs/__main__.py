"""The kit's command line: ``python -m labs COMMAND``.

    list [--verbose]          every lab, one line each, with the notebooks that start it
    run NAME [options]        serve a lab (Ctrl-C stops it and everything it started)
    cluster NAME [--nodes N]  serve a lab as N processes behind nginx, sharing one Redis; type
                              help into it: stop/kill/start/restart a node, rolling restarts
    decode [--url URL]        show what a browser's EventSource would dispatch
    send-webhook [options]    sign and send a webhook delivery (see labs.harness.webhook_sender)
    second-origin --api URL [--port 8001]
                              serve secure_stream's page from another origin, for CORS (notebook 12;
                              see labs.harness.second_origin)
    grade [options] PATH...   grade submitted notebooks (see labs.exercises.grading)
    grade-class (--repos FILE | --submissions DIR) [options]
                              grade a whole class with this kit's checks (labs.exercises.class_grading)
"""

from __future__ import annotations

import argparse
import json
import sys

from labs.harness.registry import LABS, UnknownLab, get_lab


def _showdown_labs() -> frozenset[str]:
    """The labs notebook 09's showdown starts: one per transport of the benchmarks."""
    try:
        from benchmarks.transports import TRANSPORTS
    except ImportError:  # benchmarks/ not beside this checkout of labs/
        return frozenset()
    return frozenset(transport.lab for transport in TRANSPORTS.values())


def cmd_list(args: argparse.Namespace) -> int:
    """One line a lab, name first, with every notebook that starts it; ``--verbose`` adds each
    notebook's part and the commands to demo the lab."""
    from labs.harness.notebook_labs import demo_commands, notebooks_for, part

    width, showdown = max(map(len, LABS)), _showdown_labs()
    for lab in LABS.values():
        notebooks = notebooks_for(lab, showdown_labs=showdown)
        label = "notebook" if len(notebooks) == 1 else "notebooks"
        print(f"{lab.name:<{width}}  {lab.summary}  [{label} {', '.join(notebooks)}]")
        if args.verbose:
            for name in dict.fromkeys(part(notebook) for notebook in notebooks):
                print(f"{'':<{width}}    {name}: {', '.join(n for n in notebooks if part(n) == name)}")
            for command in demo_commands(lab, notebooks):
                print(f"{'':<{width}}    demo: {command}")
    return 0


def _parse_config(pairs: list[str], config_json: str | None) -> dict:
    config = json.loads(config_json) if config_json else {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--config takes KEY=VALUE, got {pair!r}")
        try:
            config[key] = json.loads(value)  # numbers, true/false, lists...
        except json.JSONDecodeError:
            config[key] = value  # anything else is a plain string
    return config


def _fault_plan(args: argparse.Namespace, config: dict):
    """``--fault`` and ``--http2`` as settings for nginx (None without ``--behind-proxy``)."""
    if args.fault and not args.behind_proxy:
        raise SystemExit("--fault needs --behind-proxy: each fault is a setting of the nginx in front of the lab")
    if not args.behind_proxy:
        return None
    from labs.harness.proxy_faults import plan_faults

    try:
        return plan_faults(args.fault, http2=args.http2, keepalive_seconds=config.get("KEEPALIVE_SECONDS"))
    except ValueError as exc:
        raise SystemExit(str(exc)) from None


def cmd_run(args: argparse.Namespace) -> int:
    from labs.harness.serve import serve

    lab = get_lab(args.name)
    if lab.single_process and (args.workers or 1) > 1:
        raise SystemExit(f"lab {lab.name} runs in one process only ({lab.single_process}); "
                         "use --workers 1 or leave --workers out")
    config = _parse_config(args.config, args.config_json)
    if args.max_streams is not None:
        config["MAX_STREAMS"] = args.max_streams
    if args.worker_connections is not None:
        config["WORKER_CONNECTIONS"] = args.worker_connections
    announce = None
    if args.classroom:
        from labs.harness.classroom import prepare_classroom  # imported only when asked for

        announce = prepare_classroom(config)
    host = args.host or ("0.0.0.0" if args.classroom else "127.0.0.1")
    if args.http2 and not args.behind_proxy:
        raise SystemExit("--http2 needs --behind-proxy: the lab's own server speaks HTTP/1.1, and browsers "
                         "speak HTTP/2 only over TLS, which nginx adds in front of it")
    plan = _fault_plan(args, config)
    if args.relay:  # the chaos relay on host:port; behind it nginx (with --behind-proxy), then the lab
        from labs.harness.nginx import ProxySettings
        from labs.harness.relay import run_with_relay

        if plan is not None and plan.inner is not None:
            raise SystemExit("--relay does not combine with --fault two-proxies")
        return run_with_relay(lab.name, host=host, port=args.port, control_port=args.relay_control_port,
                              workers=args.workers, config=config, use_redis=args.redis,
                              behind_proxy=args.behind_proxy, announce=announce,
                              proxy_settings=ProxySettings(**plan.outer) if plan is not None else None)
    if args.behind_proxy:  # nginx on host:port, the lab on a private port behind it
        from labs.harness.nginx import ProxySettings, run_behind_proxy
        from labs.harness.proxy_faults import describe

        return run_behind_proxy(lab.name, host=host, port=args.port, workers=args.workers, config=config,
                                use_redis=args.redis, announce=announce, settings=ProxySettings(**plan.outer),
                                inner=ProxySettings(**plan.inner) if plan.inner is not None else None,
                                notes=describe(plan))

    def on_ready(url: str, final_config: dict) -> None:
        if not args.exit_with_parent:
            print(f"{lab.name}: serving on {url}  (Ctrl-C to stop)", flush=True)
            if "REDIS_URL" in final_config:
                print(f"{lab.name}: using Redis at {final_config['REDIS_URL']}", flush=True)
        if announce is not None:
            announce(url)

    serve(lab, host=host, port=args.port, workers=args.workers, config=config,
          exit_with_parent=args.exit_with_parent, use_redis=args.redis, on_ready=on_ready)
    return 0


def cmd_cluster(args: argparse.Namespace) -> int:
    from labs.harness.cluster import run_cluster

    return run_cluster(args.name, nodes=args.nodes, host=args.host, port=args.port, workers=args.workers,
                       balance=args.balance, config=_parse_config(args.config, None))


def cmd_decode(args: argparse.Namespace) -> int:
    """Print what EventSource would dispatch for a stream: one JSON object a line."""
    from labs.core.sse import EventStreamDecoder

    decoder = EventStreamDecoder()
    out = sys.stdout.buffer  # UTF-8 whatever the locale says: data may hold any character

    def emit(events) -> None:
        for event in events:
            out.write(json.dumps(event.as_dict(), ensure_ascii=False).encode("utf-8") + b"\n")
            out.flush()

    if args.url:
        return _decode_url(args, decoder, emit)
    stream = sys.stdin.buffer
    while True:
        chunk = stream.read1(65536) if hasattr(stream, "read1") else stream.read(65536)
        if not chunk:
            break
        emit(decoder.feed(chunk))
    decoder.close()  # an event still missing its blank line is never dispatched
    return 0


def _decode_url(args: argparse.Namespace, decoder, emit) -> int:
    import requests

    headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
    if args.last_event_id is not None:
        headers["Last-Event-ID"] = args.last_event_id
    try:
        with requests.get(args.url, headers=headers, stream=True, timeout=(5, args.timeout)) as response:
            # EventSource only reads a 200 answer whose type is text/event-stream; for
            # anything else it dispatches no message at all, so neither do we.
            mime = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
            if response.status_code != 200 or mime != "text/event-stream":
                print(f"decode: {args.url} answered {response.status_code} {mime or '(no content type)'}; "
                      "EventSource would fail the connection (it needs 200 and text/event-stream)",
                      file=sys.stderr)
                return 1
            for chunk in response.iter_content(chunk_size=None):
                emit(decoder.feed(chunk))
    except requests.exceptions.ConnectionError as exc:
        if "timed out" not in str(exc):  # --timeout: a quiet stream ends the command normally
            print(f"decode: {exc}", file=sys.stderr)
            return 1
    except requests.exceptions.RequestException as exc:
        print(f"decode: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    decoder.close()
    return 0


def cmd_second_origin(args: argparse.Namespace) -> int:
    from labs.harness.second_origin import run

    return run(args.api, host=args.host, port=args.port)


def cmd_grade(args: argparse.Namespace) -> int:
    from labs.exercises.grading import main

    return main(args.paths, junitxml=args.junitxml, timeout=args.timeout, jobs=args.jobs,
                require_sandbox=args.require_sandbox)


def cmd_grade_class(args: argparse.Namespace) -> int:
    from labs.exercises.class_grading import main

    return main(repos=args.repos, submissions=args.submissions, junitxml=args.junitxml, timeout=args.timeout,
                jobs=args.jobs, require_sandbox=args.require_sandbox)


def cmd_send_webhook(argv: list[str]) -> int:
    from labs.harness.webhook_sender import main

    return main(argv)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m labs", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    listing = commands.add_parser("list", help="name every lab, with every notebook that starts it")
    listing.add_argument("--verbose", "-v", action="store_true",
                         help="also each notebook's part (I, II, III) and the commands to demo each lab")
    listing.set_defaults(func=cmd_list)

    _add_run(commands)

    cluster = commands.add_parser("cluster", help="serve a lab as N processes behind nginx, sharing one Redis")
    cluster.add_argument("name", help="a lab's name (see `python -m labs list`)")
    cluster.add_argument("--nodes", type=int, default=3, help="lab processes, standing in for hosts (default 3)")
    cluster.add_argument("--host", default="127.0.0.1", help="address nginx binds (default 127.0.0.1)")
    cluster.add_argument("--port", type=int, default=5000, help="nginx's port, the URL to open (default 5000; 0: any)")
    cluster.add_argument("--workers", type=int, default=None,
                         help="each node under gunicorn with N gevent workers (default: the development server)")
    cluster.add_argument("--balance", choices=["round_robin", "ip_hash", "least_conn"], default="round_robin",
                         help="how nginx picks a node (ip_hash: sticky sessions)")
    cluster.add_argument("--config", action="append", default=[], metavar="KEY=VALUE", help="a setting for every node")
    cluster.set_defaults(func=cmd_cluster)

    decode = commands.add_parser("decode", help="print what EventSource would dispatch, one JSON object a line")
    decode.add_argument("--url", default=None, help="read a live stream instead of standard input")
    decode.add_argument("--last-event-id", default=None, help="send this Last-Event-ID header")
    decode.add_argument("--timeout", type=float, default=None, help="stop after this many quiet seconds")
    decode.set_defaults(func=cmd_decode)

    elsewhere = commands.add_parser("second-origin", help="serve secure_stream's page from another origin (CORS)")
    elsewhere.add_argument("--api", required=True, help="the lab's URL, e.g. http://127.0.0.1:5000")
    elsewhere.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    elsewhere.add_argument("--port", type=int, default=8001, help="port (default 8001; 0 picks a free one)")
    elsewhere.set_defaults(func=cmd_second_origin)

    _add_grading(commands)

    commands.add_parser("send-webhook", help="sign and send a webhook delivery", add_help=False)
    return parser


def _add_run(commands) -> None:
    run = commands.add_parser("run", help="serve one lab")
    run.add_argument("name", help="a lab's name (see `python -m labs list`)")
    run.add_argument("--host", default=None, help="address to bind (default 127.0.0.1: this machine only)")
    run.add_argument("--port", type=int, default=5000, help="port (default 5000; 0 picks a free one)")
    run.add_argument("--workers", type=int, default=None,
                     help="serve with gunicorn and N gevent worker processes (default: the development server)")
    run.add_argument("--redis", action="store_true",
                     help="start (or use REDIS_URL) Redis even if the lab can do without")
    run.add_argument("--classroom", action="store_true",
                     help="bind every interface, print the URLs and a QR code, and require a publish token")
    run.add_argument("--config", action="append", default=[], metavar="KEY=VALUE", help="a setting for the lab")
    run.add_argument("--behind-proxy", action="store_true",
                     help="serve through a real nginx: nginx listens on --host/--port, the lab on a private port")
    run.add_argument("--http2", action="store_true",
                     help="with --behind-proxy: nginx serves HTTPS and HTTP/2 (a private, throwaway certificate)")
    run.add_argument("--fault", action="append", default=[], metavar="FAULT",
                     help="with --behind-proxy: one of notebook 10's proxy faults, printed with nginx's config: "
                          "gzip, read-timeout=S, ignore-accel-buffering, http1.0, two-proxies (may be repeated)")
    run.add_argument("--relay", action="store_true",
                     help="serve through a chaos relay (labs.harness.relay) on --host/--port that can close, "
                          "reset, stall or black-hole readers (--behind-proxy too: reader -> relay -> nginx -> lab)")
    run.add_argument("--relay-control-port", type=int, default=0, metavar="C",
                     help="with --relay: the relay's control port (default 0: any free one, printed)")
    run.add_argument("--max-streams", type=int, default=None, metavar="N",
                     help="open streams per process before newcomers get a goodbye with a retry: (config "
                          "MAX_STREAMS; default WORKER_CONNECTIONS - 500; 0: no cap)")
    run.add_argument("--worker-connections", type=int, default=None, metavar="N",
                     help="connections a gunicorn worker takes at once (config WORKER_CONNECTIONS, default 10000); "
                          "must be above --max-streams")
    run.add_argument("--config-json", default=None, help=argparse.SUPPRESS)
    run.add_argument("--exit-with-parent", action="store_true", help=argparse.SUPPRESS)
    run.set_defaults(func=cmd_run)


def _add_grading(commands) -> None:
    grade = commands.add_parser("grade", help="grade submitted notebooks, one row per exercise")
    grade.add_argument("paths", nargs="+", metavar="PATH", help="a submitted notebook, or a folder of them")
    grade.set_defaults(func=cmd_grade)
    klass = commands.add_parser("grade-class", help="grade a whole class with this kit's checks, never the students'")
    source = klass.add_mutually_exclusive_group(required=True)
    source.add_argument("--repos", metavar="FILE",
                        help="one git repository a line, `URL [NAME]`: each cloned, its notebooks/*.ipynb graded")
    source.add_argument("--submissions", metavar="DIR",
                        help="one sub-folder a student: its notebooks/*.ipynb (or *.ipynb) graded")
    klass.set_defaults(func=cmd_grade_class)
    for parser in (grade, klass):  # the options both share
        parser.add_argument("--junitxml", default=None, metavar="FILE", help="also write a JUnit XML report")
        parser.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                            help="time limit per exercise (default: the exercise's own, 60 s)")
        parser.add_argument("--jobs", type=int, default=2, help="exercises judged at once (default 2)")
        parser.add_argument("--require-sandbox", action="store_true",
                            help="refuse to grade (exit 2) where answers cannot run under bubblewrap")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["send-webhook"]:
        return cmd_send_webhook(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except UnknownLab as exc:
        raise SystemExit(str(exc)) from None


if __name__ == "__main__":
    sys.exit(main())
