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

import itertools
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from confx.costmodel import COST_MODEL_VERSION
from confx.costmodel.errors import ConfXError
from confx.envs.problem import MAXIMISED
from confx.pipeline.results import storage
from confx.pipeline.sweep.config import AlgorithmEntry, SweepConfig
from confx.pipeline.sweep.trial import TRIALS_FOLDER, SweepContext, run_name, run_trial, run_tuning_trial, trial_key

logger = logging.getLogger(__name__)

TUNE_FOLDER = "tune"


# --- planning ---------------------------------------------------------------------------------


def _settings_grid(entry: AlgorithmEntry) -> list[dict[str, Any]]:
    """Every combination of an algorithm's list-valued settings (grid axes)."""
    keys = sorted(entry.settings)
    values = [entry.settings[k] if isinstance(entry.settings[k], list) else [entry.settings[k]] for k in keys]
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*values)]


def plan_trials(config: SweepConfig) -> list[dict[str, Any]]:
    """The sweep's trials, in a deterministic order: problem axes x algorithms x settings x seeds."""
    trials = []
    axes = itertools.product(config.networks, config.dataflows, config.objectives, config.constraints, config.muls)
    for network, dataflow, objective, constraint, mul in axes:
        for entry in config.algorithms:
            if entry.tune is not None:
                continue  # its settings are searched by Optuna: see run_tuning
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


def tuning_base_trials(config: SweepConfig, entry: AlgorithmEntry) -> list[dict[str, Any]]:
    """The problems (x seeds) every Optuna sample of a tuned algorithm is run on."""
    axes = itertools.product(config.networks, config.dataflows, config.objectives, config.constraints, config.muls)
    return [{"network": network, "dataflow": dataflow, "objective": objective, "constraint": constraint,
             "mul": float(mul), "space": config.space, "algorithm": entry.name, "seed": int(seed),
             "budget": entry.budget, "epochs": entry.epochs, "settings": dict(entry.settings)}
            for network, dataflow, objective, constraint, mul in axes for seed in config.seeds]  # fmt: skip


def exact_optima(config: SweepConfig) -> dict[tuple, dict[str, Any]]:
    """The certified optimum of every problem group (NaN where no exact method exists)."""
    from confx.envs.problem import build_problem
    from confx.pipeline.search import run_search

    optima = {}
    groups = itertools.product(config.networks, config.dataflows, config.objectives, config.constraints,
                               [float(m) for m in config.muls])  # fmt: skip
    for group in groups:
        network, dataflow, objective, constraint, mul = group
        problem = build_problem(network, dataflow=dataflow, objective=objective, constraint=constraint, mul=mul,
                                space=config.space)  # fmt: skip
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
                 "error", "run_id", "node_id")  # fmt: skip
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
               "sweep": config.name, "trial_key": trial["trial_key"], "run_name": run_name(trial["trial_key"]),
               "settings": json.dumps(trial["settings"], sort_keys=True)}  # fmt: skip
        if (folder / "trial.json").is_file():
            summary = json.loads((folder / "summary.json").read_text())
            final = json.loads((folder / "trial.json").read_text())
            row.update({k: summary[k] for k in SUMMARY_COLUMNS})
            row.update(optimum=final["optimum"], gap=final["gap"], run_id=final["run_id"], status="ok", error="",
                       node_id=final.get("node_id", ""))  # fmt: skip
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


