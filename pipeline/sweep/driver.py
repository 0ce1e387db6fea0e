"""`confx sweep`: a Ray Tune grid of searches, tracked in MLflow, kept as Parquet.

The driver plans every trial (:mod:`confx.pipeline.sweep.plan`), computes each problem
group's exact optimum once, and hands Tune an explicit grid of the trials' keys. Each trial
(:mod:`confx.pipeline.sweep.trial`) runs its search, reports progress to Tune, writes its
outputs into ``<results>/<sweep>/trials/<trial key>/`` and logs one MLflow child run. At the
end the driver assembles ``trials.parquet`` and the ``layers/`` dataset and attaches the
report to the sweep's parent run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

from confx.costmodel import COST_MODEL_VERSION
from confx.costmodel.errors import ConfXError
from confx.pipeline.results import storage
from confx.pipeline.results.schema import PARETO_SCHEMA
from confx.pipeline.sweep.chunks import Chunk, is_expensive, pack_trials
from confx.pipeline.sweep.config import SweepConfig
from confx.pipeline.sweep.plan import Group, Trial, plan_trials, problem_groups, varying_axes
from confx.pipeline.sweep.trial import (
    RECORD_FILE,
    TRIALS_FOLDER,
    ExactRun,
    Optimum,
    SweepContext,
    exact_or_infeasible,
    run_chunk,
)

logger = logging.getLogger(__name__)

TUNE_FOLDER = "tune"
Echo = Callable[[str], None]


def resolve_networks(config: SweepConfig, location: str, results_dir: Path) -> tuple[dict[str, str], dict[str, Path]]:
    """Resolve every network SOURCE once, keeping its layer table beside the results.

    Imported models go through the import cache in ``<results>/networks/``; a CSV given by path is
    copied there (under a content hash), so that a file edited during the sweep cannot reach some
    trials and not others. Built-in names need no file.

    Returns:
        The table each trial loads (a path, or a URI when the results live at one) and the local
        copy of each, both by SOURCE.

    Raises:
        ConfXError: A SOURCE that cannot be resolved (see
            :func:`~confx.pipeline.workload.resolve.resolve_network`).
    """
    from confx.pipeline.workload.resolve import NETWORKS_FOLDER, resolve_network

    cache = results_dir / NETWORKS_FOLDER
    local: dict[str, Path] = {}
    for source in dict.fromkeys(config.networks):
        network = resolve_network(source, cache)
        if network.table_file is None:
            continue
        if network.imported:
            local[source] = network.table_file
            continue
        content = network.table_file.read_bytes()
        copy = cache / f"{network.label}-{hashlib.sha256(content).hexdigest()[:16]}.csv"
        cache.mkdir(parents=True, exist_ok=True)
        copy.write_bytes(content)
        local[source] = copy
    if local and storage.is_remote(location):
        storage.upload(cache, storage.join(location, NETWORKS_FOLDER))
    tables = {
        source: storage.join(location, NETWORKS_FOLDER, path.name) if storage.is_remote(location) else str(path)
        for source, path in local.items()
    }
    return tables, local


def exact_optima(
    config: SweepConfig, local_tables: Mapping[str, Path] | None = None, *, groups: Sequence[Group] | None = None
) -> dict[Group, Optimum]:
    """The certified optimum of problem groups (NaN where no exact method certifies one, or nothing fits).

    Only the groups of searches that run alone (the RL searches, tuning stages) need the driver's
    optimum; a chunk of cheap searches finds its groups' optima itself (see
    :mod:`confx.pipeline.sweep.batch`). Each result is kept, so the group's ``exact`` trial reuses it.

    Args:
        config: The sweep.
        local_tables: The layer-table file of each network that is not a built-in name.
        groups: The groups to solve (default: every group of the sweep).
    """
    from confx.costmodel.layers import load_network
    from confx.envs.problem import build_problem
    from confx.pipeline.workload.resolve import network_label

    local_tables = local_tables or {}
    optima = {}
    for group in problem_groups(config) if groups is None else groups:
        network, dataflow, objective, constraint, mul = group
        model = str(local_tables.get(network, network))
        problem = build_problem(
            model,
            dataflow=dataflow,
            objective=objective,
            constraint=constraint,
            mul=mul,
            space=config.action_space(),
            layers=replace(load_network(model), name=network_label(network)),
        )
        result = exact_or_infeasible(problem)
        exact = ExactRun(result, problem.cost_model_calls, problem.model_evaluations)
        optima[group] = Optimum(result.objective_value if result.optimal else float("nan"), problem.budget, exact)
    return optima


def _alone_groups(config: SweepConfig, pending: Sequence[Trial]) -> list[Group]:
    """Groups whose searches need the driver's optimum: those of RL searches and of tuning stages."""
    groups = {t.group for t in pending if is_expensive(t)}
    if any(entry.tune is not None for entry in config.algorithms):
        groups |= set(problem_groups(config))
    return [group for group in problem_groups(config) if group in groups]


