"""The summary report of a sweep: comparison tables, two plots, ``report.html`` and ``report.md``.

The input is the sweep's trial table, one row per trial (columns listed in
:data:`TRIAL_COLUMNS`). The comparison keeps, per problem and algorithm, the best
design found over seeds and settings and its gap to the exact optimum, where
``gap = objective/optimum - 1`` for a minimised objective and ``1 - objective/optimum``
for a maximised one, so that lower is better either way and 0 is optimal. The pivot
puts one problem on a row and one algorithm in a column (best gap and evaluations in
the cells) and shows only the problem axes that vary.

``report.html`` is self-contained (its plots embedded), so that it renders inside the
MLflow UI's artifact view; ``report.md`` links the PNG files beside it. Every table also
goes to a CSV file, which MLflow previews.
"""

from __future__ import annotations

import base64
import html
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from confx.costmodel.errors import ConfXError
from confx.pipeline.results.report_plots import (
    EXACT_ALGORITHM,
    GAP_PLOT,
    PARETO_PLOT,
    plot_gap_by_algorithm,
    plot_pareto,
)
from confx.pipeline.results.schema import (  # noqa: F401
    COMPARISON_COLUMNS,
    COMPARISON_KEYS,
    GROUP_AXES,
    PROBLEM_AXES,
    TRIAL_COLUMNS,
)
from confx.pipeline.results.tables import write_table, write_text
from confx.pipeline.results.units import OBJECTIVE_UNITS

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
PIVOT_AXES = GROUP_AXES
"""A pivot row: one problem, at one budget level."""
REPORT_FILE = "report.md"
HTML_FILE = "report.html"
COMPARISON_CSV = "comparison.csv"
PIVOT_CSV = "pivot.csv"
TRIALS_CSV = "trials.csv"
PARETO_PANELS = 12
"""Most problems ``pareto.png`` draws (``pareto.parquet`` holds every one); each panel costs ~0.2 s to draw."""
OPTIMAL_GAP = 1e-9
"""A gap at most this small counts as reaching the optimum."""


# ----------------------------------------------------------------------------- tables


def _check_trials(trials: pd.DataFrame) -> None:
    missing = [column for column in REPORT_COLUMNS if column not in trials.columns]
    if missing:
        raise ConfXError(f"trial table: missing column(s) {missing}; the sweep's trials table has them all")


def _finite(values: pd.Series) -> pd.Series:
    """Mask of finite numeric values (None, NaN and text are False)."""
    numeric = pd.to_numeric(values, errors="coerce").astype("float64")
    return pd.Series(np.isfinite(numeric.to_numpy()), index=values.index)


def _usable_mask(trials: pd.DataFrame) -> pd.Series:
    infeasible = trials["feasible"].map(lambda value: value is False or value is np.False_)
    return (trials["status"] == "ok") & _finite(trials["objective_value"]) & ~infeasible


def usable_trials(trials: pd.DataFrame) -> pd.DataFrame:
    """Trials that finished with a feasible design and a finite objective value."""
    return trials[_usable_mask(trials)]


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
    frame = trials.reset_index(drop=True)
    usable = _usable_mask(frame).to_numpy()
    objective = pd.to_numeric(frame["objective_value"], errors="coerce").astype("float64").to_numpy()
    signed = np.where(frame["sense"].eq("max").to_numpy(), -objective, objective)
    gaps = pd.to_numeric(frame["gap"], errors="coerce").astype("float64").to_numpy()
    work = frame.assign(
        _usable=usable,
        _signed=np.where(usable, signed, np.inf),
        _gap=np.where(usable & np.isfinite(gaps), gaps, np.nan),
        _failed=(frame["status"] != "ok").to_numpy(),
    )
    grouped = work.groupby(list(COMPARISON_KEYS), dropna=False, sort=True)
    # Each group's best usable trial: the first one at its best objective (groups keep the rows' order).
    best = grouped["_signed"].idxmin().where(grouped["_usable"].any())
    found = best.notna().to_numpy()
    rows = best.fillna(0).astype(np.int64).to_numpy()
    optimum = pd.to_numeric(frame["optimum"], errors="coerce").astype("float64").to_numpy()
    sense = grouped["sense"].first()
    table = pd.DataFrame(
        {
            "sense": sense.astype(object).where(sense.notna(), None),
            "best_objective": np.where(found, objective[rows], np.nan),
            "optimum": np.where(found, optimum[rows], np.nan),
            "best_gap": grouped["_gap"].min(),
            "mean_gap": grouped["_gap"].mean(),
            "trials": grouped.size(),
            "failed": grouped["_failed"].sum().astype(np.int64),
            "best_run": pd.Series(frame["run_name"].to_numpy(dtype=object)[rows], index=best.index).where(found, None),
        }
    )
    return table.reset_index()[list(COMPARISON_COLUMNS)]


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


