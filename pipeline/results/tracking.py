"""MLflow tracking of a sweep: one parent run per sweep, one child run per trial.

Everything goes through an explicit ``mlflow.MlflowClient(tracking_uri)``: no global
tracking URI and no fluent active-run state, so the same calls work in the Tune driver
and inside Ray workers. Values are logged in batches (``log_batch``), never one per call:
over HTTP each call costs about 15 ms.

Runs are found again by tag, so a resumed sweep or a retried trial never duplicates one:

* the parent by ``confx.sweep_id``; each opening increments ``confx.invocations``;
* a child by ``confx.trial_key`` under its parent (``mlflow.parentRunId``).

MLflow params are immutable, so a child run that already holds different params or a
different best-so-far curve (a trial whose configuration or result changed) is deleted
and logged afresh; an agreeing one is completed in place.

A child run is created when its trial starts (:func:`start_trial_run`), so its start and
end times are the search's. Its metric keys carry their units (``latency_cycles``,
``area_used_um2``, ``power_budget_mW``; see :mod:`confx.pipeline.results.units`). The
objective and the ``gap`` to the optimum are best-so-far histories whose step is the
number of whole-model evaluations, so that curves of different problems overlay in the
UI; their last point is the final value.
"""

from __future__ import annotations

import contextlib
import logging
import math
import numbers
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pandas as pd
import pyarrow as pa
from mlflow.entities import Metric, Param, Run, RunStatus, RunTag
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import RESOURCE_ALREADY_EXISTS, ErrorCode
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

from confx.pipeline.results.figures import new_figure
from confx.pipeline.results.maestro_export import write_mapping_files
from confx.pipeline.results.tables import write_table
from confx.pipeline.results.units import constraint_key, objective_key, objective_label
from confx.pipeline.sweep.plan import gap

logger = logging.getLogger(__name__)

# Over HTTP, MlflowClient.set_terminated fetches the run again only to print its URL to stdout:
# one more round trip per run and two lines per trial in the workers' logs. Set it to false to see them.
os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")

SWEEP_ID_TAG = "confx.sweep_id"
INVOCATIONS_TAG = "confx.invocations"
TRIAL_KEY_TAG = "confx.trial_key"
FULL_NAME_TAG = "confx.full_name"
ERROR_TAG = "confx.error"
ERROR_MAX_CHARS = 5000
# MLflow rejects longer param values (mlflow.utils.validation.MAX_PARAM_VAL_LENGTH).
PARAM_MAX_CHARS = 6000
# MLflow takes at most this many metrics in one log_batch (mlflow.utils.validation.MAX_METRICS_PER_BATCH).
BATCH_METRICS = 1000

CURVE_COLUMN = "best_objective"
"""The best-so-far objective in ``curve.parquet``."""
GAP_METRIC = "gap"
FINAL_METRIC_KEYS = ("feasible", "optimal", "model_evaluations", "cost_model_calls", "wall_time_s")
"""Summary values logged as they are; the objective and constraint values get unit-bearing keys."""
TRIAL_STATUSES = ("FINISHED", "FAILED")
DB_FILE = "mlflow.db"
ARTIFACTS_FOLDER = "mlartifacts"
CONVERGENCE_PLOT = "convergence.png"
MAESTRO_ARTIFACT_PATH = "maestro"


# ----------------------------------------------------------------------------- store and experiment


def default_tracking_uri(results_dir: str | Path) -> str:
    """The embedded default store: ``sqlite:///<absolute results_dir>/mlflow.db``."""
    return f"sqlite:///{Path(results_dir).resolve() / DB_FILE}"


def _sqlite_folder(tracking_uri: str) -> Path | None:
    """The folder of a sqlite store's database file, or None for any other store."""
    prefix = "sqlite:///"
    if not tracking_uri.startswith(prefix):
        return None
    database = tracking_uri[len(prefix) :].split("?", 1)[0]
    if not database or database == ":memory:":
        return None
    # sqlite:////abs/path.db is absolute; sqlite:///rel/path.db is relative to the working folder.
    return Path(database).resolve().parent


def artifact_location(tracking_uri: str) -> str | None:
    """Where a new experiment stores its artifacts.

    A sqlite store keeps them beside the database (``<db folder>/mlartifacts``) rather than
    MLflow's default ``./mlruns`` under whatever folder the process happens to run in. For
    any other store (an ``http(s)`` server proxies artifacts) the server decides: None.
    """
    folder = _sqlite_folder(tracking_uri)
    return None if folder is None else (folder / ARTIFACTS_FOLDER).as_uri()


