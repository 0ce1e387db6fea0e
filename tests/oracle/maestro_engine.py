"""Test oracle: MAESTRO's general directive-level analysis, written out step by step.

Why this exists. The production cost model (``costmodel.dataflows``) evaluates ConfuciuX's
four mapping templates with hand-derived closed forms (spec ``costmodel.md`` section 4). Those
formulas are compact but opaque: a wrong sign in an edge term is invisible until a point hits
it. This module recomputes the same outputs the slow, general way the spec describes in
sections 2 and 3 -- directive lists, per-directive iteration states, tile tables, per-case
traffic, double-buffered delays -- so the closed forms can be checked against an independent
derivation on layers that the MAESTRO reference data does not cover (R != S, odd sizes, any P
and B).

It deliberately does not import anything from ``costmodel``. Everything is plain Python
integers and loops over directives and cases; it is meant to be read, not to be fast.

Readings of the spec where its wording allows two choices (both confirmed on the reference data):
with a single active unit in a spatial-edge fold (``E == 1``), egress and partial sums switch to
``mapped_edge`` whenever the spatial state is an edge, while ingress does so only when the state
carries the edge-PE flag (so dla's partial K tile reads a full ``B`` of weights but writes only
the true outputs). The Y/X output-extent quirk applies to the ``Edge`` position only.

Entry point: :func:`analyse`.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

# --- MAESTRO settings used by ConfuciuX (spec 1.1, 2.7, 2.9) ------------------------------------

NOC_BANDWIDTH = 81_920_000
"""Elements per cycle on every cluster level's NoC (``--noc_bw_cstr``)."""
NOC_LATENCY = 1
"""Hops x hop latency."""
OFFCHIP_BANDWIDTH = 70_000
"""MAESTRO's default off-chip bandwidth, used in the top-level off-chip delay term."""
SIMD_LANES = 1
"""MACs per PE per cycle."""
MAC_ENERGY_NJ = 0.00023
L2_ENERGY_MULTIPLE = 18.61
L1_ENERGY_MULTIPLE = 1.68

INIT, STEADY, EDGE = "init", "steady", "edge"
"""Positions of a directive's iteration state (spec 2.3)."""

FIRST, REGULAR, EDGE_PE = "first", "regular", "edge-pe"
"""Roles of the sub-units of one spatial fold (spec 2.6)."""

OVERLAP = {"Y": "R", "X": "S"}
"""Reference dimension -> sliding (filter) dimension."""

CONV_TENSORS = {"input": ("C", "Y", "X"), "weight": ("K", "C", "R", "S"), "output": ("K", "Y", "X")}
DSCONV_TENSORS = {"input": ("C", "Y", "X"), "weight": ("C", "R", "S"), "output": ("C", "Y", "X")}
INPUT_TENSORS = ("input", "weight")

