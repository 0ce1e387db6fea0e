"""Outputs of one search: ``summary.json``, ``solution.parquet`` and ``curve.parquet``."""

from __future__ import annotations

import contextlib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from confx.costmodel import COST_MODEL_VERSION, LAYER_COLUMNS, OUTPUT_COLUMNS, mapped
from confx.costmodel.evaluate import LAYER_OPTION_COLUMNS
from confx.envs.problem import GENE_DATAFLOW, GENE_KTILE, GENE_NUM_PE, Problem
from confx.pipeline.results.schema import CURVE_COLUMNS
from confx.pipeline.results.tables import arrow_table, check_output_folder, write_table, write_text
from confx.pipeline.results.units import constraint_unit
from confx.pipeline.search.base import SearchResult

_FLOAT_OUTPUTS = ("throughput", "energy_nj", "area", "power")


def _finite_or_none(value: float) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


def summary_dict(problem: Problem, result: SearchResult) -> dict[str, object]:
    """The summary of a search, as written to ``summary.json``."""
    spec = problem.spec
    space = problem.space
    hardware = space.hardware
    scale = problem.constraint_scale
    return {
        "algorithm": result.algorithm,
        "seed": result.seed,
        "model": problem.layers.name,
        "network_table": spec.model,
        "dataflow": spec.dataflow,
        "objective": spec.objective,
        "sense": problem.sense,
        "constraint": spec.constraint,
        "mul": spec.mul,
        "space": space.name,
        "choose_dataflow": space.choose_dataflow,
        "dataflows": list(problem.mappings),
        "hardware": hardware.name,
        "noc_bw": list(space.noc_bw_values),
        "simd_lanes": list(space.simd_lane_values),
        "noc_hops": hardware.noc_hops,
        "noc_hop_latency": hardware.noc_hop_latency,
        "offchip_bw": hardware.offchip_bw,
        "physical": space.physical,
        "objective_value": _finite_or_none(result.objective_value),
        "constraint_used": _finite_or_none(result.constraint_used),
        "budget": problem.budget,
        "constraint_range": list(problem.constraint_range),
        "constraint_unit": constraint_unit(spec.constraint, physical=space.physical),
        "constraint_used_reported": _finite_or_none(result.constraint_used * scale),
        "budget_reported": problem.budget * scale,
        "cap": spec.cap,
        "feasible": result.feasible,
        "optimal": result.optimal,
        "cost_model_calls": problem.cost_model_calls,
        "model_evaluations": problem.model_evaluations,
        "wall_time_s": result.wall_time_s,
        "note": result.note,
        "cost_model_version": COST_MODEL_VERSION,
    }


def solution_frame(problem: Problem, design: np.ndarray | None) -> pd.DataFrame:
    """:func:`solution_table` as a data frame."""
    columns = _solution_columns(problem, design)
    return _empty_solution(pd.DataFrame(columns)) if design is None else pd.DataFrame(columns)


def solution_table(problem: Problem, design: np.ndarray | None) -> pa.Table:
    """The solution as an Arrow table: what a sweep's chunk writes and collects (no pandas on its path)."""
    columns = _solution_columns(problem, design)
    return arrow_table(_empty_solution(pd.DataFrame(columns))) if design is None else pa.table(columns)


