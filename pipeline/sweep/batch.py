"""A chunk of cheap searches inside one Tune trial: one problem per group, per-search retries, batched logging.

The chunk (see :mod:`confx.pipeline.sweep.chunks`) runs only its searches without a record
(a retried or resumed chunk skips the finished ones). Each problem group's problem is built
once, and every search gets a fresh copy of it (its own counters and memo, as if built anew).
The group's exact optimum is computed once, by its ``exact`` trial, and that trial reuses the
driver's search when the driver ran one. A failing search is retried alone, then recorded as
failed; the others stand.

Finished searches go to a logging thread, which writes their MLflow child runs in batches
(:func:`~confx.pipeline.results.tracking.log_trial_runs`, one transaction per batch on a
database store), then their records, so the searches never wait for the tracking store. At
the end the chunk writes its rows of ``trials.parquet`` and ``layers/`` as part files, which the
driver compacts.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import queue
import secrets
import tempfile
import threading
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from confx.pipeline.results.sweep_tables import PARTS_FOLDER
from confx.pipeline.sweep.chunks import Chunk
from confx.pipeline.sweep.plan import Group, Trial
from confx.pipeline.sweep.trial import (
    NETWORK_FILE,
    RECORD_FILE,
    TRIALS_FOLDER,
    ExactRun,
    Optimum,
    SearchOutcome,
    SweepContext,
    build_trial_problem,
    counts,
    exact_or_infeasible,
    run_search_outputs,
    trial_folder,
    write_record,
)

if TYPE_CHECKING:
    from confx.envs.problem import MemoCells, Problem

logger = logging.getLogger(__name__)

BATCH_RUNS = 200
"""Most child runs logged in one batch."""
BATCH_WAIT_S = 1.0
"""How long the logging thread gathers finished searches into one batch (a search's record waits as long)."""
REPORT_EVERY_S = 2.0
"""Least time between two progress reports of a chunk to Tune."""


@dataclass(frozen=True)
class Failure:
    """A search that failed every attempt: its traceback."""

    trial: Trial
    error: str


# ----------------------------------------------------------------------------- problems


@dataclass
class GroupProblem:
    """A group's problem as built (never searched on), the memo cells its budget evaluated, and its shared memo.

    The template's memo is the group's cache of cost-model outputs: filled over the space's
    values once, then shared by every search's own memo (see ``LayerCostMemo.shared``), which
    still counts each point its search asks for.
    """

    template: Problem
    corner: MemoCells

    def fresh(self) -> Problem:
        """A copy as if built anew: the corner designs' cells known and counted, nothing else."""
        from confx.envs.problem import LayerCostMemo

        problem = copy.copy(self.template)
        memo = self.template.memo
        problem.memo = LayerCostMemo(self.template.layers, self.template.space, memo.mappings, shared=memo)
        problem.memo.merge(self.corner)
        problem.model_evaluations = 0
        return problem

    @classmethod
    def of(cls, template: Problem) -> GroupProblem:
        """The group of a problem just built: its corner cells taken, its memo filled to be shared."""
        corner = template.memo.take_new_cells()
        template.memo.prefill(template.space)
        return cls(template, corner)


def group_problem(trial: Trial, folder: Path) -> GroupProblem:
    """Build the problem of the trial's group once."""
    return GroupProblem.of(build_trial_problem(trial, folder))


# ----------------------------------------------------------------------------- logging thread


class RunLogger:
    """Logs finished and failed searches as MLflow child runs in batches, on a thread of its own.

    A search's record is written after its run, so a search with a record always has its run.
    Runs that may exist already (an earlier attempt's: the driver's ``known_runs`` and the runs
    tagged with this chunk) are completed in place. The thread looks those up first, so that the
    store opens (a worker's first MLflow call costs about 2 s) while the first searches run.
    """

    def __init__(self, context: SweepContext, chunk: Chunk) -> None:
        self.context, self.chunk = context, chunk
        self.known: dict[str, str] = {}
        self.logged: list[tuple[SearchOutcome, str]] = []
        self.failed = 0
        self.error: BaseException | None = None
        self.seconds = 0.0
        self._queue: queue.Queue[SearchOutcome | Failure | None] = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name=f"confx-runs-{chunk.key}", daemon=True)
        self._thread.start()

    def add(self, item: SearchOutcome | Failure) -> None:
        if self.error is not None:
            raise RuntimeError("logging the chunk's runs failed") from self.error
        self._queue.put(item)

    def close(self) -> None:
        """Log what is queued, stop the thread; raise its error, if any."""
        self._queue.put(None)
        self._thread.join()
        if self.error is not None:
            raise RuntimeError("logging the chunk's runs failed") from self.error

    def _loop(self) -> None:
        from confx.pipeline.results.tracking import CHUNK_TAG, child_runs

        context, chunk = self.context, self.chunk
        try:
            self.known = {key: run for key, run in context.known_runs.items() if key in chunk.trial_keys}
            self.known |= child_runs(
                context.tracking_uri, context.experiment_id, context.parent_run_id, tags={CHUNK_TAG: chunk.key}
            )
        except BaseException as error:  # raised by add() or close(), in the chunk's thread
            self.error = error
        done = False
        while not done:
            items = [self._queue.get()]
            # Gather for a moment: each batch is one transaction (and a commit) on the store.
            deadline = time.monotonic() + BATCH_WAIT_S
            while len(items) < BATCH_RUNS and items[-1] is not None:
                try:
                    items.append(self._queue.get(timeout=max(0.0, deadline - time.monotonic())))
                except queue.Empty:
                    break
            done = None in items
            batch = [item for item in items if item is not None]
            if batch and self.error is None:
                try:
                    start = time.perf_counter()
                    self._log(batch)
                    self.seconds += time.perf_counter() - start
                except BaseException as error:  # raised by close(), in the chunk's thread
                    self.error = error

    def _log(self, items: Sequence[SearchOutcome | Failure]) -> None:
        from confx.pipeline.results.tracking import log_trial_runs
        from confx.pipeline.sweep.trial import _log_failed_trial, _log_trial

        new = [item for item in items if item.trial.key not in self.known]
        context = self.context
        with tempfile.TemporaryDirectory(prefix="confx-runs-") as staging:
            runs = [self._run(item, Path(staging)) for item in new]
            run_ids = log_trial_runs(context.tracking_uri, context.experiment_id, context.parent_run_id, runs)
            ids = {item.trial.key: run_id for item, run_id in zip(new, run_ids, strict=True)}
            for item in items:
                if item.trial.key in self.known and isinstance(item, Failure):
                    _log_failed_trial(item.trial, context, item.error)
                elif item.trial.key in self.known and isinstance(item, SearchOutcome):
                    ids[item.trial.key] = _log_trial(  # an earlier attempt's run, completed in place
                        item.trial,
                        context,
                        summary=item.summary,
                        curve=item.curve,  # its histories (and curve.parquet, convergence.png)
                        solution=None,
                        extra_metrics={"gap": item.final["gap"], "optimum": item.final["optimum"]},
                        status="FINISHED",
                        error=None,
                        artifact_files=[f for f in _artifacts(item, Path(staging)) if f.name != "curve.parquet"],
                    )
        for item in items:
            if isinstance(item, SearchOutcome):
                write_record(item, ids[item.trial.key])
                self.logged.append((item, ids[item.trial.key]))
            else:
                self.failed += 1

    def _run(self, item: SearchOutcome | Failure, staging: Path) -> Any:
        from confx.pipeline.results.tracking import CHUNK_TAG, TrialRun
        from confx.pipeline.sweep.trial import _run_tags, _trial_params

        trial = item.trial
        tags = {**_run_tags(trial, self.context), CHUNK_TAG: self.chunk.key}
        name = trial.short_name(self.context.name_axes)
        now = int(time.time() * 1000)
        if isinstance(item, Failure):
            params = _trial_params(trial)
            return TrialRun(trial.key, name, params, tags, {}, None, {}, "FAILED", item.error, [], now, now)
        extra = {"gap": item.final["gap"], "optimum": item.final["optimum"]}
        return TrialRun(trial.key, name, _trial_params(trial), tags, item.summary, item.curve, extra, "FINISHED",
                        None, _artifacts(item, staging), item.start_ms, item.end_ms)  # fmt: skip