DATAFLOWS = ("dla", "shi", "eye")


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _trunc_div(a: int, b: int) -> int:
    """Integer division rounding toward zero, as C does."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


# --- directives -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Directive:
    """One ``TemporalMap(size, offset) var`` or ``SpatialMap(size, offset) var``."""

    spatial: bool
    var: str
    size: int
    offset: int

    def __str__(self) -> str:
        return f"{'S' if self.spatial else 'T'}({self.size},{self.offset}) {self.var}"


def _t(size: int, offset: int, var: str) -> Directive:
    return Directive(False, var, size, offset)


def _s(size: int, offset: int, var: str) -> Directive:
    return Directive(True, var, size, offset)


def raw_template(dataflow: str, R: int, S: int, P: int, B: int) -> list[list[Directive]]:
    """The mapping file's directive lists, one per cluster level, before pre-processing.

    ``Y'``/``X'`` denote maps written in output coordinates. ``Sz(R)`` and the named constants
    (``KTileSz = B``, ``ClusterSz = P``, ``CTileSz = 1``) are already substituted. Two-level
    templates are split at ``Cluster(P)``.
    """
    if dataflow == "dla":
        return [
            [_s(B, B, "K"), _t(P, P, "C"), _t(R, R, "R"), _t(S, S, "S"), _t(1, 1, "Y'"), _t(1, 1, "X'")],
            [_s(1, 1, "C"), _t(1, 1, "Y'"), _t(1, 1, "X'"), _t(R, R, "R"), _t(S, S, "S")],
        ]
    if dataflow == "shi":
        return [
            [_t(B, B, "K"), _s(R, R, "Y'"), _t(P, P, "X'"), _t(1, 1, "C"), _t(R, R, "R"), _t(S, S, "S")],
            [_t(1, 1, "C"), _t(1, 1, "Y'"), _s(1, 1, "X'"), _t(R, R, "R"), _t(S, S, "S")],
        ]
    if dataflow == "eye":
        return [
            [_t(1, 1, "C"), _t(B, B, "K"), _s(P, P, "Y'"), _t(S, S, "X'"), _t(R, R, "R"), _t(S, S, "S")],
            [_t(1, 1, "C"), _s(1, 1, "Y'"), _s(1, 1, "X'"), _t(R, R, "R"), _t(S, S, "S")],
        ]
    if dataflow == "dpt":
        return [[_s(B, B, "C"), _t(1, 1, "Y'"), _t(1, 1, "X'"), _t(R, R, "R"), _t(S, S, "S")]]
    raise ValueError(f"unknown dataflow {dataflow!r}")


def _to_input_coordinates(directives: list[Directive]) -> list[Directive]:
    """Pre-processing step 1: a map on Y' (X') of size s becomes a map on Y (X) of size s+R-1."""
    sizes = {d.var: d.size for d in directives}
    converted = []
    for d in directives:
        if d.var.endswith("'"):
            ref = d.var[:-1]
            converted.append(Directive(d.spatial, ref, d.size + sizes[OVERLAP[ref]] - 1, d.offset))
        else:
            converted.append(d)
    return converted


# --- per-directive iteration states and tiles --------------------------------------------------------


@dataclass(frozen=True)
class State:
    """One position of a directive (spec 2.3) with its occurrence count and flags."""

    position: str
    count: int
    unrolled: bool = False
    init_edge: bool = False
    edge_pe: bool = False

    @property
    def is_edge(self) -> bool:
        return self.position == EDGE or self.init_edge


def directive_states(d: Directive, dim: int, n_units: int) -> list[State]:
    """The Init/Steady/Edge states of directive ``d`` over a dimension of size ``dim``."""
    M, O = d.size, d.offset
    if not d.spatial:
        states = [State(INIT, 1, unrolled=dim <= M, init_edge=dim < M)]
        n = (dim - M) // O
        if M < dim and n > 0:
            states.append(State(STEADY, n))
        if dim >= M and n * O + M < dim:
            states.append(State(EDGE, 1))
        return states
    N = n_units
    cover = M + O * (N - 1)
    init_edge = dim < cover
    states = [State(INIT, 1, unrolled=dim <= cover, init_edge=init_edge, edge_pe=init_edge)]
    n = _trunc_div(_trunc_div(dim - M, O) + 1, N) - 1
    if cover < dim and n > 0:
        states.append(State(STEADY, n))
    if not init_edge and dim > cover and (n + 1) * O * N + cover > dim and n * O * N + cover != dim:
        rem = dim - (n + 1) * O * N
        active = 1 if rem < M else (rem - M) // O + 1
        states.append(State(EDGE, 1, edge_pe=(active - 1) * O + M < rem))
    return states


@dataclass(frozen=True)
class Tile:
    """Per-unit tile extents of one variable at one level (spec 2.4)."""

    mapped: int
    unique: int
    mapped_edge: int
    unique_edge: int


def directive_tile(d: Directive, dim: int) -> Tile:
    M, O = d.size, d.offset
    n = max(0, (dim - M) // O)
    has_edge = n * O + M < dim or M > dim
    unique = 0 if (not d.spatial and dim <= M) else min(M, O)
    e = dim - (n + 1) * O
    if e < 0:
        e = dim
    return Tile(mapped=M, unique=unique, mapped_edge=e if has_edge else M, unique_edge=max(O - (M - e), 0))


def output_extent_tile(ref: Directive, ref_tile: Tile, slide_tile: Tile) -> Tile:
    """Output-coordinate (Y' or X') tile derived from the input-coordinate one and the filter's."""
    mapped = ref_tile.mapped - slide_tile.mapped + 1
    mapped_edge = ref_tile.mapped_edge - slide_tile.mapped_edge + 1
    return Tile(
        mapped=mapped,
        unique=min(ref.offset, ref.size),
        mapped_edge=mapped_edge,
        unique_edge=min(ref.offset, mapped_edge),
    )


