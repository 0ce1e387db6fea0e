"""MAESTRO's general directive-level analysis, vectorised over design points.

Why this exists. The closed forms of :mod:`costmodel.dataflows` were derived for
stride 1. A ``Stride`` line makes MAESTRO rewrite the size and offset of every
map on the input rows Y and columns X (``ApplyOuterStride`` in its
``DFA_cluster-analysis.hpp``), and for shi and eye, whose maps are written in
output coordinates, the rewritten maps no longer line up with the strided
output: MAESTRO's run time and MAC count for them follow no simple formula.
This module therefore runs MAESTRO's analysis itself (spec sections 2-3): it
builds each template's cluster levels, enumerates the Init/Steady/Edge states
of every directive, and sums the per-case traffic and delays. Cases are a
short Python loop (at most a few dozen per level); every quantity inside it is
a numpy array over the N design points, so a batch costs the same number of
numpy operations as one point.

Like the kernels of :mod:`costmodel.dataflows` it trusts its input: int64
arrays of shape (N,), every dim and knob >= 1, ``Y >= R``, ``X >= S``. The
public :func:`costmodel.evaluate` checks that first.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from confx.costmodel.dataflows import TemplateCounts

IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

NOC_BANDWIDTH = 81_920_000
"""Elements per cycle on every NoC level (``--noc_bw_cstr`` as ConfuciuX passes it)."""
OFFCHIP_BANDWIDTH = 70_000
"""MAESTRO's default off-chip bandwidth, used in the top level's off-chip delay."""

INIT, STEADY, EDGE = 0, 1, 2
"""Positions of one directive's iteration state (spec 2.3)."""

OVERLAP = {"Y": "R", "X": "S"}
"""Reference (input) dimension -> sliding (filter) dimension."""

CONV_TENSORS = {"input": ("C", "Y", "X"), "weight": ("K", "C", "R", "S"), "output": ("K", "Y", "X")}
DEPTHWISE_TENSORS = {"input": ("C", "Y", "X"), "weight": ("C", "R", "S"), "output": ("C", "Y", "X")}
INPUT_TENSORS = ("input", "weight")

# ConfuciuX's mapping files (reference/dataflow/*.m) as (spatial, variable, size, offset), one
# list per cluster level. Sizes name a knob: "B" KTileSz, "P" ClusterSz, "R"/"S" Sz(R)/Sz(S);
# a primed variable is written in output coordinates.
_TEMPLATES: dict[str, Any] = {
    "dla": (
        ((True, "K", "B", "B"), (False, "C", "P", "P"), (False, "R", "R", "R"), (False, "S", "S", "S"),
         (False, "Y'", 1, 1), (False, "X'", 1, 1)),
        ((True, "C", 1, 1), (False, "Y'", 1, 1), (False, "X'", 1, 1), (False, "R", "R", "R"), (False, "S", "S", "S")),
    ),
    "shi": (
        ((False, "K", "B", "B"), (True, "Y'", "R", "R"), (False, "X'", "P", "P"), (False, "C", 1, 1),
         (False, "R", "R", "R"), (False, "S", "S", "S")),
        ((False, "C", 1, 1), (False, "Y'", 1, 1), (True, "X'", 1, 1), (False, "R", "R", "R"), (False, "S", "S", "S")),
    ),
    "eye": (
        ((False, "C", 1, 1), (False, "K", "B", "B"), (True, "Y'", "P", "P"), (False, "X'", "S", "S"),
         (False, "R", "R", "R"), (False, "S", "S", "S")),
        ((False, "C", 1, 1), (True, "Y'", 1, 1), (True, "X'", 1, 1), (False, "R", "R", "R"), (False, "S", "S", "S")),
    ),
    "dpt": (
        ((True, "C", "B", "B"), (False, "Y'", 1, 1), (False, "X'", 1, 1), (False, "R", "R", "R"),
         (False, "S", "S", "S")),
    ),
}  # fmt: skip


