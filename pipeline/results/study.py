"""The convergence study: how many whole-model evaluations each algorithm needs to come within
10%, 5% and 1% of the certified optimum, and how that compares with ConfuciuX.

It re-tests the paper's claim that ConfuciuX "converges 4.7 to 24 times faster than alternate
techniques". Input is a finished sweep (``conf/study*.yaml``): its ``trials.parquet`` (the optimum
and sense of every search) and each search's ``curve.parquet`` (best-so-far objective against
whole-model evaluations). A search that never comes within a threshold counts as not reaching
it: medians and quartiles take it as infinitely slow, so a median is "not reached" when more
than half of the searches missed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from confx.costmodel.errors import ConfXError
from confx.pipeline.results.figures import new_figure, no_data, save_png
from confx.pipeline.results.report import markdown_table, usable_trials
from confx.pipeline.results.schema import PROBLEM_AXES
from confx.pipeline.results.sweep_tables import read_results
from confx.pipeline.results.tables import read_table, write_table, write_text

THRESHOLDS = (0.10, 0.05, 0.01)
"""Gaps to the optimum the study asks about: within 10%, 5% and 1%."""
REFERENCE = "confuciux"
"""The algorithm every other one is compared with."""
STUDY_AXES = (*PROBLEM_AXES, "mul")
"""What one problem of the study is (its seeds are repeats)."""
_CURVES = "trials"
"""Folder of a sweep's per-trial outputs (``trials/<trial key>/curve.parquet``)."""


@dataclass(frozen=True)
class StudyFiles:
    """What :func:`write_study` wrote."""

    markdown: Path
    table: Path
    plots: tuple[Path, ...]


