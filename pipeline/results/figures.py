"""Figure set-up shared by every plot ConfX writes (report, Pareto front, convergence): Agg, no pyplot state."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def new_figure(width: float, height: float) -> Figure:
    """A figure of ``width`` x ``height`` inches with a constrained layout, drawn off-screen."""
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def no_data(axes: Axes, message: str) -> None:
    """Say on an empty panel why it is empty."""
    axes.text(0.5, 0.5, message, ha="center", va="center", transform=axes.transAxes)
    axes.set_axis_off()


def draw_optimum_line(axes: Axes, front: pd.DataFrame, *, label: str, color: str | None = None) -> None:
    """The exact optimum against the budget, one marker per budget level; hollow where not certified.

    Args:
        axes: The panel.
        front: Rows with ``budget``, ``objective_value`` and ``optimal``.
        label: The line's legend entry.
        color: A matplotlib colour (default: the next of the cycle).
    """
    front = front.sort_values("budget")
    (line,) = axes.plot(front["budget"], front["objective_value"], "-o", markersize=4, label=label, color=color)
    uncertified = front[~front["optimal"].astype(bool)]
    axes.plot(uncertified["budget"], uncertified["objective_value"], "o", mfc="white", color=line.get_color())


def save_png(figure: Figure, path: Path, *, dpi: int) -> Path:
    """Save a figure as PNG atomically (a temporary file beside ``path``, renamed into place)."""
    from confx.pipeline.results.tables import write_atomic

    return write_atomic(path, lambda temp: figure.savefig(temp, format="png", dpi=dpi))