def prepare_store(tracking_uri: str) -> threading.Thread:
    """Open the tracking store on a thread of its own (a new SQLite file runs MLflow's ~1.5 s of migrations).

    The caller starts Ray meanwhile and joins the thread before its first MLflow call; an error
    here is left for that call to raise, with its own message.
    """

    def open_store() -> None:
        with contextlib.suppress(Exception):
            _ = mlflow.MlflowClient(tracking_uri)._tracking_client.store

    thread = threading.Thread(target=open_store, name="confx-mlflow-store", daemon=True)
    thread.start()
    return thread


def ensure_experiment(tracking_uri: str, name: str) -> str:
    """Get or create the experiment of a sweep (one per sweep name).

    A deleted experiment of that name is restored, since MLflow would refuse to create it.

    Returns:
        The experiment id.
    """
    client = mlflow.MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        if experiment.lifecycle_stage == "deleted":
            logger.info("restoring deleted MLflow experiment %r", name)
            client.restore_experiment(experiment.experiment_id)
        return experiment.experiment_id
    try:
        return client.create_experiment(name, artifact_location=artifact_location(tracking_uri))
    except MlflowException as error:
        # Another worker created it between our look-up and our create.
        if error.error_code != ErrorCode.Name(RESOURCE_ALREADY_EXISTS):
            raise
        return client.get_experiment_by_name(name).experiment_id


# ----------------------------------------------------------------------------- finding runs


def _quote(value: str) -> str:
    """Quote a value for an MLflow filter string."""
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    raise ValueError(f"run tag value {value!r} holds both quote characters; MLflow cannot search for it")


def _find_runs(client: mlflow.MlflowClient, experiment_id: str, tags: Mapping[str, str]) -> list[Run]:
    """Active runs of an experiment that carry all the given tag values, oldest first."""
    filter_string = " and ".join(f"tags.`{key}` = {_quote(value)}" for key, value in tags.items())
    return list(client.search_runs([experiment_id], filter_string, order_by=["attributes.start_time ASC"]))


def _drop_duplicates(client: mlflow.MlflowClient, runs: Sequence[Run], what: str) -> Run | None:
    """Keep the oldest run and delete the others (left by a race between two writers)."""
    if not runs:
        return None
    for extra in runs[1:]:
        logger.warning("deleting duplicate MLflow run %s of %s", extra.info.run_id, what)
        client.delete_run(extra.info.run_id)
    return runs[0]


# ----------------------------------------------------------------------------- entities


def _param_entities(params: Mapping[str, object]) -> list[Param]:
    """Params as MLflow entities, stringified and cut to MLflow's length limit."""
    entities = []
    for key, value in params.items():
        text = str(value)
        if len(text) > PARAM_MAX_CHARS:
            logger.warning("param %r is %d characters long; keeping the first %d", key, len(text), PARAM_MAX_CHARS)
            text = text[:PARAM_MAX_CHARS]
        entities.append(Param(key, text))
    return entities


def _tag_entities(tags: Mapping[str, object]) -> list[RunTag]:
    return [RunTag(key, str(value)) for key, value in tags.items()]


def _final_metrics(values: Mapping[str, object], timestamp: int) -> list[Metric]:
    """Finite numeric values (Python or numpy; bools are 0/1) as step-0 metrics; None, NaN and text left out."""
    return [
        Metric(key, float(value), timestamp, 0)
        for key, value in values.items()
        if isinstance(value, numbers.Real) and math.isfinite(value)
    ]


def _error_text(error: str) -> str:
    """The error as a tag value: head and tail of a long traceback, about :data:`ERROR_MAX_CHARS` long."""
    if len(error) <= ERROR_MAX_CHARS:
        return error
    head = ERROR_MAX_CHARS // 5
    cut = f"\n[... {len(error) - ERROR_MAX_CHARS} characters cut ...]\n"
    return error[:head] + cut + error[-(ERROR_MAX_CHARS - head) :]


def curve_points(curve: pd.DataFrame | None) -> dict[int, float]:
    """Best-so-far objective by whole-model evaluations (the metric step), last value per step.

    Rows without a finite objective (before the first feasible design) are left out.
    """
    if curve is None or curve.empty:
        return {}
    finite = curve[pd.to_numeric(curve[CURVE_COLUMN], errors="coerce").map(math.isfinite)]
    points = finite.drop_duplicates("model_evaluations", keep="last")
    steps, values = points["model_evaluations"], points[CURVE_COLUMN]
    return {int(step): float(value) for step, value in zip(steps, values, strict=True)}


# ----------------------------------------------------------------------------- artifacts