def split_axes(trials: pd.DataFrame) -> tuple[list[str], dict[str, object]]:
    """The problem axes that vary among the trials, and the value of each one that does not."""
    varying, constant = [], {}
    for axis in PIVOT_AXES:
        values = trials[axis].dropna().unique()
        if len(values) > 1:
            varying.append(axis)
        elif len(values) == 1:
            constant[axis] = values[0]
    return varying, constant


def pivot_table(trials: pd.DataFrame) -> pd.DataFrame:
    """One row per problem (network, dataflow, objective, constraint, mul), two columns per algorithm.

    Returns:
        The problem axes, ``optimum``, then ``<algorithm> gap`` (the best gap over seeds and
        settings) and ``<algorithm> evaluations`` (the whole-model evaluations of that best
        trial) for every algorithm, sorted by name; NaN where an algorithm found nothing.
    """
    algorithms = sorted(trials["algorithm"].dropna().astype(str).unique())
    frame = trials.reset_index(drop=True)
    axes = list(PIVOT_AXES)
    table = (
        frame.assign(optimum=pd.to_numeric(frame["optimum"], errors="coerce").astype("float64"))
        .groupby(axes, sort=True, dropna=False)["optimum"]
        .first()
        .to_frame()
    )
    gaps = pd.to_numeric(frame["gap"], errors="coerce").astype("float64")
    scored = frame[
        _usable_mask(frame).to_numpy() & np.isfinite(gaps.to_numpy()) & frame["algorithm"].notna().to_numpy()
    ]
    scored = scored.assign(
        gap=gaps[scored.index],
        model_evaluations=pd.to_numeric(scored["model_evaluations"], errors="coerce").astype("float64"),
        algorithm=scored["algorithm"].astype(str),
    )
    # Per problem and algorithm, the first trial at the smallest gap.
    best = scored.loc[scored.groupby([*axes, "algorithm"], sort=True, dropna=False)["gap"].idxmin()]
    for algorithm in algorithms:
        mine = best[best["algorithm"] == algorithm].set_index(axes)
        table[f"{algorithm} gap"] = mine["gap"].reindex(table.index)
        table[f"{algorithm} evaluations"] = mine["model_evaluations"].reindex(table.index)
    columns = [*PIVOT_AXES, "optimum", *(f"{a} {what}" for a in algorithms for what in ("gap", "evaluations"))]
    return table.reset_index()[columns]


def _gap_text(gap: float, evaluations: float) -> str:
    if math.isnan(gap):
        return "–"
    count = "" if math.isnan(evaluations) else f" · {int(evaluations)} evals"
    return f"{gap:.2%}{count}"


def pivot_display(pivot: pd.DataFrame, varying: list[str]) -> pd.DataFrame:
    """The pivot as text: only the varying problem axes, the optimum with its unit, one cell per algorithm."""
    algorithms = [column[: -len(" gap")] for column in pivot.columns if column.endswith(" gap")]
    shown = pd.DataFrame({axis: pivot[axis].map(str) for axis in varying}, index=pivot.index)
    units = {OBJECTIVE_UNITS.get(str(objective), "") for objective in pivot["objective"]}
    unit = f" ({units.pop()})" if len(units) == 1 else ""
    shown[f"optimum{unit}"] = pivot["optimum"].map(lambda value: "–" if pd.isna(value) else f"{value:.4g}")
    for algorithm in algorithms:
        gaps = pivot[f"{algorithm} gap"].astype("float64")
        evaluations = pivot[f"{algorithm} evaluations"].astype("float64")
        shown[algorithm] = [_gap_text(float(g), float(e)) for g, e in zip(gaps, evaluations, strict=True)]
    return shown