def spatial_edge_units(d: Directive, dim: int, n_units: int) -> int:
    """``E``: active sub-units in a spatial-edge fold, from the construction dims (spec 2.3)."""
    M, O, N = d.size, d.offset, n_units
    cover = M + O * (N - 1)
    if dim > cover:
        n0 = _trunc_div(_trunc_div(dim - M, O) + 1, N) - 1
        rem = dim - (n0 + 1) * O * N
        return 1 if rem < M else (rem - M) // O + 1
    if dim > M:
        active = (dim - M) // O + 1
        if O * (active - 1) + M < dim:
            active += 1
        return active
    return 1


# --- cluster levels ----------------------------------------------------------------------------------


@dataclass
class Level:
    """One cluster level after pre-processing, with its construction dims and tile tables."""

    directives: list[Directive]
    n_units: int
    dims: dict[str, int]
    tensors: dict[str, tuple[str, ...]]
    tiles: dict[str, Tile]
    out_tiles: dict[str, Tile]
    edge_units: int
    first_spatial: int | None

    def __post_init__(self) -> None:
        self.output_vars = set(self.tensors["output"])

    def out_tile(self, var: str) -> Tile:
        """Tile of ``var`` as an output extent (Y', X' for the reference dims)."""
        return self.out_tiles[var] if var in OVERLAP else self.tiles[var]


def make_level(directives: list[Directive], n_units: int, dims: dict[str, int], tensors: dict) -> Level:
    tiles = {d.var: directive_tile(d, dims[d.var]) for d in directives}
    by_var = {d.var: d for d in directives}
    out_tiles = {
        ref: output_extent_tile(by_var[ref], tiles[ref], tiles[slide])
        for ref, slide in OVERLAP.items()
        if ref in by_var
    }
    spatial = [i for i, d in enumerate(directives) if d.spatial]
    first = spatial[0] if spatial else None
    edge_units = 1
    if first is not None:
        d = directives[first]
        edge_units = spatial_edge_units(d, dims[d.var], n_units)
    return Level(list(directives), n_units, dict(dims), tensors, tiles, out_tiles, edge_units, first)


def _apply_outer_stride(
    directives: list[Directive], strides: dict[str, int], filter_sizes: dict[str, int], top: bool
) -> list[Directive]:
    """Pre-processing step 4: rewrite the input-coordinate Y/X maps for a ``Stride`` line.

    MAESTRO does this after the output-to-input conversion, on every level. A map on a
    reference dim (Y or X) whose size ``M`` covers at least one full filter window is read as
    holding ``m = floor((M - F)/s) + 1`` strided output positions; its size becomes the input
    rows those positions touch, ``m*min(s, F) + max(F - s, 0)``, and its offset ``m*s``
    (``m*F`` on inner levels when the filter is narrower than the stride). ``F`` is the full
    filter size. The original offset is discarded. The output extent of a tile is still
    computed later as ``size - F + 1``, as at stride 1: that is why shi and eye, whose maps are
    written in output coordinates with sizes above one window, miscount strided layers.
    """
    rewritten = []
    for d in directives:
        s = strides.get(d.var, 1)
        F = filter_sizes.get(d.var)
        if F is None or s == 1 or d.size < F:
            rewritten.append(d)
            continue
        m = (d.size + s - F) // s
        size = m * min(s, F) + max(F - s, 0)
        offset = m * F if (not top and F < s) else m * s
        rewritten.append(Directive(d.spatial, d.var, size, offset))
    return rewritten