def plot_convergence(
    points: Mapping[int, float], path: Path, *, title: str, objective: str, optimum: float | None = None
) -> Path:
    """Plot the best objective against whole-model evaluations, with the exact optimum as a line.

    Args:
        points: Best-so-far objective (natural units) by whole-model evaluations.
        path: The PNG to write.
        title: The plot's title (the run's name).
        objective: The objective's name (labels the y axis with its unit).
        optimum: The problem's certified optimum; None or NaN draws no line.
    """
    figure = new_figure(6.0, 4.0)
    axes = figure.add_subplot()
    steps = sorted(points)
    values = [points[step] for step in steps]
    axes.step(steps, values, where="post", marker=".", label="best so far")
    if optimum is not None and math.isfinite(optimum):
        axes.axhline(optimum, color="black", linestyle="--", linewidth=1, label=f"exact optimum {optimum:.4g}")
    if values and min(values) > 0 and (optimum is None or not math.isfinite(optimum) or optimum > 0):
        axes.set_yscale("log")
    axes.set_xlabel("whole-model evaluations")
    axes.set_ylabel(f"best {objective_label(objective)}")
    axes.set_title(title, fontsize=9)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8)
    figure.savefig(path, dpi=110)
    return path


def _stage_trial_artifacts(
    folder: Path,
    run_name: str,
    curve: pd.DataFrame | None,
    solution: pd.DataFrame | pa.Table | None,
    summary: Mapping[str, object],
    optimum: float | None,
) -> None:
    """Write the trial's generated artifacts into folder, laid out as in the run."""
    if solution is not None:
        write_table(solution, folder / "solution.parquet")
        write_mapping_files(solution, folder / MAESTRO_ARTIFACT_PATH)
    if curve is not None:
        write_table(curve, folder / "curve.parquet")
    points = curve_points(curve)
    if points:
        objective = str(summary.get("objective", "objective"))
        plot_convergence(points, folder / CONVERGENCE_PLOT, title=run_name, objective=objective, optimum=optimum)


def _log_files(client: mlflow.MlflowClient, run_id: str, files: Iterable[Path]) -> None:
    for path in files:
        client.log_artifact(run_id, str(path))


# ----------------------------------------------------------------------------- parent run


def open_parent_run(
    tracking_uri: str,
    experiment_id: str,
    *,
    sweep_id: str,
    run_name: str,
    params: Mapping[str, object],
    tags: Mapping[str, object],
) -> str:
    """Get or create the parent run of a sweep, found by its ``confx.sweep_id`` tag.

    A new parent logs the params in one batch; a reopened one (a resumed sweep) keeps its
    params (MLflow params are immutable), is set RUNNING again and gets its
    ``confx.invocations`` tag incremented. The tags are (re)written in one batch either way.

    Returns:
        The parent's run id.
    """
    client = mlflow.MlflowClient(tracking_uri)
    runs = [
        run
        for run in _find_runs(client, experiment_id, {SWEEP_ID_TAG: sweep_id})
        if MLFLOW_PARENT_RUN_ID not in run.data.tags
    ]
    parent = _drop_duplicates(client, runs, f"sweep {sweep_id}")
    if parent is None:
        run = client.create_run(experiment_id, run_name=run_name, tags={SWEEP_ID_TAG: sweep_id, INVOCATIONS_TAG: "1"})
        run_id = run.info.run_id
        client.log_batch(run_id, params=_param_entities(params), tags=_tag_entities(tags))
        logger.info("created MLflow parent run %s for sweep %s", run_id, sweep_id)
        return run_id
    run_id = parent.info.run_id
    invocations = int(parent.data.tags.get(INVOCATIONS_TAG, "1")) + 1
    changed = sorted(
        key for key, value in params.items() if key in parent.data.params and parent.data.params[key] != str(value)
    )
    if changed:
        logger.warning("sweep %s reopened with changed params %s; MLflow keeps the first values", sweep_id, changed)
    client.log_batch(run_id, tags=_tag_entities({**tags, INVOCATIONS_TAG: invocations}))
    if parent.info.status != RunStatus.to_string(RunStatus.RUNNING):
        client.update_run(run_id, status="RUNNING")
    logger.info("reopened MLflow parent run %s for sweep %s (invocation %d)", run_id, sweep_id, invocations)
    return run_id


def log_folder(tracking_uri: str, run_id: str, folder: Path, *, artifact_path: str) -> None:
    """Attach every file of a folder to a run under ``artifact_path`` (e.g. a sweep's layer tables)."""
    mlflow.MlflowClient(tracking_uri).log_artifacts(run_id, str(folder), artifact_path=artifact_path)


