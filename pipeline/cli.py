"""The `confx` command line: parse arguments, call one pipeline function, map errors.

Only :class:`ConfXError` (bad user input) is caught: it prints one line to stderr
and exits with code 2. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from types import FrameType
from typing import TYPE_CHECKING, NoReturn

from confx.costmodel.errors import ConfXError

if TYPE_CHECKING:
    from confx.envs.problem import Problem
    from confx.envs.space import ActionSpace
    from confx.pipeline.sweep.config import SweepConfig

USAGE_ERROR = 2
SEED_MAX = 2**32 - 1
"""Largest seed every search accepts (numpy, torch and Optuna all take 32-bit seeds)."""
COUNT_MAX = 10**9
"""Largest ``--budget`` or ``--epochs``: beyond it a search would run for years."""


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM, raised in the main thread so that every ``finally`` and cleanup runs."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class _OneLineParser(argparse.ArgumentParser):
    """argparse whose errors are one line: the problem, then where the help is."""

    commands: Mapping[str, argparse.ArgumentParser]

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE_ERROR, f"{self.prog}: error: {' '.join(message.split())}; see {self.prog} --help\n")


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
    """Sorted, distinct integers >= 1, comma-separated (an action space's values)."""
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError(f"expected at least one integer, got {text!r}")
    if min(values) < 1:
        raise argparse.ArgumentTypeError(f"values must be integers >= 1, got {text!r}")
    if list(values) != sorted(set(values)):
        raise argparse.ArgumentTypeError(f"values must be sorted and distinct, got {text!r}")
    return values


def _int_in(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: an integer in [low, high]."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must lie in [{low}, {high:,}], got {value}")
        return value

    return parse


def _mapping(text: str) -> str:
    """An argparse type: a mapping that loads (template, library style or .m file)."""
    from confx.costmodel.mapped import mapping_problem

    problem = mapping_problem(text)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return text


def _mapping_list(text: str) -> tuple[str, ...]:
    """Comma-separated distinct mappings."""
    names = tuple(v.strip() for v in text.split(",") if v.strip())
    if not names or len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"expected distinct comma-separated mappings, got {text!r}")
    return tuple(_mapping(name) for name in names)


def _positive_float(text: str) -> float:
    """An argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def _unit_float(text: str) -> float:
    """An argparse type: a budget level, a finite number in [0, 1]."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}") from None
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise argparse.ArgumentTypeError(f"must lie in [0, 1], got {text!r}")
    return value


def _setting(text: str) -> tuple[str, object]:
    import yaml

    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key.strip(), yaml.safe_load(value)
    except yaml.YAMLError as error:
        reason = getattr(error, "problem", None) or "not a YAML value"
        raise argparse.ArgumentTypeError(f"{key.strip()}: {value!r} is not a value ({reason})") from None


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
        space=_hardware_space(args, space),
        layers=network.layers(),
        cap=args.cap,
    )


def _hardware_space(args: argparse.Namespace, base: ActionSpace) -> ActionSpace:
    """The space on the hardware the arguments name: a preset, knobs over it, NoC/SIMD decisions, mappings."""
    import dataclasses

    from confx.costmodel.presets import hardware_preset
    from confx.envs.space import design_space

    hardware = hardware_preset(args.hardware)
    fixed = {name: getattr(args, name) for name in ("noc_hops", "noc_hop_latency", "offchip_bw")}
    hardware = dataclasses.replace(hardware, **{k: v for k, v in fixed.items() if v is not None})
    return design_space(
        base,
        hardware=hardware,
        noc_bw=args.noc_bw or (),
        simd_lanes=args.simd_lanes or (),
        dataflows=tuple(getattr(args, "mappings", None) or ()),
    )


def _cmd_search(args: argparse.Namespace) -> int:
    from confx.pipeline.results.search_outputs import write_search
    from confx.pipeline.results.tables import check_output_folder
    from confx.pipeline.results.units import constraint_unit
    from confx.pipeline.search import run_search
    from confx.pipeline.search.settings import make_settings

    check_output_folder(args.out, what="--out")
    make_settings(args.algorithm, dict(args.settings))  # every setting checked before the problem is built
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
    scale, unit = problem.constraint_scale, constraint_unit(args.constraint, physical=problem.space.physical)
    value = "none feasible" if not result.feasible else f"{result.objective_value:,.6g}"
    print(
        f"{args.algorithm} on {problem.layers.name} ({args.dataflow}, {args.objective} under {args.constraint}, "
        f"mul {args.mul}): objective {value}{' (optimal)' if result.optimal else ''}, "
        f"{args.constraint} used {result.constraint_used * scale:.6g} of {problem.budget * scale:.6g} {unit}, "
        f"{problem.model_evaluations:,} model evaluations, {problem.cost_model_calls:,} cost-model calls, "
        f"{result.wall_time_s:.2f} s -> {out}"
    )
    if result.note:
        print(f"note: {result.note}")
    return 0