def build_levels(
    dataflow: str, layer: dict[str, int], P: int, B: int, tensors: dict, *, stride_y: int = 1, stride_x: int = 1
) -> list[Level]:
    """Pre-process a template (spec 2.2, plus MAESTRO's stride rewriting) into its cluster levels, outermost first."""
    raw = raw_template(dataflow, layer["R"], layer["S"], P, B)
    strides = {"Y": stride_y, "X": stride_x}
    filter_sizes = {"Y": layer["R"], "X": layer["S"]}
    variables = sorted(set(tensors["input"]) | set(tensors["weight"]))
    clusters = [P] * (len(raw) - 1)  # every Cluster(...) in these templates is ClusterSz = P
    levels: list[Level] = []
    for depth, raw_directives in enumerate(raw):
        directives = _to_input_coordinates(raw_directives)
        if depth == 0:
            dims = {v: layer[v] for v in variables}
            n_units = P // math.prod(clusters)  # floor(P / U): 1 when there is a Cluster(P)
        else:
            upper = levels[-1]
            mapped_here = {d.var for d in directives}
            for d in upper.directives:  # inheritance: inserted at the front, so later ones come first
                if d.var not in mapped_here:
                    directives.insert(0, _t(d.size, d.offset, d.var))
            upper_maps = {d.var: d for d in upper.directives}
            dims = {v: min(upper_maps[v].size, upper.dims[v]) if v in upper_maps else upper.dims[v] for v in variables}
            n_units = clusters[depth - 1]
        mapped_here = {d.var for d in directives}
        for v in variables:  # completion (never needed by ConfuciuX's templates)
            if v not in mapped_here:
                directives.append(_t(dims[v], dims[v], v))
        directives = _apply_outer_stride(directives, strides, filter_sizes, top=depth == 0)
        levels.append(make_level(directives, n_units, dims, tensors))
    return levels


# --- per-case traffic and work (spec 2.6) -------------------------------------------------------------


def _fold_units(level: Level, case: tuple[State, ...]) -> list[tuple[str, int]]:
    """Sub-unit roles of one case with their multiplicities (first unit, regular units, edge PE)."""
    fs = level.first_spatial
    if fs is None:
        return [(FIRST, 1)]
    state = case[fs]
    if state.is_edge:
        if level.edge_units > 1:
            ee = int(state.edge_pe)
            return [(FIRST, 1), (REGULAR, max(level.edge_units - 1 - ee, 0)), (EDGE_PE, ee)]
        return [(FIRST, 1)]
    return [(FIRST, 1), (REGULAR, level.n_units - 1)]


def _first_unit_output_factor(level: Level, d: Directive, state: State, tile: Tile) -> int:
    """Spatial factor of the first unit for egress / critical psums."""
    if level.edge_units == 1 and state.is_edge:
        if state.position == EDGE and d.var in OVERLAP:
            return level.tiles[d.var].mapped_edge  # quirk: input extent instead of output extent
        return tile.mapped_edge
    return tile.mapped