def close_parent_run(
    tracking_uri: str,
    run_id: str,
    *,
    status: str,
    artifact_files: Sequence[Path],
    metrics: Mapping[str, object],
) -> None:
    """Log the sweep's final metrics (one batch) and artifact files, then end the parent run.

    Args:
        tracking_uri: The MLflow store.
        run_id: The parent run.
        status: ``FINISHED``, ``FAILED`` or ``KILLED``.
        artifact_files: Files to attach at the artifact root (report, plots, tables).
        metrics: Final numeric values; None and non-finite values are left out.
    """
    client = mlflow.MlflowClient(tracking_uri)
    client.log_batch(run_id, metrics=_final_metrics(metrics, _now_ms()))
    _log_files(client, run_id, artifact_files)
    client.set_terminated(run_id, status=status)


# ----------------------------------------------------------------------------- child runs


def _now_ms() -> int:
    return int(time.time() * 1000)


def _find_child(client: mlflow.MlflowClient, experiment_id: str, parent_run_id: str, trial_key: str) -> Run | None:
    identity = {TRIAL_KEY_TAG: trial_key, MLFLOW_PARENT_RUN_ID: parent_run_id}
    return _drop_duplicates(client, _find_runs(client, experiment_id, identity), f"trial {trial_key}")


def start_trial_run(
    tracking_uri: str,
    experiment_id: str,
    parent_run_id: str,
    *,
    trial_key: str,
    run_name: str,
    tags: Mapping[str, object],
) -> str:
    """Create (or reopen, for a retry) a trial's child run when its search starts, so its times are true.

    The run is RUNNING until :func:`log_trial` ends it; the UI shows it live.

    Returns:
        The child's run id.
    """
    client = mlflow.MlflowClient(tracking_uri)
    run = _find_child(client, experiment_id, parent_run_id, trial_key)
    identity = {TRIAL_KEY_TAG: trial_key, MLFLOW_PARENT_RUN_ID: parent_run_id}
    if run is None:
        run = client.create_run(experiment_id, run_name=run_name, tags={**identity, **_tag_strings(tags)})
        return str(run.info.run_id)
    client.update_run(run.info.run_id, status="RUNNING", name=run_name)
    client.log_batch(run.info.run_id, tags=_tag_entities(tags))
    return str(run.info.run_id)


def _tag_strings(tags: Mapping[str, object]) -> dict[str, str]:
    return {key: str(value) for key, value in tags.items()}


def _agrees(
    client: mlflow.MlflowClient, run: Run, params: Sequence[Param], histories: Mapping[str, Mapping[int, float]]
) -> bool:
    """Whether an existing run can be completed in place.

    It can when no logged param has another value and its logged histories are part of
    the new ones (same values at the same steps), as after an identical retry or an
    interrupted log.
    """
    logged = run.data.params
    if any(param.key in logged and logged[param.key] != param.value for param in params):
        return False
    for key, points in histories.items():
        if key not in run.data.metrics:
            continue
        history = client.get_metric_history(run.info.run_id, key)
        if not all(m.step in points and math.isclose(points[m.step], m.value, rel_tol=1e-12) for m in history):
            return False
    return True


def _child_run(
    client: mlflow.MlflowClient,
    experiment_id: str,
    parent_run_id: str,
    *,
    trial_key: str,
    run_name: str,
    params: Sequence[Param],
    histories: Mapping[str, Mapping[int, float]],
) -> Run:
    """Get or create the child run of a trial; a run that disagrees with the new data is replaced."""
    run = _find_child(client, experiment_id, parent_run_id, trial_key)
    if run is not None and not _agrees(client, run, params, histories):
        logger.warning("trial %s: run %s disagrees with the new result; replacing it", trial_key, run.info.run_id)
        client.delete_run(run.info.run_id)
        run = None
    if run is None:
        identity = {TRIAL_KEY_TAG: trial_key, MLFLOW_PARENT_RUN_ID: parent_run_id}
        run = client.create_run(experiment_id, run_name=run_name, tags=identity)
    elif run.info.run_name != run_name:
        client.update_run(run.info.run_id, name=run_name)
    return run


def _number(value: object) -> float | None:
    """A finite float, or None (None, NaN, text)."""
    if isinstance(value, numbers.Real) and math.isfinite(value):
        return float(value)
    return None


def trial_histories(
    summary: Mapping[str, object], curve: pd.DataFrame | None, optimum: float | None
) -> dict[str, dict[int, float]]:
    """The best-so-far objective (unit-bearing key) and gap by whole-model evaluations; the last point is final.

    The summary's final value is set at its ``model_evaluations`` step, so the history ends
    on the value the search reports even when the curve stops earlier.
    """
    if "objective" not in summary:
        return {}
    points = curve_points(curve)
    final_value, final_step = _number(summary.get("objective_value")), _number(summary.get("model_evaluations"))
    if final_value is not None:
        step = int(final_step) if final_step is not None else max(points, default=0)
        points = {s: v for s, v in points.items() if s <= step} | {step: final_value}
    histories = {objective_key(str(summary["objective"])): points}
    if optimum is not None and math.isfinite(optimum):
        sense = str(summary.get("sense", "min"))
        histories[GAP_METRIC] = {s: gap(v, optimum, sense) for s, v in points.items()}
    return histories