def conclusions(pivot: pd.DataFrame) -> str:
    """One line: each search algorithm's mean and worst best gap, how often it reached the optimum, its evaluations."""
    algorithms = [column[: -len(" gap")] for column in pivot.columns if column.endswith(" gap")]
    parts = []
    for algorithm in algorithms:
        if algorithm == EXACT_ALGORITHM:
            continue
        gaps = pivot[f"{algorithm} gap"].astype("float64").dropna()
        if gaps.empty:
            parts.append((math.inf, f"{algorithm} found no feasible design"))
            continue
        evaluations = pd.to_numeric(pivot[f"{algorithm} evaluations"], errors="coerce").mean()
        reached = int((gaps <= OPTIMAL_GAP).sum())
        parts.append((float(gaps.mean()), f"{algorithm} is {gaps.mean():.2%} from the optimum on average "
                      f"(worst {gaps.max():.2%}; optimal on {reached} of {len(pivot)} problems; "
                      f"{evaluations:.0f} evaluations)"))  # fmt: skip
    if not parts:
        return "Only the exact solver ran: the table lists the optima."
    ranked = [text for _, text in sorted(parts)]
    return "Closest first: " + "; ".join(ranked) + "."


def _constant_line(constant: dict[str, object]) -> str:
    return (
        "Every problem: " + ", ".join(f"{axis} {value}" for axis, value in constant.items()) + "." if constant else ""
    )


def report_markdown(trials: pd.DataFrame, pivot: pd.DataFrame, *, title: str, plots: list[Path]) -> str:
    """The text of ``report.md``: counts, conclusions, the pivot, the plots and the failed trials."""
    varying, constant = split_axes(trials)
    lines = [
        f"# {title}",
        "",
        _counts_line(trials),
        "",
        conclusions(pivot) if not pivot.empty else "(no trials)",
        "",
        "Gap to the exact optimum: objective/optimum - 1 when minimised, 1 - objective/optimum when maximised "
        "(0 is optimal, lower is better). Best over seeds and settings; evals: the best trial's whole-model "
        f"evaluations. {_constant_line(constant)}",
        "",
        "## Comparison",
        "",
        markdown_table(pivot_display(pivot, varying)) if not pivot.empty else "(no trials)",
        "",
        "## Plots",
        "",
        *[f"![{path.stem}]({path.name})" for path in plots],
        *_failed_section(trials),
    ]
    return "\n".join(lines) + "\n"


def _counts_line(trials: pd.DataFrame) -> str:
    ok = int((trials["status"] == "ok").sum())
    return (
        f"{len(trials)} trials: {ok} ok, {len(trials) - ok} failed; "
        f"{trials['network'].nunique()} network(s), {trials['algorithm'].nunique()} algorithm(s)."
    )


# ----------------------------------------------------------------------------- HTML

