"""The `confx` command line: parse arguments, call one pipeline function, map errors.

Only :class:`ConfXError` (bad user input) is caught: it prints one line to stderr
and exits with code 2. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable, Sequence

from costmodel.errors import ConfXError

logger = logging.getLogger("confx")

USAGE_ERROR = 2


def _cmd_cost(args: argparse.Namespace) -> int:
    from pipeline.cost_table import cost_file

    start = time.perf_counter()
    result = cost_file(args.input, args.output)
    elapsed = time.perf_counter() - start
    n_invalid = int((~result["valid"]).sum())
    print(f"evaluated {len(result)} design points ({n_invalid} invalid) in {elapsed:.2f} s -> {args.output}")
    return 0


def _cmd_networks(args: argparse.Namespace) -> int:
    from costmodel.layers import builtin_networks, load_network

    for name in builtin_networks():
        table = load_network(name)
        print(f"{name:18s} {table.n_layers:4d} layers ({int(table.depthwise.sum())} depthwise)")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from pipeline.demo import run_demo

    print(run_demo(args.model))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="confx", description="ConfX: DNN accelerator design-space exploration.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    commands = parser.add_subparsers(dest="command", required=True)

    cost = commands.add_parser("cost", help="evaluate a table of design points with the cost model")
    cost.add_argument("input", help="CSV or Parquet with columns K,C,Y,X,R,S,T,dataflow,num_pe,ktile")
    cost.add_argument("output", help="CSV or Parquet file to write (format by extension)")
    cost.set_defaults(run=_cmd_cost)

    networks = commands.add_parser("networks", help="list the built-in networks")
    networks.set_defaults(run=_cmd_networks)

    demo = commands.add_parser("demo", help="evaluate a network's whole action grid under every dataflow")
    demo.add_argument("--model", default="mobilenet_v2", help="built-in network name or layer-table CSV")
    demo.set_defaults(run=_cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(message)s")
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        return run(args)
    except ConfXError as error:
        print(f"confx {args.command}: error: {error}", file=sys.stderr)
        return USAGE_ERROR


if __name__ == "__main__":
    sys.exit(main())
