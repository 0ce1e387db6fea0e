"""MAESTRO's analysis for any parsed mapping and any NoC, vectorised over design points.

Why this exists. :mod:`costmodel.engine` runs MAESTRO's directive-level analysis for
ConfuciuX's four templates at the release's NoC (81,920,000 elements per cycle, one
cycle of latency), where the NoC never binds. Architects bring their own dataflows and a
NoC they can afford. This module builds the cluster levels of any parsed
:class:`~costmodel.mapping.Dataflow` the way MAESTRO 4eb08d1 does
(``DFA_cluster-analysis.hpp``: output-to-input coordinates, inheritance, unrolling of
unmapped dims, the outer stride; ``floor(P/U)`` top clusters for a product U of cluster
sizes) and runs ``AnalyzeClusterLevel_V2`` with the hardware knobs as arrays over the
design points: per iteration case, a NoC transfer of n elements costs
``hops*hop_latency + ceil(n/bw) - 1`` cycles, a steady case costs
``max(ingress, compute, egress)`` (double buffering), the all-initial case
``ingress + compute`` (the first fill is never hidden), compute at the PE level is
``ceil(partial sums / simd_lanes)`` and at an upper level the slowest sub-cluster
variant's run time; the top level also waits for the off-chip transfers.

MAESTRO's bookkeeping is per dimension, and that shows on unusual mappings: a dim mapped
twice in one cluster (``rs``) takes its last map's iteration state and tile sizes; a
tensor's spatial edge is that of its own spatially mapped dims (``eye`` has two SpatialMaps
inside its cluster); the buffers are sized over every case MAESTRO visits, in its own case
order, until the first one with work.

Cases are a short Python loop; every quantity inside it is a numpy array. The structural
part (tiles, cases, traffic) runs once per distinct layer/P/constants structure, the delays
per point, so a batch costs the same number of numpy operations as one point. MAESTRO's
failures are data: a point where the binary crashes (SIGFPE), rejects the mapping or
prints run time 0 comes back ``valid=False`` with a reason code.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from confx.costmodel import engine, hardware
from confx.costmodel.engine import (
    CONV_TENSORS,
    DEPTHWISE_TENSORS,
    INIT,
    INPUT_TENSORS,
    Directive,
    Level,
    State,
)
from confx.costmodel.errors import LayerTableError
from confx.costmodel.mapping import Cluster, Dataflow, Extent, Map

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

NOC_BANDWIDTH = 81_920_000
"""ConfuciuX's ``--noc_bw_cstr``: elements per cycle on every cluster level."""
NOC_HOPS, NOC_HOP_LATENCY = 1, 1
"""ConfuciuX's ``--noc_hops`` and ``--noc_hop_latency``; only their product matters."""
SIMD_LANES = 1
"""ConfuciuX's ``--num_simd_lanes``: MACs per PE per cycle."""
OFFCHIP_BANDWIDTH = 70_000
"""MAESTRO's default ``--offchip_bw_cstr`` (ConfuciuX does not pass it)."""

VALID, REJECTED, CLUSTER_EXCEEDS_PES, MAESTRO_CRASH, RUNTIME_ZERO = 0, 1, 2, 3, 4
"""Reason codes of :attr:`GeneralResult.reason`, in the order they are checked."""
REASONS = ("valid", "rejected_by_parser", "cluster_exceeds_pes", "maestro_crash", "runtime_zero")
"""What each reason code means: a TemporalMap on R/S that does not cover the filter
(MAESTRO's parser exits); P below the clusters' PE count (0 sub-clusters: SIGFPE in MAESTRO);
a top-level case with work whose sub-clusters never compute (MAESTRO divides the off-chip
requirement by that zero delay: SIGFPE); MAESTRO's degenerate output (run time or MACs 0,
energy <= 0)."""


@dataclass(frozen=True)
class Hardware:
    """The hardware knobs of N design points, each an array of shape (N,)."""

    num_pe: IntArray
    noc_bw: IntArray
    noc_latency: IntArray
    simd_lanes: IntArray
    offchip_bw: IntArray


