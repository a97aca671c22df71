"""``python -m benchmarks``: the transport showdown from the command line.

    python -m benchmarks                       # full run: N = 1, 10, 100, 1000 (< 10 min on 2 cores)
    python -m benchmarks --quick               # N = 10, 10 messages (< 60 s)
    python -m benchmarks --transports manual_sse,sse_blueprint --clients 1000

Prints the table and writes showdown.md, showdown.csv and showdown.png to --out.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from benchmarks import TRANSPORTS, showdown
from benchmarks.report import machine, machine_line, text_table, write_all

DEFAULT_OUT = Path(__file__).resolve().parent / "results"
FULL = {"clients": "1,10,100,1000", "messages": 50, "rate": 10.0}
QUICK = {"clients": "10", "messages": 10, "rate": 10.0}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", help="comma-separated client counts (full: 1,10,100,1000; quick: 10)")
    parser.add_argument("--messages", type=int, help="messages per run (full: 50; quick: 10)")
    parser.add_argument("--rate", type=float, help="messages per second (default 10)")
    parser.add_argument("--quick", action="store_true", help="a small run that ends within a minute")
    parser.add_argument("--transports", default=None, help=f"comma-separated, from: {', '.join(TRANSPORTS)}")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
    parser.add_argument("--budget", type=float, default=540.0,
                        help="skip runs that would start after this many seconds (default 540)")
    args = parser.parse_args(argv)
    defaults = QUICK if args.quick else FULL
    args.clients = [int(n) for n in (args.clients or defaults["clients"]).split(",")]
    if any(n < 1 or n > 5000 for n in args.clients):
        parser.error("--clients: each count must be between 1 and 5000")
    args.messages = args.messages or defaults["messages"]
    args.rate = args.rate or defaults["rate"]
    if args.messages < 1 or args.rate <= 0:
        parser.error("--messages must be >= 1 and --rate > 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    info = machine()
    print(f"Transport showdown on {machine_line(info)}", flush=True)
    started = time.monotonic()
    results = showdown(transports=args.transports, clients=args.clients, messages=args.messages,
                       rate=args.rate, budget_s=args.budget, log=lambda line: print(line, flush=True))
    info["load_1min_end"] = round(os.getloadavg()[0], 2)  # other work on the machine skews latency
    print()
    print(text_table(results))
    paths = write_all(args.out, results, info, {"messages": args.messages, "rate": args.rate})
    print(f"\n{len(results)} runs in {time.monotonic() - started:.0f} s; wrote "
          + ", ".join(str(p) for p in paths.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