def _exact_front(config: SweepConfig, table: pd.DataFrame) -> pd.DataFrame:
    """The front at the sweep's own budget levels, from its ``exact`` trials (nothing solved again)."""
    exact = table[(table["algorithm"] == "exact") & (table["status"] == "ok")]
    front = pd.DataFrame(
        {
            "model": [Path(str(network)).stem for network in exact["network"]],
            "space": exact["space"].to_numpy(),
            "dataflow": exact["dataflow"].to_numpy(),
            "objective": exact["objective"].to_numpy(),
            "constraint": exact["constraint"].to_numpy(),
            "mul": exact["mul"].to_numpy(),
            "budget": exact["budget"].to_numpy(),
            "objective_value": exact["objective_value"].to_numpy(),
            "constraint_used": exact["constraint_used"].to_numpy(),
            "optimal": exact["optimal"].fillna(False).astype(bool).to_numpy(),
        }
    )
    return front.reindex(columns=PARETO_SCHEMA.names)


def write_front(
    config: SweepConfig,
    results_dir: Path,
    local_tables: Mapping[str, Path] | None = None,
    table: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, list[Path]]:
    """The exact optimum of every problem at many budget levels: ``pareto.parquet`` and ``pareto.csv``.

    With ``front_levels: 0`` and ``exact`` among the algorithms, the front is the sweep's own
    exact trials (``table``): a scan with a dozen budget levels draws its front for free.

    Args:
        config: The sweep.
        results_dir: Where the two files go.
        local_tables: The layer-table file of each network that is not a built-in name.
        table: The sweep's ``trials.parquet``.
    """
    from confx.costmodel.layers import load_network
    from confx.pipeline.results.tables import write_table
    from confx.pipeline.search.pareto import front_levels, group_front

    paths = [results_dir / "pareto.parquet", results_dir / "pareto.csv"]
    if config.front_levels == 0 and table is not None and any(e.name == "exact" for e in config.algorithms):
        front = _exact_front(config, table)
        for path in paths:
            write_table(front, path)
        return front, paths
    local_tables = local_tables or {}
    problems = dict.fromkeys(
        (network, dataflow, objective, constraint)
        for network, dataflow, objective, constraint, _ in problem_groups(config)
    )
    rows: list[dict[str, object]] = []
    for network, dataflow, objective, constraint in problems:
        model = str(local_tables.get(network, network))
        # Rows name the network as the report looks it up (the stem of its SOURCE).
        layers = replace(load_network(model), name=Path(network).stem)
        levels = front_levels(config.muls, count=config.front_levels)
        rows += group_front(model, levels, dataflow=dataflow, objective=objective,
                            constraint=constraint, space=config.action_space(), layers=layers)  # fmt: skip
    front = pd.DataFrame(rows, columns=PARETO_SCHEMA.names)
    write_table(front, results_dir / "pareto.parquet")
    write_table(front, results_dir / "pareto.csv")
    return front, [results_dir / "pareto.parquet", results_dir / "pareto.csv"]


# --- progress ---------------------------------------------------------------------------------


