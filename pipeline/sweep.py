"""`confx sweep`: a Ray Tune grid of searches, tracked in MLflow, kept as Parquet.

The driver plans every trial (one search on one problem) from the config,
computes each problem group's exact optimum once, and hands Tune an explicit
grid of those trials. Each trial runs its search, reports progress to Tune,
writes its outputs into ``<results>/<sweep>/trials/<trial_key>/`` and logs one
MLflow child run (found again by its trial key, so that retries and resumes
never duplicate it). At the end the driver assembles ``trials.parquet`` and the
``layers/`` dataset and attaches the report to the sweep's parent run.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from costmodel import COST_MODEL_VERSION
from costmodel.errors import ConfXError
from pipeline.config import AlgorithmEntry, SweepConfig
from pipeline.trial import TRIALS_FOLDER, SweepContext, group_of, run_trial

logger = logging.getLogger(__name__)

TUNE_FOLDER = "tune"


# --- planning ---------------------------------------------------------------------------------


def _settings_grid(entry: AlgorithmEntry) -> list[dict[str, Any]]:
    """Every combination of an algorithm's list-valued settings (grid axes)."""
    keys = sorted(entry.settings)
    values = [entry.settings[k] if isinstance(entry.settings[k], list) else [entry.settings[k]] for k in keys]
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*values)]


def trial_key(trial: dict[str, Any]) -> str:
    """A stable, readable id of a trial: its run name plus a hash of its settings."""
    settings = json.dumps(trial["settings"], sort_keys=True)
    digest = hashlib.sha1(f"{settings}|{trial['budget']}|{trial['epochs']}|{trial['space']}".encode()).hexdigest()[:8]
    network = Path(trial["network"]).stem
    return (f"{network}_F-{trial['objective']}_C-{trial['constraint']}_Mul-{trial['mul']}_DF-{trial['dataflow']}"
            f"_{trial['algorithm']}_s{trial['seed']}_{digest}")  # fmt: skip


def plan_trials(config: SweepConfig) -> list[dict[str, Any]]:
    """The sweep's trials, in a deterministic order: problem axes x algorithms x settings x seeds."""
    trials = []
    axes = itertools.product(config.networks, config.dataflows, config.objectives, config.constraints, config.muls)
    for network, dataflow, objective, constraint, mul in axes:
        for entry in config.algorithms:
            seeds = [0] if entry.name == "exact" else config.seeds  # the exact optimum needs no seed
            for settings in _settings_grid(entry):
                for seed in seeds:
                    trial = {"network": network, "dataflow": dataflow, "objective": objective,
                             "constraint": constraint, "mul": float(mul), "space": config.space,
                             "algorithm": entry.name, "seed": int(seed), "budget": entry.budget,
                             "epochs": entry.epochs, "settings": settings}  # fmt: skip
                    trial["trial_key"] = trial_key(trial)
                    trials.append(trial)
    keys = [t["trial_key"] for t in trials]
    if len(set(keys)) != len(keys):
        raise ConfXError("the sweep plans the same trial twice (an axis lists a value twice?)")
    return trials


def exact_optima(trials: list[dict[str, Any]], space: str) -> dict[tuple, dict[str, Any]]:
    """The certified optimum of every problem group (NaN where no exact method exists)."""
    from envs.problem import build_problem
    from pipeline.search import run_search

    optima = {}
    for group in dict.fromkeys(group_of(t) for t in trials):
        network, dataflow, objective, constraint, mul = group
        problem = build_problem(network, dataflow=dataflow, objective=objective, constraint=constraint, mul=mul,
                                space=space)  # fmt: skip
        result = run_search(problem, "exact", budget=0, seed=0)
        value = result.objective_value if result.optimal else float("nan")
        optima[group] = {"optimum": value, "budget": problem.budget}
    return optima


# --- progress ---------------------------------------------------------------------------------