def trial_final_metrics(summary: Mapping[str, object], extra_metrics: Mapping[str, object]) -> dict[str, object]:
    """The step-0 metrics of a trial: constraint used and budget (unit-bearing keys), flags, counters, optimum.

    ``extra_metrics`` may hold ``optimum``, logged as ``optimum_<objective key>``; its other
    values (besides ``gap``, which is a history) are logged as they are.
    """
    finals: dict[str, object] = {key: summary[key] for key in FINAL_METRIC_KEYS if key in summary}
    if "constraint" in summary:
        constraint = str(summary["constraint"])
        if summary.get("physical"):  # area in mm^2 on a physical NoC
            finals[constraint_key(constraint, "used", physical=True)] = summary.get("constraint_used_reported")
            finals[constraint_key(constraint, "budget", physical=True)] = summary.get("budget_reported")
        else:
            finals[constraint_key(constraint, "used")] = summary.get("constraint_used")
            finals[constraint_key(constraint, "budget")] = summary.get("budget")
    for key, value in extra_metrics.items():
        if key == "optimum" and "objective" in summary:
            finals[f"optimum_{objective_key(str(summary['objective']))}"] = value
        elif key != GAP_METRIC:
            finals[key] = value
    return finals


def log_trial(
    tracking_uri: str,
    experiment_id: str,
    parent_run_id: str,
    *,
    trial_key: str,
    run_name: str,
    params: Mapping[str, object],
    tags: Mapping[str, object],
    summary: Mapping[str, object],
    curve: pd.DataFrame | None,
    solution: pd.DataFrame | pa.Table | None,
    extra_metrics: Mapping[str, object],
    status: str,
    error: str | None,
    artifact_files: Sequence[Path],
) -> str:
    """Log one trial as a child run of the sweep's parent, idempotently, and end the run.

    The run is found again by its ``confx.trial_key`` tag under the parent (the one
    :func:`start_trial_run` created, or a retried or resumed trial's), so that it is
    completed (or, if its params or curve changed, replaced) rather than duplicated. Logged
    in two batches: params, tags and the histories (see :func:`trial_histories`), then the
    final metrics (see :func:`trial_final_metrics`).

    Args:
        tracking_uri: The MLflow store.
        experiment_id: The sweep's experiment.
        parent_run_id: The sweep's parent run.
        trial_key: The trial's stable id.
        run_name: The run's display name (see :meth:`confx.pipeline.sweep.plan.Trial.short_name`).
        params: The axes and settings that apply to the trial, stringified; ``sense`` and
            ``cost_model_version`` are added from the summary.
        tags: Extra tags.
        summary: The search's ``summary.json``. Empty for a trial that failed before searching.
        curve: ``curve.parquet`` (columns ``model_evaluations``, ``cost_model_calls``,
            ``best_objective``), or None.
        solution: ``solution.parquet`` (one row per layer), or None. Also exported as MAESTRO
            mapping files under artifact path ``maestro/``.
        extra_metrics: ``gap`` (the final gap; its history is computed from the curve) and
            ``optimum`` (the group's certified optimum), and any further final metrics.
        status: ``FINISHED`` or ``FAILED``, the run's terminal status.
        error: The failure's message or traceback, tagged as ``confx.error`` (cut to
            :data:`ERROR_MAX_CHARS`) on a FAILED run.
        artifact_files: More files to attach at the artifact root (e.g. ``summary.json``).

    Returns:
        The child's run id.
    """
    if status not in TRIAL_STATUSES:
        raise ValueError(f"trial status {status!r}; use one of {TRIAL_STATUSES}")
    client = mlflow.MlflowClient(tracking_uri)
    from_summary = {key: summary[key] for key in ("sense", "cost_model_version") if key in summary}
    param_entities = _param_entities({**params, **from_summary})
    optimum = _number(extra_metrics.get("optimum"))
    histories = trial_histories(summary, curve, optimum)
    run = _child_run(
        client,
        experiment_id,
        parent_run_id,
        trial_key=trial_key,
        run_name=run_name,
        params=param_entities,
        histories=histories,
    )
    run_id = run.info.run_id
    try:
        finals = trial_final_metrics(summary, extra_metrics)
        _log_trial_values(client, run, param_entities, tags, histories, finals, status, error)
        with tempfile.TemporaryDirectory(prefix="confx-artifacts-") as staging:
            _stage_trial_artifacts(Path(staging), run_name, curve, solution, summary, optimum)
            if any(Path(staging).iterdir()):  # an empty upload still costs a round trip (get_run)
                client.log_artifacts(run_id, staging)
        _log_files(client, run_id, artifact_files)
    except BaseException:
        # Leave the run visibly broken; a retry finds and completes it.
        _terminate_quietly(client, run_id)
        raise
    client.set_terminated(run_id, status=status)
    logger.debug("logged trial %s as MLflow run %s (%s)", trial_key, run_id, status)
    return run_id


