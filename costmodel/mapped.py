"""Evaluate a layer table under one named mapping and arrays of hardware knobs.

Why this exists. :func:`costmodel.evaluate` covers ConfuciuX's templates at the release's
flags (a NoC 81,920,000 elements wide, one cycle of latency, one SIMD lane, MAESTRO's
default off-chip bandwidth), where the closed forms are exact and fast.
:mod:`costmodel.general` covers any mapping and any NoC, one parsed block at a time, with
no input checks. This module is the one call in between that tools (``confx cost``,
notebooks) use: the mapping by name or path, the layer table and hardware knobs as
columns, every input checked, each point routed to the closed forms when they apply and
to the general engine otherwise, and the NoC outputs (peak bandwidth requirement, PE
utilisation, why a point is invalid) for every point. The searches use the same path
(:func:`evaluate_points`) on a whole network under one mapping: depthwise layers (T=2) take
ConfuciuX's ``dpt`` template under a template, the library's ``ds_<style>`` twin under a style
that has one, and the file itself under a ``.m`` path.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike, NDArray

from confx.costmodel import general
from confx.costmodel.errors import LayerTableError, MappingError, join_problems
from confx.costmodel.evaluate import (
    ARRAY_ROWS,
    DATAFLOWS,
    DEPTHWISE,
    CostResult,
    LayerOptions,
    RowNames,
    _as_int_column,
    _check_rule,
    _true_macs,
    check_design_points,
    evaluate_trusted,
)
from confx.costmodel.mapping import Dataflow, load_mapping, style_names

TEMPLATES = (*DATAFLOWS, "dpt")
"""ConfuciuX's templates: CONV layers under ``dla``/``shi``/``eye`` and every depthwise layer
of a template table run ConfuciuX's depthwise template ``dpt``, as in the release."""

HARDWARE_COLUMNS = ("noc_bw", "noc_hops", "noc_hop_latency", "simd_lanes", "offchip_bw")
"""The hardware knobs, one value per point (MAESTRO's ``--noc_bw_cstr`` ... ``--offchip_bw_cstr``)."""

RELEASE_HARDWARE = {
    "noc_bw": general.NOC_BANDWIDTH,
    "noc_hops": general.NOC_HOPS,
    "noc_hop_latency": general.NOC_HOP_LATENCY,
    "simd_lanes": general.SIMD_LANES,
    "offchip_bw": general.OFFCHIP_BANDWIDTH,
}
"""ConfuciuX's flags: the defaults of every hardware knob."""

ROW_CONSTANTS = ("KTileSz", "CTileSz", "ClusterSz")
"""A mapping's constants that each point supplies: ``ktile``, 1 and ``num_pe`` (ConfuciuX's)."""

_LOWEST = {"noc_hop_latency": 0}
"""Smallest legal value of a knob (1 unless listed): a hop latency of 0 is MAESTRO's ideal NoC."""


@dataclass(frozen=True)
class MappedResult(CostResult):
    """Outputs of N design points, each an array of shape (N,).

    The fields of :class:`costmodel.CostResult` (same meaning, same null conventions:
    0 in integer fields and NaN in float fields where invalid), plus:

    Attributes:
        reason: Why a point is invalid, an index into :data:`costmodel.general.REASONS`
            (0 = valid): MAESTRO's parser rejects the mapping on this layer, the clusters
            need more PEs than there are, another MAESTRO crash, or MAESTRO's run time 0.
        peak_bw_req: The NoC bandwidth (elements/cycle) below which the top cluster
            level waits for data: MAESTRO's "peak BW requirement".
        pe_utilisation: MAESTRO's average number of utilised PEs over ``num_pe``.
    """

    reason: NDArray[np.int64]
    peak_bw_req: NDArray[np.int64]
    pe_utilisation: NDArray[np.float64]


DEPTHWISE_TEMPLATE = "dpt"
"""ConfuciuX's depthwise template, used for depthwise layers under every template."""


@functools.lru_cache(maxsize=64)
def conv_block(mapping: str) -> Dataflow:
    """The dataflow block a mapping gives CONV layers (the first layer's block of a file).

    Raises:
        MappingError: Neither a built-in style nor a readable, well-formed ``.m`` file.
    """
    return load_mapping(mapping).first_dataflow