def read_curves(results_dir: str | Path, trials: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Each finished trial's ``curve.parquet`` by trial key (trials without one are left out)."""
    curves = {}
    for key in trials["trial_key"]:
        path = Path(results_dir) / _CURVES / str(key) / "curve.parquet"
        if path.is_file():
            curves[str(key)] = read_table(path)
    return curves


def study_trials(trials: pd.DataFrame) -> pd.DataFrame:
    """The searches the study scores: finished, with a certified finite optimum, not the exact solver."""
    trials = usable_trials(trials)
    trials = trials[(trials["algorithm"] != "exact") & np.isfinite(trials["optimum"].astype(float))]
    return trials.reset_index(drop=True)


def gaps(best_objective: np.ndarray, optimum: float, sense: str) -> np.ndarray:
    """Relative gap of each best-so-far objective to the optimum (>= 0; NaN objective: infinite)."""
    best = np.asarray(best_objective, dtype=np.float64)
    gap = best / optimum - 1 if sense == "min" else 1 - best / optimum
    return np.where(np.isfinite(gap), gap, np.inf)


def evaluations_to_reach(curve: pd.DataFrame, optimum: float, sense: str, threshold: float) -> float:
    """Whole-model evaluations after which the best-so-far gap is within ``threshold`` (inf: never).

    Args:
        curve: Rows ``model_evaluations``, ``best_objective`` (the best after that many evaluations).
        optimum: The problem's certified optimum.
        sense: ``"min"`` or ``"max"``.
        threshold: Relative gap, e.g. 0.05.
    """
    gap = gaps(curve["best_objective"].to_numpy(), optimum, sense)
    # A relative tolerance: the threshold itself counts as reached despite rounding.
    hits = np.flatnonzero(gap <= threshold * (1 + 1e-9))
    return float(curve["model_evaluations"].iloc[hits[0]]) if hits.size else math.inf


def reach_frame(trials: pd.DataFrame, curves: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per search: its problem, algorithm, seed, final gap, and evaluations to reach each threshold."""
    rows = []
    for trial in trials.to_dict("records"):
        curve = curves.get(str(trial["trial_key"]))
        if curve is None or curve.empty:
            continue
        row = {axis: trial[axis] for axis in (*STUDY_AXES, "algorithm", "seed")}
        row["evaluations"] = int(curve["model_evaluations"].max())
        optimum, sense = float(trial["optimum"]), str(trial["sense"])
        row["final_gap"] = float(gaps(curve["best_objective"].to_numpy()[-1:], optimum, sense)[0])
        for threshold in THRESHOLDS:
            row[_reach_column(threshold)] = evaluations_to_reach(curve, optimum, sense, threshold)
        rows.append(row)
    return pd.DataFrame(rows)


def _reach_column(threshold: float) -> str:
    return f"reach_{round(threshold * 100):g}pct"


def _quantile(values: np.ndarray, q: float) -> float:
    """A quantile that is an observed value (inf allowed: no interpolation between inf and a number)."""
    return float(np.quantile(values, q, method="inverted_cdf")) if values.size else math.nan


def summary_table(reach: pd.DataFrame, *, reference: str = REFERENCE) -> pd.DataFrame:
    """Per algorithm and threshold: searches, how many reached it, median and quartiles of the
    evaluations needed, and the ratio to the reference's median (pooled over problems and seeds,
    and per problem: median and range of the per-problem ratios of medians)."""
    rows = []
    for threshold in THRESHOLDS:
        column = _reach_column(threshold)
        per_problem = reach.groupby([*STUDY_AXES, "algorithm"])[column].agg(lambda v: _quantile(v.to_numpy(), 0.5))
        reference_all = reach.loc[reach["algorithm"] == reference, column].to_numpy()
        reference_median = _quantile(reference_all, 0.5)
        for algorithm, group in reach.groupby("algorithm", sort=False):
            values = group[column].to_numpy()
            median = _quantile(values, 0.5)
            ratios = _problem_ratios(per_problem, str(algorithm), reference)
            finite = ratios[np.isfinite(ratios)]
            rows.append(
                {
                    "within": f"{threshold:.0%}",
                    "algorithm": algorithm,
                    "searches": len(values),
                    "reached": int(np.isfinite(values).sum()),
                    "median_evaluations": median,
                    "q25": _quantile(values, 0.25),
                    "q75": _quantile(values, 0.75),
                    "ratio_to_reference": _ratio(median, reference_median),
                    "problem_ratio_median": _quantile(ratios, 0.5),
                    "problem_ratio_min": float(finite.min()) if finite.size else math.nan,
                    "problem_ratio_max": float(finite.max()) if finite.size else math.nan,
                    "median_final_gap": float(group["final_gap"].median()),
                }
            )
    return pd.DataFrame(rows)


def _problem_ratios(per_problem: pd.Series, algorithm: str, reference: str) -> np.ndarray:
    ratios = []
    for _, algorithms in per_problem.groupby(level=list(STUDY_AXES)):
        values = algorithms.droplevel(list(STUDY_AXES))
        if algorithm in values.index and reference in values.index:
            ratios.append(_ratio(float(values[algorithm]), float(values[reference])))
    return np.asarray(ratios, dtype=np.float64)


def _ratio(value: float, reference: float) -> float:
    """value / reference, inf when only the reference reached, NaN when neither did."""
    if math.isinf(reference):
        return math.nan if math.isinf(value) else 0.0
    return value / reference


def _evaluations_text(value: float) -> str:
    return "not reached" if math.isinf(value) else "-" if math.isnan(value) else f"{value:,.0f}"


def _ratio_text(value: float) -> str:
    if math.isnan(value):
        return "-"
    if value == 0.0:  # this algorithm got there, ConfuciuX did not
        return "reached, ConfuciuX not"
    return "never (ConfuciuX does)" if math.isinf(value) else f"{value:.2f}x"


def display_table(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary as the study's table: one line per threshold and algorithm, ready for markdown."""
    return pd.DataFrame(
        {
            "within": summary["within"],
            "algorithm": summary["algorithm"],
            "reached": [f"{r}/{s}" for r, s in zip(summary["reached"], summary["searches"], strict=True)],
            "evaluations (median)": summary["median_evaluations"].map(_evaluations_text),
            "spread (25%..75%)": [
                f"{_evaluations_text(a)} .. {_evaluations_text(b)}"
                for a, b in zip(summary["q25"], summary["q75"], strict=True)
            ],
            "vs ConfuciuX (pooled)": summary["ratio_to_reference"].map(_ratio_text),
            "vs ConfuciuX (per problem: median, range)": [
                f"{_ratio_text(m)} ({_ratio_text(lo)} .. {_ratio_text(hi)})"
                for m, lo, hi in zip(
                    summary["problem_ratio_median"],
                    summary["problem_ratio_min"],
                    summary["problem_ratio_max"],
                    strict=True,
                )
            ],
            "final gap (median)": summary["median_final_gap"].map(lambda g: "-" if not np.isfinite(g) else f"{g:+.2%}"),
        }
    )


def gap_curves(reach_trials: pd.DataFrame, curves: dict[str, pd.DataFrame], grid: np.ndarray) -> dict[str, np.ndarray]:
    """Per algorithm, the best-so-far gap of every search at each evaluation count of ``grid``, shape (searches, G)."""
    by_algorithm: dict[str, list[np.ndarray]] = {}
    for trial in reach_trials.to_dict("records"):
        curve = curves.get(str(trial["trial_key"]))
        if curve is None or curve.empty:
            continue
        counts = curve["model_evaluations"].to_numpy()
        gap = np.minimum.accumulate(
            gaps(curve["best_objective"].to_numpy(), float(trial["optimum"]), str(trial["sense"]))
        )
        index = np.searchsorted(counts, grid, side="right") - 1
        at_grid = np.where(index >= 0, gap[np.maximum(index, 0)], np.inf)
        at_grid = np.where(grid <= counts.max(), at_grid, np.nan)  # past the search's budget: no data
        by_algorithm.setdefault(str(trial["algorithm"]), []).append(at_grid)
    return {name: np.vstack(rows) for name, rows in by_algorithm.items()}


def plot_gap_curves(curves_by_algorithm: dict[str, np.ndarray], grid: np.ndarray, path: Path) -> Path:
    """Median best-so-far gap (and the 25%..75% band) against whole-model evaluations, one line per algorithm."""
    figure = new_figure(7.5, 4.5)
    axes = figure.add_subplot()
    if not curves_by_algorithm:
        no_data(axes, "no finished searches with a certified optimum")
        return save_png(figure, path, dpi=120)
    for name, values in sorted(curves_by_algorithm.items()):
        median, low, high = (np.array([_band(column, q) for column in values.T]) for q in (0.5, 0.25, 0.75))
        (line,) = axes.plot(grid, 100 * median, label=name, lw=2 if name == REFERENCE else 1.2)
        axes.fill_between(grid, 100 * low, 100 * high, color=line.get_color(), alpha=0.12, lw=0)
    for threshold in THRESHOLDS:
        axes.axhline(100 * threshold, color="grey", lw=0.6, ls=":")
    axes.set(xscale="log", yscale="log", xlabel="whole-model evaluations", ylabel="best-so-far gap to optimum (%)")
    axes.set_title("Median over problems and seeds; band: 25%..75%", fontsize=9)
    axes.legend(fontsize=8, ncols=2)
    return save_png(figure, path, dpi=120)


def _band(column: np.ndarray, q: float) -> float:
    column = column[~np.isnan(column)]
    value = _quantile(column, q)
    return value if np.isfinite(value) else math.nan


def plot_reach(summary: pd.DataFrame, path: Path) -> Path:
    """Median evaluations to come within each threshold (bars: 25%..75%), per algorithm; x: not reached."""
    figure = new_figure(7.5, 1.2 + 0.35 * summary["algorithm"].nunique() * len(THRESHOLDS))
    axes = figure.add_subplot()
    if summary.empty:
        no_data(axes, "no finished searches with a certified optimum")
        return save_png(figure, path, dpi=120)
    algorithms = list(dict.fromkeys(summary["algorithm"]))
    top = float(np.nanmax(summary[["q75", "median_evaluations"]].replace(np.inf, np.nan).to_numpy(), initial=1.0))
    for offset, (within, rows) in enumerate(summary.groupby("within", sort=False)):
        rows = rows.set_index("algorithm").reindex(algorithms)
        y = np.arange(len(algorithms)) * (len(THRESHOLDS) + 1) + offset
        median = rows["median_evaluations"].to_numpy(dtype=float)
        low, high = rows["q25"].to_numpy(dtype=float), rows["q75"].to_numpy(dtype=float)
        reached = np.isfinite(median)
        error = [median - low, np.where(np.isfinite(high), high, 2 * top) - median]
        axes.errorbar(
            median[reached],
            y[reached],
            xerr=[e[reached] for e in error],
            fmt="o",
            ms=4,
            capsize=2,
            label=f"within {within}",
        )
        axes.plot(np.full((~reached).sum(), 2 * top), y[~reached], "x", color="black")
    axes.set_yticks(np.arange(len(algorithms)) * (len(THRESHOLDS) + 1) + 1, algorithms)
    axes.set(xscale="log", xlabel="whole-model evaluations (x at the right: median not reached)")
    axes.legend(fontsize=8)
    return save_png(figure, path, dpi=120)


def study_markdown(summary: pd.DataFrame, reach: pd.DataFrame, *, plots: Sequence[Path], command: str) -> str:
    """The generated part of ``docs/study.md``: what was measured, the table, the plots."""
    problems = reach.groupby(list(STUDY_AXES)).ngroups if not reach.empty else 0
    seeds = sorted(reach["seed"].unique().tolist()) if not reach.empty else []
    budgets = reach.groupby("algorithm")["evaluations"].max().to_dict() if not reach.empty else {}
    lines = [
        f"Generated by `{command}`.",
        "",
        f"{len(reach)} searches: {problems} problem(s) x seeds {seeds}; whole-model evaluations per search: "
        + ", ".join(f"{name} {count:,}" for name, count in budgets.items())
        + ".",
        "",
        markdown_table(display_table(summary)),
        "",
        *(f"![{plot.stem}]({plot.name})" for plot in plots),
        "",
    ]
    return "\n".join(lines)


def write_study(results_dir: str | Path, out_dir: str | Path, *, command: str) -> StudyFiles:
    """Read a study sweep's results and write its table (CSV, markdown) and plots into ``out_dir``.

    Raises:
        ConfXError: No sweep results there, or no scorable search among them.
    """
    trials = study_trials(read_results(results_dir))
    if trials.empty:
        raise ConfXError(
            f"{results_dir}: no finished search with a certified optimum; "
            "run the study sweep (conf/study_small.yaml) first"
        )
    curves = read_curves(results_dir, trials)
    reach = reach_frame(trials, curves)
    if reach.empty:
        raise ConfXError(f"{results_dir}: the finished searches have no curve.parquet; rerun the sweep with --resume")
    summary = summary_table(reach)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    top = int(reach["evaluations"].max())
    grid = np.unique(np.geomspace(1, max(top, 2), 200).astype(np.int64))
    plots = (
        plot_gap_curves(gap_curves(trials, curves, grid), grid, out / "study_gap_curves.png"),
        plot_reach(summary, out / "study_reach.png"),
    )
    table = out / "study_reach.csv"
    write_table(summary, table)
    markdown = write_text(out / "study_results.md", study_markdown(summary, reach, plots=plots, command=command))
    return StudyFiles(markdown=markdown, table=table, plots=plots)


def tuned_settings(results_dir: str | Path) -> dict[str, dict]:
    """Per algorithm, the settings with the lowest mean gap in a tuning sweep (``conf/study_tune.yaml``)."""
    trials = study_trials(read_results(results_dir))
    best: dict[str, dict] = {}
    for algorithm, group in trials.groupby("algorithm"):
        means = group.groupby("settings")["gap"].mean()
        best[str(algorithm)] = json.loads(str(means.idxmin()))
    return best
