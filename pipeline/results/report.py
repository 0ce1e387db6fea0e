"""The summary report of a sweep: a comparison table, two plots and ``report.md``.

The input is the sweep's trial table, one row per trial (columns listed in
:data:`TRIAL_COLUMNS`). The comparison keeps, per problem and algorithm, the best
design found over seeds and settings and its gap to the exact optimum, where
``gap = objective/optimum - 1`` for a minimised objective and ``1 - objective/optimum``
for a maximised one, so that lower is better either way and 0 is optimal.
"""

from __future__ import annotations

import logging
import math
import typing
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from confx.costmodel.errors import ConfXError
from confx.pipeline.results.figures import draw_optimum_line, new_figure, no_data
from confx.pipeline.results.schema import COMPARISON_COLUMNS, COMPARISON_KEYS, TRIAL_COLUMNS  # noqa: F401 (re-exported)

logger = logging.getLogger(__name__)

REPORT_COLUMNS = (
    "network",
    "dataflow",
    "objective",
    "constraint",
    "mul",
    "algorithm",
    "status",
    "objective_value",
    "sense",
    "optimum",
    "gap",
    "budget",
    "feasible",
    "run_name",
    "trial_key",
    "error",
)
PROBLEM_KEYS = ["network", "dataflow", "objective", "constraint"]
EXACT_ALGORITHM = "exact"
REPORT_FILE = "report.md"
GAP_PLOT = "gap_by_algorithm.png"
PARETO_PLOT = "pareto.png"
# symlog's linear range around 0: gaps of exact searches are 0 and must stay visible.
GAP_LINEAR_THRESHOLD = 1e-3


# ----------------------------------------------------------------------------- tables


def _check_trials(trials: pd.DataFrame) -> None:
    missing = [column for column in REPORT_COLUMNS if column not in trials.columns]
    if missing:
        raise ConfXError(f"trial table: missing column(s) {missing}; the sweep's trials table has them all")


def _finite(values: pd.Series) -> pd.Series:
    """Mask of finite numeric values (None, NaN and text are False)."""
    numeric = pd.to_numeric(values, errors="coerce").astype("float64")
    return pd.Series(np.isfinite(numeric.to_numpy()), index=values.index)


def usable_trials(trials: pd.DataFrame) -> pd.DataFrame:
    """Trials that finished with a feasible design and a finite objective value."""
    infeasible = trials["feasible"].map(lambda value: value is False or value is np.False_)
    keep = (trials["status"] == "ok") & _finite(trials["objective_value"]) & ~infeasible
    return trials[keep]


def _best_row(group: pd.DataFrame) -> pd.Series | None:
    """The group's trial with the best objective under the group's sense."""
    usable = usable_trials(group)
    if usable.empty:
        return None
    values = usable["objective_value"].astype("float64")
    index = values.idxmax() if usable["sense"].iloc[0] == "max" else values.idxmin()
    return typing.cast(pd.Series, usable.loc[typing.cast(int, index)])


def _comparison_row(keys: tuple, group: pd.DataFrame) -> dict[str, object]:
    best = _best_row(group)
    gaps = pd.to_numeric(usable_trials(group)["gap"], errors="coerce").astype("float64")
    gaps = gaps[np.isfinite(gaps)]
    return {
        **dict(zip(COMPARISON_KEYS, keys, strict=True)),
        "sense": group["sense"].dropna().iloc[0] if group["sense"].notna().any() else None,
        "best_objective": math.nan if best is None else float(best["objective_value"]),
        "optimum": math.nan if best is None else float(pd.to_numeric(best["optimum"], errors="coerce")),
        "best_gap": float(gaps.min()) if len(gaps) else math.nan,
        "mean_gap": float(gaps.mean()) if len(gaps) else math.nan,
        "trials": len(group),
        "failed": int((group["status"] != "ok").sum()),
        "best_run": None if best is None else best["run_name"],
    }


def comparison_table(trials: pd.DataFrame) -> pd.DataFrame:
    """Best objective and gap per network x dataflow x objective x constraint x mul x algorithm.

    Args:
        trials: One row per trial, with at least the columns of :data:`REPORT_COLUMNS`.

    Returns:
        One row per group (columns :data:`COMPARISON_COLUMNS`): the best objective over seeds
        and settings, the exact optimum, the smallest and mean gap of the group's finished
        feasible trials, the number of trials and of failed ones, and the best trial's run
        name. A group with no finished feasible trial has NaN values.

    Raises:
        ConfXError: A missing column.
    """
    _check_trials(trials)
    rows = [
        _comparison_row(keys, group) for keys, group in trials.groupby(list(COMPARISON_KEYS), dropna=False, sort=True)
    ]
    return pd.DataFrame(rows, columns=list(COMPARISON_COLUMNS))


# ----------------------------------------------------------------------------- markdown