def _progress_callback(n_trials: int, echo: Any) -> Any:
    """A Tune callback printing trials done / running / pending and the best objective per group."""
    from ray import tune

    class SweepProgress(tune.Callback):
        def __init__(self) -> None:
            self.done, self.failed, self.running, self.best = set(), set(), set(), {}
            self.last = 0.0

        def on_trial_start(self, iteration, trials, trial, **info):  # noqa: ANN001
            self.running.add(trial.trial_id)
            self._print()

        def on_trial_result(self, iteration, trials, trial, result, **info):  # noqa: ANN001
            value = result.get("best_objective")
            if value is not None and np.isfinite(value):
                key = _group_label(trial.config["trial"])
                self.best[key] = value if key not in self.best else min(self.best[key], value)
            self._print()

        def on_trial_complete(self, iteration, trials, trial, **info):  # noqa: ANN001
            self.running.discard(trial.trial_id)
            self.done.add(trial.trial_id)
            self._print(force=True)

        def on_trial_error(self, iteration, trials, trial, **info):  # noqa: ANN001
            self.running.discard(trial.trial_id)
            self.failed.add(trial.trial_id)
            echo(f"trial failed: {trial.config['trial']['trial_key']}")
            self._print(force=True)

        def _print(self, force: bool = False) -> None:
            if not force and time.perf_counter() - self.last < 5:
                return
            self.last = time.perf_counter()
            pending = n_trials - len(self.done) - len(self.failed) - len(self.running)
            echo(f"[{len(self.done)} done, {len(self.failed)} failed, {len(self.running)} running, "
                 f"{max(pending, 0)} pending of {n_trials}]")  # fmt: skip

    return SweepProgress()


def _group_label(trial: dict[str, Any]) -> str:
    return f"{Path(trial['network']).stem}/{trial['dataflow']}/{trial['objective']}/mul {trial['mul']}"


# --- results ----------------------------------------------------------------------------------

TRIAL_COLUMNS = ("sweep", "trial_key", "run_name", "network", "dataflow", "objective", "constraint", "mul", "space",
                 "algorithm", "seed", "settings", "objective_value", "sense", "optimum", "gap", "constraint_used",
                 "budget", "feasible", "optimal", "model_evaluations", "cost_model_calls", "wall_time_s", "status",
                 "error", "run_id")  # fmt: skip
"""Columns of ``trials.parquet``, in order (documented in the README)."""
SUMMARY_COLUMNS = ("objective_value", "sense", "constraint_used", "budget", "feasible", "optimal",
                   "model_evaluations", "cost_model_calls", "wall_time_s")  # fmt: skip