def _cmd_pareto(args: argparse.Namespace) -> int:
    from pathlib import Path

    from confx.pipeline.results.tables import check_output_folder
    from confx.pipeline.search.pareto import pareto_front, write_pareto
    from confx.pipeline.workload.resolve import NETWORKS_FOLDER, resolve_network

    check_output_folder(args.out, what="--out")
    network = resolve_network(args.model, Path(args.out) / NETWORKS_FOLDER, input_shape=_input_shape(args))
    from confx.envs.space import named_space

    frame = pareto_front(
        network.model,
        layers=network.layers(),
        dataflows=args.dataflows,
        objectives=args.objectives,
        constraints=args.constraints,
        muls=args.muls,
        space=_hardware_space(args, named_space(args.space)),
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
    from confx.pipeline.results.sweep_tables import read_results
    from confx.pipeline.results.tables import check_output_folder, read_table

    folder = check_output_folder(args.results_dir, what="results folder")
    if not folder.is_dir():
        raise ConfXError(f"{folder}: no such folder; give a sweep's results folder, e.g. results/default")
    trials = read_results(folder)
    if trials.empty:
        raise ConfXError(f"{Path(folder, 'trials.parquet')}: has no trials (no rows); rerun the sweep with --resume")
    front_file = Path(folder) / "pareto.parquet"
    front = read_table(front_file) if front_file.is_file() else None
    report = build_report(trials, folder, title=f"ConfX sweep {trials['sweep'].iloc[0]}", front=front)
    print(f"report: {report.html}, {report.markdown}\nplots: {', '.join(str(p) for p in report.plots)}")
    return 0


def _cmd_study(args: argparse.Namespace) -> int:
    from confx.pipeline.results.study import tuned_settings, write_study
    from confx.pipeline.results.tables import check_output_folder

    folder = check_output_folder(args.results_dir, what="results folder")
    if not folder.is_dir():
        raise ConfXError(f"{folder}: no such folder; give a study sweep's results folder, e.g. results/study_small")
    if args.tuned:
        import yaml

        print(yaml.safe_dump(tuned_settings(folder), sort_keys=True), end="")
        return 0
    out = check_output_folder(args.out or str(folder), what="output folder")
    command = " ".join(["confx study", args.results_dir, *(["--out", args.out] if args.out else [])])
    files = write_study(folder, out, command=command)
    print(f"study: {files.markdown}, {files.table}\nplots: {', '.join(str(p) for p in files.plots)}")
    return 0


def _cmd_ui(args: argparse.Namespace) -> int:
    from confx.pipeline.results.mlflow_ui import serve_ui

    _check_port_free(args.port)
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


def _check_port_free(port: int) -> None:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            raise ConfXError(
                f"--port {port}: already in use on 127.0.0.1; pass another, e.g. --port {port + 1}"
            ) from None


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
    parser.add_argument(
        "--dataflow",
        default=DEFAULT_DATAFLOW,
        type=_mapping,
        help=f"mapping: a template ({', '.join(DATAFLOWS)}), a library style (kcp_ws, rs_yp, ...) or a .m file",
    )
    parser.add_argument("--objective", default=DEFAULT_OBJECTIVE, choices=OBJECTIVES)
    parser.add_argument("--constraint", default=DEFAULT_CONSTRAINT, choices=CONSTRAINTS)
    parser.add_argument("--mul", type=_unit_float, default=DEFAULT_MUL, help=f"budget level in [0, 1] ({DEFAULT_MUL})")
    parser.add_argument("--space", default="grid", choices=("grid", "integer"), help="action space")
    parser.add_argument("--num-pe", type=_int_list, help="custom PE values, e.g. 1,2,4,8 (overrides --space)")
    parser.add_argument("--ktile", type=_int_list, help="custom K-tile values, e.g. 1,2,3 (overrides --space)")
    parser.add_argument("--choose-dataflow", action="store_true", help="also choose the dataflow per layer")
    parser.add_argument(
        "--mappings",
        type=_mapping_list,
        help="mappings each layer chooses from, e.g. dla,kcp_ws,rs_yp (implies --choose-dataflow)",
    )
    parser.add_argument(
        "--cap",
        type=_positive_float,
        help="absolute budget in the constraint's unit (area mm^2 on a physical preset, um^2 on release; power mW)",
    )
    _add_hardware_arguments(parser)


def _add_hardware_arguments(parser: argparse.ArgumentParser) -> None:
    from confx.costmodel.presets import PRESETS

    parser.add_argument("--hardware", default="release", choices=tuple(PRESETS), help="hardware preset (release)")
    one_or_more = "one value fixes it, several make it a per-layer decision"
    parser.add_argument("--noc-bw", type=_int_list, help=f"NoC bandwidth, elements/cycle ({one_or_more})")
    parser.add_argument("--simd-lanes", type=_int_list, help=f"SIMD lanes per PE ({one_or_more})")
    parser.add_argument("--noc-hops", type=_int_in(1, COUNT_MAX), help="NoC hops (the preset's)")
    parser.add_argument("--noc-hop-latency", type=_int_in(0, COUNT_MAX), help="cycles per hop (the preset's)")
    parser.add_argument("--offchip-bw", type=_int_in(1, COUNT_MAX), help="off-chip elements/cycle (the preset's)")


def build_parser() -> _OneLineParser:
    from confx.costmodel import DATAFLOWS
    from confx.envs.problem import CONSTRAINTS, DEFAULT_CONSTRAINT, DEFAULT_OBJECTIVE, OBJECTIVES

    parser = _OneLineParser(prog="confx", description="ConfX: DNN accelerator design-space exploration.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    commands = parser.add_subparsers(dest="command", required=True)
    parser.commands = commands.choices

    cost = commands.add_parser("cost", help="evaluate a table of design points with the cost model")
    cost.add_argument(
        "input",
        help="CSV or Parquet with columns K,C,Y,X,R,S,T,dataflow,num_pe,ktile; optionally mapping (a style or a .m "
        "file) and noc_bw,noc_hops,noc_hop_latency,simd_lanes,offchip_bw (see README, confx cost)",
    )
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
    search.add_argument("--seed", type=_int_in(0, SEED_MAX), default=0)
    search.add_argument(
        "--budget",
        type=_int_in(1, COUNT_MAX),
        default=DEFAULT_BUDGET,
        help=f"whole-model evaluations of baselines (default {DEFAULT_BUDGET})",
    )
    search.add_argument(
        "--epochs",
        type=_int_in(3, COUNT_MAX),
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
    pareto.add_argument(
        "--dataflows",
        nargs="+",
        type=_mapping,
        default=list(DATAFLOWS),
        help="templates, library styles or .m files (one front each)",
    )
    pareto.add_argument("--objectives", nargs="+", choices=OBJECTIVES, default=[DEFAULT_OBJECTIVE])
    pareto.add_argument("--constraints", nargs="+", choices=CONSTRAINTS, default=[DEFAULT_CONSTRAINT])
    pareto.add_argument("--muls", nargs="+", type=_unit_float, default=[round(0.1 * i, 1) for i in range(11)])
    pareto.add_argument("--space", default="grid", choices=("grid", "integer"))
    _add_hardware_arguments(pareto)
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

    study = commands.add_parser(
        "study", help="evaluations each algorithm needs to come within 10/5/1% of the optimum (docs/study.md)"
    )
    study.add_argument("results_dir", help="a study sweep's results folder, e.g. results/study_small")
    study.add_argument(
        "--out", help="folder for study_results.md, study_reach.csv and the plots (default: results_dir)"
    )
    study.add_argument(
        "--tuned", action="store_true", help="print each algorithm's best settings of a tuning sweep as YAML instead"
    )
    study.set_defaults(run=_cmd_study)

    ui = commands.add_parser("ui", help="the MLflow UI on a sweep's store (127.0.0.1), opened on its runs")
    ui.add_argument("--results-dir", default="results/default", help="a sweep's results folder")
    ui.add_argument("--port", type=_int_in(1, 65535), default=5000)
    ui.add_argument("--no-browser", action="store_true", help="print the link only, open no browser")
    ui.set_defaults(run=_cmd_ui)

    return parser


_received: list[int] = []
"""The signal that interrupted the command (libraries may re-raise a plain KeyboardInterrupt)."""


def _raise_interrupted(signum: int, frame: FrameType | None) -> None:
    # A second signal while the first one's cleanup runs is ignored, so that the cleanup finishes.
    for name in ("SIGINT", "SIGTERM"):
        signal.signal(getattr(signal, name), signal.SIG_IGN)
    _received.append(signum)
    raise Interrupted(signum)


def _run_command(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        if extra:  # reported by the command's own parser, so the hint names its help
            parser.commands[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
    except SystemExit as stop:  # --help, or a one-line argument error
        return stop.code if isinstance(stop.code, int) else USAGE_ERROR
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        return run(args)
    except ConfXError as error:
        print(f"confx {args.command}: error: {' '.join(str(error).split())}", file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt as interrupt:
        signum = interrupt.signum if isinstance(interrupt, Interrupted) else signal.SIGINT
        signum = _received[0] if _received else signum
        hint = "; continue it with --resume" if args.command in ("sweep", "nightly") else ""
        print(f"confx {args.command}: interrupted by {signal.Signals(signum).name}{hint}", file=sys.stderr)
        return 128 + signum
    except BrokenPipeError:  # stdout closed early (`confx networks | head -1`)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``confx`` command; SIGINT and SIGTERM end it cleanly with 130 and 143.

    Returns:
        0 on success, 1 when a sweep has failed trials or the nightly scan regressed, 2 on a
        user error (one line on stderr), 128 + the signal number when interrupted.
    """
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = {}
    if in_main_thread:
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, _raise_interrupted)
    # Tune would otherwise swallow the first Ctrl-C and return as if the sweep had finished.
    os.environ.setdefault("TUNE_DISABLE_SIGINT_HANDLER", "1")
    _received.clear()
    try:
        return _run_command(argv)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


if __name__ == "__main__":
    sys.exit(main())
