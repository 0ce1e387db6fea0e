"""The sweep report's plots: the gap per algorithm, and the exact Pareto front with every found design.

The front comes from the exact solver at many budget levels (``pareto.parquet``). Each
found design is drawn where it is: at the constraint it used (its area or power), not
at the budget it was given, so that a design can be read against the front directly.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from confx.pipeline.results.figures import new_figure, no_data, save_png
from confx.pipeline.results.units import constraint_label, objective_label

PROBLEM_KEYS = ["network", "dataflow", "objective", "constraint"]
EXACT_ALGORITHM = "exact"
GAP_PLOT = "gap_by_algorithm.png"
PARETO_PLOT = "pareto.png"
# symlog's linear range around 0: gaps of exact searches are 0 and must stay visible.
GAP_LINEAR_THRESHOLD = 1e-3
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")
LEGEND_FONT = 8
BUDGET_STYLES = (":", "-.", "--")


def _usable(trials: pd.DataFrame) -> pd.DataFrame:
    """Finished trials with a feasible design and finite objective, gap and constraint used, as floats."""
    frame = trials[trials["status"] == "ok"].copy()
    for column in ("objective_value", "gap", "constraint_used", "budget", "mul"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    feasible = frame["feasible"].map(lambda value: value is not False and value is not np.False_)
    return frame[feasible & np.isfinite(frame["objective_value"])]


# ----------------------------------------------------------------------------- gap by algorithm


def plot_gap_by_algorithm(trials: pd.DataFrame, path: Path) -> Path:
    """Gap per algorithm, one marker per trial: colour by network/dataflow, marker shape by budget level."""
    usable = _usable(trials)
    usable = usable[np.isfinite(usable["gap"])]
    algorithms = sorted(usable["algorithm"].astype(str).unique())
    problems = sorted({(str(n), str(d)) for n, d in zip(usable["network"], usable["dataflow"], strict=True)})
    muls = sorted(usable["mul"].unique())
    # Tall enough for the legend's entries (a scan of 39 network/dataflow pairs and 14 levels has 53).
    figure = new_figure(max(6.0, 1.3 * len(algorithms) + 3.5), max(4.5, 0.16 * (len(problems) + len(muls)) + 1.0))
    axes = figure.add_subplot()
    if usable.empty:
        no_data(axes, "no finished trial with a gap")
        return save_png(figure, path, dpi=110)
    width = 0.7 / max(1, len(problems))
    colours = [f"C{number % 10}" for number in range(len(problems))]
    for number, (network, dataflow) in enumerate(problems):
        for mul_number, mul in enumerate(muls):
            rows = usable[(usable["network"] == network) & (usable["dataflow"] == dataflow) & (usable["mul"] == mul)]
            positions = rows["algorithm"].astype(str).map(algorithms.index) - 0.35 + width * (number + 0.5)
            axes.scatter(positions, rows["gap"], s=30, alpha=0.85, color=colours[number],
                         marker=MARKERS[mul_number % len(MARKERS)])  # fmt: skip
    axes.set_xticks(range(len(algorithms)), algorithms)
    axes.set_xlim(-0.5, len(algorithms) - 0.5)
    axes.set_yscale("symlog", linthresh=GAP_LINEAR_THRESHOLD)
    worst = float(usable["gap"].max())
    # Room above the worst point and below 0, so that no marker sits on the frame.
    axes.set_ylim(min(-GAP_LINEAR_THRESHOLD / 2, float(usable["gap"].min()) * 1.5), max(worst * 2.0, 0.01))
    axes.yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=1))
    axes.set_ylabel("gap to the exact optimum (0 = optimal)")
    axes.set_xlabel("algorithm")
    axes.grid(True, axis="y", alpha=0.3)
    _gap_legend(axes, problems, colours, muls)
    return save_png(figure, path, dpi=110)


def _gap_legend(axes: Axes, problems: list[tuple[str, str]], colours: list[str], muls: list[float]) -> None:
    """Two keys beside the panel: colours for network/dataflow, marker shapes for the budget level."""
    handles = [axes.scatter([], [], color=colour, marker="o", label=f"{network}/{dataflow}")
               for (network, dataflow), colour in zip(problems, colours, strict=True)]  # fmt: skip
    handles += [axes.scatter([], [], color="grey", marker=MARKERS[number % len(MARKERS)], label=f"budget mul {mul:g}")
                for number, mul in enumerate(muls)]  # fmt: skip
    axes.legend(handles=handles, fontsize=LEGEND_FONT, loc="upper left", bbox_to_anchor=(1.01, 1.0),
                title="network/dataflow, budget", title_fontsize=LEGEND_FONT)  # fmt: skip


# ----------------------------------------------------------------------------- Pareto front


def _front_rows(front: pd.DataFrame, network: str, dataflow: str, objective: str, constraint: str) -> pd.DataFrame:
    model = Path(network).stem
    rows = front[(front["model"] == model) & (front["dataflow"] == dataflow) & (front["objective"] == objective)
                 & (front["constraint"] == constraint)]  # fmt: skip
    rows = rows[np.isfinite(rows["objective_value"].astype("float64"))]
    return rows.sort_values("constraint_used")


def draw_front(axes: Axes, front_rows: pd.DataFrame, *, sense: str) -> None:
    """The exact front: its designs at the constraint they use, joined as the staircase of the optimum.

    Between two exact designs, the better one's value holds until the next budget it can
    afford, so the staircase steps right after each design (``where="post"``).
    """
    used = front_rows["constraint_used"].to_numpy(dtype=np.float64)
    values = front_rows["objective_value"].to_numpy(dtype=np.float64)
    levels = front_rows["mul"].nunique()
    # Keep the designs that improve on every cheaper one: the Pareto front of the sampled designs.
    better = np.maximum.accumulate(values) if sense == "max" else np.minimum.accumulate(values)
    keep = np.concatenate([[True], better[1:] != better[:-1]]) if len(values) else np.array([], dtype=bool)
    axes.step(used[keep], values[keep], where="post", color="black", linewidth=1.2,
              label=f"exact Pareto front ({levels} budget levels)")  # fmt: skip
    axes.plot(used[keep], values[keep], "o", color="black", markersize=3)


def _found_designs(axes: Axes, rows: pd.DataFrame) -> None:
    """Every found design at (constraint used, objective), one marker shape per algorithm."""
    for number, (algorithm, found) in enumerate(rows.groupby("algorithm", sort=True)):
        hollow = algorithm == EXACT_ALGORITHM
        axes.scatter(found["constraint_used"], found["objective_value"], s=46 if hollow else 34, alpha=0.9,
                     marker=MARKERS[number % len(MARKERS)], label=f"{algorithm} (found)", zorder=3,
                     facecolors="none" if hollow else None, edgecolors="black" if hollow else None)  # fmt: skip


def _pareto_panel(axes: Axes, rows: pd.DataFrame, front_rows: pd.DataFrame, title: str) -> None:
    """One problem: the front, the sweep's budgets as dotted lines, the found designs."""
    sense = str(rows["sense"].dropna().iloc[0]) if rows["sense"].notna().any() else "min"
    if not front_rows.empty:
        draw_front(axes, front_rows, sense=sense)
    budgets = sorted(set(zip(rows["mul"], rows["budget"], strict=True)))
    for number, (mul, budget) in enumerate(budgets):
        if math.isfinite(budget):
            axes.axvline(budget, color="grey", linestyle=BUDGET_STYLES[number % len(BUDGET_STYLES)], linewidth=1,
                         label=f"budget at mul {mul:g}")  # fmt: skip
    _found_designs(axes, rows)
    values = pd.concat([rows["objective_value"], front_rows["objective_value"].astype("float64")])
    if len(values) and (values > 0).all():
        axes.set_yscale("log")
    axes.margins(x=0.05, y=0.08)
    objective, constraint = str(rows["objective"].iloc[0]), str(rows["constraint"].iloc[0])
    axes.set_title(title, fontsize=9)
    axes.set_xlabel(f"{constraint_label(constraint)} used by the design")
    axes.set_ylabel(objective_label(objective))
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=LEGEND_FONT, loc="upper left", bbox_to_anchor=(1.01, 1.0))


