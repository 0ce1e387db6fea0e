"""A sweep's results tables: ``trials.parquet`` (one row per trial) and ``layers/`` (one row per trial x layer).

Both are assembled from the trials' folders (``trials/<trial key>/``), which the trials write
themselves; a trial without its record file did not finish and gets a ``failed`` row.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from confx.pipeline.results.schema import GROUP_AXES, SUMMARY_COLUMNS, TRIAL_COLUMNS
from confx.pipeline.results.tables import write_table
from confx.pipeline.sweep.plan import Trial
from confx.pipeline.sweep.trial import RECORD_FILE, TRIALS_FOLDER

LAYER_AXES = ("network", "algorithm", "mul", "seed", "objective", "constraint")
"""Trial axes repeated on every row of ``layers/`` (besides its partition columns)."""


def _trial_row(sweep: str, trial: Trial) -> dict[str, object]:
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


def collect_results(
    sweep: str, trials: Sequence[Trial], results_dir: Path, errors: Mapping[str, str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One row per trial (columns :data:`TRIAL_COLUMNS`), and one row per trial x layer, from the trial folders.

    Args:
        sweep: The sweep's name.
        trials: Every planned (and tuned) trial.
        results_dir: The local copy of the sweep's results.
        errors: The last error line of each failed trial, by key.
    """
    rows, layers = [], []
    for trial in trials:
        folder = results_dir / TRIALS_FOLDER / trial.key
        row = _trial_row(sweep, trial)
        if (folder / RECORD_FILE).is_file():
            summary = json.loads((folder / "summary.json").read_text())
            final = json.loads((folder / RECORD_FILE).read_text())
            row.update({k: summary[k] for k in SUMMARY_COLUMNS})
            row.update(
                optimum=final["optimum"],
                gap=final["gap"],
                run_id=final["run_id"],
                status="ok",
                error="",
                node_id=final.get("node_id", ""),
            )
            solution = pd.read_parquet(folder / "solution.parquet")
            solution.insert(0, "trial_key", trial.key)
            for axis in LAYER_AXES:
                solution[axis] = trial.network_name if axis == "network" else getattr(trial, axis)
            layers.append(solution)
        else:
            row.update(status="failed", error=errors.get(trial.key, "did not finish"))
        rows.append(row)
    frame = pd.DataFrame(rows).reindex(columns=list(TRIAL_COLUMNS))
    return frame, (pd.concat(layers, ignore_index=True) if layers else pd.DataFrame())


def tuned_trials(results_dir: Path, planned: Sequence[Trial]) -> list[Trial]:
    """Trials that Optuna proposed (not in the grid plan), from their folders."""
    known = {t.key for t in planned}
    found = []
    for path in sorted((results_dir / TRIALS_FOLDER).glob(f"*/{RECORD_FILE}")):
        trial = Trial.from_record(json.loads(path.read_text())["trial"])
        if trial.key not in known:
            found.append(trial)
    return found


def write_results(trials: pd.DataFrame, layers: pd.DataFrame, results_dir: Path) -> list[Path]:
    """Write ``trials.parquet`` and the ``layers/`` dataset (hive-partitioned by network and dataflow)."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    write_table(trials, results_dir / "trials.parquet")
    written = [results_dir / "trials.parquet"]
    if not layers.empty:
        table = pa.Table.from_pandas(layers, preserve_index=False)
        partitioning = ds.partitioning(pa.schema([("network", pa.string()), ("dataflow", pa.string())]), flavor="hive")
        ds.write_dataset(
            table,
            results_dir / "layers",
            format="parquet",
            partitioning=partitioning,
            existing_data_behavior="delete_matching",
        )
        written.append(results_dir / "layers")
    return written


def read_results(results_dir: str | Path) -> pd.DataFrame:
    """A sweep's ``trials.parquet`` (one row per trial; columns :data:`TRIAL_COLUMNS`).

    Args:
        results_dir: The sweep's results folder, e.g. ``results/default``.

    Raises:
        ConfXError: No sweep results there, or a table that is not a sweep's.
    """
    from confx.costmodel.errors import ConfXError
    from confx.pipeline.results.tables import read_table

    path = Path(results_dir) / "trials.parquet"
    if not path.is_file():
        raise ConfXError(f"{results_dir}: no trials.parquet; give a sweep's results folder, e.g. results/default")
    trials = read_table(path)
    missing = [column for column in TRIAL_COLUMNS if column not in trials.columns]
    if missing:
        raise ConfXError(f"{path}: not a sweep's trials table (missing {', '.join(missing)})")
    return trials
