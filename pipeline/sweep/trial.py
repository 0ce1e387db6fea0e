"""One trial of a sweep, inside a Tune trainable: run its search, write its outputs, log its run.

Outputs go to ``<results>/trials/<trial key>/`` (staged locally when the results live at a
URI). The MLflow child run is found again by the trial key, so that a retried trial never
duplicates it. A failing search is recorded as a FAILED run, then re-raised so that Tune
retries it.
"""

from __future__ import annotations

import json
import logging
import tempfile
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from confx.pipeline.search.base import Progress
from confx.pipeline.sweep.plan import Group, Trial, gap

if TYPE_CHECKING:
    from confx.envs.problem import Problem

logger = logging.getLogger(__name__)

TRIALS_FOLDER = "trials"
RECORD_FILE = "trial.json"
"""Written last into a trial's folder: its presence means the trial finished."""
NETWORK_FILE = "network.csv"
"""The layer table a trial searched (an imported or file network), in its folder and its MLflow run."""


@dataclass(frozen=True)
class Optimum:
    """The certified optimum of a problem group (NaN where no exact method exists) and its budget."""

    value: float
    budget: float


@dataclass(frozen=True)
class SweepContext:
    """What every trial needs besides itself (passed once through ``tune.with_parameters``).

    Attributes:
        sweep: The sweep's name.
        location: The sweep's results (a path or a URI).
        tracking_uri: The MLflow store.
        experiment_id: The sweep's MLflow experiment.
        parent_run_id: The sweep's parent run.
        optima: The certified optimum of every problem group.
        trials: The planned trials by key (Tune's grid holds only the keys).
        ga_tasks: Ray tasks per GA generation (0: evaluate in-process).
        ga_task_cpus: CPUs each GA task reserves.
        tables: The layer-table file (path or URI) of each network SOURCE that is not a built-in name.
        name_axes: The axes that vary in the sweep; the runs' names show them
            (see :meth:`~confx.pipeline.sweep.plan.Trial.short_name`).
    """

    sweep: str
    location: str
    tracking_uri: str
    experiment_id: str
    parent_run_id: str
    optima: Mapping[Group, Optimum]
    trials: Mapping[str, Trial]
    ga_tasks: int
    ga_task_cpus: float
    tables: Mapping[str, str] = field(default_factory=dict)
    name_axes: tuple[str, ...] = ()


def _search_settings(trial: Trial, context: SweepContext) -> dict[str, Any]:
    """The trial's settings plus, for ConfuciuX, where its GA stage runs (unless the trial says)."""
    settings = dict(trial.settings)
    if trial.algorithm == "confuciux":
        settings.setdefault("n_chunks", max(1, context.ga_tasks))
        settings.setdefault("task_cpus", context.ga_task_cpus)
        settings.setdefault("use_ray", context.ga_tasks > 0)
    return settings


def run_trial(config: dict[str, Any], context: SweepContext) -> None:
    """Tune function trainable: one planned trial (``config["trial_key"]``)."""
    import torch
    from ray import tune

    torch.set_num_threads(1)
    trial = context.trials[config["trial_key"]]

    def report(event: Mapping[str, object]) -> None:
        tune.report({k: v for k, v in event.items() if k != "message"} | {"done": False})

    final = search_and_record(trial, context, report)
    tune.report({**final, "best_objective": final["objective_value"], "done": True})


def run_tuning_trial(config: dict[str, Any], context: SweepContext, base_trials: list[Trial]) -> None:
    """Tune function trainable of a tuning stage: one sample of settings, run on every problem.

    Reports the mean gap and mean objective over the problems after each search
    (Optuna reads the last report).
    """
    import torch
    from ray import tune

    torch.set_num_threads(1)
    gaps, objectives = [], []
    for base in base_trials:
        final = search_and_record(base.with_settings(config), context, lambda event: None)
        gaps.append(final["gap"])
        objectives.append(final["objective_value"] if final["objective_value"] is not None else np.nan)
        tune.report(
            {
                "gap": float(np.nanmean(gaps)) if np.isfinite(gaps).any() else float("nan"),
                "objective": float(np.nanmean(objectives)),
                "searches": len(gaps),
            }
        )


def search_and_record(trial: Trial, context: SweepContext, report: Progress) -> dict[str, Any]:
    """Run the trial's search, write its outputs and log its child run; return its final metrics.

    A failure is logged as a FAILED child run and re-raised (Tune retries the trial).
    """
    try:
        return _search_and_record(trial, context, report)
    except Exception:
        _log_failed_trial(trial, context, traceback.format_exc())
        raise


def build_trial_problem(trial: Trial, folder: Path) -> Problem:
    """The trial's problem, on the layer table the sweep resolved for its network.

    The table (``trial.table``) is copied into ``folder`` as :data:`NETWORK_FILE` (downloaded when it
    lives at a URI), and that local file is what the problem and its env runners load, so that every
    process of every trial searches the same table; a built-in name is loaded from the package.
    """
    from confx.costmodel.layers import load_network
    from confx.envs.problem import build_problem
    from confx.pipeline.results import storage

    model, layers = trial.network, None
    if trial.table:
        folder.mkdir(parents=True, exist_ok=True)
        model = str(storage.fetch_file(trial.table, folder / NETWORK_FILE))
        layers = replace(load_network(model), name=trial.network_name)
    return build_problem(
        model,
        dataflow=trial.dataflow,
        objective=trial.objective,
        constraint=trial.constraint,
        mul=trial.mul,
        space=trial.action_space(),
        layers=layers,
    )


