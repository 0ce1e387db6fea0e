"""A sweep's results tables: ``trials.parquet`` (one row per trial) and ``layers/`` (one row per trial x layer).

Each chunk of searches writes its rows as part files (``parts/``); the driver compacts them at
the end, reading them as one pyarrow dataset and streaming the layers, so that neither all rows
are rewritten by every chunk nor held by the driver. A search that finished but whose chunk was
stopped before writing its part is read from its folder (``trials/<trial key>/``); a search
without its record file did not finish and gets a ``failed`` row.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from confx.pipeline.results.schema import GROUP_AXES, SUMMARY_COLUMNS, TRIAL_COLUMNS
from confx.pipeline.results.tables import arrow_table, write_table
from confx.pipeline.sweep.plan import Trial
from confx.pipeline.sweep.trial import RECORD_FILE, TRIALS_FOLDER

PARTS_FOLDER = "parts"
"""Per-chunk part files: ``trials-*.parquet`` and ``layers-*.parquet`` (see :mod:`confx.pipeline.sweep.batch`)."""

LAYER_AXES = ("network", "algorithm", "mul", "seed", "objective", "constraint")
"""Trial axes repeated on every row of ``layers/`` (besides its partition columns)."""


def trial_row(sweep: str, trial: Trial, summary: Mapping[str, Any], record: Mapping[str, Any]) -> dict[str, object]:
    """A finished search's row of ``trials.parquet`` (columns :data:`TRIAL_COLUMNS`)."""
    return {
        **_planned_row(sweep, trial),
        **{k: summary[k] for k in SUMMARY_COLUMNS},
        "optimum": record["optimum"],
        "gap": record["gap"],
        "run_id": record["run_id"],
        "status": "ok",
        "error": "",
        "node_id": record.get("node_id", ""),
    }


def layer_frame(trial: Trial, solution: pd.DataFrame) -> pd.DataFrame:
    """A finished search's rows of ``layers/``: its solution with the trial's key and axes."""
    frame = solution.copy()
    frame.insert(0, "trial_key", trial.key)
    for axis in LAYER_AXES:
        frame[axis] = trial.network_name if axis == "network" else getattr(trial, axis)
    return frame


def layer_table(trials: Sequence[Trial], solutions: Sequence[Any]) -> Any:
    """The rows of ``layers/`` of many searches (solutions as Arrow tables or frames) as one Arrow table.

    See :func:`layer_frame`; built without pandas.
    """
    import pyarrow as pa

    tables = []
    for trial, solution in zip(trials, solutions, strict=True):
        if not len(solution):
            continue
        table = solution if isinstance(solution, pa.Table) else arrow_table(solution)
        n = table.num_rows
        table = table.add_column(0, "trial_key", pa.array([trial.key] * n))
        for axis in LAYER_AXES:
            value = trial.network_name if axis == "network" else getattr(trial, axis)
            table = table.append_column(axis, pa.array([value] * n))
        tables.append(table)
    return pa.concat_tables(tables, promote_options="permissive") if tables else None


def _planned_row(sweep: str, trial: Trial) -> dict[str, object]:
    record = trial.to_record()
    return {
        **{axis: record[axis] for axis in (*GROUP_AXES, "space")},
        "algorithm": trial.algorithm,
        "seed": trial.seed,
        "sweep": sweep,
        "trial_key": trial.key,
        "run_name": trial.run_name,
        "settings": trial.settings_json,
    }


def _folder_rows(sweep: str, trials: Sequence[Trial], results_dir: Path) -> tuple[list[dict], list[pd.DataFrame]]:
    """Rows of finished searches read from their folders (those no part file holds)."""
    rows, layers = [], []
    for trial in trials:
        folder = results_dir / TRIALS_FOLDER / trial.key
        summary = json.loads((folder / "summary.json").read_text())
        rows.append(trial_row(sweep, trial, summary, json.loads((folder / RECORD_FILE).read_text())))
        layers.append(layer_frame(trial, pd.read_parquet(folder / "solution.parquet")))
    return rows, layers


def _parts(results_dir: Path, kind: str) -> list[Path]:
    return sorted((results_dir / PARTS_FOLDER).glob(f"{kind}-*.parquet"))


def _dataset(files: Sequence[Path]) -> Any:
    """The part files as one pyarrow dataset (column types unified: a part may have an all-null column)."""
    import pyarrow as pa
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    schema = pa.unify_schemas([pq.read_schema(f) for f in files], promote_options="permissive")
    return ds.dataset([str(f) for f in files], schema=schema, format="parquet")


