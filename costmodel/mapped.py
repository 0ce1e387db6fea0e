"""Layer points under a named mapping and hardware knobs, the way a search asks for them.

Why. A search gives every layer a mapping (one of ConfuciuX's templates, a style of the
built-in library or a ``.m`` file), a PE count, a K-tile and, on a physical NoC, the NoC
bandwidth and SIMD lanes. ConfuciuX's templates under the release's flags keep their exact
closed forms (:func:`costmodel.evaluate.evaluate_trusted`, so the release's results never
change); anything else goes through MAESTRO's general analysis
(:func:`costmodel.general.evaluate_trusted`). Depthwise layers (T=2) take ConfuciuX's
``dpt`` template under a template, the library's ``ds_<style>`` twin under a style that has
one, and the file itself under a ``.m`` path; a grouped layer runs one group's shape
``groups`` times, as in the closed forms.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from confx.costmodel import general
from confx.costmodel.errors import MappingError
from confx.costmodel.evaluate import DATAFLOWS, OUTPUT_COLUMNS, CostResult, LayerOptions, _true_macs
from confx.costmodel.evaluate import evaluate_trusted as closed_form
from confx.costmodel.layers import DEPTHWISE
from confx.costmodel.mapping import Dataflow, load_mapping, style_names

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
    """Evaluate N checked layer points of one mapping (the memo's and the solution's path).

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
    release = np.zeros(n, dtype=bool)
    if mapping in DATAFLOWS and noc_latency == general.NOC_HOPS * general.NOC_HOP_LATENCY:
        # ConfuciuX's templates under the release's flags: the exact closed forms.
        if offchip_bw == general.OFFCHIP_BANDWIDTH:
            release = (noc_bw == general.NOC_BANDWIDTH) & (simd_lanes == general.SIMD_LANES)
    out = _empty(n)
    if release.any():
        m = release
        part = closed_form(
            dims[m], np.full(int(m.sum()), DATAFLOWS.index(mapping)), num_pe[m], ktile[m], options=_take(options, m)
        )
        _put(out, m, part.to_dict())
    depthwise = dims[:, 6] == DEPTHWISE
    for flag in (False, True):
        m = ~release & (depthwise == flag)
        if m.any():
            block = conv_block(depthwise_mapping(mapping) if flag else mapping)
            hw = (noc_bw[m], simd_lanes[m], noc_latency, offchip_bw)
            _put(out, m, _general(block, dims[m], _take(options, m), num_pe[m], ktile[m], hw))
    return CostResult(**out)


def _general(
    block: Dataflow,
    dims: NDArray[np.int64],
    options: LayerOptions,
    num_pe: NDArray[np.int64],
    ktile: NDArray[np.int64],
    hw: tuple[NDArray[np.int64], NDArray[np.int64], int, int],
) -> dict[str, NDArray]:
    """One group's shape through the general engine, its groups run one after another."""
    if "KTileSz" not in block.knobs:
        ktile = np.ones_like(ktile)  # the knob is unused: identical points are evaluated once
    noc_bw, simd_lanes, noc_latency, offchip_bw = hw
    one = dims.copy()
    one[:, 0] //= options.groups
    one[:, 1] //= options.groups
    rows = np.column_stack([one, num_pe, ktile, noc_bw, simd_lanes, options.stride_y, options.stride_x])
    unique, inverse = np.unique(rows, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    u_dims, (P, B, bw, lanes, sy, sx) = unique[:, :7], unique[:, 7:].T
    n = len(unique)
    hardware = general.Hardware(
        P, bw, np.full(n, noc_latency, dtype=np.int64), lanes, np.full(n, offchip_bw, dtype=np.int64)
    )
    result = general.evaluate_trusted(
        block, u_dims, hardware, {"KTileSz": B, "CTileSz": np.ones_like(B), "ClusterSz": P}, sy, sx
    )
    g = options.groups
    valid = result.valid[inverse]
    runtime = result.runtime_cycles[inverse] * g
    macs = result.num_macs[inverse] * g
    with np.errstate(divide="ignore", invalid="ignore"):
        throughput = np.where(valid, macs / np.maximum(runtime, 1), np.nan)
    return {
        "valid": valid,
        "runtime_cycles": runtime,
        "throughput": throughput,
        "energy_nj": result.energy_nj[inverse] * g,
        "area": result.area[inverse],
        "power": result.power[inverse],
        "l1_bytes": result.l1_bytes[inverse],
        "l2_bytes": result.l2_bytes[inverse],
        "num_macs": macs,
        "true_macs": np.where(valid, _true_macs(dims, options), 0),
    }


def _take(options: LayerOptions, m: NDArray[np.bool_]) -> LayerOptions:
    return LayerOptions(options.stride_y[m], options.stride_x[m], options.groups[m])


def _empty(n: int) -> dict[str, NDArray]:
    kinds = {"valid": bool, "throughput": np.float64, "energy_nj": np.float64, "area": np.float64, "power": np.float64}
    return {name: np.zeros(n, dtype=kinds.get(name, np.int64)) for name in OUTPUT_COLUMNS}


def _put(out: dict[str, NDArray], m: NDArray[np.bool_], part: dict[str, NDArray]) -> None:
    for name in out:
        out[name][m] = part[name]