def _search_and_record(trial: Trial, context: SweepContext, report: Progress) -> dict[str, Any]:
    from confx.pipeline.results import storage
    from confx.pipeline.results.search_outputs import curve_frame, solution_frame, summary_dict, write_search
    from confx.pipeline.results.tables import write_text
    from confx.pipeline.search import run_search

    location = storage.join(context.location, TRIALS_FOLDER, trial.key)
    out = Path(tempfile.mkdtemp(prefix="confx-trial-") if storage.is_remote(location) else location)
    optimum = context.optima[trial.group].value
    _start_run(trial, context)
    problem = build_trial_problem(trial, out)
    result = run_search(
        problem,
        trial.algorithm,
        seed=trial.seed,
        budget=trial.budget,
        epochs=trial.epochs,
        settings=_search_settings(trial, context),
        progress=report,
    )
    write_search(problem, result, out)
    summary = summary_dict(problem, result)
    final = {
        "objective_value": summary["objective_value"],
        "gap": gap(result.objective_value, optimum, problem.sense),
        "optimum": optimum,
        "feasible": result.feasible,
        "model_evaluations": problem.model_evaluations,
        "cost_model_calls": problem.cost_model_calls,
        "wall_time_s": result.wall_time_s,
    }
    run_id = _log_trial(
        trial,
        context,
        summary=summary,
        curve=curve_frame(result),
        solution=solution_frame(problem, result.design),
        extra_metrics={"gap": final["gap"], "optimum": final["optimum"]},
        status="FINISHED",
        error=None,
        artifact_files=[out / NETWORK_FILE] if trial.table else [],
    )
    record = {**final, "run_id": run_id, "node_id": _node_id(), "trial": trial.to_record()}
    write_text(out / RECORD_FILE, json.dumps(record, default=str))
    storage.upload(out, location)
    return final


def _node_id() -> str:
    """The Ray node this trial ran on ("" outside Ray)."""
    import ray

    return str(ray.get_runtime_context().get_node_id()) if ray.is_initialized() else ""


def _trial_params(trial: Trial) -> dict[str, Any]:
    """The trial's axes and settings, with only the budget that bounds its algorithm.

    ``evaluation_budget`` (whole-model evaluations) for the baselines, ``epochs`` for the RL
    searches, neither for the exact solver. The area or power budget is a metric.
    """
    from confx.pipeline.search.settings import algorithm_spec

    params = {k: v for k, v in trial.to_record().items() if k not in ("settings", "budget", "epochs")}
    if (trial.hardware, trial.noc_bw, trial.simd_lanes) == ("release", (), ()):
        for name in ("hardware", "noc_bw", "simd_lanes"):  # the release's runs keep their params
            del params[name]
    unit = algorithm_spec(trial.algorithm).budget_unit
    if unit == "evaluations":
        params["evaluation_budget"] = trial.budget
    elif unit == "epochs":
        params["epochs"] = trial.epochs
    params["trial_key"] = trial.key
    params.update({f"setting.{k}": v for k, v in trial.settings.items()})
    return params


def _run_tags(trial: Trial, context: SweepContext) -> dict[str, str]:
    from confx.pipeline.results.tracking import FULL_NAME_TAG

    return {"confx.sweep": context.sweep, "confx.algorithm": trial.algorithm, FULL_NAME_TAG: trial.run_name}


def _start_run(trial: Trial, context: SweepContext) -> None:
    """Create the trial's child run now, so that its start time is the search's."""
    from confx.pipeline.results.tracking import start_trial_run

    start_trial_run(
        context.tracking_uri,
        context.experiment_id,
        context.parent_run_id,
        trial_key=trial.key,
        run_name=trial.short_name(context.name_axes),
        tags=_run_tags(trial, context),
    )


def _log_trial(
    trial: Trial,
    context: SweepContext,
    *,
    summary: Mapping[str, object],
    curve: Any,
    solution: Any,
    extra_metrics: Mapping[str, object],
    status: str,
    error: str | None,
    artifact_files: Sequence[Path] = (),
) -> str:
    """Log (or update) the trial's child run; ``artifact_files`` go to its artifact root."""
    from confx.pipeline.results.tracking import log_trial

    return log_trial(
        context.tracking_uri,
        context.experiment_id,
        context.parent_run_id,
        trial_key=trial.key,
        run_name=trial.short_name(context.name_axes),
        params=_trial_params(trial),
        tags=_run_tags(trial, context),
        summary=summary,
        curve=curve,
        solution=solution,
        extra_metrics=extra_metrics,
        status=status,
        error=error,
        artifact_files=list(artifact_files),
    )


def _log_failed_trial(trial: Trial, context: SweepContext, error: str) -> None:
    try:
        _log_trial(
            trial, context, summary={}, curve=None, solution=None, extra_metrics={}, status="FAILED", error=error
        )
    except Exception:  # tracking must never hide the trial's own error
        logger.exception("could not record the failure of %s in MLflow", trial.key)
