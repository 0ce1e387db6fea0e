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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from confx.pipeline.search.base import Progress, SearchResult
from confx.pipeline.sweep.chunks import Chunk
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
class ExactRun:
    """An exact search the driver ran, kept so that the group's ``exact`` trial reuses it.

    Attributes:
        result: The search's result.
        cost_model_calls: The problem's counters after it (they belong in the trial's summary).
        model_evaluations: See ``cost_model_calls``.
    """

    result: SearchResult
    cost_model_calls: int
    model_evaluations: int


@dataclass(frozen=True)
class Optimum:
    """The certified optimum of a problem group (NaN where no exact method exists) and its budget.

    ``exact`` is the search that found it, reused by the group's ``exact`` trial.
    """

    value: float
    budget: float
    exact: ExactRun | None = None


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
        chunks: The Tune trials' searches, by chunk key.
        max_failures: Retries of a failing search (inside its chunk) before it is recorded as failed.
        known_runs: Child runs that already exist (an earlier invocation's), by trial key.
        exact_trials: The key of each group's ``exact`` trial (a resumed chunk reads the optimum from its record).
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
    chunks: Mapping[str, Chunk] = field(default_factory=dict)
    max_failures: int = 1
    known_runs: Mapping[str, str] = field(default_factory=dict)
    exact_trials: Mapping[Group, str] = field(default_factory=dict)


def _search_settings(trial: Trial, context: SweepContext) -> dict[str, Any]:
    """The trial's settings plus, for ConfuciuX, where its GA stage runs (unless the trial says)."""
    settings = dict(trial.settings)
    if trial.algorithm == "confuciux":
        settings.setdefault("n_chunks", max(1, context.ga_tasks))
        settings.setdefault("task_cpus", context.ga_task_cpus)
        settings.setdefault("use_ray", context.ga_tasks > 0)
    return settings


def run_chunk(config: dict[str, Any], context: SweepContext) -> None:
    """Tune function trainable: one chunk of searches (``config["chunk"]``).

    An RL search (a chunk of its own) reports its progress live and logs its run as it goes;
    a chunk of cheap searches goes through :func:`confx.pipeline.sweep.batch.run_batch`.
    """
    from ray import tune

    chunk = context.chunks[config["chunk"]]
    if not chunk.expensive:
        from confx.pipeline.sweep.batch import run_batch

        run_batch(chunk, context)  # cheap searches: no torch
        return
    from confx.pipeline.search.confuciux import single_threaded_torch

    # Before the search imports RLlib: measured, a ConfuciuX trial (E = 500) ran 25-31 s with the
    # threads set here and 34-37 s with only the search's own call, in a Ray worker.
    single_threaded_torch()
    trial = context.trials[chunk.trial_keys[0]]

    def report(event: Mapping[str, object]) -> None:
        tune.report({k: v for k, v in event.items() if k != "message"} | {"done": False, **counts(0, 0)})

    final = search_and_record(trial, context, report)
    outcome = final.pop("record")
    from confx.pipeline.sweep.batch import write_parts

    write_parts(chunk, context, [(outcome, final["run_id"])])
    tune.report({**final, "best_objective": final["objective_value"], "done": True, **counts(1, 0)})


def counts(done: int, failed: int, failures: Mapping[str, str] | None = None) -> dict[str, object]:
    """A chunk's report: its searches finished and failed so far, and the failures' last lines (JSON)."""
    return {"chunk_done": done, "chunk_failed": failed, "chunk_failures": json.dumps(dict(failures or {}))}


def run_tuning_trial(config: dict[str, Any], context: SweepContext, base_trials: list[Trial]) -> None:
    """Tune function trainable of a tuning stage: one sample of settings, run on every problem.

    Reports the mean gap and mean objective over the problems after each search
    (Optuna reads the last report).
    """
    from ray import tune

    from confx.pipeline.search.confuciux import single_threaded_torch

    single_threaded_torch()  # as an RL trial does (see run_chunk)
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

    ``record`` holds the :class:`SearchOutcome`.

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


@dataclass(frozen=True)
class SearchOutcome:
    """One finished search: its outputs (written into its folder) and its final metrics.

    Attributes:
        trial: The search.
        final: ``objective_value``, ``gap``, ``optimum``, ``feasible``, the counters and ``wall_time_s``.
        summary: Its ``summary.json``.
        curve: Its ``curve.parquet``.
        solution: Its ``solution.parquet`` as an Arrow table (one row per layer; none when nothing
            feasible was found).
        folder: The local folder holding its outputs.
        location: Where that folder belongs (the same path, or a URI it is uploaded to).
        start_ms: When it started, ms since the epoch (its MLflow run's start time).
        end_ms: When it ended.
    """

    trial: Trial
    final: dict[str, Any]
    summary: dict[str, Any]
    curve: Any
    solution: Any
    folder: Path
    location: str
    start_ms: int
    end_ms: int


def trial_folder(trial: Trial, context: SweepContext) -> tuple[Path, str]:
    """A search's local output folder and where it belongs (a temporary folder when the results are at a URI)."""
    from confx.pipeline.results import storage

    location = storage.join(context.location, TRIALS_FOLDER, trial.key)
    return Path(tempfile.mkdtemp(prefix="confx-trial-") if storage.is_remote(location) else location), location


def exact_or_infeasible(problem: Problem, *, seed: int = 0) -> SearchResult:
    """The exact solver's result; a budget below every design is a result too (nothing feasible), not an error."""
    from confx.costmodel.errors import ConfXError
    from confx.pipeline.search import run_search

    try:
        return run_search(problem, "exact", seed=seed)
    except ConfXError as error:
        return SearchResult("exact", seed, None, float("nan"), float("nan"), False, False, [], 0.0, note=str(error))


def run_search_outputs(
    trial: Trial,
    context: SweepContext,
    problem: Problem,
    *,
    folder: tuple[Path, str],
    optimum: float,
    report: Progress,
    exact: ExactRun | None = None,
) -> SearchOutcome:
    """Run the trial's search on problem (or take ``exact``, the group's exact search) and write its outputs.

    A search that finds nothing feasible reports that (``feasible`` false, no objective value).
    """
    import time

    from confx.pipeline.results.search_outputs import curve_frame, solution_table, summary_dict, write_outputs
    from confx.pipeline.search import run_search

    out, location = folder
    start_ms = int(time.time() * 1000)
    if exact is not None:
        result = exact.result
        problem.memo.cost_model_calls = exact.cost_model_calls
        problem.model_evaluations = exact.model_evaluations
    elif trial.algorithm == "exact":
        result = exact_or_infeasible(problem, seed=trial.seed)
    else:
        result = run_search(
            problem,
            trial.algorithm,
            seed=trial.seed,
            budget=trial.budget,
            epochs=trial.epochs,
            settings=_search_settings(trial, context),
            progress=report,
        )
    summary = summary_dict(problem, result)
    curve, solution = curve_frame(result), solution_table(problem, result.design)
    write_outputs(out, solution, curve, summary)
    final = {
        "objective_value": summary["objective_value"],
        "gap": gap(result.objective_value, optimum, problem.sense),
        "optimum": optimum,
        "feasible": result.feasible,
        "model_evaluations": problem.model_evaluations,
        "cost_model_calls": problem.cost_model_calls,
        "wall_time_s": result.wall_time_s,
    }
    return SearchOutcome(trial, final, summary, curve, solution, out, location, start_ms, int(time.time() * 1000))


def write_record(outcome: SearchOutcome, run_id: str) -> dict[str, Any]:
    """Write the search's record (``trial.json``, last: it marks the search finished) and upload its folder."""
    from confx.pipeline.results import storage
    from confx.pipeline.results.tables import write_text

    record = {**outcome.final, "run_id": run_id, "node_id": _node_id(), "trial": outcome.trial.to_record()}
    write_text(outcome.folder / RECORD_FILE, json.dumps(record, default=str))
    storage.upload(outcome.folder, outcome.location)
    return record


def _search_and_record(trial: Trial, context: SweepContext, report: Progress) -> dict[str, Any]:
    # The child run opens on a thread while the search starts (a worker's first MLflow call costs ~2 s);
    # leaving the block waits for it, so a failing search is logged on the run it opened.
    with ThreadPoolExecutor(1, thread_name_prefix="confx-run") as pool:
        opening = pool.submit(_start_run, trial, context)
        folder = trial_folder(trial, context)
        problem = build_trial_problem(trial, folder[0])
        optimum = context.optima[trial.group].value
        outcome = run_search_outputs(trial, context, problem, folder=folder, optimum=optimum, report=report)
    opening.result()
    run_id = _log_trial(
        trial,
        context,
        summary=outcome.summary,
        curve=outcome.curve,
        solution=outcome.solution,
        extra_metrics={"gap": outcome.final["gap"], "optimum": outcome.final["optimum"]},
        status="FINISHED",
        error=None,
        artifact_files=[folder[0] / NETWORK_FILE] if trial.table else [],
    )
    write_record(outcome, run_id)
    return {**outcome.final, "run_id": run_id, "record": outcome}


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