def end_unfinished_runs(tracking_uri: str, experiment_id: str, parent_run_id: str, *, status: str) -> int:
    """End a sweep's parent run and every child still RUNNING with status (an interrupted or failed sweep).

    Returns:
        How many runs were ended.
    """
    client = mlflow.MlflowClient(tracking_uri)
    running = RunStatus.to_string(RunStatus.RUNNING)
    children = _find_runs(client, experiment_id, {MLFLOW_PARENT_RUN_ID: parent_run_id})
    ended = 0
    for run in [*children, client.get_run(parent_run_id)]:
        if run.info.status == running:
            client.set_terminated(run.info.run_id, status=status)
            ended += 1
    return ended


def _terminate_quietly(client: mlflow.MlflowClient, run_id: str) -> None:
    """Mark a run FAILED without masking the error being raised."""
    try:
        client.set_terminated(run_id, status="FAILED")
    except Exception:  # the original error matters more
        logger.exception("could not mark MLflow run %s FAILED", run_id)


def _log_trial_values(
    client: mlflow.MlflowClient,
    run: Run,
    params: Sequence[Param],
    tags: Mapping[str, object],
    histories: Mapping[str, Mapping[int, float]],
    finals: Mapping[str, object],
    status: str,
    error: str | None,
) -> None:
    """Log a trial's params, tags, histories and final metrics in two batches; skip what the run already holds."""
    run_id = run.info.run_id
    timestamp = _now_ms()
    history_metrics = []
    for key, points in histories.items():
        logged = {m.step for m in client.get_metric_history(run_id, key)} if key in run.data.metrics else set()
        history_metrics += [
            Metric(key, value, timestamp, step)
            for step, value in sorted(points.items())
            if step not in logged and math.isfinite(value)
        ]
    new_params = [param for param in params if param.key not in run.data.params]
    run_tags = dict(tags)
    if status == "FAILED" and error:
        run_tags[ERROR_TAG] = _error_text(error)
    client.log_batch(run_id, metrics=history_metrics[:BATCH_METRICS], params=new_params, tags=_tag_entities(run_tags))
    for start in range(BATCH_METRICS, len(history_metrics), BATCH_METRICS):
        client.log_batch(run_id, metrics=history_metrics[start : start + BATCH_METRICS])
    # A re-logged trial does not repeat values the run already shows.
    changed = {key: value for key, value in finals.items() if run.data.metrics.get(key) != value}
    client.log_batch(run_id, metrics=_final_metrics(changed, timestamp))
    if status == "FINISHED" and ERROR_TAG in run.data.tags:
        client.delete_tag(run_id, ERROR_TAG)


# ----------------------------------------------------------------------------- many child runs at once


CHUNK_TAG = "confx.chunk"
"""The Tune trial (chunk of searches) that logged a child run; a retried chunk finds its runs by it."""


@dataclass(frozen=True)
class TrialRun:
    """One finished (or failed) search, ready to be logged as a child run (see :func:`log_trial_runs`).

    Attributes:
        trial_key: The search's stable id.
        run_name: The run's display name.
        params: The axes and settings (``sense`` and ``cost_model_version`` come from the summary).
        tags: Extra tags.
        summary: The search's ``summary.json`` (empty for a search that failed).
        curve: ``curve.parquet`` or None.
        extra_metrics: ``gap`` and ``optimum``, as for :func:`log_trial`.
        status: ``FINISHED`` or ``FAILED``.
        error: The failure's traceback (FAILED runs).
        artifact_files: Files for the run's artifact root (its ``solution.parquet``, ``curve.parquet``);
            a folder is attached as a folder of that name (the exact run's ``maestro/``, staged for
            the run: it may be moved, not copied).
        start_ms: When the search started (the run's start time), ms since the epoch.
        end_ms: When it ended.
    """

    trial_key: str
    run_name: str
    params: Mapping[str, object]
    tags: Mapping[str, object]
    summary: Mapping[str, object]
    curve: pd.DataFrame | None
    extra_metrics: Mapping[str, object]
    status: str
    error: str | None
    artifact_files: Sequence[Path]
    start_ms: int
    end_ms: int


