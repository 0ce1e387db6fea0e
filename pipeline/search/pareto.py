"""The exact optimum as a function of the budget: one certified point per budget level ``mul``.

For one network and every (dataflow, objective, constraint) group, the per-layer
option table is built once (it does not depend on the budget) and the exact
solver is run at each ``mul``. The frame goes to ``pareto.parquet`` (schema
:data:`PARETO_SCHEMA`) and a plot of objective against budget to ``pareto.png``.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from confx.costmodel.errors import ConfXError
from confx.costmodel.layers import LayerTable
from confx.envs.problem import DEFAULT_CONSTRAINT, DEFAULT_DATAFLOW, DEFAULT_OBJECTIVE, Problem, build_problem
from confx.envs.space import ActionSpace
from confx.pipeline.results.figures import draw_optimum_line, new_figure
from confx.pipeline.results.schema import PARETO_SCHEMA
from confx.pipeline.results.tables import write_atomic
from confx.pipeline.results.units import constraint_label, objective_label
from confx.pipeline.search.exact import OptionTable, build_option_table, solve_with_table

logger = logging.getLogger(__name__)

GROUP_COLUMNS = ["model", "space", "dataflow", "objective", "constraint"]


def optimum_at(problem: Problem, table: OptionTable) -> dict[str, object]:
    """One row of the front: the exact optimum of ``problem`` from a prepared option table.

    A budget below the cheapest design gives a row with NaN values (no design exists).
    """
    spec = problem.spec
    row: dict[str, object] = {
        "model": problem.layers.name,
        "space": spec.space.name,
        "dataflow": spec.dataflow,
        "objective": spec.objective,
        "constraint": spec.constraint,
        "mul": spec.mul,
        "budget": problem.budget,
    }
    try:
        result = solve_with_table(problem, table)
    except ConfXError as error:
        logger.warning("pareto: no design at mul %s: %s", spec.mul, error)
        return row | {"objective_value": math.nan, "constraint_used": math.nan, "optimal": False}
    return row | {
        "objective_value": result.objective_value,
        "constraint_used": result.constraint_used,
        "optimal": result.optimal,
    }


def group_front(
    model: str,
    muls: Sequence[float],
    *,
    dataflow: str,
    objective: str,
    constraint: str,
    space: str | ActionSpace,
    layers: LayerTable | None = None,
) -> list[dict[str, object]]:
    """Rows of one (network, dataflow, objective, constraint, space) group, one per ``mul``.

    The option table is built once, on the first budget's problem, and shared by all budgets.
    """
    base = build_problem(
        model, dataflow=dataflow, objective=objective, constraint=constraint, mul=muls[0], space=space, layers=layers
    )
    table = build_option_table(base)
    rows = []
    for mul in muls:
        problem = Problem(dataclasses.replace(base.spec, mul=float(mul)), layers=base.layers)
        rows.append(optimum_at(problem, table))
    return rows


def pareto_front(
    model: str,
    *,
    muls: Sequence[float],
    dataflows: Sequence[str] = (DEFAULT_DATAFLOW,),
    objectives: Sequence[str] = (DEFAULT_OBJECTIVE,),
    constraints: Sequence[str] = (DEFAULT_CONSTRAINT,),
    space: str | ActionSpace = "grid",
    layers: LayerTable | None = None,
) -> pd.DataFrame:
    """Exact optimum against budget for one network and every dataflow x objective x constraint.

    Args:
        model: Built-in network name or layer-table CSV path.
        muls: Budget levels in [0, 1] (budget = c_min + (c_max - c_min) * mul).
        dataflows: Dataflows to sweep.
        objectives: Objectives to sweep.
        constraints: ``area`` and/or ``power``.
        space: ``grid``, ``integer`` or an :class:`ActionSpace`.
        layers: The network already loaded from ``model`` (e.g. under a display name).

    Returns:
        One row per group and ``mul``, columns as in :data:`PARETO_SCHEMA`.

    Raises:
        ConfXError: Bad network, dataflow, objective, constraint, space or mul; empty ``muls``.
    """
    if len(muls) == 0:
        raise ConfXError("pareto_front needs at least one budget level in muls")
    rows = []
    for dataflow in dataflows:
        for objective in objectives:
            for constraint in constraints:
                logger.info("pareto: %s %s %s %s over %d budgets", model, dataflow, objective, constraint, len(muls))
                rows += group_front(
                    model,
                    muls,
                    dataflow=dataflow,
                    objective=objective,
                    constraint=constraint,
                    space=space,
                    layers=layers,
                )
    return pd.DataFrame(rows, columns=PARETO_SCHEMA.names)


FRONT_LEVELS = 41
"""Budget levels of a sweep's front: mul 0, 0.025, ..., 1, plus the sweep's own (a second or two a problem)."""


def front_levels(muls: Sequence[float], *, count: int = FRONT_LEVELS) -> list[float]:
    """``count`` evenly spaced budget levels in [0, 1] and every level in muls, sorted, without repeats."""
    evenly = [round(number / (count - 1), 6) for number in range(count)] if count > 1 else []
    return sorted({*evenly, *(float(mul) for mul in muls)})


def sweep_front(problems: Sequence[tuple[str, str, str, str, str]], muls: Sequence[float]) -> pd.DataFrame:
    """The exact optimum at every budget level in muls, for each (network, dataflow, objective, constraint, space).

    Returns:
        One row per problem and level, columns as in :data:`PARETO_SCHEMA` (``model`` is the
        network's table name).

    Raises:
        ConfXError: As :func:`pareto_front`.
    """
    if len(muls) == 0:
        raise ConfXError("sweep_front needs at least one budget level in muls")
    rows = []
    for network, dataflow, objective, constraint, space in problems:
        rows += group_front(network, muls, dataflow=dataflow, objective=objective, constraint=constraint, space=space)
    return pd.DataFrame(rows, columns=PARETO_SCHEMA.names)


def plot_front(frame: pd.DataFrame, path: str | Path) -> Path:
    """Plot objective against budget, one panel per objective and constraint, one line per group.

    Hollow markers show points whose optimality is not certified.
    """
    panels = list(frame.groupby(["objective", "constraint"], sort=False))
    figure = new_figure(5.5 * len(panels), 4.0)
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    for ax, ((objective, constraint), panel) in zip(axes, panels, strict=True):
        for (model, space, dataflow), line in panel.groupby(["model", "space", "dataflow"], sort=False):
            draw_optimum_line(ax, line, label=f"{model} {dataflow} ({space})")
        ax.set_xlabel(f"budget: {constraint_label(str(constraint))}")
        ax.set_ylabel(f"optimal {objective_label(str(objective))}")
        ax.set_title(f"{objective} under {constraint}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    path = Path(path)
    figure.savefig(path, dpi=120, format="png")
    return path


def write_pareto(frame: pd.DataFrame, out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``pareto.parquet`` and ``pareto.png`` into ``out_dir`` (created if missing)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(frame[PARETO_SCHEMA.names], schema=PARETO_SCHEMA, preserve_index=False)
    parquet_path = write_atomic(out / "pareto.parquet", lambda temp: pq.write_table(table, temp))
    return parquet_path, write_atomic(out / "pareto.png", lambda temp: plot_front(frame, temp))


__all__ = ["front_levels", "pareto_front", "plot_front", "sweep_front", "write_pareto"]