def _cell(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace("|", "\\|")


def markdown_table(frame: pd.DataFrame) -> str:
    """A frame as a GitHub markdown table (floats to 4 significant digits, NaN as a dash)."""
    header = "| " + " | ".join(str(column) for column in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(_cell(value) for value in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body])


def error_line(error: object) -> str:
    """The line of an error that says what went wrong: its first, or a traceback's last (the exception)."""
    text = "" if error is None or (isinstance(error, float) and math.isnan(error)) else str(error)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return "(no message)"
    line = lines[-1] if lines[0].startswith("Traceback") else lines[0]
    return line[:200]


def _failed_section(trials: pd.DataFrame) -> list[str]:
    failed = trials[trials["status"] != "ok"]
    if failed.empty:
        return []
    lines = ["", "## Failed trials", ""]
    for row in failed.itertuples(index=False):
        lines.append(f"- `{row.run_name}` (`{row.trial_key}`): {error_line(row.error)}")
    return lines


def report_markdown(trials: pd.DataFrame, table: pd.DataFrame, *, title: str, plots: list[Path]) -> str:
    """The text of ``report.md``: counts, the comparison table, the plots and the failed trials."""
    ok = int((trials["status"] == "ok").sum())
    lines = [
        f"# {title}",
        "",
        f"{len(trials)} trials: {ok} ok, {len(trials) - ok} failed; "
        f"{trials['network'].nunique()} network(s), {trials['algorithm'].nunique()} algorithm(s).",
        "",
        "Gap to the exact optimum: objective/optimum - 1 when minimised, 1 - objective/optimum when maximised "
        "(0 is optimal, lower is better). Best over seeds and settings.",
        "",
        "## Comparison",
        "",
        markdown_table(table) if not table.empty else "(no trials)",
        "",
        "## Plots",
        "",
        *[f"![{path.stem}]({path.name})" for path in plots],
        *_failed_section(trials),
    ]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- plots


def plot_gap_by_algorithm(trials: pd.DataFrame, path: Path) -> Path:
    """Gap per algorithm, one marker per trial, coloured and offset by network/dataflow."""
    usable = usable_trials(trials)
    usable = usable[_finite(usable["gap"])]
    algorithms = sorted(usable["algorithm"].astype(str).unique())
    problems: list[tuple[str, str]] = sorted(
        {(str(n), str(d)) for n, d in zip(usable["network"], usable["dataflow"], strict=True)}
    )
    figure = new_figure(max(5.0, 1.2 * len(algorithms) + 2.5), 4.2)
    axes = figure.add_subplot()
    if usable.empty:
        no_data(axes, "no finished trial with a gap")
        figure.savefig(path, dpi=110)
        return path
    width = 0.7 / max(1, len(problems))
    for number, (network, dataflow) in enumerate(problems):
        rows = usable[(usable["network"] == network) & (usable["dataflow"] == dataflow)]
        positions = rows["algorithm"].astype(str).map(algorithms.index) - 0.35 + width * (number + 0.5)
        axes.scatter(positions, rows["gap"].astype("float64"), s=22, alpha=0.8, label=f"{network}/{dataflow}")
    axes.set_xticks(range(len(algorithms)), algorithms, rotation=20)
    axes.set_yscale("symlog", linthresh=GAP_LINEAR_THRESHOLD)
    axes.set_ylim(bottom=min(0.0, float(usable["gap"].astype("float64").min())))
    axes.set_ylabel("gap to exact optimum")
    axes.grid(True, axis="y", alpha=0.3)
    axes.legend(fontsize=7, title="network/dataflow", title_fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    figure.savefig(path, dpi=110)
    return path


def _pareto_panel(axes: Axes, rows: pd.DataFrame, title: str) -> None:
    """One problem: the exact optimum against the budget, and the other algorithms' designs."""
    exact = rows[rows["algorithm"] == EXACT_ALGORITHM]
    if not exact.empty:
        draw_optimum_line(axes, exact, label="exact optimum", color="black")
    for algorithm, found in rows[rows["algorithm"] != EXACT_ALGORITHM].groupby("algorithm"):
        axes.scatter(found["budget"], found["objective_value"], s=18, alpha=0.75, label=str(algorithm))
    if (rows["objective_value"] > 0).all():
        axes.set_yscale("log")
    axes.ticklabel_format(axis="x", style="sci", scilimits=(-3, 4))
    axes.set_title(title, fontsize=8)
    axes.set_xlabel("budget")
    axes.set_ylabel("objective")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=6)


def plot_found_vs_optimum(trials: pd.DataFrame, path: Path) -> Path:
    """Per network x dataflow x objective x constraint: objective against budget, exact line and found points."""
    usable = usable_trials(trials)
    usable = usable[_finite(usable["budget"])].astype({"budget": "float64", "objective_value": "float64"})
    groups = list(usable.groupby(PROBLEM_KEYS, sort=True))
    columns = min(3, max(1, len(groups)))
    rows = max(1, math.ceil(len(groups) / columns))
    figure = new_figure(4.8 * columns, 3.6 * rows)
    if not groups:
        no_data(figure.add_subplot(), "no finished trial with a budget")
    for number, ((network, dataflow, objective, constraint), group) in enumerate(groups):
        axes = figure.add_subplot(rows, columns, number + 1)
        _pareto_panel(axes, group, f"{network} {dataflow}: {objective} s.t. {constraint}")
    figure.savefig(path, dpi=100)
    return path


# ----------------------------------------------------------------------------- report


def build_report(trials: pd.DataFrame, out_dir: Path, *, title: str) -> tuple[Path, list[Path]]:
    """Write a sweep's ``report.md``, ``gap_by_algorithm.png`` and ``pareto.png`` into out_dir.

    Args:
        trials: One row per trial (see :data:`TRIAL_COLUMNS`); failed rows are counted and
            listed with the first line of their error.
        out_dir: Folder for the report; created if missing.
        title: The report's heading.

    Returns:
        The markdown file and the plot files.

    Raises:
        ConfXError: A missing column.
    """
    _check_trials(trials)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    table = comparison_table(trials)
    plots = [plot_gap_by_algorithm(trials, out_dir / GAP_PLOT), plot_found_vs_optimum(trials, out_dir / PARETO_PLOT)]
    markdown = out_dir / REPORT_FILE
    markdown.write_text(report_markdown(trials, table, title=title, plots=plots))
    logger.info("wrote the sweep report %s (%d trials, %d groups)", markdown, len(trials), len(table))
    return markdown, plots