@dataclass(frozen=True)
class Directive:
    """One map of one cluster level; sizes and offsets are arrays over the points."""

    spatial: bool
    var: str
    size: IntArray
    offset: IntArray


@dataclass(frozen=True)
class State:
    """One position of a directive: occurrence count and flags, arrays over the points."""

    position: int
    count: IntArray
    unrolled: BoolArray
    init_edge: BoolArray
    edge_pe: BoolArray

    @property
    def is_edge(self) -> BoolArray:
        if self.position == EDGE:
            return np.ones(self.count.shape, dtype=bool)
        return self.init_edge


@dataclass(frozen=True)
class Tile:
    """Per-unit tile extents of one variable at one level (spec 2.4)."""

    mapped: IntArray
    unique: IntArray
    mapped_edge: IntArray
    unique_edge: IntArray


def _trunc_div(a: IntArray, b: IntArray) -> IntArray:
    """Integer division rounding toward zero, as MAESTRO's C++ does."""
    q = np.abs(a) // b
    return np.where(a >= 0, q, -q)


def _ceil_div(a: IntArray, b: int) -> IntArray:
    return -(-a // b)


# --- pre-processing (spec 2.2, plus the stride rewriting) ---------------------------------------------


def _raw_levels(template: str, knobs: dict[str, IntArray]) -> list[list[Directive]]:
    def value(key: str | int) -> IntArray:
        return knobs[key] if isinstance(key, str) else np.full(knobs["P"].shape, key, dtype=np.int64)

    return [
        [Directive(sp, var, value(size), value(ofs)) for sp, var, size, ofs in level] for level in _TEMPLATES[template]
    ]


def _to_input_coordinates(directives: list[Directive], filters: dict[str, IntArray]) -> list[Directive]:
    """A map on Y' (X') of size s becomes a map on Y (X) of size s + R - 1 (s + S - 1), same offset."""
    out = []
    for d in directives:
        if d.var.endswith("'"):
            ref = d.var[:-1]
            out.append(Directive(d.spatial, ref, d.size + filters[ref] - 1, d.offset))
        else:
            out.append(d)
    return out


def _apply_stride(
    directives: list[Directive], strides: dict[str, IntArray], filters: dict[str, IntArray], *, top: bool
) -> list[Directive]:
    """MAESTRO's outer-stride rewriting of the Y/X maps that cover at least one filter window.

    A map of size M is read as holding ``m = floor((M - F)/s) + 1`` strided outputs; it becomes
    ``m*min(s, F) + max(F - s, 0)`` input rows at offset ``m*s`` (``m*F`` on inner levels when
    ``F < s``). Later steps still take ``size - F + 1`` as a tile's output extent, as at stride 1.
    """
    out = []
    for d in directives:
        if d.var not in strides:
            out.append(d)
            continue
        s, F = strides[d.var], filters[d.var]
        rewrite = (s != 1) & (d.size >= F)
        m = (d.size + s - F) // s
        size = m * np.minimum(s, F) + np.maximum(F - s, 0)
        offset = m * s if top else np.where(F < s, m * F, m * s)
        out.append(Directive(d.spatial, d.var, np.where(rewrite, size, d.size), np.where(rewrite, offset, d.offset)))
    return out


# --- states and tiles of one directive ------------------------------------------------------------------


def directive_states(d: Directive, dim: IntArray, n_units: IntArray) -> list[State]:
    """Init, Steady and Edge states of ``d`` over a dimension of size ``dim`` (spec 2.3)."""
    M, O = d.size, d.offset
    false = np.zeros(dim.shape, dtype=bool)
    one = np.ones(dim.shape, dtype=np.int64)
    if not d.spatial:
        n = (dim - M) // O
        steady = np.where((M < dim) & (n > 0), n, 0)
        edge = ((dim >= M) & (n * O + M < dim)).astype(np.int64)
        return [
            State(INIT, one, dim <= M, dim < M, false),
            State(STEADY, steady, false, false, false),
            State(EDGE, edge, false, false, false),
        ]
    N = n_units
    cover = M + O * (N - 1)
    init_edge = dim < cover
    n = _trunc_div(_trunc_div(dim - M, O) + 1, N) - 1
    steady = np.where((cover < dim) & (n > 0), n, 0)
    edge = ~init_edge & (dim > cover) & ((n + 1) * O * N + cover > dim) & (n * O * N + cover != dim)
    rem = dim - (n + 1) * O * N
    active = np.where(rem < M, 1, (rem - M) // O + 1)
    edge_pe = (active - 1) * O + M < rem
    return [
        State(INIT, one, dim <= cover, init_edge, init_edge),
        State(STEADY, steady, false, false, false),
        State(EDGE, edge.astype(np.int64), false, false, edge_pe),
    ]


def directive_tile(d: Directive, dim: IntArray) -> Tile:
    """Mapped and unique extents, regular and at the edge, from the construction dims."""
    M, O = d.size, d.offset
    n = np.maximum(0, (dim - M) // O)
    has_edge = (n * O + M < dim) | (M > dim)
    unique = np.minimum(M, O) if d.spatial else np.where(dim <= M, 0, np.minimum(M, O))
    e = dim - (n + 1) * O
    e = np.where(e < 0, dim, e)
    return Tile(M, unique, np.where(has_edge, e, M), np.maximum(O - (M - e), 0))


def spatial_edge_units(d: Directive, dim: IntArray, N: IntArray) -> IntArray:
    """``E``: active sub-units in a spatial-edge fold, from the construction dims (spec 2.3)."""
    M, O = d.size, d.offset
    cover = M + O * (N - 1)
    n0 = _trunc_div(_trunc_div(dim - M, O) + 1, N) - 1
    rem = dim - (n0 + 1) * O * N
    beyond = np.where(rem < M, 1, (rem - M) // O + 1)
    active = (dim - M) // O + 1
    within = active + (O * (active - 1) + M < dim)
    return np.where(dim > cover, beyond, np.where(dim > M, within, 1))


@dataclass
class Level:
    """One cluster level after pre-processing, with its construction dims and tile tables."""

    directives: list[Directive]
    n_units: IntArray
    dims: dict[str, IntArray]
    tensors: dict[str, tuple[str, ...]]
    tiles: dict[str, Tile]
    out_tiles: dict[str, Tile]
    edge_units: IntArray
    first_spatial: int | None

    def out_tile(self, var: str) -> Tile:
        """Tile of ``var`` as an output extent (Y', X' for the reference dims)."""
        return self.out_tiles[var] if var in OVERLAP else self.tiles[var]


def _make_level(directives: list[Directive], n_units: IntArray, dims: dict[str, IntArray], tensors: dict) -> Level:
    tiles = {d.var: directive_tile(d, dims[d.var]) for d in directives}
    by_var = {d.var: d for d in directives}
    out_tiles = {}
    for ref, slide in OVERLAP.items():
        d, t, f = by_var[ref], tiles[ref], tiles[slide]
        mapped_edge = t.mapped_edge - f.mapped_edge + 1
        out_tiles[ref] = Tile(
            t.mapped - f.mapped + 1, np.minimum(d.offset, d.size), mapped_edge, np.minimum(d.offset, mapped_edge)
        )
    spatial = [i for i, d in enumerate(directives) if d.spatial]
    first = spatial[0] if spatial else None
    if first is None:
        edge_units = np.ones(n_units.shape, dtype=np.int64)
    else:
        d = directives[first]
        edge_units = spatial_edge_units(d, dims[d.var], n_units)
    return Level(directives, n_units, dims, tensors, tiles, out_tiles, edge_units, first)


def build_levels(template: str, layer: dict[str, IntArray], P: IntArray, B: IntArray, strides: dict) -> list[Level]:
    """Pre-process a template into its cluster levels, outermost first (spec 2.2)."""
    tensors = DEPTHWISE_TENSORS if template == "dpt" else CONV_TENSORS
    filters = {"Y": layer["R"], "X": layer["S"]}
    raw = _raw_levels(template, {"B": B, "P": P, "R": layer["R"], "S": layer["S"]})
    variables = sorted(set(tensors["input"]) | set(tensors["weight"]))
    levels: list[Level] = []
    for depth, raw_directives in enumerate(raw):
        directives = _to_input_coordinates(raw_directives, filters)
        if depth == 0:
            dims = {v: layer[v] for v in variables}
            # floor(P / ClusterSz) top units: one whenever the template has a Cluster(P).
            n_units = P if len(raw) == 1 else np.ones(P.shape, dtype=np.int64)
        else:
            upper = levels[-1]
            mapped_here = {d.var for d in directives}
            for d in upper.directives:  # inheritance, inserted at the front
                if d.var not in mapped_here:
                    directives.insert(0, Directive(False, d.var, d.size, d.offset))
            upper_maps = {d.var: d for d in upper.directives}
            dims = {v: np.minimum(upper_maps[v].size, upper.dims[v]) for v in variables}
            n_units = P
        assert {d.var for d in directives} >= set(variables), "templates map every variable"
        directives = _apply_stride(directives, strides, filters, top=depth == 0)
        levels.append(_make_level(directives, n_units, dims, tensors))
    return levels


# --- per-case traffic and work (spec 2.6) -------------------------------------------------------------


def _spatial_flags(
    level: Level, case: tuple[State, ...], variables: tuple[str, ...], *, every_spatial: bool = False
) -> tuple[BoolArray, BoolArray] | None:
    """MAESTRO's spatial state of one tensor: (at a spatial edge, with an edge-edge unit), or None.

    A tensor is spatially mapped through its coupled dims whose first map is a SpatialMap
    (MAESTRO's FindDirective); it is at an edge when any of them is, and the edge-edge flag
    is the last such dim's. The MAC count also looks at every SpatialMap of the level.
    With one spatial map per level this is that map's state.
    """
    first: dict[str, int] = {}
    for i, d in enumerate(level.directives):
        first.setdefault(d.var, i)
    indices = [first[v] for v in variables if v in first and level.directives[first[v]].spatial]
    if every_spatial:
        indices += [i for i, d in enumerate(level.directives) if d.spatial]
    if not indices:
        return None
    edge = np.zeros(level.n_units.shape, dtype=bool)
    for i in indices:
        edge = edge | case[i].is_edge
    return edge, case[indices[-1]].edge_pe


def _fold_multiplicities(
    level: Level, flags: tuple[BoolArray, BoolArray] | None
) -> tuple[IntArray, IntArray, IntArray]:
    """How many first, regular and edge-PE sub-units a case has (spec 2.6)."""
    shape = level.n_units.shape
    one = np.ones(shape, dtype=np.int64)
    if flags is None:
        return one, np.zeros(shape, dtype=np.int64), np.zeros(shape, dtype=np.int64)
    edge, edge_pe = flags
    wide = edge & (level.edge_units > 1)
    ee = np.where(wide, edge_pe.astype(np.int64), 0)
    regular = np.where(edge, np.where(wide, np.maximum(level.edge_units - 1 - ee, 0), 0), level.n_units - 1)
    return one, regular, ee


def _narrow_edge_pe(level: Level, flags: tuple[BoolArray, BoolArray] | None) -> BoolArray:
    """The first unit takes its edge-edge tile: a one-unit spatial edge whose unit is an edge-edge one."""
    if flags is None:
        return np.zeros(level.n_units.shape, dtype=bool)
    edge, edge_pe = flags
    return edge & edge_pe & (level.edge_units == 1)


def _first_unit_factor(level: Level, d: Directive, state: State, tile: Tile, narrow: BoolArray) -> IntArray:
    """Spatial factor of the first unit for egress and partial sums."""
    if state.position == STEADY:
        return tile.mapped
    if state.position == EDGE:
        edge_value = level.tiles[d.var].mapped_edge if d.var in OVERLAP else tile.mapped_edge
        return np.where(level.edge_units == 1, edge_value, tile.mapped)  # quirk: input extent at the edge
    return np.where(state.is_edge & narrow, tile.mapped_edge, tile.mapped)


def _temporal_factor(state: State, tile: Tile) -> IntArray:
    if state.position == EDGE:
        return tile.mapped_edge
    if state.position == STEADY:
        return tile.mapped
    return np.where(state.init_edge, tile.mapped_edge, tile.mapped)


def _egress(level: Level, case: tuple[State, ...]) -> IntArray:
    """Output elements sent up (L1 -> L2) in one occurrence of ``case``."""
    outputs = set(level.tensors["output"])
    coupled = [i for i, d in enumerate(level.directives) if d.var in outputs]
    flags = _spatial_flags(level, case, level.tensors["output"])
    first, regular, edge_pe = _fold_multiplicities(level, flags)
    narrow = _narrow_edge_pe(level, flags)
    spread = flags is not None
    products: list[Any] = [1, 1, 1]
    for i in coupled:
        d, state = level.directives[i], case[i]
        tile = level.out_tile(d.var)
        if not d.spatial:
            factor = _temporal_factor(state, tile)
            products = [p * factor for p in products]
        else:
            products = [
                products[0] * _first_unit_factor(level, d, state, tile, narrow),
                products[1] * tile.unique,
                products[2] * tile.unique_edge,
            ]
    if not spread:
        return first * products[0]
    return first * products[0] + regular * products[1] + edge_pe * products[2]


def _work(level: Level, case: tuple[State, ...]) -> tuple[IntArray, IntArray]:
    """Critical-path partial sums of the first unit, and MACs of all active units, per occurrence."""
    outputs = set(level.tensors["output"])
    psum_flags = _spatial_flags(level, case, level.tensors["output"])
    mac_flags = _spatial_flags(level, case, level.tensors["output"], every_spatial=True)
    psum_narrow, mac_narrow = _narrow_edge_pe(level, psum_flags), _narrow_edge_pe(level, mac_flags)
    psums: Any = 1
    products: list[Any] = [1, 1, 1]
    for d, state in zip(level.directives, case, strict=True):
        tile = level.out_tile(d.var) if d.var in outputs else level.tiles[d.var]
        if not d.spatial:
            factor = _temporal_factor(state, tile)
            psums = psums * factor
            products = [p * factor for p in products]
        else:
            psums = psums * _first_unit_factor(level, d, state, tile, psum_narrow)
            products = [
                products[0] * _first_unit_factor(level, d, state, tile, mac_narrow),
                products[1] * tile.mapped,
                products[2] * tile.mapped_edge,
            ]
    first, regular, edge_pe = _fold_multiplicities(level, mac_flags)
    return psums, first * products[0] + regular * products[1] + edge_pe * products[2]


def _ingress(level: Level, case: tuple[State, ...], tensor: str) -> IntArray | int:
    """Elements of an input tensor brought down (L2 -> L1) in one occurrence of ``case``."""
    coupled_vars = set(level.tensors[tensor])
    coupled = [i for i, d in enumerate(level.directives) if d.var in coupled_vars]
    non_init = [i for i, state in enumerate(case) if state.position != INIT]
    changing = non_init[-1] if non_init else None
    shape = level.n_units.shape
    reinit = np.zeros(shape, dtype=bool)
    if changing is not None:
        if level.directives[changing].var not in coupled_vars:
            return 0  # stationary: nothing new to bring in
        for i in coupled:
            if i > changing:
                reinit = reinit | ~case[i].unrolled
    flags = _spatial_flags(level, case, level.tensors[tensor])
    first, regular, edge_pe = _fold_multiplicities(level, flags)
    narrow_edge_pe = _narrow_edge_pe(level, flags)
    spread = flags is not None
    products: list[Any] = [1, 1, 1]
    for i in coupled:
        d, state = level.directives[i], case[i]
        tile = level.tiles[d.var]
        if not d.spatial:
            if state.position == INIT:
                factor = np.where(state.init_edge, tile.mapped_edge, tile.mapped)
            elif i == changing:
                factor = np.where(reinit, tile.mapped, tile.unique)
            else:
                factor = tile.mapped
            products = [p * factor for p in products]
            continue
        if changing is None:
            reuse = np.zeros(shape, dtype=bool)
        elif i == changing:
            reuse = ~reinit
        else:
            reuse = np.full(shape, state.position == INIT and i > changing)
        products = [
            products[0] * np.where(narrow_edge_pe, tile.mapped_edge, tile.mapped),
            products[1] * np.where(reuse, tile.unique, tile.mapped),
            products[2] * np.where(reuse, tile.unique_edge, tile.mapped_edge),
        ]
    if not spread:
        return first * products[0]
    return first * products[0] + regular * products[1] + edge_pe * products[2]


def _noc_delay(elements: IntArray) -> IntArray:
    """NoC delay: latency 1 plus ceil(d / bandwidth) - 1 (0 for nothing sent)."""
    return -(-elements // NOC_BANDWIDTH)


# --- level analysis ------------------------------------------------------------------------------


@dataclass
class LevelResult:
    """Occurrence-weighted sums of one level's analysis, arrays over the points."""

    runtime: IntArray
    macs: IntArray
    read_input: IntArray
    read_weight: IntArray
    output_writes: IntArray
    case0_input: IntArray
    case0_weight: IntArray
    case0_egress: IntArray


def _present_states(states: list[State]) -> list[State]:
    """Drop the Steady/Edge states that occur for no point of the batch (Init always occurs)."""
    return [s for s in states if s.position == INIT or s.count.any()]


def _sub_level_dims(level: Level, case: tuple[State, ...]) -> dict[str, IntArray]:
    """Dims handed to the next level for one case (one variant: the upper level has a single unit)."""
    return {
        d.var: np.where(state.is_edge, level.tiles[d.var].mapped_edge, level.tiles[d.var].mapped)
        for d, state in zip(level.directives, case, strict=True)
    }


class Analysis:
    """Runs the level-by-level analysis of a batch of points of one template."""

    def __init__(self, levels: list[Level]) -> None:
        self.levels = levels
        self._memo: dict[tuple, IntArray] = {}

    def run(self, depth: int = 0, dims: dict[str, IntArray] | None = None) -> LevelResult:
        level = self.levels[depth]
        dims = level.dims if dims is None else dims
        innermost = depth == len(self.levels) - 1
        top = depth == 0
        per_directive = [_present_states(directive_states(d, dims[d.var], level.n_units)) for d in level.directives]
        case0 = tuple(states[0] for states in per_directive)
        zero = np.zeros(level.n_units.shape, dtype=np.int64)
        result = LevelResult(zero, zero, zero, zero, zero, zero, zero, zero)
        result.case0_input = zero + _ingress(level, case0, "input")
        result.case0_weight = zero + _ingress(level, case0, "weight")
        result.case0_egress = _egress(level, case0)
        if top:
            off_in = 2 * (result.case0_input + result.case0_weight) // OFFCHIP_BANDWIDTH // 2
            off_out = 2 * result.case0_egress // OFFCHIP_BANDWIDTH // 2
        for case in itertools.product(*per_directive):
            occurrences = np.prod([state.count for state in case], axis=0)
            if not occurrences.any():
                continue
            out = _egress(level, case)
            result.output_writes = result.output_writes + occurrences * out
            psums, macs = _work(level, case)
            active = psums > 0  # MAESTRO skips cases without partial sums (their egress is already counted)
            loads = {t: zero + _ingress(level, case, t) for t in INPUT_TENSORS}
            if innermost:
                compute = psums
            else:
                compute = self._inner_runtime(depth, case)
            in_delay = _noc_delay(loads["input"] + loads["weight"])
            if all(state.position == INIT for state in case):
                cost = compute + in_delay  # nothing to overlap the first tile's load with
            else:
                cost = np.maximum(np.maximum(in_delay, compute), _noc_delay(out))  # double buffering
            if top:
                cost = np.maximum(np.maximum(off_in, cost), off_out)
            weight: IntArray = np.where(active, occurrences, 0)
            result.runtime = result.runtime + weight * cost
            result.macs = result.macs + weight * macs
            result.read_input = result.read_input + weight * loads["input"]
            result.read_weight = result.read_weight + weight * loads["weight"]
        return result

    def _inner_runtime(self, depth: int, case: tuple[State, ...]) -> IntArray:
        """Run time of the next level for the dims one upper case hands down, memoised per case shape."""
        level = self.levels[depth]
        shape = tuple(
            state.position if _varies(level, d) else None for d, state in zip(level.directives, case, strict=True)
        )
        key = (depth, shape)
        if key not in self._memo:
            self._memo[key] = self.run(depth + 1, _sub_level_dims(level, case)).runtime
        return self._memo[key]


def _varies(level: Level, d: Directive) -> bool:
    """Whether the dims handed down can differ between a directive's states."""
    tile = level.tiles[d.var]
    return bool((tile.mapped != tile.mapped_edge).any())


def _l1_size(level: Level) -> IntArray:
    """Double-buffered per-PE L1 from the innermost level's mapped tiles (spec 2.8)."""
    total: Any = 0
    for tensor_vars in level.tensors.values():
        total = total + np.prod([level.tiles[v].mapped for v in tensor_vars], axis=0)
    return 2 * total


def analyse(
    template: str,
    K: IntArray,
    C: IntArray,
    Y: IntArray,
    X: IntArray,
    R: IntArray,
    S: IntArray,
    P: IntArray,
    B: IntArray,
    stride_y: IntArray,
    stride_x: IntArray,
) -> TemplateCounts:
    """Evaluate N points of one template with MAESTRO's general analysis.

    Args:
        template: ``dla``, ``shi``, ``eye`` (CONV) or ``dpt`` (depthwise; K is ignored).
        K, C, Y, X, R, S: Layer dims, int64 shape (N,); Y and X are input sizes, padding included.
        P, B: PE count (ClusterSz) and KTileSz, shape (N,).
        stride_y, stride_x: The mapping file's Stride line, shape (N,).

    Returns:
        The template counts. ``valid`` is MAESTRO's degenerate-window rule (spec 6.2, on the
        unstrided output size, as the binary shows) and a positive run time and MAC count.
    """
    layer = {"K": K, "C": C, "Y": Y, "X": X, "R": R, "S": S}
    levels = build_levels(template, layer, P, B, {"Y": stride_y, "X": stride_x})
    top = Analysis(levels).run()
    valid = _window_rule(template, Y, X, R, S, P) & (top.runtime > 0) & (top.macs > 0)
    return TemplateCounts(
        valid=valid,
        runtime_cycles=top.runtime,
        num_macs=top.macs,
        l1_bytes=_l1_size(levels[-1]),
        l2_bytes=2 * (top.case0_input + top.case0_weight + top.case0_egress),
        l2_read_input=top.read_input,
        l2_read_weight=top.read_weight,
        l2_write_output=top.output_writes,
    )


def _window_rule(template: str, Y: IntArray, X: IntArray, R: IntArray, S: IntArray, P: IntArray) -> BoolArray:
    """False where an output-coordinate tile exceeds its dim (spec 6.2), whatever the stride."""
    if template == "shi":
        return ~((R > 1) & (Y < 2 * R - 1)) & ~((P <= X) & (X < P + S - 1))
    if template == "eye":
        return ~((P <= Y) & (Y < P + R - 1)) & ~((S > 1) & (X < 2 * S - 1))
    return np.ones(Y.shape, dtype=bool)