HTML_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; max-width: 1400px; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 14px; }
th, td { border: 1px solid #ccc; padding: 4px 10px; text-align: right; }
th { background: #f2f2f2; }
td:first-child, th:first-child { text-align: left; }
img { max-width: 100%; height: auto; display: block; margin: 0.5em 0 1.5em; }
p.conclusion { font-weight: 600; }
"""


def _html_table(frame: pd.DataFrame) -> str:
    header = "".join(f"<th>{html.escape(str(column))}</th>" for column in frame.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell(value))}</td>" for value in row) + "</tr>"
        for row in frame.itertuples(index=False)
    )
    return f"<table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>"


def _embedded_image(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}">'


def report_html(trials: pd.DataFrame, pivot: pd.DataFrame, table: pd.DataFrame, *, title: str,
                plots: list[Path]) -> str:  # fmt: skip
    """The text of ``report.html``: as ``report.md``, with the plots embedded and the long table folded."""
    varying, constant = split_axes(trials)
    long_columns = [c for c in table.columns if c not in PIVOT_AXES or c in varying]
    failed = trials[trials["status"] != "ok"]
    parts = [
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        f"<style>{HTML_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{html.escape(_counts_line(trials))}</p>",
        f"<p class='conclusion'>{html.escape(conclusions(pivot) if not pivot.empty else '(no trials)')}</p>",
        "<p>Gap to the exact optimum: objective/optimum - 1 when minimised, 1 - objective/optimum when maximised "
        "(0 is optimal). Best over seeds and settings; evals: the best trial's whole-model evaluations. "
        f"{html.escape(_constant_line(constant))}</p>",
        "<h2>Comparison</h2>",
        _html_table(pivot_display(pivot, varying)) if not pivot.empty else "<p>(no trials)</p>",
        "<h2>Plots</h2>",
        *[_embedded_image(path) for path in plots],
        "<details><summary>Every algorithm and budget level (comparison.csv)</summary>",
        _html_table(table[long_columns]),
        "</details>",
    ]
    if not failed.empty:
        items = "".join(f"<li><code>{html.escape(str(row.run_name))}</code>: {html.escape(error_line(row.error))}</li>"
                        for row in failed.itertuples(index=False))  # fmt: skip
        parts += ["<h2>Failed trials</h2>", f"<ul>{items}</ul>"]
    return "\n".join([*parts, "</body></html>\n"])


# ----------------------------------------------------------------------------- report


@dataclass(frozen=True)
class ReportFiles:
    """What :func:`build_report` wrote.

    Attributes:
        markdown: ``report.md`` (links the plots beside it).
        html: ``report.html`` (self-contained: renders in the MLflow UI).
        plots: ``gap_by_algorithm.png`` and ``pareto.png``.
        tables: CSV copies: ``pivot.csv``, ``comparison.csv``, ``trials.csv``.
    """

    markdown: Path
    html: Path
    plots: list[Path]
    tables: list[Path]

    @property
    def all(self) -> list[Path]:
        """Every file, the HTML report first."""
        return [self.html, self.markdown, *self.plots, *self.tables]


def _plot_pareto(trials: pd.DataFrame, front: pd.DataFrame | None, path: Path) -> Path:
    """``pareto.png`` of the first :data:`PARETO_PANELS` problems (a scan of hundreds would draw a poster)."""
    problems = trials[list(PROBLEM_AXES)].drop_duplicates().sort_values(list(PROBLEM_AXES))
    if len(problems) <= PARETO_PANELS:
        return plot_pareto(trials, front, path)
    logger.info("pareto.png: drawing the first %d of %d problems", PARETO_PANELS, len(problems))
    shown = trials.merge(problems.head(PARETO_PANELS), on=list(PROBLEM_AXES))
    return plot_pareto(shown, front, path, problems=len(problems))


def build_report(trials: pd.DataFrame, out_dir: Path, *, title: str, front: pd.DataFrame | None = None) -> ReportFiles:
    """Write a sweep's report, its plots and CSV copies of its tables into out_dir.

    Args:
        trials: One row per trial (see :data:`TRIAL_COLUMNS`); failed rows are counted and
            listed with the first line of their error.
        out_dir: Folder for the report; created if missing.
        title: The report's heading.
        front: The exact optimum at many budget levels (``pareto.parquet``'s columns), drawn
            as the Pareto front; None draws the found designs only.

    Raises:
        ConfXError: A missing column.
    """
    _check_trials(trials)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    table = comparison_table(trials)
    pivot = pivot_table(trials)
    plots = [
        plot_gap_by_algorithm(trials, out_dir / GAP_PLOT),
        _plot_pareto(trials, front, out_dir / PARETO_PLOT),
    ]
    markdown, page = out_dir / REPORT_FILE, out_dir / HTML_FILE
    write_text(markdown, report_markdown(trials, pivot, title=title, plots=plots))
    write_text(page, report_html(trials, pivot, table, title=title, plots=plots))
    tables = [out_dir / PIVOT_CSV, out_dir / COMPARISON_CSV, out_dir / TRIALS_CSV]
    for frame, path in zip((pivot, table, trials), tables, strict=True):
        write_table(frame, path)
    logger.info("wrote the sweep report %s (%d trials, %d problems)", page, len(trials), len(pivot))
    return ReportFiles(markdown, page, plots, tables)