def tuned_trials(results_dir: Path, planned: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Trials that Optuna proposed (not in the grid plan), from their folders."""
    known = {t["trial_key"] for t in planned}
    found = []
    for path in sorted((results_dir / TRIALS_FOLDER).glob("*/trial.json")):
        trial = json.loads(path.read_text())["trial"]
        if trial["trial_key"] not in known:
            found.append(trial)
    return found


def write_results(trials: pd.DataFrame, layers: pd.DataFrame, results_dir: Path) -> list[Path]:
    """Write ``trials.parquet`` and the ``layers/`` dataset (hive-partitioned by network and dataflow)."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    from confx.pipeline.results.tables import write_table

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


# --- tuning algorithm settings with Optuna -------------------------------------------------


def _search_space(entry: AlgorithmEntry) -> dict[str, Any]:
    from ray import tune

    space = {}
    for name, dist in entry.tune.space.items():
        if dist.uniform is not None:
            space[name] = tune.uniform(*dist.uniform)
        elif dist.loguniform is not None:
            space[name] = tune.loguniform(*dist.loguniform)
        elif dist.randint is not None:
            space[name] = tune.randint(dist.randint[0], dist.randint[1] + 1)  # inclusive upper bound
        else:
            space[name] = tune.choice(dist.choice)
    return space


def run_tuning(
    config: SweepConfig, entry: AlgorithmEntry, index: int, context: SweepContext, *, resume: bool, echo: Any
) -> None:
    """Search one algorithm's settings with Optuna (TPE) through Tune, over every problem of the sweep.

    Each Tune trial takes one sample of the settings, runs the algorithm on every
    problem group and seed (each search recorded like a grid trial) and reports
    the mean gap (or mean objective), which Optuna minimises.
    """
    from ray import tune
    from ray.tune.search.optuna import OptunaSearch

    location = context.results_dir
    name = f"tune-{index}-{entry.name}"
    base = tuning_base_trials(config, entry)
    trainable = _with_resources(config, tune.with_parameters(run_tuning_trial, context=context, base_trials=base))
    metric = entry.tune.metric
    mode = "max" if metric == "objective" and set(config.objectives) & MAXIMISED else "min"
    if resume and tune.Tuner.can_restore(storage.join(location, name)):
        tuner = tune.Tuner.restore(storage.join(location, name), trainable=trainable, resume_unfinished=True)
    else:
        tuner = tune.Tuner(
            trainable, param_space=_search_space(entry),
            tune_config=tune.TuneConfig(search_alg=OptunaSearch(metric=metric, mode=mode, seed=0),
                                        num_samples=entry.tune.num_samples, reuse_actors=True),
            run_config=tune.RunConfig(name=name, storage_path=location, verbose=0,
                                      failure_config=tune.FailureConfig(max_failures=config.max_failures)),
        )  # fmt: skip
    echo(f"tuning {entry.name}: {entry.tune.num_samples} Optuna samples x {len(base)} searches")
    grid = tuner.fit()
    finished = [r for r in grid if not r.error and metric in (r.metrics or {})]
    if finished:
        best = min(finished, key=lambda r: r.metrics[metric] * (1 if mode == "min" else -1))
        echo(f"tuned {entry.name}: best mean {metric} {best.metrics[metric]:.4g} with {best.config}")


# --- the driver -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepOutcome:
    """What a sweep left behind: its location (path or URI), the local copy of its results, ..."""

    location: str
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


def _with_resources(config: SweepConfig, trainable: Any) -> Any:
    """Reserve the trial's CPUs plus bundles for the GA's nested Ray tasks."""
    from ray import tune

    resources = config.resources
    bundles = [{"CPU": resources.cpus_per_trial}] + [{"CPU": resources.ga_task_cpus}] * resources.ga_tasks
    return tune.with_resources(trainable, tune.PlacementGroupFactory(bundles))


def run_grid(
    config: SweepConfig, trials: list[dict[str, Any]], context: SweepContext, *, restoring: bool, echo: Any
) -> dict[str, str]:
    """Run (or continue) the grid of planned trials on Tune; return the errors of failed trials by key."""
    from ray import tune

    if not trials:
        return {}
    location = context.results_dir
    trainable = _with_resources(config, tune.with_parameters(run_trial, context=context))
    if restoring:
        echo(f"resuming {storage.join(location, TUNE_FOLDER)}")
        tuner = tune.Tuner.restore(storage.join(location, TUNE_FOLDER), trainable=trainable, resume_unfinished=True,
                                   resume_errored=False)  # fmt: skip
    else:
        tuner = tune.Tuner(
            trainable,
            param_space={"trial": tune.grid_search(trials)},
            tune_config=tune.TuneConfig(max_concurrent_trials=config.resources.max_concurrent_trials or None,
                                        reuse_actors=True,  # skips re-importing torch and RLlib per trial
                                        trial_dirname_creator=_trial_folder_name),
            run_config=tune.RunConfig(name=TUNE_FOLDER, storage_path=location, verbose=0,
                                      failure_config=tune.FailureConfig(max_failures=config.max_failures),
                                      callbacks=[_progress_callback(len(trials), echo)]),
        )  # fmt: skip
    grid = tuner.fit()
    return {r.config["trial"]["trial_key"]: str(r.error).strip().splitlines()[-1] for r in grid if r.error}


def run_sweep(
    config: SweepConfig,
    *,
    address: str | None = None,
    tracking_uri: str | None = None,
    resume: bool = False,
    results_folder: Path | None = None,
    echo: Any = print,
) -> SweepOutcome:
    """Run (or continue) a sweep and assemble its results.

    Args:
        config: The validated sweep.
        address: A Ray cluster to join (default: start a local Ray).
        tracking_uri: An MLflow server (default: the config's, else SQLite in the results folder).
        resume: Continue an interrupted sweep of the same name; finished trials are kept.
        results_folder: Where this sweep's results go (default: ``<results_dir>/<name>``).
        echo: Receives progress lines.

    Raises:
        ConfXError: Results of this sweep exist and ``resume`` is off.
    """
    from ray import tune

    from confx.pipeline.results.report import build_report
    from confx.pipeline.results.tracking import (
        close_parent_run,
        default_tracking_uri,
        ensure_experiment,
        open_parent_run,
    )

    location = str(results_folder) if results_folder else storage.join(config.results_dir, config.name)
    location = location if storage.is_remote(location) else str(Path(location).absolute())
    results_dir = storage.local_mirror(location)
    restoring = resume and tune.Tuner.can_restore(storage.join(location, TUNE_FOLDER))
    if storage.exists(storage.join(location, TUNE_FOLDER)) and not restoring:
        raise ConfXError(f"sweep {config.name!r} already has results in {location}; "
                         "continue it with --resume, or remove that folder to start over")  # fmt: skip
    results_dir.mkdir(parents=True, exist_ok=True)
    trials = plan_trials(config)
    echo(f"sweep {config.name}: {len(trials)} grid trials; results in {location}")
    if storage.is_remote(location) and not (tracking_uri or config.tracking.uri):
        raise ConfXError(f"results in {location} need a shared MLflow tracking server: pass --tracking-uri http://...")
    if address and not (tracking_uri or config.tracking.uri):
        echo("warning: on a cluster, pass --tracking-uri http://<head>:5000 so that every node logs to one server")
    uri = tracking_uri or config.tracking.uri or default_tracking_uri(results_dir)
    experiment_id = ensure_experiment(uri, config.name)
    parent = open_parent_run(uri, experiment_id, sweep_id=location, run_name=f"sweep-{config.name}",
                             params={"config": config.model_dump_json(), "n_trials": len(trials),
                                     "cost_model_version": COST_MODEL_VERSION},
                             tags={"confx.sweep": config.name})  # fmt: skip
    start = time.perf_counter()
    optima = exact_optima(config)
    echo(f"exact optima of {len(optima)} problem groups in {time.perf_counter() - start:.1f} s")
    _start_ray(address)
    context = SweepContext(config.name, location, uri, experiment_id, parent, optima,
                           config.resources.ga_tasks, config.resources.ga_task_cpus)  # fmt: skip
    errors = run_grid(config, trials, context, restoring=restoring, echo=echo)
    for index, entry in enumerate(e for e in config.algorithms if e.tune is not None):
        run_tuning(config, entry, index, context, resume=restoring, echo=echo)
    storage.download(storage.join(location, TRIALS_FOLDER), results_dir / TRIALS_FOLDER)
    table, layers = collect_results(config, trials + tuned_trials(results_dir, trials), results_dir, errors)
    written = write_results(table, layers, results_dir)
    report, plots = build_report(table, results_dir, title=f"ConfX sweep {config.name}")
    for path in [*written, report, *plots]:
        storage.upload(path, storage.join(location, path.name))
    n_failed = int((table["status"] != "ok").sum())
    close_parent_run(uri, parent, status="FINISHED" if n_failed == 0 else "FAILED",
                     artifact_files=[report, *plots, written[0]],
                     metrics={"trials_ok": len(table) - n_failed, "trials_failed": n_failed,
                              "wall_time_s": time.perf_counter() - start})  # fmt: skip
    echo(f"sweep {config.name}: {len(table) - n_failed} trials ok, {n_failed} failed")
    return SweepOutcome(location, results_dir, table, parent, uri, report)