@dataclass(frozen=True)
class _RunValues:
    run_id: str
    tags: list[RunTag]
    params: list[Param]
    metrics: list[Metric]


def _run_values(parent_run_id: str, run: TrialRun) -> _RunValues:
    """Every tag, param and metric of one child run (histories and final values)."""
    if run.status not in TRIAL_STATUSES:
        raise ValueError(f"trial status {run.status!r}; use one of {TRIAL_STATUSES}")
    from_summary = {key: run.summary[key] for key in ("sense", "cost_model_version") if key in run.summary}
    optimum = _number(run.extra_metrics.get("optimum"))
    metrics = [
        Metric(key, value, run.end_ms, step)
        for key, points in trial_histories(run.summary, run.curve, optimum).items()
        for step, value in sorted(points.items())
        if math.isfinite(value)
    ]
    metrics += _final_metrics(trial_final_metrics(run.summary, run.extra_metrics), run.end_ms)
    tags = {TRIAL_KEY_TAG: run.trial_key, MLFLOW_PARENT_RUN_ID: parent_run_id, **run.tags}
    if run.status == "FAILED" and run.error:
        tags[ERROR_TAG] = _error_text(run.error)
    tags["mlflow.runName"] = run.run_name
    return _RunValues(uuid.uuid4().hex, _tag_entities(tags), _param_entities({**run.params, **from_summary}), metrics)


def _insert_runs(store: object, experiment_id: str, values: Sequence[_RunValues], runs: Sequence[TrialRun]) -> None:
    """Write finished runs straight into a database store, all in one transaction.

    MLflow's client API costs three round trips (create, log, terminate) and about 50 ms per
    run on SQLite; one transaction for a batch costs about a millisecond per run. The rows are
    the ones :class:`~mlflow.store.tracking.sqlalchemy_store.SqlAlchemyStore` itself writes.
    """
    import sqlalchemy
    from mlflow.entities import LifecycleStage, SourceType
    from mlflow.store.tracking.dbmodels.models import SqlLatestMetric, SqlMetric, SqlParam, SqlRun, SqlTag
    from mlflow.utils.uri import append_to_uri_path

    location = _artifact_location(store, experiment_id)
    run_rows, tag_rows, param_rows, metric_rows, latest_rows = [], [], [], [], []
    for value, run in zip(values, runs, strict=True):
        run_rows.append(
            {
                "run_uuid": value.run_id,
                "name": run.run_name,
                "source_type": SourceType.to_string(SourceType.UNKNOWN),
                "source_name": "",
                "entry_point_name": "",
                "user_id": "unknown",  # as MlflowClient.create_run without an mlflow.user tag
                "status": run.status,
                "start_time": run.start_ms,
                "end_time": run.end_ms,
                "deleted_time": None,
                "source_version": "",
                "lifecycle_stage": LifecycleStage.ACTIVE,
                "artifact_uri": append_to_uri_path(location, value.run_id, "artifacts"),
                "experiment_id": int(experiment_id),
            }
        )
        tag_rows += [{"key": t.key, "value": t.value, "run_uuid": value.run_id} for t in value.tags]
        param_rows += [{"key": p.key, "value": p.value, "run_uuid": value.run_id} for p in value.params]
        latest: dict[str, Metric] = {}
        for m in value.metrics:
            metric_rows.append({"key": m.key, "value": m.value, "timestamp": m.timestamp, "step": m.step,
                                "is_nan": False, "run_uuid": value.run_id})  # fmt: skip
            if m.key not in latest or m.step >= latest[m.key].step:
                latest[m.key] = m
        latest_rows += [{"key": m.key, "value": m.value, "timestamp": m.timestamp, "step": m.step, "is_nan": False,
                         "run_uuid": value.run_id} for m in latest.values()]  # fmt: skip
    # Core executemany inserts: the ORM's unit of work costs more than the rows themselves.
    with store.ManagedSessionMaker(read_only=False) as session:  # type: ignore[attr-defined]
        for model, rows in ((SqlRun, run_rows), (SqlTag, tag_rows), (SqlParam, param_rows),
                            (SqlMetric, metric_rows), (SqlLatestMetric, latest_rows)):  # fmt: skip
            if rows:
                session.execute(sqlalchemy.insert(model.__table__), rows)


_ARTIFACT_LOCATIONS: dict[tuple[str, str], str] = {}