def mapping_problem(mapping: str) -> str | None:
    """Why a mapping name cannot be used (unknown, unreadable or malformed), or None when it loads."""
    try:
        conv_block(mapping)
        conv_block(depthwise_mapping(mapping))
    except MappingError as error:
        if Path(mapping).suffix != ".m" and not Path(mapping).exists():
            return (
                f"dataflow {mapping!r} is unknown (use a template {', '.join(DATAFLOWS)}, a library style "
                f"{', '.join(s for s in style_names() if s not in DATAFLOWS)} or a .m file)"
            )
        return str(error)
    return None


def depthwise_mapping(mapping: str) -> str:
    """The mapping a depthwise layer takes under ``mapping`` (see the module docstring)."""
    if mapping in DATAFLOWS:
        return DEPTHWISE_TEMPLATE
    if Path(mapping).suffix == ".m" or mapping.startswith("ds_") or mapping == DEPTHWISE_TEMPLATE:
        return mapping
    twin = f"ds_{mapping}"
    return twin if twin in style_names() else DEPTHWISE_TEMPLATE


def uses_ktile(mapping: str) -> bool:
    """Whether the K-tile knob changes anything under this mapping (its blocks read ``KTileSz``)."""
    return any("KTileSz" in conv_block(m).knobs for m in (mapping, depthwise_mapping(mapping)))


def evaluate_points(
    dims: NDArray[np.int64],
    options: LayerOptions,
    mapping: str,
    num_pe: NDArray[np.int64],
    ktile: NDArray[np.int64],
    *,
    noc_bw: NDArray[np.int64],
    simd_lanes: NDArray[np.int64],
    noc_latency: int,
    offchip_bw: int,
) -> CostResult:
    """Evaluate N checked layer points of a network under one mapping (the memo's and the solution's path).

    Args:
        dims: Layer dims ``K C Y X R S T``, int64 shape (N, 7).
        options: Each point's strides and group count.
        mapping: A template, style name or ``.m`` path (already loadable).
        num_pe, ktile: PE counts and K-tiles, shape (N,).
        noc_bw, simd_lanes: NoC bandwidth and SIMD lanes per point, shape (N,).
        noc_latency: ``noc_hops * noc_hop_latency`` of the hardware.
        offchip_bw: Off-chip bandwidth of the hardware.
    """
    n = len(dims)
    knobs = {
        "noc_bw": noc_bw,
        "noc_hops": np.full(n, noc_latency, dtype=np.int64),
        "noc_hop_latency": np.ones(n, dtype=np.int64),
        "simd_lanes": simd_lanes,
        "offchip_bw": np.full(n, offchip_bw, dtype=np.int64),
    }
    if mapping in TEMPLATES:  # each row's own template, closed forms under the release's flags
        parts = [(np.ones(n, dtype=bool), mapping)]
    else:
        depthwise = dims[:, 6] == DEPTHWISE
        parts = [(~depthwise, mapping), (depthwise, depthwise_mapping(mapping))]
    out: dict[str, NDArray] = {
        f.name: np.zeros(n, dtype=np.float64 if f.name in _FLOAT_OUTPUTS else np.int64) for f in fields(CostResult)
    }
    out["valid"] = np.zeros(n, dtype=bool)
    for m, name in parts:
        if not m.any():
            continue
        part_options = LayerOptions(*(getattr(options, f.name)[m] for f in fields(options)))
        part_knobs = {key: value[m] for key, value in knobs.items()}
        block = name if name in TEMPLATES else conv_block(name)
        result = evaluate_mapped_trusted(
            dims[m], block, num_pe[m], ktile[m], part_options, part_knobs, noc_outputs=False
        )
        for key in out:
            out[key][m] = getattr(result, key)
    return CostResult(**out)


_FLOAT_OUTPUTS = ("throughput", "energy_nj", "area", "power")


def check_hardware(
    n_points: int, rows: RowNames = ARRAY_ROWS, **knobs: ArrayLike
) -> tuple[dict[str, NDArray[np.int64]], list[str]]:
    """Hardware knobs as int64 arrays of shape (N,), and the problems found (integers, ranges)."""
    problems: list[str] = []
    out = {}
    for name in HARDWARE_COLUMNS:
        value = _as_int_column(knobs.get(name, RELEASE_HARDWARE[name]), name, n_points, problems, rows)
        lowest = _LOWEST.get(name, 1)
        _check_rule(value < lowest, f"column {name}: must be an integer >= {lowest}", value, problems, rows)
        out[name] = value
    return out, problems


