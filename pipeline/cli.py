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
from typing import TYPE_CHECKING

from confx.costmodel.errors import ConfXError

if TYPE_CHECKING:
    from confx.envs.problem import Problem
    from confx.pipeline.sweep.config import SweepConfig

USAGE_ERROR = 2


def _cmd_cost(args: argparse.Namespace) -> int:
    from confx.pipeline.results.cost_table import cost_file

    start = time.perf_counter()
    summary = cost_file(args.input, args.output)
    elapsed = time.perf_counter() - start
    print(f"evaluated {summary.rows} design points ({summary.invalid} invalid) in {elapsed:.2f} s -> {args.output}")
    return 0


def _cmd_networks(args: argparse.Namespace) -> int:
    from confx.pipeline.workload.resolve import catalog_lines

    for line in catalog_lines():
        print(line)
    return 0


def _cmd_import(args: argparse.Namespace) -> int:
    from confx.pipeline.workload.resolve import import_to_csv

    print(import_to_csv(args.source, args.output, input_shape=_input_shape(args)))
    return 0


def _input_shape(args: argparse.Namespace) -> tuple[int, ...] | None:
    from confx.pipeline.workload.input_shape import parse_input_shape

    return None if args.input_shape is None else parse_input_shape(args.input_shape)


def _int_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _setting(text: str) -> tuple[str, object]:
    import yaml

    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.strip(), yaml.safe_load(value)


def _problem_from_args(args: argparse.Namespace) -> Problem:
    from pathlib import Path

    from confx.envs.problem import build_problem
    from confx.envs.space import ActionSpace, named_space
    from confx.pipeline.workload.resolve import NETWORKS_FOLDER, resolve_network

    # Resolved before anything else, so that a bad --model fails first; an imported model's table
    # is cached in the output folder, and the problem loads that file from then on.
    network = resolve_network(args.model, Path(args.out) / NETWORKS_FOLDER, input_shape=_input_shape(args))

    space = named_space(args.space, choose_dataflow=args.choose_dataflow)
    if args.num_pe is not None or args.ktile is not None:
        space = ActionSpace(
            args.num_pe if args.num_pe is not None else space.num_pe,
            args.ktile if args.ktile is not None else space.ktile,
            args.choose_dataflow,
            "custom",
        )
    return build_problem(
        network.model,
        dataflow=args.dataflow,
        objective=args.objective,
        constraint=args.constraint,
        mul=args.mul,
        space=space,
        layers=network.layers(),
    )


def _cmd_search(args: argparse.Namespace) -> int:
    from confx.pipeline.results.search_outputs import write_search
    from confx.pipeline.search import run_search

    problem = _problem_from_args(args)
    result = run_search(
        problem,
        args.algorithm,
        seed=args.seed,
        budget=args.budget,
        epochs=args.epochs,
        settings=dict(args.settings),
        progress=lambda event: print(event["message"], flush=True),
    )
    out = write_search(problem, result, args.out)
    value = "none feasible" if not result.feasible else f"{result.objective_value:,.6g}"
    print(
        f"{args.algorithm} on {problem.layers.name} ({args.dataflow}, {args.objective} under {args.constraint}, "
        f"mul {args.mul}): objective {value}{' (optimal)' if result.optimal else ''}, "
        f"{args.constraint} used {result.constraint_used:.6g} of {problem.budget:.6g}, "
        f"{problem.model_evaluations:,} model evaluations, {problem.cost_model_calls:,} cost-model calls, "
        f"{result.wall_time_s:.2f} s -> {out}"
    )
    if result.note:
        print(f"note: {result.note}")
    return 0


def _cmd_pareto(args: argparse.Namespace) -> int:
    from pathlib import Path

    from confx.pipeline.search.pareto import pareto_front, write_pareto
    from confx.pipeline.workload.resolve import NETWORKS_FOLDER, resolve_network

    network = resolve_network(args.model, Path(args.out) / NETWORKS_FOLDER, input_shape=_input_shape(args))
    frame = pareto_front(
        network.model,
        layers=network.layers(),
        dataflows=args.dataflows,
        objectives=args.objectives,
        constraints=args.constraints,
        muls=args.muls,
        space=args.space,
    )
    paths = write_pareto(frame, args.out)
    print(frame.to_string(index=False))
    print(f"wrote {', '.join(str(p) for p in paths)}")
    return 0