def _network_file(outcome: SearchOutcome) -> list[Path]:
    """The network table, when the search's network is not a built-in one."""
    return [outcome.folder / NETWORK_FILE] if outcome.trial.table else []


def _artifacts(outcome: SearchOutcome, staging: Path) -> list[Path]:
    """A batched search's run gets its solution and curve tables (and the network table, if not built in).

    The group's certified optimum (``exact``) also gets its MAESTRO mapping files, as one archive
    ``maestro.zip`` (a ``maestro/`` folder inside) staged under ``staging``: one file instead of
    one per layer. No convergence plot: drawing one costs more than the search.
    """
    from confx.pipeline.results.maestro_export import write_mapping_archive
    from confx.pipeline.results.tracking import MAESTRO_ARTIFACT_PATH

    files = [outcome.folder / "solution.parquet", outcome.folder / "curve.parquet", *_network_file(outcome)]
    if outcome.trial.algorithm == "exact" and outcome.solution is not None and len(outcome.solution):
        archive = staging / outcome.trial.key / f"{MAESTRO_ARTIFACT_PATH}.zip"
        archive.parent.mkdir()
        write_mapping_archive(outcome.solution, archive, folder=MAESTRO_ARTIFACT_PATH)
        files.append(archive)
    return files


# ----------------------------------------------------------------------------- the chunk


def _record(trial: Trial, context: SweepContext) -> dict[str, Any] | None:
    """A search's record, if it finished before (read from the results location)."""
    from confx.pipeline.results import storage

    location = storage.join(context.location, TRIALS_FOLDER, trial.key, RECORD_FILE)
    try:
        if storage.is_remote(location):
            import pyarrow.fs as pafs

            filesystem, path = pafs.FileSystem.from_uri(location)
            with filesystem.open_input_stream(path) as stream:
                return dict(json.loads(stream.read()))
        return dict(json.loads(Path(location).read_text()))
    except (OSError, ValueError):
        return None