def _solution_columns(problem: Problem, design: np.ndarray | None) -> dict[str, Any]:
    """One row per layer in the network's order: the layer, its action and its costs.

    The costs are read from the problem's memo where the search (or its sweep group) has
    evaluated them; only the rest goes to the cost model (the general engine costs
    milliseconds per point).

    Columns: ``layer_index``, ``layer_name``, ``K C Y X R S T``, ``stride_y, stride_x, groups``,
    ``dataflow`` (the mapping's name; depthwise layers run its depthwise counterpart), ``num_pe``,
    ``ktile``, ``noc_bw``, ``simd_lanes`` and the cost model's outputs (``true_macs`` included; area
    in MAESTRO's um^2, also as ``area_mm2``), each layer evaluated at its own stride and group count.
    """
    layers = problem.layers
    dims = np.asarray(layers.dims)
    # Built as one dict of columns: a frame grown column by column costs more than the search it reports.
    columns: dict[str, object] = {"layer_index": np.arange(problem.n_layers), "layer_name": list(layers.layer_names)}
    columns |= {name: dims[:, i] for i, name in enumerate(LAYER_COLUMNS)}
    columns |= {name: getattr(layers, name) for name in LAYER_OPTION_COLUMNS}
    if design is None:  # nothing feasible found: no rows, but every column, so exports and tables still work
        return columns
    codes = design[:, GENE_DATAFLOW] if problem.space.choose_dataflow else np.full(len(dims), problem.dataflow_code)
    # Depthwise layers (T=2) use the depthwise template whatever the dataflow says.
    columns["dataflow"] = np.asarray(problem.mappings, dtype=object)[codes]
    columns["num_pe"] = design[:, GENE_NUM_PE]
    columns["ktile"] = design[:, GENE_KTILE]
    hardware = problem.hardware_values(design)
    columns["noc_bw"] = hardware["noc_bw"]
    columns["simd_lanes"] = hardware["simd_lanes"]
    knobs = problem.space.hardware
    costs: dict[str, np.ndarray] = {name: np.zeros(len(dims), dtype=kind) for name, kind in _output_kinds().items()}
    options = layers.options()
    known, valid, outputs = problem.known_layer_costs(design)
    costs["valid"][known] = valid[known]
    for name, values in outputs.items():
        costs[name][known] = values[known]
    for code in np.unique(codes[~known]):
        m = (codes == code) & ~known
        part = mapped.evaluate_points(
            dims[m],
            type(options)(options.stride_y[m], options.stride_x[m], options.groups[m]),
            problem.mappings[code],
            design[m, GENE_NUM_PE],
            design[m, GENE_KTILE],
            noc_bw=hardware["noc_bw"][m],
            simd_lanes=hardware["simd_lanes"][m],
            noc_latency=knobs.noc_hops * knobs.noc_hop_latency,
            offchip_bw=knobs.offchip_bw,
        )
        for name, values in part.to_dict().items():
            costs[name][m] = values
    columns |= costs
    columns["area_mm2"] = costs["area"] * 1e-6
    return columns


def _output_kinds() -> dict[str, type]:
    return {
        name: bool if name == "valid" else np.float64 if name in _FLOAT_OUTPUTS else np.int64 for name in OUTPUT_COLUMNS
    }


def _empty_solution(layers: pd.DataFrame) -> pd.DataFrame:
    empty = layers.iloc[0:0].copy()
    empty["dataflow"] = pd.Series(dtype=object)
    for name in ("num_pe", "ktile", "noc_bw", "simd_lanes"):
        empty[name] = pd.Series(dtype=np.int64)
    for name, kind in _output_kinds().items():
        empty[name] = pd.Series(dtype=kind)
    empty["area_mm2"] = pd.Series(dtype=np.float64)
    return empty


def curve_frame(result: SearchResult) -> pd.DataFrame:
    """Best-so-far objective against whole-model evaluations and cost-model calls."""
    return pd.DataFrame(result.curve, columns=list(CURVE_COLUMNS))


def write_search(problem: Problem, result: SearchResult, out_dir: str | Path) -> Path:
    """Write ``summary.json``, ``solution.parquet`` and ``curve.parquet`` into out_dir (see :func:`write_outputs`)."""
    summary = summary_dict(problem, result)
    return write_outputs(out_dir, solution_frame(problem, result.design), curve_frame(result), summary)


def write_outputs(
    out_dir: str | Path, solution: pd.DataFrame | pa.Table, curve: pd.DataFrame, summary: dict[str, object]
) -> Path:
    """Write a search's three outputs, already computed, into out_dir.

    Each file is written atomically, the summary last; a folder this call created is removed
    again if the writing fails or is interrupted.
    """
    out = check_output_folder(out_dir)
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        write_table(solution, out / "solution.parquet")
        write_table(curve, out / "curve.parquet")
        write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    except BaseException:
        if created:
            for name in ("solution.parquet", "curve.parquet", "summary.json"):
                (out / name).unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                out.rmdir()
        raise
    return out