def _add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """Where a sweep runs, tracks and stores: shared by `sweep` and `nightly`."""
    parser.add_argument("--address", help="Ray cluster address (default: start a local Ray)")
    parser.add_argument("--tracking-uri", help="MLflow tracking server (default: SQLite in the results folder)")
    parser.add_argument("--results-dir", help="override the config's results folder (a path or a URI)")


def _sweep_config(args: argparse.Namespace) -> SweepConfig:
    from confx.pipeline.sweep.config import load_sweep_config

    config = load_sweep_config(args.config)
    return config.model_copy(update={"results_dir": args.results_dir}) if args.results_dir else config


def _cmd_sweep(args: argparse.Namespace) -> int:
    from confx.pipeline.sweep.driver import run_sweep

    config = _sweep_config(args)
    outcome = run_sweep(
        config,
        address=args.address,
        tracking_uri=args.tracking_uri,
        resume=args.resume,
        echo=lambda line: print(line, flush=True),
    )
    print(
        f"results: {outcome.location} (trials.parquet, layers/, report.md)\n"
        f"tracking: {outcome.tracking_uri} (parent run {outcome.parent_run_id}; `confx ui` to browse)"
    )
    return 0 if (outcome.trials["status"] == "ok").all() else 1


def _cmd_nightly(args: argparse.Namespace) -> int:
    from confx.pipeline.sweep.nightly import parse_date, run_nightly

    config = _sweep_config(args)
    outcome = run_nightly(
        config,
        date=parse_date(args.date),
        address=args.address,
        tracking_uri=args.tracking_uri,
        echo=lambda line: print(line, flush=True),
    )
    return 1 if outcome.regressions or outcome.failed_trials else 0


def _cmd_report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from confx.pipeline.results.report import build_report
    from confx.pipeline.results.tables import read_table

    trials = read_table(f"{args.results_dir}/trials.parquet")
    front_file = Path(args.results_dir) / "pareto.parquet"
    front = read_table(front_file) if front_file.is_file() else None
    report = build_report(trials, args.results_dir, title=f"ConfX sweep {trials['sweep'].iloc[0]}", front=front)
    print(f"report: {report.html}, {report.markdown}\nplots: {', '.join(str(p) for p in report.plots)}")
    return 0


def _cmd_ui(args: argparse.Namespace) -> int:
    from confx.pipeline.results.mlflow_ui import serve_ui

    return serve_ui(args.results_dir, port=args.port, open_browser=not args.no_browser, echo=_echo)


def _echo(line: str) -> None:
    print(line, flush=True)


_SOURCE_HELP = (
    "SOURCE: built-in name (confx networks), layer-table .csv, model.onnx, path/to/model.py:FUNCTION, "
    "zoo:NAME or torchvision:NAME"
)
_SHAPE_HELP = "input shape of an imported model, batch 1 (default: the model's own, else 1,3,224,224)"


def _add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help=_SOURCE_HELP)
    parser.add_argument("--input-shape", help=_SHAPE_HELP)


def _add_problem_arguments(parser: argparse.ArgumentParser) -> None:
    from confx.costmodel import DATAFLOWS
    from confx.envs.problem import (
        CONSTRAINTS,
        DEFAULT_CONSTRAINT,
        DEFAULT_DATAFLOW,
        DEFAULT_MUL,
        DEFAULT_OBJECTIVE,
        OBJECTIVES,
    )

    _add_model_arguments(parser)
    parser.add_argument("--dataflow", default=DEFAULT_DATAFLOW, choices=DATAFLOWS)
    parser.add_argument("--objective", default=DEFAULT_OBJECTIVE, choices=OBJECTIVES)
    parser.add_argument("--constraint", default=DEFAULT_CONSTRAINT, choices=CONSTRAINTS)
    parser.add_argument("--mul", type=float, default=DEFAULT_MUL, help=f"budget level in [0, 1] ({DEFAULT_MUL})")
    parser.add_argument("--space", default="grid", choices=("grid", "integer"), help="action space")
    parser.add_argument("--num-pe", type=_int_list, help="custom PE values, e.g. 1,2,4,8 (overrides --space)")
    parser.add_argument("--ktile", type=_int_list, help="custom K-tile values, e.g. 1,2,3 (overrides --space)")
    parser.add_argument("--choose-dataflow", action="store_true", help="also choose the dataflow per layer")