@dataclass(frozen=True)
class GeneralResult:
    """Outputs of N design points, each an array of shape (N,).

    Invalid points carry 0 in the integer fields and NaN in the float fields.

    Attributes:
        valid: MAESTRO returns a usable result here.
        reason: Why not (index into :data:`REASONS`; 0 when valid).
        peak_bw_req: MAESTRO's per-layer NoC requirement (elements/cycle): the largest
            per-case ``max(ingress, egress) // compute`` of the top cluster level.
        avg_bw_req: The occurrence-weighted mean of the same ratio.
        avg_active_pes: Average utilised PEs (MAESTRO's "Avg number of utilized PEs").
        pe_utilisation: ``avg_active_pes / num_pe``.
    """

    valid: BoolArray
    reason: IntArray
    runtime_cycles: IntArray
    throughput: FloatArray
    energy_nj: FloatArray
    area: FloatArray
    power: FloatArray
    l1_bytes: IntArray
    l2_bytes: IntArray
    num_macs: IntArray
    peak_bw_req: IntArray
    avg_bw_req: FloatArray
    avg_active_pes: FloatArray
    pe_utilisation: FloatArray

    def to_dict(self) -> dict[str, NDArray[Any]]:
        """The outputs as a column dict."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


# --- cluster levels of a parsed mapping -------------------------------------------------------


def _value(extent: Extent, layer: dict[str, IntArray], knobs: dict[str, IntArray], shape: tuple[int]) -> IntArray:
    if extent.dim:
        return layer[extent.dim]
    if extent.knob:
        return knobs[extent.knob]
    return np.full(shape, extent.value, dtype=np.int64)


def _level_maps(
    dataflow: Dataflow, layer: dict[str, IntArray], knobs: dict[str, IntArray]
) -> tuple[list[list[Directive]], list[IntArray]]:
    """Each level's directives with resolved arrays, and each Cluster line's size."""
    shape = layer["K"].shape
    levels: list[list[Directive]] = [[]]
    sizes: list[IntArray] = []
    for d in dataflow.directives:
        if isinstance(d, Cluster):
            sizes.append(_value(d.size, layer, knobs, shape))
            levels.append([])
        elif isinstance(d, Map):
            size, offset = _value(d.size, layer, knobs, shape), _value(d.offset, layer, knobs, shape)
            levels[-1].append(Directive(d.spatial, d.dim, size, offset))
    return levels, sizes


def build_levels(
    dataflow: Dataflow,
    layer: dict[str, IntArray],
    num_pe: IntArray,
    knobs: dict[str, IntArray],
    *,
    depthwise: bool,
) -> list[Level]:
    """Pre-process a mapping into its cluster levels, outermost first, as MAESTRO does.

    Args:
        dataflow: The parsed block.
        layer: ``K C Y X R S`` and ``stride_y``/``stride_x`` arrays, shape (N,).
        num_pe: PE counts, shape (N,).
        knobs: Values of the block's free constants (``KTileSz`` ...), shape (N,) each.
        depthwise: DSCONV tensors (weight ``C R S``, output ``C Y X``) instead of CONV's.
    """
    tensors = DEPTHWISE_TENSORS if depthwise else CONV_TENSORS
    filters = {"Y": layer["R"], "X": layer["S"]}
    strides = {"Y": layer["stride_y"], "X": layer["stride_x"]}
    raw, cluster_sizes = _level_maps(dataflow, layer, knobs)
    total = np.prod(cluster_sizes, axis=0) if cluster_sizes else np.ones_like(num_pe)
    # A dim the block maps but the tensors lack (K of a depthwise layer, size 1) is iterated all the same.
    mapped_dims = {d.dim.rstrip("'") for d in dataflow.directives if isinstance(d, Map)}
    variables = sorted(set(tensors["input"]) | set(tensors["weight"]) | mapped_dims)
    levels: list[Level] = []
    for depth, raw_directives in enumerate(raw):
        directives = engine._to_input_coordinates(raw_directives, filters)
        if depth == 0:
            dims = {v: layer[v] for v in variables}
            # floor(P / U) top clusters; 0 of them is MAESTRO's division by zero (flagged by the caller).
            n_units = np.maximum(num_pe // total, 1) if cluster_sizes else num_pe
        else:
            upper = levels[-1]
            mapped_here = {d.var for d in directives}
            for d in upper.directives:  # inheritance, inserted at the front
                if d.var not in mapped_here:
                    directives.insert(0, Directive(False, d.var, d.size, d.offset))
            first_maps: dict[str, Directive] = {}
            for d in upper.directives:
                first_maps.setdefault(d.var, d)
            dims = {v: np.minimum(first_maps[v].size, upper.dims[v]) for v in variables}
            n_units = cluster_sizes[depth - 1]
        mapped = {d.var for d in directives}
        for v in variables:  # unmapped dims are unrolled: one temporal tile of the whole dim
            if v not in mapped:
                directives.append(Directive(False, v, dims[v], dims[v]))
        directives = engine._apply_stride(directives, strides, filters, top=depth == 0)
        levels.append(_make_level(directives, n_units, dims, tensors))
    return levels


def _make_level(directives: list[Directive], n_units: IntArray, dims: dict[str, IntArray], tensors: dict) -> Level:
    """A level whose tile tables are keyed by a dim's last map, as MAESTRO's tables are overwritten.

    Its spatial fold (units active at a spatial edge) is the first SpatialMap's.
    """
    last = {d.var: d for d in directives}
    level = engine._make_level(list(last.values()), n_units, dims, tensors)
    level.directives = directives
    spatial = [i for i, d in enumerate(directives) if d.spatial]
    level.first_spatial = spatial[0] if spatial else None
    if spatial:
        d = directives[spatial[0]]
        level.edge_units = engine.spatial_edge_units(d, dims[d.var], n_units)
    return level


def _effective(level: Level, case: tuple[State, ...]) -> tuple[State, ...]:
    """Each map's state as MAESTRO looks it up: by dim, so a dim mapped twice takes its last map's."""
    last = {d.var: i for i, d in enumerate(level.directives)}
    if len(last) == len(level.directives):
        return case
    return tuple(case[last[d.var]] for d in level.directives)


# --- the level analysis with a finite NoC ---------------------------------------------------------


@dataclass
class LevelTotals:
    """Occurrence-weighted sums of one level's analysis.

    The traffic and work sums depend on the mapping's structure only (layer, PE count,
    constants) and are arrays over the distinct structures; ``runtime``, ``peak_bw`` and
    ``avg_bw`` depend on the NoC and SIMD knobs too and are arrays over the points.
    """

    runtime: IntArray
    macs: IntArray
    read_input: IntArray
    read_weight: IntArray
    output_writes: IntArray
    case0_input: IntArray
    case0_weight: IntArray
    case0_egress: IntArray
    peak_bw: IntArray
    avg_bw: FloatArray
    active: FloatArray
    l1_leading: IntArray
    """Cases MAESTRO's first innermost analysis sized its L1 on (1 unless leading cases had no work)."""
    idle_work: BoolArray
    """Per point: a top-level case has partial sums but its sub-clusters never compute (run time 0);
    MAESTRO divides the off-chip requirement by that 0 (SIGFPE)."""