def is_release_hardware(knobs: dict[str, NDArray[np.int64]]) -> NDArray[np.bool_]:
    """Points at ConfuciuX's flags (only the product hops x hop latency matters to MAESTRO)."""
    latency = knobs["noc_hops"] * knobs["noc_hop_latency"]
    release_latency = general.NOC_HOPS * general.NOC_HOP_LATENCY
    return (
        (knobs["noc_bw"] == general.NOC_BANDWIDTH)
        & (latency == release_latency)
        & (knobs["simd_lanes"] == general.SIMD_LANES)
        & (knobs["offchip_bw"] == general.OFFCHIP_BANDWIDTH)
    )


def evaluate_mapped(
    layers: ArrayLike,
    mapping: str | Path | Dataflow,
    num_pe: ArrayLike,
    ktile: ArrayLike = 1,
    *,
    stride_y: ArrayLike = 1,
    stride_x: ArrayLike = 1,
    groups: ArrayLike = 1,
    noc_bw: ArrayLike = general.NOC_BANDWIDTH,
    noc_hops: ArrayLike = general.NOC_HOPS,
    noc_hop_latency: ArrayLike = general.NOC_HOP_LATENCY,
    simd_lanes: ArrayLike = general.SIMD_LANES,
    offchip_bw: ArrayLike = general.OFFCHIP_BANDWIDTH,
    rows: RowNames = ARRAY_ROWS,
) -> MappedResult:
    """Evaluate N design points of one mapping under per-point hardware knobs.

    Args:
        layers: Layer dims ``K C Y X R S T``, shape (N, 7) (or (7,)), as for :func:`costmodel.evaluate`.
        mapping: A built-in style (``kcp_ws``, ``rs_yp`` ..., or ConfuciuX's ``dla``, ``shi``,
            ``eye``, ``dpt``), a ``.m`` file, or a parsed block.
        num_pe: PE count per point (also the value of a ``ClusterSz`` constant).
        ktile: Value of a ``KTileSz`` constant (ConfuciuX's B); ignored by mappings without one.
        stride_y, stride_x, groups: As for :func:`costmodel.evaluate`.
        noc_bw: NoC bandwidth, elements per cycle, on every cluster level (>= 1).
        noc_hops, noc_hop_latency: Hops (>= 1) and cycles per hop (>= 0); their product is
            each transfer's head latency.
        simd_lanes: MACs per PE per cycle (>= 1).
        offchip_bw: Off-chip bandwidth, elements per cycle (>= 1).
        rows: How error messages name a row.

    Returns:
        The outputs per point. Template points at ConfuciuX's flags come from the closed
        forms (bit-identical to :func:`costmodel.evaluate`); every other point from
        MAESTRO's general analysis (:mod:`costmodel.general`).

    Raises:
        LayerTableError: Bad layer dims, knobs or hardware values (naming the rows), or a
            constant of the mapping that has no value.
        MappingError: An unknown style, an unreadable or malformed mapping file.
    """
    dims, P, B, options = check_design_points(
        layers, num_pe, ktile, stride_y=stride_y, stride_x=stride_x, groups=groups, rows=rows
    )
    knobs, problems = check_hardware(
        len(P), rows, noc_bw=noc_bw, noc_hops=noc_hops, noc_hop_latency=noc_hop_latency,
        simd_lanes=simd_lanes, offchip_bw=offchip_bw,
    )  # fmt: skip
    if problems:
        raise LayerTableError(join_problems(problems))
    return evaluate_mapped_trusted(dims, mapping, P, B, options, knobs)


def _dataflow(mapping: str | Path | Dataflow) -> Dataflow:
    return mapping if isinstance(mapping, Dataflow) else conv_block(str(mapping))