def collect_results(
    config: SweepConfig, trials: list[dict[str, Any]], results_dir: Path, errors: dict[str, str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One row per planned trial, and one row per trial x layer, from the trial folders."""
    rows, layers = [], []
    for trial in trials:
        folder = results_dir / TRIALS_FOLDER / trial["trial_key"]
        row = {**{k: trial[k] for k in ("network", "dataflow", "objective", "constraint", "mul", "space",
                                        "algorithm", "seed")},
               "sweep": config.name, "trial_key": trial["trial_key"], "run_name": trial["trial_key"].rsplit("_", 1)[0],
               "settings": json.dumps(trial["settings"], sort_keys=True)}  # fmt: skip
        if (folder / "trial.json").is_file():
            summary = json.loads((folder / "summary.json").read_text())
            final = json.loads((folder / "trial.json").read_text())
            row.update({k: summary[k] for k in SUMMARY_COLUMNS})
            row.update(optimum=final["optimum"], gap=final["gap"], run_id=final["run_id"], status="ok", error="")
            solution = pd.read_parquet(folder / "solution.parquet")
            solution.insert(0, "trial_key", trial["trial_key"])
            for axis in ("network", "algorithm", "mul", "seed", "objective", "constraint"):
                solution[axis] = trial[axis] if axis != "network" else Path(trial["network"]).stem
            layers.append(solution)
        else:
            row.update(status="failed", error=errors.get(trial["trial_key"], "did not finish"))
        rows.append(row)
    frame = pd.DataFrame(rows).reindex(columns=list(TRIAL_COLUMNS))
    return frame, (pd.concat(layers, ignore_index=True) if layers else pd.DataFrame())


def write_results(trials: pd.DataFrame, layers: pd.DataFrame, results_dir: Path) -> list[Path]:
    """Write ``trials.parquet`` and the ``layers/`` dataset (hive-partitioned by network and dataflow)."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    from pipeline.tables import write_table

    write_table(trials, results_dir / "trials.parquet")
    written = [results_dir / "trials.parquet"]
    if not layers.empty:
        table = pa.Table.from_pandas(layers, preserve_index=False)
        ds.write_dataset(table, results_dir / "layers", format="parquet",
                         partitioning=ds.partitioning(pa.schema([("network", pa.string()), ("dataflow", pa.string())]),
                                                      flavor="hive"),
                         existing_data_behavior="delete_matching")  # fmt: skip
        written.append(results_dir / "layers")
    return written


# --- the driver -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepOutcome:
    """What a sweep left behind."""

    results_dir: Path
    trials: pd.DataFrame
    parent_run_id: str
    tracking_uri: str
    report: Path


def _start_ray(address: str | None) -> None:
    import ray

    if ray.is_initialized():
        return
    if address:
        ray.init(address=address, log_to_driver=False)
    else:
        ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)


def _trial_folder_name(trial: Any) -> str:
    return f"{trial.config['trial']['trial_key']}_{trial.trial_id}"


def _trainable(config: SweepConfig, context: SweepContext) -> Any:
    from ray import tune

    resources = config.resources
    bundles = [{"CPU": resources.cpus_per_trial}] + [{"CPU": resources.ga_task_cpus}] * resources.ga_tasks
    return tune.with_resources(tune.with_parameters(run_trial, context=context), tune.PlacementGroupFactory(bundles))


def run_sweep(
    config: SweepConfig,
    *,
    address: str | None = None,
    tracking_uri: str | None = None,
    resume: bool = False,
    echo: Any = print,
) -> SweepOutcome:
    """Run (or continue) a sweep and assemble its results.

    Args:
        config: The validated sweep.
        address: A Ray cluster to join (default: start a local Ray).
        tracking_uri: An MLflow server (default: the config's, else SQLite in the results folder).
        resume: Continue an interrupted sweep of the same name; finished trials are kept.
        echo: Receives progress lines.

    Raises:
        ConfXError: Results of this sweep exist and ``resume`` is off.
    """
    from ray import tune

    from pipeline.report import build_report
    from pipeline.tracking import close_parent_run, default_tracking_uri, ensure_experiment, open_parent_run

    results_dir = Path(config.results_dir).absolute() / config.name
    tune_dir = results_dir / TUNE_FOLDER
    restoring = resume and tune.Tuner.can_restore(str(tune_dir))
    if tune_dir.exists() and not restoring:
        raise ConfXError(f"sweep {config.name!r} already has results in {results_dir}; "
                         "continue it with --resume, or remove that folder to start over")  # fmt: skip
    results_dir.mkdir(parents=True, exist_ok=True)
    trials = plan_trials(config)
    echo(f"sweep {config.name}: {len(trials)} trials; results in {results_dir}")
    uri = tracking_uri or config.tracking.uri or default_tracking_uri(results_dir)
    experiment_id = ensure_experiment(uri, config.name)
    parent = open_parent_run(uri, experiment_id, sweep_id=str(results_dir), run_name=f"sweep-{config.name}",
                             params={"config": config.model_dump_json(), "n_trials": len(trials),
                                     "cost_model_version": COST_MODEL_VERSION},
                             tags={"confx.sweep": config.name})  # fmt: skip
    start = time.perf_counter()
    optima = exact_optima(trials, config.space)
    echo(f"exact optima of {len(optima)} problem groups in {time.perf_counter() - start:.1f} s")
    _start_ray(address)
    context = SweepContext(config.name, str(results_dir), uri, experiment_id, parent, optima,
                           config.resources.ga_tasks, config.resources.ga_task_cpus)  # fmt: skip
    trainable = _trainable(config, context)
    if restoring:
        echo(f"resuming {tune_dir}")
        tuner = tune.Tuner.restore(str(tune_dir), trainable=trainable, resume_unfinished=True, resume_errored=False)
    else:
        tuner = tune.Tuner(
            trainable,
            param_space={"trial": tune.grid_search(trials)},
            tune_config=tune.TuneConfig(max_concurrent_trials=config.resources.max_concurrent_trials or None,
                                        reuse_actors=True,  # skips re-importing torch and RLlib per trial
                                        trial_dirname_creator=_trial_folder_name),
            run_config=tune.RunConfig(name=TUNE_FOLDER, storage_path=str(results_dir), verbose=0,
                                      failure_config=tune.FailureConfig(max_failures=config.max_failures),
                                      callbacks=[_progress_callback(len(trials), echo)]),
        )  # fmt: skip
    grid = tuner.fit()
    errors = {r.config["trial"]["trial_key"]: str(r.error).strip().splitlines()[-1] for r in grid if r.error}
    table, layers = collect_results(config, trials, results_dir, errors)
    written = write_results(table, layers, results_dir)
    report, plots = build_report(table, results_dir, title=f"ConfX sweep {config.name}")
    n_failed = int((table["status"] != "ok").sum())
    close_parent_run(uri, parent, status="FINISHED" if n_failed == 0 else "FAILED",
                     artifact_files=[report, *plots, written[0]],
                     metrics={"trials_ok": len(table) - n_failed, "trials_failed": n_failed,
                              "wall_time_s": time.perf_counter() - start})  # fmt: skip
    echo(f"sweep {config.name}: {len(table) - n_failed} trials ok, {n_failed} failed; report {report}")
    return SweepOutcome(results_dir, table, parent, uri, report)