def _order(states: list[list[State]], combination: tuple[State, ...]) -> IntArray:
    """Index of a case in MAESTRO's enumeration (``ConstructIterationStatusTable``), per point.

    MAESTRO lists each map's present states (Init, then Steady and Edge where they occur) and
    walks the combinations with every digit advanced once before the first step: case 0 is
    all-Init, case c >= 1 has digit ``((c - 1) // f_i + 1) mod n_i`` for map i, where n_i is
    its number of states and f_i the product of the later maps' n.
    """
    shape = combination[0].count.shape
    order = np.zeros(shape, dtype=np.int64)
    stride = np.ones(shape, dtype=np.int64)
    all_init = np.ones(shape, dtype=bool)
    for present, state in zip(reversed(states), reversed(combination), strict=True):
        n = sum((s.count > 0).astype(np.int64) for s in present)
        j = sum((s.count > 0).astype(np.int64) for s in present if s.position < state.position)
        order = order + ((j - 1) % n) * stride
        stride = stride * n
        all_init &= state.position == INIT
    return np.where(all_init, 0, order + 1)


def _sub_dims(level: Level, case: tuple[State, ...], *, edge_edge: bool) -> dict[str, IntArray]:
    """Dims one upper case hands its sub-clusters (MAESTRO's ConstructSubClusterDimension)."""
    narrow = level.edge_units == 1
    dims = {}
    for d, state in zip(level.directives, case, strict=True):
        if d.var in dims:
            continue
        tile = level.tiles[d.var]
        if d.spatial:
            take_edge = state.is_edge & (narrow | edge_edge)
        else:
            take_edge = state.is_edge
        dims[d.var] = np.where(take_edge, tile.mapped_edge, tile.mapped)
    return dims