def evaluate_mapped_trusted(
    dims: NDArray[np.int64],
    mapping: str | Path | Dataflow,
    num_pe: NDArray[np.int64],
    ktile: NDArray[np.int64],
    options: LayerOptions,
    knobs: dict[str, NDArray[np.int64]],
    *,
    noc_outputs: bool = True,
) -> MappedResult:
    """:func:`evaluate_mapped` on checked input (``check_design_points``, :func:`check_hardware`).

    ``noc_outputs=False`` (the searches' path, which reads only the :class:`CostResult`
    fields): points the closed forms cover skip MAESTRO's general analysis, and their
    ``reason``, ``peak_bw_req`` and ``pe_utilisation`` are left 0.
    """
    n = len(num_pe)
    template = mapping if isinstance(mapping, str) and mapping in TEMPLATES else None
    depthwise = dims[:, 6] == DEPTHWISE
    closed = np.zeros(n, dtype=bool)
    if template is not None:
        closed = is_release_hardware(knobs) & (depthwise | (template != "dpt"))
    analysed = np.ones(n, dtype=bool) if noc_outputs else ~closed
    out = _analysed_points(dims, mapping, template, depthwise, num_pe, ktile, options, knobs, analysed)
    out["true_macs"] = np.where(out["valid"], _true_macs(dims, options), 0)
    if closed.any():
        codes = np.full(int(closed.sum()), DATAFLOWS.index(str(template)) if template in DATAFLOWS else 0)
        part_options = LayerOptions(*(getattr(options, f.name)[closed] for f in fields(options)))
        exact = evaluate_trusted(dims[closed], codes, num_pe[closed], ktile[closed], options=part_options)
        for name, value in exact.to_dict().items():
            out[name][closed] = value
        out["reason"][closed] = np.where(exact.valid, general.VALID, general.RUNTIME_ZERO)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["throughput"] = np.where(out["valid"], out["num_macs"] / np.maximum(out["runtime_cycles"], 1), np.nan)
    return MappedResult(**{f.name: out[f.name] for f in fields(MappedResult)})


def _analysed_points(
    dims: NDArray[np.int64],
    mapping: str | Path | Dataflow,
    template: str | None,
    depthwise: NDArray[np.bool_],
    num_pe: NDArray[np.int64],
    ktile: NDArray[np.int64],
    options: LayerOptions,
    knobs: dict[str, NDArray[np.int64]],
    analysed: NDArray[np.bool_],
) -> dict[str, NDArray]:
    """The general engine's outputs on the ``analysed`` points (zeros elsewhere), for all groups of a layer."""
    if not analysed.any():
        n = len(num_pe)
        empty = {f.name: np.zeros(n, dtype=np.float64 if f.name in (*_FLOAT_OUTPUTS, "pe_utilisation") else np.int64)
                 for f in fields(MappedResult)}  # fmt: skip
        return empty | {"valid": np.zeros(n, dtype=bool)}
    # ConfuciuX's templates: each row's own template (dpt for depthwise rows).
    if template is None:
        blocks = [(analysed, _dataflow(mapping))]
    elif template == "dpt":
        blocks = [(analysed, _dataflow("dpt"))]
    else:
        blocks = [(analysed & ~depthwise, _dataflow(template)), (analysed & depthwise, _dataflow("dpt"))]
    one_group = dims.copy()
    one_group[:, 0] //= options.groups
    one_group[:, 1] //= options.groups
    out = _general(one_group, blocks, num_pe, ktile, options, knobs)  # zeros outside the blocks
    groups = options.groups
    out["runtime_cycles"] = out["runtime_cycles"] * groups
    out["num_macs"] = out["num_macs"] * groups
    out["energy_nj"] = out["energy_nj"] * groups
    return out


def _general(
    dims: NDArray[np.int64],
    blocks: list[tuple[NDArray[np.bool_], Dataflow]],
    num_pe: NDArray[np.int64],
    ktile: NDArray[np.int64],
    options: LayerOptions,
    knobs: dict[str, NDArray[np.int64]],
) -> dict[str, NDArray]:
    """The general engine's outputs for every point, one batch per block."""
    n = len(num_pe)
    hw = general.Hardware(
        num_pe, knobs["noc_bw"], knobs["noc_hops"] * knobs["noc_hop_latency"], knobs["simd_lanes"], knobs["offchip_bw"]
    )
    out: dict[str, NDArray] = {}
    for mask, dataflow in blocks:
        if not mask.any():
            continue
        constants = {"KTileSz": ktile[mask], "CTileSz": np.ones(int(mask.sum()), dtype=np.int64),
                     "ClusterSz": num_pe[mask]}  # fmt: skip
        missing = sorted(dataflow.knobs - set(ROW_CONSTANTS))
        if missing:
            raise LayerTableError(
                f"{dataflow.source}: the mapping uses constant(s) {', '.join(missing)} without a value; "
                "add 'Constant NAME value;' lines to the file (KTileSz, CTileSz and ClusterSz come from "
                "ktile, 1 and num_pe)"
            )
        part = general.evaluate_trusted(
            dataflow, dims[mask], general._take(hw, mask), constants, options.stride_y[mask], options.stride_x[mask]
        )
        for name, value in part.to_dict().items():
            if name not in out:
                out[name] = np.zeros(n, dtype=value.dtype)
            out[name][mask] = value
    out["peak_bw_req"] = out["peak_bw_req"].astype(np.int64)
    return out