def _artifact_location(store: object, experiment_id: str) -> str:
    """An experiment's artifact location, read once per database (it never changes; reading it costs ms)."""
    key = (str(getattr(store, "db_uri", id(store))), experiment_id)
    if key not in _ARTIFACT_LOCATIONS:
        _ARTIFACT_LOCATIONS[key] = str(store.get_experiment(experiment_id).artifact_location)  # type: ignore[attr-defined]
    return _ARTIFACT_LOCATIONS[key]


def _create_runs(client: mlflow.MlflowClient, experiment_id: str, values: Sequence[_RunValues],
                 runs: Sequence[TrialRun]) -> list[str]:  # fmt: skip
    """Log finished runs through the client (a tracking server): create, one batch each, terminate."""
    run_ids = []
    for value, run in zip(values, runs, strict=True):
        created = client.create_run(experiment_id, start_time=run.start_ms, run_name=run.run_name,
                                    tags={tag.key: tag.value for tag in value.tags})  # fmt: skip
        run_id = created.info.run_id
        metrics = value.metrics
        client.log_batch(run_id, metrics=metrics[:BATCH_METRICS], params=value.params)
        for start in range(BATCH_METRICS, len(metrics), BATCH_METRICS):
            client.log_batch(run_id, metrics=metrics[start : start + BATCH_METRICS])
        client.set_terminated(run_id, status=run.status, end_time=run.end_ms)
        run_ids.append(run_id)
    return run_ids


def _link_or_copy(source: str | Path, target: str | Path) -> None:
    """Hard-link a finished, never rewritten file into an artifact folder; copy it across file systems."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(target)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _attach(client: mlflow.MlflowClient, run_id: str, artifact_uri: str | None, files: Sequence[Path]) -> None:
    """Attach files (a folder stays a folder) to a run: linked into a local artifact root, else through the client.

    The search's files are replaced, never rewritten, so a hard link shares nothing that changes.
    Folders are staged copies (a run's ``maestro/``): they are moved into a local root.
    """
    if artifact_uri is not None and artifact_uri.startswith("file://"):
        from urllib.parse import unquote, urlparse

        folder = Path(unquote(urlparse(artifact_uri).path))
        folder.mkdir(parents=True, exist_ok=True)
        for path in files:
            if not path.is_dir():
                _link_or_copy(path, folder / path.name)
            elif not (folder / path.name).exists():
                shutil.move(path, folder / path.name)  # a staged folder: one rename on the same file system
            else:
                shutil.copytree(path, folder / path.name, dirs_exist_ok=True, copy_function=_link_or_copy)
        return
    for path in files:
        if path.is_dir():
            client.log_artifacts(run_id, str(path), artifact_path=path.name)
        else:
            client.log_artifact(run_id, str(path))


def log_trial_runs(tracking_uri: str, experiment_id: str, parent_run_id: str, runs: Sequence[TrialRun]) -> list[str]:
    """Log many searches as finished child runs of the sweep's parent, in one go; return their run ids.

    The runs are new (a search that may already have a run goes through :func:`log_trial`,
    which finds and completes it). On a database store (SQLite, PostgreSQL) all runs are
    written in one transaction, so a batch is there completely or not at all; on a tracking
    server each run takes three calls (create, one ``log_batch``, terminate). Start and end
    times are the searches' own.
    """
    if not runs:
        return []
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    client = mlflow.MlflowClient(tracking_uri)
    values = [_run_values(parent_run_id, run) for run in runs]
    store = client._tracking_client.store
    if isinstance(store, SqlAlchemyStore):
        _insert_runs(store, experiment_id, values, runs)
        run_ids = [value.run_id for value in values]
        location = _artifact_location(store, experiment_id)
        uris: list[str | None] = [f"{location.rstrip('/')}/{run_id}/artifacts" for run_id in run_ids]
    else:
        run_ids = _create_runs(client, experiment_id, values, runs)
        uris = [None] * len(run_ids)
    for run_id, uri, run in zip(run_ids, uris, runs, strict=True):
        _attach(client, run_id, uri, run.artifact_files)
    return run_ids


def child_runs(
    tracking_uri: str, experiment_id: str, parent_run_id: str, *, tags: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The child runs of a parent (optionally only those with the given tag values), by trial key."""
    client = mlflow.MlflowClient(tracking_uri)
    found: dict[str, str] = {}
    token = None
    filter_string = " and ".join(
        f"tags.`{key}` = {_quote(value)}"
        for key, value in {MLFLOW_PARENT_RUN_ID: parent_run_id, **(tags or {})}.items()
    )
    while True:
        page = client.search_runs([experiment_id], filter_string, max_results=10000, page_token=token)
        for run in page:
            key = run.data.tags.get(TRIAL_KEY_TAG)
            if key is not None:
                found.setdefault(key, run.info.run_id)
        token = page.token
        if not token:
            return found