class Analysis:
    """Runs MAESTRO's level-by-level analysis for a batch of points of one mapping.

    Why two sizes. Design points that share a layer, a PE count and the mapping's constants
    share every tile, iteration case and traffic count; only the delays depend on the NoC
    and SIMD knobs. The levels are built over the distinct structures (U of them) and
    ``spread`` (shape (N,), or None when every point is its own structure) takes a
    structure's value to each point, so a batch of N points costs the structural work of U
    plus a few array operations over N per iteration case.
    """

    def __init__(self, levels: list[Level], hw: Hardware, spread: IntArray | None = None) -> None:
        self.levels = levels
        self.hw = hw
        self.spread = spread
        self._memo: dict[tuple, LevelTotals] = {}
        self._bw_less_one = hw.noc_bw - 1
        self._latency_less_one = hw.noc_latency - 1

    def wide(self, values: NDArray[Any]) -> NDArray[Any]:
        """A per-structure array as a per-point one."""
        return values if self.spread is None else values[self.spread]

    def noc_delay(self, elements: IntArray) -> IntArray:
        """``L + ceil(n/bw) - 1`` per point: head latency, then one send per bandwidth's worth."""
        sends = self.wide(elements) + self._bw_less_one
        np.floor_divide(sends, self.hw.noc_bw, out=sends)
        return np.add(sends, self._latency_less_one, out=sends)

    def run(self, depth: int = 0, dims: dict[str, IntArray] | None = None) -> LevelTotals:
        level = self.levels[depth]
        dims = level.dims if dims is None else dims
        innermost = depth == len(self.levels) - 1
        states = [
            engine._present_states(engine.directive_states(d, dims[d.var], level.n_units)) for d in level.directives
        ]
        zero = np.zeros(level.n_units.shape, dtype=np.int64)
        fzero = np.zeros(level.n_units.shape, dtype=np.float64)
        points = self.hw.num_pe.shape
        t = LevelTotals(
            np.zeros(points, dtype=np.int64), zero, zero, zero, zero, zero, zero, zero,
            np.zeros(points, dtype=np.int64), np.zeros(points, dtype=np.float64), fzero, zero + 1,
            np.zeros(points, dtype=bool),
        )  # fmt: skip
        cases = []
        for combination in itertools.product(*states):
            occurrences = np.prod([s.count for s in combination], axis=0)
            if not occurrences.any():
                continue
            case = _effective(level, combination)
            psums, macs = engine._work(level, case)
            loads = {name: zero + engine._ingress(level, case, name) for name in INPUT_TENSORS}
            cases.append(
                (case, occurrences, engine._egress(level, case), psums, macs, loads, _order(states, combination))
            )
        # MAESTRO sizes the buffers on every case up to the first one with partial sums, in its
        # own case order: the input buffers add up over those cases, the output keeps the last.
        never = np.iinfo(np.int64).max
        first = zero + never
        for _, occurrences, _, psums, _, _, order in cases:
            first = np.where((occurrences > 0) & (psums > 0), np.minimum(first, order), first)
        found = first != never
        last = np.max([np.where(c[1] > 0, c[6], -1) for c in cases], axis=0)
        lead = np.where(found, first, last)
        for _, occurrences, out, _, _, loads, order in cases:
            leading = (occurrences > 0) & (order <= lead)
            t.case0_input = t.case0_input + np.where(leading, loads["input"], 0)
            t.case0_weight = t.case0_weight + np.where(leading, loads["weight"], 0)
            t.case0_egress = np.where((occurrences > 0) & (order == lead), out, t.case0_egress)
        if innermost:
            t.l1_leading = lead + 1
        if depth == 0:
            off_in = 2 * self.wide(t.case0_input + t.case0_weight) // self.hw.offchip_bw // 2
            off_out = 2 * self.wide(t.case0_egress) // self.hw.offchip_bw // 2
        n_cases = zero
        for case, occurrences, out, psums, macs, loads, order in cases:
            t.output_writes = t.output_writes + occurrences * out
            weight: IntArray = np.where(psums > 0, occurrences, 0)  # MAESTRO skips cases without partial sums
            if not weight.any():
                continue  # no point has work in this case: it adds no time, traffic or bandwidth
            ingress = loads["input"] + loads["weight"]
            if innermost:
                compute = -(-self.wide(psums) // self.hw.simd_lanes)
                active = self._active_units(level, case).astype(np.float64)
            else:
                compute, active, first_leading = self._sub_clusters(depth, case)
                t.l1_leading = np.where((weight > 0) & (order == first), first_leading, t.l1_leading)
            in_delay, out_delay = self.noc_delay(ingress), self.noc_delay(out)
            if all(s.position == INIT for s in case):
                cost = compute + in_delay  # the first fill is never hidden
            else:
                cost = np.maximum(np.maximum(in_delay, compute), out_delay)
            point_weight = self.wide(weight)
            working = point_weight > 0
            if depth == 0:
                np.maximum(cost, off_in, out=cost)
                np.maximum(cost, off_out, out=cost)
                t.idle_work |= working & (compute == 0)
            np.multiply(cost, point_weight, out=cost)
            t.runtime += cost
            t.macs = t.macs + weight * macs
            t.read_input = t.read_input + weight * loads["input"]
            t.read_weight = t.read_weight + weight * loads["weight"]
            t.active = t.active + weight * active
            n_cases = n_cases + weight
            busy = np.maximum(compute, 1)
            traffic = self.wide(np.maximum(ingress, out))
            np.maximum(t.peak_bw, traffic // busy, out=t.peak_bw, where=working)
            np.multiply(traffic, point_weight, out=traffic)
            np.floor_divide(traffic, busy, out=traffic)
            t.avg_bw += traffic
        with np.errstate(divide="ignore", invalid="ignore"):
            t.active = np.where(n_cases > 0, t.active / n_cases, 0.0)
            point_cases = self.wide(n_cases)
            t.avg_bw = np.where(point_cases > 0, t.avg_bw / point_cases, 0.0)
        return t

    def _active_units(self, level: Level, case: tuple[State, ...]) -> IntArray:
        """Sub-units busy in one case: the spatial edge fold's count at an edge, else all."""
        if level.first_spatial is None:
            return level.n_units
        return np.where(case[level.first_spatial].is_edge, level.edge_units, level.n_units)

    def _sub_clusters(self, depth: int, case: tuple[State, ...]) -> tuple[IntArray, FloatArray, IntArray]:
        """Slowest sub-cluster's run time, the PEs busy below, and the first variant's L1 case count."""
        level = self.levels[depth]
        if level.first_spatial is None:
            regular = self._inner(depth, case, edge_edge=False)
            return regular.runtime, regular.active * level.n_units, regular.l1_leading
        state = case[level.first_spatial]
        edge = state.is_edge
        regular = self._inner(depth, case, edge_edge=False)
        count = np.where(edge, level.edge_units, level.n_units).astype(np.float64)
        if not (edge & state.edge_pe).any():
            return regular.runtime, regular.active * count, regular.l1_leading
        odd = self._inner(depth, case, edge_edge=True)
        two = edge & state.edge_pe
        rest = level.edge_units - 1
        wide_two, wide_rest = self.wide(two), self.wide(rest)
        runtime = np.where(
            wide_two, np.maximum(odd.runtime, np.where(wide_rest > 0, regular.runtime, 0)), regular.runtime
        )
        active = np.where(two, odd.active + np.where(rest > 0, regular.active * rest, 0.0), regular.active * count)
        return runtime, active, np.where(two, odd.l1_leading, regular.l1_leading)

    def _inner(self, depth: int, case: tuple[State, ...], *, edge_edge: bool) -> LevelTotals:
        level = self.levels[depth]
        shape = tuple(
            s.position if engine._varies(level, d) or d.spatial else None
            for d, s in zip(level.directives, case, strict=True)
        )
        key = (depth, shape, edge_edge)
        if key not in self._memo:
            self._memo[key] = self.run(depth + 1, _sub_dims(level, case, edge_edge=edge_edge))
        return self._memo[key]


# --- public entry point ----------------------------------------------------------------------


def _column(value: ArrayLike, n: int, name: str) -> IntArray:
    array = np.asarray(value)
    if array.ndim == 0:
        array = np.full(n, array)
    if array.shape != (n,):
        raise LayerTableError(f"{name}: expected a scalar or shape ({n},), got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.integer):
        rounded = np.asarray(array, dtype=np.float64)
        if not np.all(np.isfinite(rounded)) or np.any(rounded != np.round(rounded)):
            raise LayerTableError(f"{name}: expected integers, got {array[:3].tolist()}...")
    return array.astype(np.int64)


def evaluate_mapping(
    dataflow: Dataflow,
    layers: ArrayLike,
    num_pe: ArrayLike,
    *,
    knobs: dict[str, ArrayLike] | None = None,
    stride_y: ArrayLike = 1,
    stride_x: ArrayLike = 1,
    noc_bw: ArrayLike = NOC_BANDWIDTH,
    noc_hops: ArrayLike = NOC_HOPS,
    noc_hop_latency: ArrayLike = NOC_HOP_LATENCY,
    simd_lanes: ArrayLike = SIMD_LANES,
    offchip_bw: ArrayLike = OFFCHIP_BANDWIDTH,
) -> GeneralResult:
    """Evaluate N design points of one mapping with MAESTRO's general analysis.

    Args:
        dataflow: A parsed block (:func:`costmodel.mapping.load_mapping`).
        layers: Layer dims ``K C Y X R S T``, shape (N, 7); T=2 is a DSCONV layer (K ignored).
        num_pe: PE counts, scalar or shape (N,).
        knobs: Values of the block's free constants, e.g. ``{"KTileSz": B, "ClusterSz": P}``
            for ConfuciuX's templates (``CTileSz`` defaults to 1, ``ClusterSz`` to ``num_pe``).
        stride_y, stride_x: The layer's ``Stride`` line.
        noc_bw: NoC bandwidth in elements per cycle, on every cluster level.
        noc_hops, noc_hop_latency: Their product is the per-transfer head latency.
        simd_lanes: MACs per PE per cycle.
        offchip_bw: Off-chip bandwidth in elements per cycle.

    Returns:
        The outputs per point; see :class:`GeneralResult`.

    Raises:
        LayerTableError: A layer table of the wrong shape, non-integer values, a value
            below 1 (below 0 for the hop latency), ``R > Y``, ``S > X``, or a free constant
            of the mapping without a value.
    """
    dims = np.atleast_2d(np.asarray(layers))
    if dims.ndim != 2 or dims.shape[1] != 7:
        raise LayerTableError(f"layers: expected shape (N, 7) with columns K C Y X R S T, got {dims.shape}")
    n = len(dims)
    dims = np.stack([_column(dims[:, i], n, name) for i, name in enumerate("KCYXRST")], axis=1)
    P = _column(num_pe, n, "num_pe")
    columns = {
        name: _column(value, n, name)
        for name, value in (
            ("stride_y", stride_y), ("stride_x", stride_x), ("noc_bw", noc_bw), ("noc_hops", noc_hops),
            ("noc_hop_latency", noc_hop_latency), ("simd_lanes", simd_lanes), ("offchip_bw", offchip_bw),
        )
    }  # fmt: skip
    problems = [name for name, a in columns.items() if np.any(a < (0 if name == "noc_hop_latency" else 1))]
    if np.any(dims[:, :6] < 1) or np.any(P < 1):
        problems.append("layer dims/num_pe")
    if np.any(dims[:, 4] > dims[:, 2]) or np.any(dims[:, 5] > dims[:, 3]):
        problems.append("R > Y or S > X")
    if problems:
        raise LayerTableError(f"values out of range in: {', '.join(problems)}")
    free = {"CTileSz": np.ones(n, dtype=np.int64), "ClusterSz": P}
    free.update({name: _column(value, n, name) for name, value in (knobs or {}).items()})
    missing = sorted(dataflow.knobs - set(free))
    if missing:
        raise LayerTableError(f"{dataflow.source}: give a value for the mapping's constant(s) {', '.join(missing)}")
    hw = Hardware(
        P,
        columns["noc_bw"],
        columns["noc_hops"] * columns["noc_hop_latency"],
        columns["simd_lanes"],
        columns["offchip_bw"],
    )
    return evaluate_trusted(dataflow, dims, hw, free, columns["stride_y"], columns["stride_x"])


def evaluate_trusted(
    dataflow: Dataflow,
    dims: IntArray,
    hw: Hardware,
    knobs: dict[str, IntArray],
    stride_y: IntArray,
    stride_x: IntArray,
) -> GeneralResult:
    """The kernel behind :func:`evaluate_mapping`; trusts its (checked) input.

    Points of DSCONV and CONV layers are analysed as two batches (their tensors differ).
    """
    n = len(dims)
    depthwise = dims[:, 6] == 2
    parts = {}
    for flag in (False, True):
        m = depthwise == flag
        if m.any():
            parts[flag] = (m, _analyse(dataflow, dims[m], _take(hw, m), {k: v[m] for k, v in knobs.items()},
                                       stride_y[m], stride_x[m], depthwise=flag))  # fmt: skip
    out: dict[str, NDArray[Any]] = {}
    for m, part in parts.values():
        for name, value in part.items():
            if name not in out:
                out[name] = np.zeros(n, dtype=value.dtype)
            out[name][m] = value
    return GeneralResult(**out)


def _take(hw: Hardware, m: BoolArray) -> Hardware:
    return Hardware(*(getattr(hw, f.name)[m] for f in fields(hw)))


def _rejected(dataflow: Dataflow, layer: dict[str, IntArray], knobs: dict[str, IntArray]) -> BoolArray:
    """Points whose layer breaks MAESTRO's parse rule for TemporalMaps on R and S."""
    bad = np.zeros(layer["K"].shape, dtype=bool)
    shape = layer["K"].shape
    for d in dataflow.directives:
        if isinstance(d, Map) and not d.spatial and d.dim in ("R", "S"):
            size, offset = _value(d.size, layer, knobs, shape), _value(d.offset, layer, knobs, shape)
            bad |= (size != offset) | (size != layer[d.dim])
    return bad


def _l1_size(level: Level, leading: IntArray) -> IntArray:
    """Double-buffered per-PE L1: input and weight tiles once per leading case, the output tile once."""
    volume = {name: np.prod([level.tiles[v].mapped for v in dims], axis=0) for name, dims in level.tensors.items()}
    return 2 * (leading * (volume["input"] + volume["weight"]) + volume["output"])


def _structures(columns: list[IntArray]) -> tuple[IntArray, IntArray | None]:
    """Indices of the distinct rows of ``columns`` and each point's structure, or None if few repeat."""
    table = np.ascontiguousarray(np.stack(columns, axis=1))
    keys = table.view(np.dtype((np.void, table.dtype.itemsize * table.shape[1]))).ravel()
    _, first, spread = np.unique(keys, return_index=True, return_inverse=True)
    if 2 * len(first) > len(keys):
        return np.arange(len(keys)), None  # mostly distinct: the gathers would cost more than they save
    return first, spread.ravel()


def _analyse(
    dataflow: Dataflow,
    dims: IntArray,
    hw: Hardware,
    knobs: dict[str, IntArray],
    stride_y: IntArray,
    stride_x: IntArray,
    *,
    depthwise: bool,
) -> dict[str, NDArray[Any]]:
    """One batch of points: the structural analysis once per distinct structure, the delays per point."""
    names = sorted(knobs)
    first, spread = _structures([*dims[:, :6].T, stride_y, stride_x, hw.num_pe, *(knobs[k] for k in names)])
    if spread is not None:
        dims, stride_y, stride_x = dims[first], stride_y[first], stride_x[first]
        knobs = {k: knobs[k][first] for k in names}
    num_pe = hw.num_pe[first] if spread is not None else hw.num_pe

    def wide(values: NDArray[Any]) -> NDArray[Any]:
        return values if spread is None else values[spread]

    K, C, Y, X, R, S, _ = dims.T
    layer = {"K": K, "C": C, "Y": Y, "X": X, "R": R, "S": S, "stride_y": stride_y, "stride_x": stride_x}
    reason = np.zeros(len(dims), dtype=np.int64)
    _, sizes = _level_maps(dataflow, layer, knobs)
    total = np.prod(sizes, axis=0) if sizes else np.ones_like(num_pe)
    # MAESTRO's parser runs first: a rejected mapping never reaches the division by zero.
    reason = np.where(_rejected(dataflow, layer, knobs), REJECTED, reason)
    reason = np.where((reason == VALID) & (num_pe < total), CLUSTER_EXCEEDS_PES, reason)
    levels = build_levels(dataflow, layer, num_pe, knobs, depthwise=depthwise)
    top = Analysis(levels, hw, spread).run()
    weight_words = C * R * S if depthwise else K * C * R * S
    l2_traffic = top.read_input + C * Y * X + top.read_weight + weight_words + top.output_writes
    # MAESTRO reports the L1 accesses of a single-level mapping only (a reporting-order quirk).
    l1_traffic = top.read_input + top.read_weight + 4 * top.macs if len(levels) == 1 else np.zeros_like(top.macs)
    energy = hardware.energy_nj(l2_traffic=l2_traffic, l1_traffic=l1_traffic)
    degenerate = (top.macs <= 0) | ~(energy > 0)
    reason = np.where((wide(reason) == VALID) & top.idle_work, MAESTRO_CRASH, wide(reason))
    reason = np.where((reason == VALID) & wide(degenerate), RUNTIME_ZERO, reason)
    reason = np.where((reason == VALID) & (top.runtime <= 0), RUNTIME_ZERO, reason)
    valid = reason == VALID
    l1 = np.where(valid, wide(_l1_size(levels[-1], top.l1_leading)), 0)
    l2 = np.where(valid, wide(2 * (top.case0_input + top.case0_weight + top.case0_egress)), 0)
    runtime, macs = np.where(valid, top.runtime, 0), np.where(valid, wide(top.macs), 0)
    nan = np.float64("nan")
    active = wide(top.active)
    return {
        "valid": valid,
        "reason": reason,
        "runtime_cycles": runtime,
        "throughput": np.where(valid, macs / np.maximum(runtime, 1), nan),
        "energy_nj": np.where(valid, wide(energy), nan),
        "area": np.where(valid, area(hw.num_pe, l1, l2, noc_bw=hw.noc_bw, simd_lanes=hw.simd_lanes), nan),
        "power": np.where(valid, power(hw.num_pe, l1, l2, noc_bw=hw.noc_bw, simd_lanes=hw.simd_lanes), nan),
        "l1_bytes": l1,
        "l2_bytes": l2,
        "num_macs": macs,
        "peak_bw_req": np.where(valid, top.peak_bw, 0),
        "avg_bw_req": np.where(valid, top.avg_bw, nan),
        "avg_active_pes": np.where(valid, active, nan),
        "pe_utilisation": np.where(valid, active / hw.num_pe, nan),
    }


# --- area and power with the NoC and SIMD lanes kept symbolic -------------------------------------


def area(
    num_pe: IntArray, l1_bytes: IntArray, l2_bytes: IntArray, *, noc_bw: IntArray, simd_lanes: IntArray
) -> FloatArray:
    """Accelerator area: P PEs of V MAC lanes and a private L1, an L2, a bus of width bw, an arbiter.

    At the release's bw = 81,920,000 the bus term dwarfs the rest; at realistic widths the
    arbiter's ~510 P^2 dominates.
    """
    P = num_pe.astype(np.float64)
    per_pe = hardware.MAC_AREA * simd_lanes + hardware.SRAM_AREA_PER_WORD * np.maximum(1, l1_bytes)
    l2 = hardware.SRAM_AREA_PER_WORD * np.maximum(1, l2_bytes)
    bus = hardware.BUS_AREA_FACTOR * (hardware.BUS_SLOPE * P + hardware.BUS_INTERCEPT) * noc_bw
    arbiter = np.maximum(hardware.ARBITER_AREA, hardware.ARBITER_AREA * hardware._arbiter_scale(num_pe))
    return P * per_pe + l2 + bus + arbiter


def power(
    num_pe: IntArray, l1_bytes: IntArray, l2_bytes: IntArray, *, noc_bw: IntArray, simd_lanes: IntArray
) -> FloatArray:
    """Accelerator power, from the same blocks as :func:`area`."""
    P = num_pe.astype(np.float64)
    per_pe = hardware.MAC_POWER * simd_lanes + hardware.SRAM_POWER_PER_WORD * np.maximum(1, l1_bytes)
    l2 = hardware.SRAM_POWER_PER_WORD * np.maximum(1, l2_bytes)
    bus = hardware.BUS_POWER_FACTOR * (hardware.BUS_SLOPE * P + hardware.BUS_INTERCEPT) * noc_bw
    arbiter = np.maximum(hardware.ARBITER_POWER, hardware.ARBITER_POWER * hardware._arbiter_scale(num_pe) / 1000)
    return P * per_pe + l2 + bus + arbiter