def egress(level: Level, case: tuple[State, ...]) -> int:
    """Output elements sent up (L1 -> L2) in one occurrence of ``case``."""
    coupled = [i for i, d in enumerate(level.directives) if d.var in level.output_vars]
    units = _fold_units(level, case) if any(level.directives[i].spatial for i in coupled) else [(FIRST, 1)]
    total = 0
    for role, mult in units:
        product = 1
        for i in coupled:
            d, state = level.directives[i], case[i]
            tile = level.out_tile(d.var)
            if not d.spatial:
                factor = tile.mapped_edge if state.is_edge else tile.mapped
            elif role == FIRST:
                factor = _first_unit_output_factor(level, d, state, tile)
            elif role == REGULAR:
                factor = tile.unique
            else:
                factor = tile.unique_edge
            product *= factor
        total += mult * product
    return total


def _critical_product(level: Level, case: tuple[State, ...], role: str) -> int:
    """Per-unit partial sums (MACs) of one case for a unit of the given role."""
    product = 1
    for d, state in zip(level.directives, case, strict=True):
        tile = level.out_tile(d.var) if d.var in level.output_vars else level.tiles[d.var]
        if not d.spatial:
            factor = tile.mapped_edge if state.is_edge else tile.mapped
        elif role == FIRST:
            factor = _first_unit_output_factor(level, d, state, tile)
        elif role == REGULAR:
            factor = tile.mapped
        else:
            factor = tile.mapped_edge
        product *= factor
    return product


def critical_psums(level: Level, case: tuple[State, ...]) -> int:
    """Partial sums of the first (critical-path) unit in one occurrence of ``case``; <= 0 means skipped."""
    return _critical_product(level, case, FIRST)


def mapped_macs(level: Level, case: tuple[State, ...]) -> int:
    """MACs of all active sub-units in one occurrence of ``case`` (MAESTRO's psm)."""
    return sum(mult * _critical_product(level, case, role) for role, mult in _fold_units(level, case) if mult)


def ingress(level: Level, case: tuple[State, ...], tensor: str) -> int:
    """Elements of an input tensor brought down (L2 -> L1) in one occurrence of ``case``."""
    coupled_vars = set(level.tensors[tensor])
    coupled = [i for i, d in enumerate(level.directives) if d.var in coupled_vars]
    changing = None
    for i, state in enumerate(case):
        if state.position != INIT:
            changing = i
    reinit = False
    if changing is not None:
        if level.directives[changing].var not in coupled_vars:
            return 0  # stationary: nothing new to bring in
        reinit = any(i > changing and not case[i].unrolled for i in coupled)  # all states inside are Init
    units = _fold_units(level, case) if any(level.directives[i].spatial for i in coupled) else [(FIRST, 1)]
    total = 0
    for role, mult in units:
        if not mult:
            continue
        product = 1
        for i in coupled:
            d, state = level.directives[i], case[i]
            tile = level.tiles[d.var]
            reuse = changing is not None and (
                (i == changing and not reinit) or (state.position == INIT and i > changing)
            )
            if not d.spatial:
                if state.position == INIT:
                    factor = tile.mapped_edge if state.init_edge else tile.mapped
                else:
                    factor = tile.unique if (i == changing and not reinit) else tile.mapped
            elif role == FIRST:
                factor = tile.mapped_edge if (level.edge_units == 1 and state.edge_pe) else tile.mapped
            elif role == REGULAR:
                factor = tile.unique if reuse else tile.mapped
            else:
                factor = tile.unique_edge if reuse else tile.mapped_edge
            product *= factor
        total += mult * product
    return total


def sub_level_dims(level: Level, case: tuple[State, ...]) -> list[dict[str, int]]:
    """Dims handed to the next level for one case: one dict per distinct sub-unit variant (spec 2.5)."""
    base = {}
    for d, state in zip(level.directives, case, strict=True):
        tile = level.tiles[d.var]
        base[d.var] = tile.mapped_edge if state.is_edge else tile.mapped
    fs = level.first_spatial
    if fs is not None and case[fs].is_edge and level.edge_units > 1:
        var = level.directives[fs].var
        regular = dict(base)
        regular[var] = level.tiles[var].mapped
        return [regular, base] if case[fs].edge_pe else [regular]
    return [base]