def pareto_figure(trials: pd.DataFrame, front: pd.DataFrame | None, *, problems: int | None = None) -> Figure:
    """One panel per network x dataflow x objective x constraint: the exact front and the found designs.

    ``problems``: how many problems the sweep has, when ``trials`` holds only some of them (the
    figure then says which part it shows).
    """
    usable = _usable(trials)
    usable = usable[np.isfinite(usable["constraint_used"])]
    groups = list(usable.groupby(PROBLEM_KEYS, sort=True))
    columns = min(3, max(1, len(groups)))
    rows = max(1, math.ceil(len(groups) / columns))
    figure = new_figure(7.6 * columns, 4.4 * rows)
    if not groups:
        no_data(figure.add_subplot(), "no finished trial with a feasible design")
    empty = pd.DataFrame(columns=["model", "dataflow", "objective", "constraint", "mul", "constraint_used",
                                  "objective_value"])  # fmt: skip
    for number, ((network, dataflow, objective, constraint), group) in enumerate(groups):
        axes = figure.add_subplot(rows, columns, number + 1)
        front_rows = empty if front is None else _front_rows(front, network, dataflow, objective, constraint)
        title = f"{Path(network).stem} / {dataflow}: {objective} within the {constraint} budget"
        _pareto_panel(axes, group, front_rows, title)
    if problems is not None and problems > len(groups):
        figure.suptitle(f"the first {len(groups)} of {problems} problems (every one is in trials.parquet and "
                        "pareto.parquet)")  # fmt: skip
    return figure


def plot_pareto(trials: pd.DataFrame, front: pd.DataFrame | None, path: Path, *, problems: int | None = None) -> Path:
    """Write :func:`pareto_figure` as a PNG."""
    return save_png(pareto_figure(trials, front, problems=problems), path, dpi=100)
