"""Outputs of one search: ``summary.json``, ``solution.parquet`` and ``curve.parquet``."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from confx.costmodel import COST_MODEL_VERSION, DATAFLOWS, LAYER_COLUMNS, evaluate
from confx.envs.problem import GENE_DATAFLOW, GENE_KTILE, GENE_NUM_PE, Problem
from confx.pipeline.results.schema import CURVE_COLUMNS
from confx.pipeline.results.tables import write_table
from confx.pipeline.search.base import SearchResult


def _finite_or_none(value: float) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


def summary_dict(problem: Problem, result: SearchResult) -> dict[str, object]:
    """The summary of a search, as written to ``summary.json``."""
    spec = problem.spec
    return {
        "algorithm": result.algorithm,
        "seed": result.seed,
        "model": problem.layers.name,
        "dataflow": spec.dataflow,
        "objective": spec.objective,
        "sense": problem.sense,
        "constraint": spec.constraint,
        "mul": spec.mul,
        "space": problem.space.name,
        "choose_dataflow": problem.space.choose_dataflow,
        "objective_value": _finite_or_none(result.objective_value),
        "constraint_used": _finite_or_none(result.constraint_used),
        "budget": problem.budget,
        "constraint_range": list(problem.constraint_range),
        "feasible": result.feasible,
        "optimal": result.optimal,
        "cost_model_calls": problem.cost_model_calls,
        "model_evaluations": problem.model_evaluations,
        "wall_time_s": result.wall_time_s,
        "note": result.note,
        "cost_model_version": COST_MODEL_VERSION,
    }


def solution_frame(problem: Problem, design: np.ndarray | None) -> pd.DataFrame:
    """One row per layer in the network's order: the layer, its action and its costs."""
    dims = problem.layers.dims
    frame = pd.DataFrame(dims, columns=list(LAYER_COLUMNS))
    frame.insert(0, "layer_index", np.arange(problem.n_layers))
    if design is None:
        return frame.iloc[0:0]
    codes = design[:, GENE_DATAFLOW] if problem.space.choose_dataflow else np.full(len(dims), problem.dataflow_code)
    # Depthwise layers (T=2) use the depthwise template whatever the dataflow says.
    frame["dataflow"] = np.asarray(DATAFLOWS)[codes]
    frame["num_pe"] = design[:, GENE_NUM_PE]
    frame["ktile"] = design[:, GENE_KTILE]
    costs = evaluate(dims, codes, design[:, GENE_NUM_PE], design[:, GENE_KTILE])
    for name, values in costs.to_dict().items():
        frame[name] = values
    return frame


def curve_frame(result: SearchResult) -> pd.DataFrame:
    """Best-so-far objective against whole-model evaluations and cost-model calls."""
    return pd.DataFrame(result.curve, columns=list(CURVE_COLUMNS))


def write_search(problem: Problem, result: SearchResult, out_dir: str | Path) -> Path:
    """Write ``summary.json``, ``solution.parquet`` and ``curve.parquet`` into out_dir."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_table(solution_frame(problem, result.design), out / "solution.parquet")
    write_table(curve_frame(result), out / "curve.parquet")
    (out / "summary.json").write_text(json.dumps(summary_dict(problem, result), indent=2) + "\n")
    return out
