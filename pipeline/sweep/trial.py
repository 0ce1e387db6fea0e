"""One sweep trial: a search on one problem, its outputs, its MLflow child run.

Runs inside a Tune function trainable on any node. It reports progress to
Tune, writes ``summary.json``, ``solution.parquet``, ``curve.parquet`` and
``trial.json`` into ``<results>/<sweep>/trials/<trial_key>/`` and logs one
MLflow child run, found again by its trial key so that a retried trial never
duplicates it. A failing search is recorded as a FAILED run, then re-raised so
that Tune retries it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

TRIALS_FOLDER = "trials"
GROUP_AXES = ("network", "dataflow", "objective", "constraint", "mul")
"""Axes that define a problem; trials of one group share its exact optimum."""


def group_of(trial: dict[str, Any]) -> tuple:
    """The problem group of a trial (its values of :data:`GROUP_AXES`)."""
    return tuple(trial[axis] for axis in GROUP_AXES)


def trial_key(trial: dict[str, Any]) -> str:
    """A stable, readable id of a trial: its run name plus a hash of its settings."""
    settings = json.dumps(trial["settings"], sort_keys=True)
    digest = hashlib.sha1(f"{settings}|{trial['budget']}|{trial['epochs']}|{trial['space']}".encode()).hexdigest()[:8]
    network = Path(trial["network"]).stem
    return (f"{network}_F-{trial['objective']}_C-{trial['constraint']}_Mul-{trial['mul']}_DF-{trial['dataflow']}"
            f"_{trial['algorithm']}_s{trial['seed']}_{digest}")  # fmt: skip


def gap(objective_value: float, optimum: float, sense: str) -> float:
    """Relative distance to the optimum, >= 0 when the optimum is right (NaN if unknown)."""
    if not np.isfinite(optimum) or not np.isfinite(objective_value) or optimum == 0:
        return float("nan")
    return objective_value / optimum - 1 if sense == "min" else 1 - objective_value / optimum


@dataclass(frozen=True)
class SweepContext:
    """What every trial needs besides its own axes (passed once through ``tune.with_parameters``)."""

    sweep: str
    results_dir: str
    tracking_uri: str
    experiment_id: str
    parent_run_id: str
    optima: dict[tuple, dict[str, Any]]
    ga_tasks: int
    ga_task_cpus: float


def _search_options(trial: dict[str, Any], context: SweepContext, report: Any) -> dict[str, Any]:
    from confx.pipeline.search import RL_ALGORITHMS

    options = dict(trial["settings"])
    if trial["algorithm"] in RL_ALGORITHMS:
        options.update(epochs=trial["epochs"], progress=report)
    if trial["algorithm"] == "confuciux":
        options.setdefault("n_chunks", max(1, context.ga_tasks))
        options.setdefault("task_cpus", context.ga_task_cpus)
        options.setdefault("use_ray", context.ga_tasks > 0)
    return options


def run_trial(config: dict[str, Any], context: SweepContext) -> None:
    """Tune function trainable: one search, its outputs, its MLflow child run."""
    import torch
    from ray import tune

    torch.set_num_threads(1)
    trial = config["trial"]
    def report(event: dict) -> None:
        tune.report({k: v for k, v in event.items() if k != "message"} | {"done": False})

    try:
        final = _search_and_record(trial, context, report)
    except Exception:
        _log_failed_trial(trial, context, traceback.format_exc())
        raise
    tune.report({**final, "best_objective": final["objective_value"], "done": True})


def run_tuning_trial(config: dict[str, Any], context: SweepContext, base_trials: list[dict[str, Any]]) -> None:
    """Tune function trainable of a tuning stage: one sample of settings, run on every problem.

    Reports the mean gap and mean objective over the problems after each search
    (Optuna reads the last report).
    """
    import torch
    from ray import tune

    torch.set_num_threads(1)
    gaps, objectives = [], []
    for base in base_trials:
        trial = {**base, "settings": {**base["settings"], **config}}
        trial["trial_key"] = trial_key(trial)
        try:
            final = _search_and_record(trial, context, lambda event: None)
        except Exception:
            _log_failed_trial(trial, context, traceback.format_exc())
            raise
        gaps.append(final["gap"])
        objectives.append(final["objective_value"] if final["objective_value"] is not None else np.nan)
        tune.report({"gap": float(np.nanmean(gaps)) if np.isfinite(gaps).any() else float("nan"),
                     "objective": float(np.nanmean(objectives)), "searches": len(gaps)})  # fmt: skip


def _search_and_record(trial: dict[str, Any], context: SweepContext, report: Any) -> dict[str, Any]:
    """Run the trial's search, write its outputs and log its child run; return its final metrics.

    Outputs go to ``<results>/trials/<trial_key>/``, through a local folder when the results
    live at a remote URI.
    """
    from confx.pipeline.results import storage

    location = storage.join(context.results_dir, TRIALS_FOLDER, trial["trial_key"])
    staging = tempfile.mkdtemp(prefix="confx-trial-") if storage.is_remote(location) else location
    out = Path(staging)
    from confx.envs.problem import build_problem
    from confx.pipeline.results.search_outputs import curve_frame, solution_frame, summary_dict, write_search
    from confx.pipeline.search import run_search

    optimum = context.optima[group_of(trial)]["optimum"]
    problem = build_problem(trial["network"], dataflow=trial["dataflow"], objective=trial["objective"],
                            constraint=trial["constraint"], mul=trial["mul"], space=trial["space"])  # fmt: skip
    result = run_search(problem, trial["algorithm"], budget=trial["budget"], seed=trial["seed"],
                        **_search_options(trial, context, report))  # fmt: skip
    write_search(problem, result, out)
    summary = summary_dict(problem, result)
    final = {"objective_value": summary["objective_value"], "gap": gap(result.objective_value, optimum, problem.sense),
             "optimum": optimum, "feasible": result.feasible, "model_evaluations": problem.model_evaluations,
             "cost_model_calls": problem.cost_model_calls, "wall_time_s": result.wall_time_s}  # fmt: skip
    solution = solution_frame(problem, result.design)
    run_id = _log_trial(trial, context, summary=summary, curve=curve_frame(result), solution=solution,
                        extra_metrics={"gap": final["gap"], "optimum": final["optimum"]}, status="FINISHED",
                        error=None)  # fmt: skip
    record = {**final, "run_id": run_id, "node_id": _node_id(), "trial": trial}
    (out / "trial.json").write_text(json.dumps(record, default=str))
    storage.upload(out, location)
    return final


def _node_id() -> str:
    """The Ray node this trial ran on ("" outside Ray)."""
    import ray

    return ray.get_runtime_context().get_node_id() if ray.is_initialized() else ""


def _trial_params(trial: dict[str, Any]) -> dict[str, Any]:
    params = {k: v for k, v in trial.items() if k != "settings"}
    params.update({f"setting.{k}": v for k, v in trial["settings"].items()})
    return params


def run_name(trial_key: str) -> str:
    """A trial's MLflow run name: its key without the settings hash."""
    return trial_key.rsplit("_", 1)[0]


def _log_trial(trial: dict[str, Any], context: SweepContext, **outcome: Any) -> str:
    """Log (or update) the trial's child run; ``outcome`` holds log_trial's result arguments."""
    from confx.pipeline.results.tracking import log_trial

    return log_trial(
        context.tracking_uri, context.experiment_id, context.parent_run_id, trial_key=trial["trial_key"],
        run_name=run_name(trial["trial_key"]), params=_trial_params(trial),
        tags={"confx.sweep": context.sweep, "confx.algorithm": trial["algorithm"]}, artifact_files=[], **outcome,
    )  # fmt: skip


def _log_failed_trial(trial: dict[str, Any], context: SweepContext, error: str) -> None:
    try:
        _log_trial(trial, context, summary={}, curve=None, solution=None, extra_metrics={}, status="FAILED",
                   error=error)  # fmt: skip
    except Exception:  # tracking must never hide the trial's own error
        logger.exception("could not record the failure of %s in MLflow", trial["trial_key"])