def _progress_callback(chunks: Mapping[str, Chunk], echo: Echo, *, n_trials: int, finished_before: int) -> Any:
    """A Tune callback printing searches done / failed / running / pending of the whole sweep.

    Each chunk reports how many of its searches are done and failed so far; a failed search is
    echoed once (``trial failed: <key>``).

    Args:
        chunks: The chunks of this invocation, by key.
        echo: Receives the lines.
        n_trials: Every search of the sweep.
        finished_before: Searches that had finished before this invocation (a resume), counted as done.
    """
    from ray import tune

    class SweepProgress(tune.Callback):
        def __init__(self) -> None:
            self.done: dict[str, int] = {}
            self.failed: dict[str, int] = {}
            self.running: set[str] = set()
            self.echoed: set[str] = set()
            self.last = 0.0

        def on_trial_start(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
            self.running.add(trial.config["chunk"])
            self._print()

        def on_trial_result(self, iteration: int, trials: list[Any], trial: Any, result: dict, **info: Any) -> None:
            self._take(trial.config["chunk"], result)
            self._print()

        def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
            self.running.discard(trial.config["chunk"])
            self._take(trial.config["chunk"], trial.last_result or {})
            self._print(force=True)

        def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
            key = trial.config["chunk"]
            self.running.discard(key)
            self.failed[key] = len(chunks[key].trial_keys) - self.done.get(key, 0)
            for trial_key in chunks[key].trial_keys[self.done.get(key, 0) :]:
                self._echo_failure(trial_key)
            self._print(force=True)

        def _take(self, key: str, result: Mapping[str, Any]) -> None:
            if "chunk_done" not in result:
                return
            self.done[key] = int(result["chunk_done"])
            self.failed[key] = int(result["chunk_failed"])
            for trial_key in json.loads(result.get("chunk_failures") or "{}"):
                self._echo_failure(trial_key)

        def _echo_failure(self, trial_key: str) -> None:
            if trial_key not in self.echoed:
                self.echoed.add(trial_key)
                echo(f"trial failed: {trial_key}")

        def _print(self, force: bool = False) -> None:
            if not force and time.perf_counter() - self.last < 5:
                return
            self.last = time.perf_counter()
            done = finished_before + sum(self.done.values())
            failed = sum(self.failed.values())
            running = sum(
                len(chunks[key].trial_keys) - self.done.get(key, 0) - self.failed.get(key, 0) for key in self.running
            )
            pending = n_trials - done - failed - running
            echo(f"[{done} done, {failed} failed, {running} running, {max(pending, 0)} pending of {n_trials}]")

    return SweepProgress()


# --- the driver -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepOutcome:
    """What a sweep left behind.

    Attributes:
        location: Where its results are (a path or a URI).
        results_dir: The local copy of its results.
        trials: ``trials.parquet`` as a frame.
        parent_run_id: Its MLflow parent run.
        tracking_uri: Its MLflow store.
        report: Its ``report.md``.
    """

    location: str
    results_dir: Path
    trials: pd.DataFrame
    parent_run_id: str
    tracking_uri: str
    report: Path


BATCH_CPUS = 1.0
"""CPUs a chunk of cheap searches reserves: it computes on one core all along."""


def _trial_folder_name(trial: Any) -> str:
    return str(trial.config.get("chunk") or trial.trial_id)


def _with_resources(config: SweepConfig, chunks: Mapping[str, Chunk] | None = None) -> Callable[[Any], Any]:
    """Wrap a trainable so that it reserves the trial's CPUs plus bundles for the GA's nested Ray tasks.

    A chunk of cheap searches reserves :data:`BATCH_CPUS` only (no GA tasks).
    """
    from ray import tune

    resources = config.resources
    bundles = [{"CPU": resources.cpus_per_trial}] + [{"CPU": resources.ga_task_cpus}] * resources.ga_tasks
    alone, batch = tune.PlacementGroupFactory(bundles), tune.PlacementGroupFactory([{"CPU": BATCH_CPUS}])
    if chunks is None:
        return lambda trainable: tune.with_resources(trainable, alone)

    def per_chunk(trial_config: dict[str, Any]) -> Any:
        chunk = chunks.get(trial_config.get("chunk", ""))
        return alone if chunk is None or chunk.expensive else batch

    return lambda trainable: tune.with_resources(trainable, per_chunk)


def finished_trials(results_dir: Path, trials: list[Trial]) -> set[str]:
    """Keys of the trials whose record (``trials/<key>/trial.json``, written last, atomically) exists."""
    finished = set()
    for trial in trials:
        record = results_dir / TRIALS_FOLDER / trial.key / RECORD_FILE
        try:
            json.loads(record.read_text())
        except (OSError, ValueError):
            continue
        finished.add(trial.key)
    return finished


def run_grid(
    config: SweepConfig, trials: list[Trial], context: SweepContext, *, finished: set[str], echo: Echo
) -> dict[str, str]:
    """Run the planned searches that have not finished, packed into chunks, as a Tune grid.

    Finished searches are known by their record file, never by Tune's experiment state (which a
    killed driver may have saved before its last trials finished), so none is started twice.
    Each invocation is a new Tune experiment under ``tune/``.

    Returns:
        The last error line of every search that failed, by key.
    """
    from ray import tune

    from confx.pipeline.sweep.tuning import tune_loggers

    chunks = context.chunks
    progress = _progress_callback(chunks, echo, n_trials=len(trials), finished_before=len(finished))
    pending = sum(len(chunk.trial_keys) for chunk in chunks.values())
    if finished:
        echo(f"resuming: {len(finished)} of {len(trials)} trials finished before; running the other {pending}")
    if not chunks:
        progress._print(force=True)
        return {}
    trainable = _with_resources(config, chunks)(tune.with_parameters(run_chunk, context=context))
    tuner = tune.Tuner(
        trainable,
        param_space={"chunk": tune.grid_search(list(chunks))},
        tune_config=tune.TuneConfig(
            max_concurrent_trials=config.resources.max_concurrent_trials or None,
            reuse_actors=True,  # skips re-importing torch and RLlib per trial
            trial_dirname_creator=_trial_folder_name,
        ),
        run_config=tune.RunConfig(
            name=f"grid-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}",
            storage_path=storage.join(context.location, TUNE_FOLDER),
            verbose=0,
            failure_config=tune.FailureConfig(max_failures=config.max_failures),
            callbacks=[progress, *tune_loggers()],
        ),
    )
    grid = tuner.fit()
    errors: dict[str, str] = {}
    for result in grid:
        if not result.config:
            continue
        errors.update(json.loads((result.metrics or {}).get("chunk_failures") or "{}"))
        if result.error:
            line = str(result.error).strip().splitlines()[-1]
            for key in chunks[result.config["chunk"]].trial_keys:
                errors.setdefault(key, line)
    return errors


def _slots(config: SweepConfig) -> int:
    """Chunks of cheap searches that run at once."""
    import ray

    cpus = float(ray.cluster_resources().get("CPU", 1.0))
    limit = config.resources.max_concurrent_trials or 10**9
    return max(1, min(int(cpus // BATCH_CPUS), limit))


def _results_location(config: SweepConfig, results_folder: Path | None) -> str:
    location = str(results_folder) if results_folder else storage.join(config.results_dir, config.name)
    return location if storage.is_remote(location) else str(Path(location).absolute())


def _stop_ray_in_background() -> threading.Thread:
    """Stop the local Ray this sweep started while its results are assembled (stopping takes ~1.5 s).

    Every search's outputs are on disk once the grid and the tuning stages have ended.
    """
    import ray

    thread = threading.Thread(target=ray.shutdown, name="confx-ray-shutdown", daemon=True)
    thread.start()
    return thread


def _abandon(
    tracking_uri: str, experiment_id: str, parent: str, results_dir: Path, *, interrupted: bool, disconnect: bool
) -> None:
    """Clean up after a sweep that stopped early: stop its workers, end its runs, remove temporary files.

    Interrupted (SIGINT/SIGTERM) runs end KILLED, failed ones FAILED; a later ``--resume``
    reopens the parent. Workers are stopped first, so none writes after the clean-up.
    """
    import ray

    from confx.pipeline.results.tables import remove_stale_temp_files_under
    from confx.pipeline.results.tracking import end_unfinished_runs

    if interrupted and disconnect and ray.is_initialized():
        ray.shutdown()
    try:
        end_unfinished_runs(tracking_uri, experiment_id, parent, status="KILLED" if interrupted else "FAILED")
    except Exception:  # the sweep's own error matters more
        logger.exception("could not end the MLflow runs of the stopped sweep")
    remove_stale_temp_files_under(results_dir)


def _name_axes(config: SweepConfig, trials: list[Trial]) -> tuple[str, ...]:
    """The axes the runs' names show: those that vary, and the algorithm when some are tuned."""
    axes = varying_axes(trials)
    tuned = any(entry.tune is not None for entry in config.algorithms)
    return (*axes, "algorithm") if tuned and "algorithm" not in axes else axes


def run_sweep(
    config: SweepConfig,
    *,
    address: str | None = None,
    tracking_uri: str | None = None,
    resume: bool = False,
    results_folder: Path | None = None,
    echo: Echo = print,
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
        ConfXError: Results of this sweep exist and ``resume`` is off; results at a URI without
            a tracking server; a results folder that is (or lies under) a file; a trial planned twice.
    """
    from confx.pipeline.results.report import build_report
    from confx.pipeline.results.sweep_tables import PARTS_FOLDER, assemble_results, tuned_trials
    from confx.pipeline.results.tables import check_output_folder
    from confx.pipeline.results.tracking import (
        child_runs,
        close_parent_run,
        default_tracking_uri,
        ensure_experiment,
        log_folder,
        open_parent_run,
        prepare_store,
    )
    from confx.pipeline.search.ray_runtime import ensure_ray
    from confx.pipeline.sweep.tuning import run_tuning
    from confx.pipeline.workload.resolve import NETWORKS_FOLDER

    location = _results_location(config, results_folder)
    results_dir = storage.local_mirror(location)
    if not storage.is_remote(location):
        check_output_folder(location, what="results folder")
    plan_trials(config)  # every check before anything is created (a trial planned twice, ...)
    if storage.is_remote(location) and not (tracking_uri or config.tracking.uri):
        raise ConfXError(f"results in {location} need a shared MLflow tracking server: pass --tracking-uri http://...")
    started = storage.exists(storage.join(location, TUNE_FOLDER)) or storage.exists(
        storage.join(location, TRIALS_FOLDER)
    )
    if started and not resume:
        raise ConfXError(
            f"sweep {config.name!r} already has results in {location}; "
            "continue it with --resume, or remove that folder to start over"
        )
    results_dir.mkdir(parents=True, exist_ok=True)
    tables, local_tables = resolve_networks(config, location, results_dir)
    trials = plan_trials(config, tables)
    if started:
        storage.download(storage.join(location, TRIALS_FOLDER), results_dir / TRIALS_FOLDER)
    finished = finished_trials(results_dir, trials)
    echo(f"sweep {config.name}: {len(trials)} grid trials; results in {location}")
    if address and not (tracking_uri or config.tracking.uri):
        echo("warning: on a cluster, pass --tracking-uri http://<head>:5000 so that every node logs to one server")
    uri = tracking_uri or config.tracking.uri or default_tracking_uri(results_dir)
    store = prepare_store(uri)
    connected = ensure_ray(address)  # while the store opens
    store.join()
    experiment_id = ensure_experiment(uri, config.name)
    parent = open_parent_run(
        uri,
        experiment_id,
        sweep_id=location,
        run_name=f"sweep-{config.name}",
        params={"config": config.model_dump_json(), "n_trials": len(trials), "cost_model_version": COST_MODEL_VERSION},
        tags={"confx.sweep": config.name},
    )
    try:
        if local_tables:
            log_folder(uri, parent, results_dir / NETWORKS_FOLDER, artifact_path=NETWORKS_FOLDER)
        start = time.perf_counter()
        pending = [t for t in trials if t.key not in finished]
        optima = exact_optima(config, local_tables, groups=_alone_groups(config, pending))
        if optima:
            echo(f"exact optima of {len(optima)} problem groups in {time.perf_counter() - start:.1f} s")
        chunks = pack_trials(pending, slots=_slots(config))
        known = child_runs(uri, experiment_id, parent) if started else {}
        context = SweepContext(
            sweep=config.name,
            location=location,
            tracking_uri=uri,
            experiment_id=experiment_id,
            parent_run_id=parent,
            optima=optima,
            trials={t.key: t for t in trials},
            ga_tasks=config.resources.ga_tasks,
            ga_task_cpus=config.resources.ga_task_cpus,
            tables=tables,
            name_axes=_name_axes(config, trials),
            chunks={chunk.key: chunk for chunk in chunks},
            max_failures=config.max_failures,
            known_runs={key: run for key, run in known.items() if key not in finished},
            exact_trials={t.group: t.key for t in trials if t.algorithm == "exact"},
        )
        echo(f"{len(pending)} searches in {len(chunks)} Tune trials")
        errors = run_grid(config, trials, context, finished=finished, echo=echo)
        for index, entry in enumerate(e for e in config.algorithms if e.tune is not None):
            run_tuning(config, entry, index, context, resources=_with_resources(config), resume=resume, echo=echo)
        stopping = _stop_ray_in_background() if connected else None
        storage.download(storage.join(location, TRIALS_FOLDER), results_dir / TRIALS_FOLDER)
        storage.download(storage.join(location, PARTS_FOLDER), results_dir / PARTS_FOLDER)
        tuned = tuned_trials(results_dir, trials) if any(e.tune is not None for e in config.algorithms) else []
        table, written = assemble_results(config.name, trials + tuned, results_dir, errors)
        front, front_files = write_front(config, results_dir, local_tables, table)
        report = build_report(table, results_dir, title=f"ConfX sweep {config.name}", front=front)
        for path in [*written, *report.all, *front_files]:
            storage.upload(path, storage.join(location, path.name))
        if stopping is not None:
            stopping.join()
    except BaseException as error:
        interrupted = isinstance(error, KeyboardInterrupt)
        _abandon(uri, experiment_id, parent, results_dir, interrupted=interrupted, disconnect=connected)
        raise
    n_failed = int((table["status"] != "ok").sum())
    close_parent_run(
        uri,
        parent,
        status="FINISHED" if n_failed == 0 else "FAILED",
        artifact_files=[*report.all, *front_files, written[0]],
        metrics={
            "trials_ok": len(table) - n_failed,
            "trials_failed": n_failed,
            "wall_time_s": time.perf_counter() - start,
        },
    )
    echo(f"sweep {config.name}: {len(table) - n_failed} trials ok, {n_failed} failed")
    return SweepOutcome(location, results_dir, table, parent, uri, report.markdown)