# --- level analysis ----------------------------------------------------------------------------------


def _noc_delay(elements: int) -> int:
    return NOC_LATENCY + _ceil_div(elements, NOC_BANDWIDTH) - 1


@dataclass
class LevelResult:
    runtime: int = 0
    macs: int = 0
    reads: dict[str, int] | None = None
    output_writes: int = 0
    case0_ingress: dict[str, int] | None = None
    case0_egress: int = 0
    cases: int = 0
    skipped_cases: int = 0
    iterations: int = 0


class Analysis:
    """Runs the level-by-level analysis of one design point, memoising inner levels."""

    def __init__(self, levels: list[Level]) -> None:
        self.levels = levels
        self._memo: dict[tuple, LevelResult] = {}

    def run(self, depth: int = 0, dims: dict[str, int] | None = None) -> LevelResult:
        level = self.levels[depth]
        dims = level.dims if dims is None else dims
        key = (depth, tuple(sorted(dims.items())))
        if key not in self._memo:
            self._memo[key] = self._analyse(depth, dims)
        return self._memo[key]

    def _analyse(self, depth: int, dims: dict[str, int]) -> LevelResult:
        level = self.levels[depth]
        innermost = depth == len(self.levels) - 1
        top = depth == 0
        per_directive = [directive_states(d, dims[d.var], level.n_units) for d in level.directives]
        case0 = tuple(states[0] for states in per_directive)
        result = LevelResult(reads=dict.fromkeys(INPUT_TENSORS, 0))
        result.case0_ingress = {t: ingress(level, case0, t) for t in INPUT_TENSORS}
        result.case0_egress = egress(level, case0)
        off_in = off_out = 0
        if top:
            l2_in = 2 * result.case0_ingress["input"]
            l2_wt = 2 * result.case0_ingress["weight"]
            off_in = (l2_in + l2_wt) // OFFCHIP_BANDWIDTH // 2
            off_out = 2 * result.case0_egress // OFFCHIP_BANDWIDTH // 2
        for case in itertools.product(*per_directive):
            occurrences = math.prod(state.count for state in case)
            result.cases += 1
            result.iterations += occurrences
            out = egress(level, case)
            result.output_writes += occurrences * out
            psums = critical_psums(level, case)
            if psums <= 0:
                result.skipped_cases += 1
                continue
            loads = {t: ingress(level, case, t) for t in INPUT_TENSORS}
            if innermost:
                compute = _ceil_div(psums, SIMD_LANES)
            else:
                compute = max(self.run(depth + 1, sub).runtime for sub in sub_level_dims(level, case))
            in_delay = _noc_delay(sum(loads.values()))
            out_delay = _noc_delay(out)
            if all(state.position == INIT for state in case):
                cost = compute + in_delay  # nothing to overlap the first tile's load with
            else:
                cost = max(in_delay, compute, out_delay)  # double buffering
            if top:
                cost = max(off_in, cost, off_out)
            result.runtime += occurrences * cost
            result.macs += occurrences * mapped_macs(level, case)
            for t in INPUT_TENSORS:
                result.reads[t] += occurrences * loads[t]
        return result


def l1_size(level: Level) -> int:
    """Double-buffered per-PE L1 requirement from the innermost level's mapped tiles (spec 2.8)."""
    total = 0
    for tensor_vars in level.tensors.values():
        total += math.prod(level.tiles[v].mapped for v in tensor_vars)
    return 2 * total


def degenerate_flags(dataflow: str, Y: int, X: int, R: int, S: int, P: int) -> tuple[bool, bool]:
    """Spec 6.2: (badY, badX) for the templates whose output-coordinate tile can exceed the dim."""
    if dataflow == "shi":
        return (R > 1 and Y < 2 * R - 1), (P <= X < P + S - 1)
    if dataflow == "eye":
        return (P <= Y < P + R - 1), (S > 1 and X < 2 * S - 1)
    return False, False


