"""`confx nightly`: run the configured scan for one date and flag regressions against the previous night.

Each date gets ``<results_dir>/nightly/date=YYYY-MM-DD/``; a rerun of the same
date resumes that sweep (finished trials are kept, no row is added twice). The
comparison is per group (network, dataflow, objective, constraint, mul,
algorithm): best objective, best gap to the exact optimum and total search wall
time, each against its configured tolerance.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from confx.costmodel.errors import ConfXError
from confx.pipeline.results.schema import COMPARISON_KEYS
from confx.pipeline.results.tables import write_table, write_text
from confx.pipeline.sweep.config import Nightly, SweepConfig

logger = logging.getLogger(__name__)

GROUP_COLUMNS = list(COMPARISON_KEYS)
NIGHTLY_FOLDER = "nightly"


def night_folder(config: SweepConfig, date: dt.date) -> Path:
    return Path(config.results_dir).absolute() / NIGHTLY_FOLDER / f"date={date.isoformat()}"


def previous_night(config: SweepConfig, date: dt.date) -> Path | None:
    """The latest earlier night that left a results table, if any."""
    root = Path(config.results_dir).absolute() / NIGHTLY_FOLDER
    earlier = []
    for folder in root.glob("date=*"):
        try:
            day = dt.date.fromisoformat(folder.name.removeprefix("date="))
        except ValueError:
            continue
        if day < date and (folder / "trials.parquet").is_file():
            earlier.append((day, folder))
    return max(earlier)[1] if earlier else None


def group_summary(trials: pd.DataFrame) -> pd.DataFrame:
    """Per group: best objective (by its sense), best gap and total search wall time of the ok trials."""
    ok = trials[(trials["status"] == "ok") & trials["feasible"].fillna(False).astype(bool)].copy()
    ok["signed"] = np.where(ok["sense"] == "max", -ok["objective_value"], ok["objective_value"])
    grouped = ok.groupby(GROUP_COLUMNS, observed=True)
    summary = pd.DataFrame(
        {
            "sense": grouped["sense"].first(),
            "best_objective": grouped["signed"].min(),
            "best_gap": grouped["gap"].min(),
            "wall_time_s": grouped["wall_time_s"].sum(),
        }
    )
    summary["best_objective"] = np.where(
        summary["sense"] == "max", -summary["best_objective"], summary["best_objective"]
    )
    return summary


def compare_nights(previous: pd.DataFrame, current: pd.DataFrame, tolerances: Nightly) -> pd.DataFrame:
    """One row per group of the current night, with last night's values and regression flags.

    Args:
        previous: Last night's ``trials.parquet``.
        current: Tonight's ``trials.parquet``.
        tolerances: When a change counts as a regression.

    Returns:
        Columns ``<metric>_previous``, ``<metric>_current`` for the three metrics,
        ``regressed`` (bool) and ``reasons`` (text).
    """
    joined = (
        group_summary(current)
        .merge(
            group_summary(previous), how="left", left_index=True, right_index=True, suffixes=("_current", "_previous")
        )
        .reset_index()
    )
    reasons: list[list[str]] = [[] for _ in range(len(joined))]
    worse = np.where(
        joined["sense_current"] == "max",
        joined["best_objective_previous"] - joined["best_objective_current"],
        joined["best_objective_current"] - joined["best_objective_previous"],
    )
    checks = [
        ("objective", tolerances.objective_tolerance, worse / np.abs(joined["best_objective_previous"])),
        ("gap", tolerances.gap_tolerance, joined["best_gap_current"] - joined["best_gap_previous"]),
        (
            "wall time",
            tolerances.wall_time_tolerance,
            joined["wall_time_s_current"] / joined["wall_time_s_previous"] - 1,
        ),
    ]
    for label, tolerance, change in checks:
        if tolerance is None:
            continue
        for i in np.flatnonzero(np.nan_to_num(np.asarray(change, dtype=float), nan=0.0) > tolerance):
            reasons[i].append(f"{label} {change[i]:+.2%} > {tolerance:.2%}")
    joined["regressed"] = [bool(r) for r in reasons]
    joined["reasons"] = ["; ".join(r) for r in reasons]
    return joined.drop(columns=["sense_previous"]).rename(columns={"sense_current": "sense"})


def nightly_markdown(date: dt.date, previous: Path | None, comparison: pd.DataFrame | None, failed: int) -> str:
    """The nightly report: what ran, what regressed."""
    from confx.pipeline.results.report import markdown_table

    lines = [f"# ConfX nightly {date.isoformat()}", ""]
    if comparison is None or previous is None:
        lines.append("No earlier night to compare with: this night is the baseline.")
    else:
        regressed = comparison[comparison["regressed"]]
        lines.append(
            f"Compared with {previous.name}: {len(regressed)} of {len(comparison)} groups regressed; "
            f"{failed} trial(s) failed."
        )
        if len(regressed):
            lines += ["", "## Regressions", "", markdown_table(regressed[GROUP_COLUMNS + ["reasons"]])]
        columns = GROUP_COLUMNS + [
            "best_objective_previous",
            "best_objective_current",
            "best_gap_previous",
            "best_gap_current",
            "wall_time_s_previous",
            "wall_time_s_current",
            "regressed",
        ]
        lines += ["", "## All groups", "", markdown_table(comparison[columns])]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class NightlyOutcome:
    folder: Path
    regressions: int
    failed_trials: int
    report: Path


def run_nightly(
    config: SweepConfig,
    *,
    date: dt.date,
    address: str | None = None,
    tracking_uri: str | None = None,
    echo: Any = print,
) -> NightlyOutcome:
    """Run (or resume) the scan of one date, compare it with the previous night, write and log the report."""
    from confx.pipeline.results.sweep_tables import read_results
    from confx.pipeline.results.tracking import close_parent_run
    from confx.pipeline.sweep.driver import run_sweep

    if "://" in config.results_dir:
        raise ConfXError(
            f"results_dir {config.results_dir!r} is a URI; the nightly scan compares nights in a "
            "folder: give a path every node mounts, e.g. /mnt/confx/results"
        )
    folder = night_folder(config, date)
    # Algorithms that run on a few groups a night (ConfuciuX) get other groups every night.
    config = config.model_copy(update={"rotation": date.toordinal()})
    outcome = run_sweep(
        config, address=address, tracking_uri=tracking_uri, resume=True, results_folder=folder, echo=echo
    )
    previous = previous_night(config, date)
    comparison = None
    if previous is not None:
        comparison = compare_nights(read_results(previous), outcome.trials, config.nightly)
        write_table(comparison, folder / "comparison.parquet")
    failed = int((outcome.trials["status"] != "ok").sum())
    report = folder / "nightly_report.md"
    write_text(report, nightly_markdown(date, previous, comparison, failed))
    regressions = 0 if comparison is None else int(comparison["regressed"].sum())
    close_parent_run(
        outcome.tracking_uri,
        outcome.parent_run_id,
        status="FINISHED" if not failed else "FAILED",
        artifact_files=[report],
        metrics={"regressions": regressions},
    )
    echo(f"nightly {date}: {regressions} regression(s), {failed} failed trial(s); report {report}")
    return NightlyOutcome(folder, regressions, failed, report)


def parse_date(text: str | None) -> dt.date:
    """The scan's date: today (UTC) when not given."""
    if text is None:
        return dt.datetime.now(dt.UTC).date()
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ConfXError(f"--date {text!r} is not a date; use YYYY-MM-DD") from None