class _Optima:
    """The exact optimum of each group in the chunk: the driver's, a finished exact trial's, or computed once."""

    def __init__(self, context: SweepContext) -> None:
        self.context = context
        self.known: dict[Group, Optimum] = dict(context.optima)

    def note(self, trial: Trial, record: dict[str, Any]) -> None:
        """Take the optimum of a finished ``exact`` trial of the group."""
        if trial.algorithm == "exact" and trial.group not in self.known:
            value = record.get("optimum")
            self.known[trial.group] = Optimum(float("nan") if value is None else float(value), float("nan"))

    def get(self, group: Group, problems: GroupProblem) -> Optimum:
        exact_key = self.context.exact_trials.get(group)
        if group not in self.known and exact_key is not None:
            # The group's exact trial finished in an earlier invocation (or chunk): its record holds the optimum.
            record = _record(self.context.trials[exact_key], self.context)
            if record is not None:
                self.note(self.context.trials[exact_key], record)
        if group not in self.known:
            problem = problems.fresh()
            result = exact_or_infeasible(problem)
            value = result.objective_value if result.optimal else math.nan
            exact = ExactRun(result, problem.cost_model_calls, problem.model_evaluations)
            self.known[group] = Optimum(value, problem.budget, exact)
        return self.known[group]


def _one_search(
    trial: Trial, context: SweepContext, problems: dict[Group, GroupProblem], optima: _Optima
) -> SearchOutcome:
    from confx.pipeline.results import storage

    folder = trial_folder(trial, context)
    if trial.group not in problems:
        problems.clear()  # a chunk runs its groups one after another: keep one group's problem only
        problems[trial.group] = group_problem(trial, folder[0])
    elif trial.table:
        folder[0].mkdir(parents=True, exist_ok=True)
        storage.fetch_file(trial.table, folder[0] / NETWORK_FILE)
    optimum = optima.get(trial.group, problems[trial.group])
    exact = optimum.exact if trial.algorithm == "exact" else None
    return run_search_outputs(
        trial,
        context,
        problems[trial.group].fresh(),
        folder=folder,
        optimum=optimum.value,
        report=lambda event: None,
        exact=exact,
    )


def run_batch(chunk: Chunk, context: SweepContext) -> None:
    """Run a chunk of cheap searches (see the module's docstring) and report to Tune as it goes."""
    from ray import tune

    trials = [context.trials[key] for key in chunk.trial_keys]
    optima = _Optima(context)
    pending = []
    for trial in trials:
        record = _record(trial, context)
        if record is None:
            pending.append(trial)
        else:
            optima.note(trial, record)
    finished_before = len(trials) - len(pending)
    runs = RunLogger(context, chunk)
    problems: dict[Group, GroupProblem] = {}
    failures: dict[str, str] = {}
    last_report = time.perf_counter()
    try:
        for trial in pending:
            error = ""
            for _ in range(context.max_failures + 1):
                try:
                    runs.add(_one_search(trial, context, problems, optima))
                    break
                except Exception:
                    error = traceback.format_exc()
                    logger.warning("search %s failed:\n%s", trial.key, error)
            else:
                failures[trial.key] = error.strip().splitlines()[-1]
                runs.add(Failure(trial, error))
            if time.perf_counter() - last_report > REPORT_EVERY_S:
                tune.report({"done": False, **counts(finished_before + len(runs.logged), len(failures), failures)})
                last_report = time.perf_counter()
    finally:
        runs.close()
    write_parts(chunk, context, runs.logged)
    final = counts(finished_before + len(runs.logged), len(failures), failures)
    tune.report({"done": True, "logging_s": runs.seconds, **final})


def write_parts(chunk: Chunk, context: SweepContext, logged: Sequence[tuple[SearchOutcome, str]]) -> None:
    """Write the chunk's rows of ``trials.parquet`` and ``layers/`` as part files (one name per attempt)."""
    import tempfile

    import pandas as pd
    import pyarrow.parquet as pq

    from confx.pipeline.results import storage
    from confx.pipeline.results.sweep_tables import layer_table, trial_row
    from confx.pipeline.results.tables import write_atomic, write_table
    from confx.pipeline.sweep.trial import _node_id

    if not logged:
        return
    node = _node_id()  # the chunk's searches all ran in this process
    rows = [
        trial_row(context.sweep, o.trial, o.summary, {**o.final, "run_id": run_id, "node_id": node})
        for o, run_id in logged
    ]
    layers = layer_table([o.trial for o, _ in logged], [o.solution for o, _ in logged])
    location = storage.join(context.location, PARTS_FOLDER)
    remote = storage.is_remote(location)
    folder = Path(tempfile.mkdtemp(prefix="confx-parts-")) if remote else Path(location)
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{chunk.key}-{secrets.token_hex(4)}.parquet"
    write_table(pd.DataFrame(rows), folder / f"trials-{name}")
    if layers is not None:
        write_atomic(folder / f"layers-{name}", lambda temp: pq.write_table(layers, temp))
    for path in folder.glob(f"*-{name}"):
        storage.upload(path, storage.join(location, path.name))