def analyse(
    K: int,
    C: int,
    Y: int,
    X: int,
    R: int,
    S: int,
    T: int,
    dataflow: str,
    P: int,
    B: int,
    *,
    stride_y: int = 1,
    stride_x: int = 1,
) -> dict:
    """Analyse one design point with the general engine.

    Args:
        K, C, Y, X, R, S: Layer dims (Y, X are input sizes, padding included).
        T: 1 for CONV (uses ``dataflow``), 2 for depthwise (always the dpt template).
        dataflow: ``dla``, ``shi`` or ``eye``.
        P: Number of PEs (ClusterSz), >= 1.
        B: KTileSz, >= 1.
        stride_y, stride_x: The mapping file's ``Stride { X: stride_x, Y: stride_y }`` line
            (1, 1: no line). MAESTRO attaches them to the input dims Y and X.

    Returns:
        ``valid`` (spec 6.2 rule), and the engine's raw outputs: ``runtime_cycles``,
        ``num_macs``, ``l1_bytes``, ``l2_bytes``, ``l2_read_input``, ``l2_read_weight``,
        ``l2_write_output``, ``energy_nj``; for inspection also the top level's iteration count
        (``top_iterations``), its number of distinct cases (``cases``) and how many of them
        were skipped for non-positive partial sums (``skipped_cases``).
        For invalid points the raw outputs are what the engine computes (runtime 0 when
        exactly one degenerate flag fires), not meaningful numbers.
    """
    if T == 1:
        if dataflow not in DATAFLOWS:
            raise ValueError(f"unknown dataflow {dataflow!r}")
        template, tensors = dataflow, CONV_TENSORS
        layer = {"K": K, "C": C, "Y": Y, "X": X, "R": R, "S": S}
    elif T == 2:
        template, tensors = "dpt", DSCONV_TENSORS
        layer = {"C": C, "Y": Y, "X": X, "R": R, "S": S}
    else:
        raise ValueError(f"layer type T must be 1 or 2, got {T}")
    if min(K, C, Y, X, R, S, P, B, stride_y, stride_x) < 1 or R > Y or S > X:
        raise ValueError("dims, strides and knobs must be >= 1 with R <= Y and S <= X")

    levels = build_levels(template, layer, P, B, tensors, stride_y=stride_y, stride_x=stride_x)
    top = Analysis(levels).run()
    bad_y, bad_x = degenerate_flags(template, Y, X, R, S, P)

    weight_words = math.prod(layer[v] for v in tensors["weight"])
    l2_traffic = top.reads["input"] + C * Y * X + top.reads["weight"] + weight_words + top.output_writes
    energy_multiples = L2_ENERGY_MULTIPLE * l2_traffic
    if len(levels) == 1:
        # Only a single-level dataflow reports L1 energy: input/weight L1 writes (= their L2 reads)
        # plus L1 reads of input, weight, output and L1 writes of output (one each per MAC).
        l1_traffic = top.reads["input"] + top.reads["weight"] + 4 * top.macs
        energy_multiples += L1_ENERGY_MULTIPLE * l1_traffic
    return {
        "valid": not (bad_y or bad_x),
        "runtime_cycles": top.runtime,
        "num_macs": top.macs,
        "l1_bytes": l1_size(levels[-1]),
        "l2_bytes": 2 * (top.case0_ingress["input"] + top.case0_ingress["weight"] + top.case0_egress),
        "l2_read_input": top.reads["input"],
        "l2_read_weight": top.reads["weight"],
        "l2_write_output": top.output_writes,
        "energy_nj": MAC_ENERGY_NJ * energy_multiples,
        "top_iterations": top.iterations,
        "cases": top.cases,
        "skipped_cases": top.skipped_cases,
    }