def build_parser() -> argparse.ArgumentParser:
    from confx.costmodel import DATAFLOWS
    from confx.envs.problem import DEFAULT_CONSTRAINT, DEFAULT_OBJECTIVE

    parser = argparse.ArgumentParser(prog="confx", description="ConfX: DNN accelerator design-space exploration.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    commands = parser.add_subparsers(dest="command", required=True)

    cost = commands.add_parser("cost", help="evaluate a table of design points with the cost model")
    cost.add_argument("input", help="CSV or Parquet with columns K,C,Y,X,R,S,T,dataflow,num_pe,ktile")
    cost.add_argument("output", help="CSV or Parquet file to write (format by extension)")
    cost.set_defaults(run=_cmd_cost)

    networks = commands.add_parser("networks", help="list the built-in layer tables (layers, MACs, source)")
    networks.set_defaults(run=_cmd_networks)

    imports = commands.add_parser("import", help="import a PyTorch or ONNX model as a layer-table CSV")
    imports.add_argument("source", help="model.onnx, path/to/model.py:FUNCTION, zoo:NAME or torchvision:NAME")
    imports.add_argument("output", help="layer-table CSV to write")
    imports.add_argument("--input-shape", help=_SHAPE_HELP)
    imports.set_defaults(run=_cmd_import)

    from confx.pipeline.search.settings import ALGORITHMS, DEFAULT_BUDGET, DEFAULT_EPOCHS, describe_settings

    settings_help = "\n".join(f"  {name}: {describe_settings(name)}" for name in ALGORITHMS)
    search = commands.add_parser(
        "search",
        help="search one problem and write summary, solution and curve",
        epilog=f"algorithm settings (--set KEY=VALUE) and their defaults:\n{settings_help}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_problem_arguments(search)
    search.add_argument("--algorithm", required=True, choices=tuple(ALGORITHMS))
    search.add_argument("--seed", type=int, default=0)
    search.add_argument(
        "--budget",
        type=int,
        default=DEFAULT_BUDGET,
        help=f"whole-model evaluations of baselines (default {DEFAULT_BUDGET})",
    )
    search.add_argument(
        "--epochs",
        type=int,
        default=DEFAULT_EPOCHS,
        help=f"RL searches: the release's epochs E (default {DEFAULT_EPOCHS})",
    )
    search.add_argument(
        "--set",
        dest="settings",
        type=_setting,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an algorithm setting, e.g. --set recurrent=false --set lr=0.003 (repeatable)",
    )
    search.add_argument("--out", required=True, help="output folder")
    search.set_defaults(run=_cmd_search)

    pareto = commands.add_parser("pareto", help="exact optimum as a function of the budget level")
    _add_model_arguments(pareto)
    pareto.add_argument("--dataflows", nargs="+", default=list(DATAFLOWS))
    pareto.add_argument("--objectives", nargs="+", default=[DEFAULT_OBJECTIVE])
    pareto.add_argument("--constraints", nargs="+", default=[DEFAULT_CONSTRAINT])
    pareto.add_argument("--muls", nargs="+", type=float, default=[round(0.1 * i, 1) for i in range(11)])
    pareto.add_argument("--space", default="grid", choices=("grid", "integer"))
    pareto.add_argument("--out", required=True, help="output folder")
    pareto.set_defaults(run=_cmd_pareto)

    sweep = commands.add_parser("sweep", help="run a design-space sweep (Ray Tune + MLflow + Parquet)")
    sweep.add_argument("config", help="sweep YAML, e.g. conf/default.yaml")
    sweep.add_argument("--resume", action="store_true", help="continue an interrupted sweep (or start it)")
    _add_run_arguments(sweep)
    sweep.set_defaults(run=_cmd_sweep)

    nightly = commands.add_parser("nightly", help="the nightly scan: run one date, flag regressions (exit 1)")
    nightly.add_argument("config", help="sweep YAML, e.g. conf/nightly.yaml")
    nightly.add_argument("--date", help="YYYY-MM-DD (default: today, UTC); a rerun of a date resumes it")
    _add_run_arguments(nightly)
    nightly.set_defaults(run=_cmd_nightly)

    report = commands.add_parser("report", help="rebuild a sweep's report from its Parquet results")
    report.add_argument("results_dir", help="a sweep's results folder, e.g. results/default")
    report.set_defaults(run=_cmd_report)

    ui = commands.add_parser("ui", help="the MLflow UI on a sweep's store (127.0.0.1), opened on its runs")
    ui.add_argument("--results-dir", default="results/default", help="a sweep's results folder")
    ui.add_argument("--port", type=int, default=5000)
    ui.add_argument("--no-browser", action="store_true", help="print the link only, open no browser")
    ui.set_defaults(run=_cmd_ui)

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