def assemble_results(
    sweep: str, trials: Sequence[Trial], results_dir: Path, errors: Mapping[str, str]
) -> tuple[pd.DataFrame, list[Path]]:
    """Compact the part files (and any finished search no part holds) into ``trials.parquet`` and ``layers/``.

    One row per planned (or tuned) search in plan order: a finished one's from its chunk's part
    (or its folder, when its chunk was stopped before writing the part), a failed one's with its
    error. ``layers/`` is streamed from the parts, never held whole.

    Args:
        sweep: The sweep's name.
        trials: Every planned (and tuned) search.
        results_dir: The local copy of the sweep's results.
        errors: The last error line of each failed search, by key.
    """
    import pyarrow.compute as pc

    parts = _parts(results_dir, "trials")
    rows = pd.DataFrame()
    planned = sorted(t.key for t in trials)
    if parts:
        table = _dataset(parts).to_table(filter=pc.field("trial_key").isin(planned))
        rows = table.to_pandas().drop_duplicates("trial_key", keep="last")
    in_parts = set(rows["trial_key"]) if len(rows) else set()
    records = results_dir / TRIALS_FOLDER
    missing = [t for t in trials if t.key not in in_parts and (records / t.key / RECORD_FILE).is_file()]
    finished = in_parts | {t.key for t in missing}
    extra_rows, extra_layers = _folder_rows(sweep, missing, results_dir)
    if missing:  # kept as one more part, so that the layers stream from parts only
        (results_dir / PARTS_FOLDER).mkdir(parents=True, exist_ok=True)  # a tuning-only sweep writes no parts
        name = f"folders-{len(missing)}-{abs(hash(tuple(t.key for t in missing))):x}.parquet"
        write_table(pd.DataFrame(extra_rows), results_dir / PARTS_FOLDER / f"trials-{name}")
        frames = [frame for frame in extra_layers if len(frame)]
        if frames:
            write_table(pd.concat(frames, ignore_index=True), results_dir / PARTS_FOLDER / f"layers-{name}")
    failed = [
        {**_planned_row(sweep, t), "status": "failed", "error": errors.get(t.key, "did not finish")}
        for t in trials
        if t.key not in finished
    ]
    frames = [frame for frame in (rows, pd.DataFrame(extra_rows), pd.DataFrame(failed)) if len(frame)]
    order = {t.key: i for i, t in enumerate(trials)}
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(TRIAL_COLUMNS))
    frame = frame[frame["trial_key"].isin(order)]
    frame = frame.iloc[frame["trial_key"].map(order).argsort()].reset_index(drop=True)
    frame = frame.reindex(columns=list(TRIAL_COLUMNS))
    write_table(frame, results_dir / "trials.parquet")
    written = [results_dir / "trials.parquet"]
    if _write_layers(results_dir, set(frame.loc[frame["status"] == "ok", "trial_key"])):
        written.append(results_dir / "layers")
    return frame, written


def _write_layers(results_dir: Path, keys: set[str]) -> bool:
    """Stream the layer parts of the given searches into ``layers/`` (hive-partitioned by network and dataflow)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    parts = _parts(results_dir, "layers")
    if not parts or not keys:
        return False
    scanner = _dataset(parts).scanner(filter=pc.field("trial_key").isin(sorted(keys)))
    partitioning = ds.partitioning(pa.schema([("network", pa.string()), ("dataflow", pa.string())]), flavor="hive")
    ds.write_dataset(
        scanner,
        results_dir / "layers",
        format="parquet",
        partitioning=partitioning,
        existing_data_behavior="delete_matching",
    )
    return True


def tuned_trials(results_dir: Path, planned: Sequence[Trial]) -> list[Trial]:
    """Trials that Optuna proposed (not in the grid plan), from their folders."""
    known = {t.key for t in planned}
    found = []
    for path in sorted((results_dir / TRIALS_FOLDER).glob(f"*/{RECORD_FILE}")):
        trial = Trial.from_record(json.loads(path.read_text())["trial"])
        if trial.key not in known:
            found.append(trial)
    return found


def read_results(results_dir: str | Path) -> pd.DataFrame:
    """A sweep's ``trials.parquet`` (one row per trial; columns :data:`TRIAL_COLUMNS`), read as a pyarrow dataset.

    Args:
        results_dir: The sweep's results folder, e.g. ``results/default``.

    Raises:
        ConfXError: No sweep results there, or a table that is not a sweep's.
    """
    import pyarrow as pa
    import pyarrow.dataset as ds

    from confx.costmodel.errors import ConfXError
    from confx.pipeline.results.tables import one_line

    path = Path(results_dir) / "trials.parquet"
    if not path.is_file():
        raise ConfXError(f"{results_dir}: no trials.parquet; give a sweep's results folder, e.g. results/default")
    try:
        dataset = ds.dataset(path, format="parquet")
        missing = [column for column in TRIAL_COLUMNS if column not in dataset.schema.names]
        if missing:
            raise ConfXError(f"{path}: not a sweep's trials table (missing {', '.join(missing)})")
        return dataset.to_table(columns=list(TRIAL_COLUMNS)).to_pandas()
    except (pa.ArrowInvalid, OSError) as error:
        raise ConfXError(f"{path}: cannot read as parquet: {one_line(error)}") from None
