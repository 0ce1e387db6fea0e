"""Evaluate many design points at once: the cost model's public entry point.

A design point is one layer (``K C Y X R S T``, optionally with a stride and a
group count), a dataflow and the two hardware knobs ConfuciuX assigns per
layer: ``num_pe`` (P) and ``ktile`` (B, MAESTRO's KTileSz). :func:`evaluate`
checks its input, then one vectorised kernel per template computes every point
with no Python loop over points: the closed forms of :mod:`costmodel.dataflows`
at stride 1, MAESTRO's general analysis (:mod:`costmodel.engine`) for strided
layers, whose shi/eye results follow no closed form.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
from numpy.typing import ArrayLike, NDArray

from confx.costmodel import dataflows, engine, hardware
from confx.costmodel.errors import LayerTableError, join_problems

LAYER_COLUMNS = ("K", "C", "Y", "X", "R", "S", "T")
"""Layer-table columns: output/input channels, input rows/columns, filter rows/columns, type."""

LAYER_OPTION_COLUMNS = ("stride_y", "stride_x", "groups")
"""Optional layer-table columns, each 1 when absent: the stride over Y and X, the group count."""

DATAFLOWS = ("dla", "shi", "eye")
"""Dataflows of CONV layers. Depthwise layers (T=2) always use the depthwise template."""

CONV, DEPTHWISE = 1, 2
"""Values of the layer-type column T."""

OUTPUT_COLUMNS = (
    "valid",
    "runtime_cycles",
    "throughput",
    "energy_nj",
    "area",
    "power",
    "l1_bytes",
    "l2_bytes",
    "num_macs",
    "true_macs",
)

EXACT_INTEGER_MAX = 2**53
"""Largest layer size the cost model computes exactly.

Its counts are int64 products of the layer dims and the knobs (with small constant factors);
keeping ``K*C*Y*X*R*S*max(num_pe, ktile)`` below 2**53 leaves those factors 2**10 of headroom
below int64's 2**63, so nothing wraps around to a negative count.
"""

COST_MODEL_VERSION = "maestro-4eb08d1-closed-forms-2-stride-groups"
"""Names the MAESTRO behaviour reproduced; part of every cache key and tracked run."""


@dataclass(frozen=True)
class CostResult:
    """Cost-model outputs for N design points, each array of shape (N,).

    Invalid points (``valid`` False) carry 0 in the integer fields and NaN in the
    float fields: they are failures, not results.

    ``num_macs`` is MAESTRO's count, which over-counts shi/eye partial row groups
    and strided layers (by up to 12x) and under-counts some depthwise folds;
    ``true_macs`` is the layer's real work, ``K*C*R*S*Yo*Xo/groups`` (depthwise
    ``C*R*S*Yo*Xo``) with the strided output size. A grouped layer's outputs are
    ``groups`` runs of one group on one sub-accelerator: run time, energy and
    MACs are ``groups`` times one group's, area, power, L1 and L2 one group's.
    """

    valid: NDArray[np.bool_]
    runtime_cycles: NDArray[np.int64]
    throughput: NDArray[np.float64]
    energy_nj: NDArray[np.float64]
    area: NDArray[np.float64]
    power: NDArray[np.float64]
    l1_bytes: NDArray[np.int64]
    l2_bytes: NDArray[np.int64]
    num_macs: NDArray[np.int64]
    true_macs: NDArray[np.int64]

    def to_dict(self) -> dict[str, NDArray]:
        """Return the outputs as a column dict keyed by :data:`OUTPUT_COLUMNS`."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class RowNames:
    """How error messages name a row: ``row 0`` for arrays, ``line 2`` for a CSV file."""

    word: str = "row"
    first: int = 0

    def __call__(self, index: int) -> str:
        return f"{self.word} {index + self.first}"


ARRAY_ROWS = RowNames()


def dataflow_codes(dataflow: ArrayLike, n_points: int, *, rows: RowNames = ARRAY_ROWS) -> NDArray[np.int64]:
    """Map dataflow names (or codes 0..2) to codes indexing :data:`DATAFLOWS`.

    Raises:
        LayerTableError: An unknown dataflow name or code, naming the rows.
    """
    values = np.broadcast_to(np.asarray(dataflow), (n_points,))
    if values.dtype.kind in "iu":
        codes = values.astype(np.int64)
        bad = (codes < 0) | (codes >= len(DATAFLOWS))
    else:
        names = np.char.lower(np.char.strip(values.astype(str)))
        codes = np.full(n_points, -1, dtype=np.int64)
        for code, name in enumerate(DATAFLOWS):
            codes[names == name] = code
        bad = codes < 0
    if bad.any():
        shown = ", ".join(f"{rows(r)}: {str(values[r])!r}" for r in np.flatnonzero(bad)[:5])
        raise LayerTableError(f"column dataflow: unknown dataflow ({shown}); use one of {', '.join(DATAFLOWS)}")
    return codes


def _as_int_column(
    values: ArrayLike, name: str, n_points: int, problems: list[str], rows: RowNames
) -> NDArray[np.int64]:
    """Cast one column to int64, recording non-numeric or non-integer entries as problems."""
    array = np.broadcast_to(np.asarray(values), (n_points,))
    if array.dtype.kind == "i":
        return array.astype(np.int64)
    if array.dtype.kind == "u":
        too_big = array > EXACT_INTEGER_MAX
        if too_big.any():
            shown = ", ".join(f"{rows(r)}: {array[r]}" for r in np.flatnonzero(too_big)[:5])
            problems.append(f"column {name}: too large ({shown}); keep values below 2^53")
        return np.where(too_big, 1, array).astype(np.int64)
    if array.dtype.kind == "b":
        problems.append(f"column {name}: booleans are not layer dimensions")
        return np.ones(n_points, dtype=np.int64)
    if array.dtype.kind == "O":
        booleans = [r for r, value in enumerate(array) if isinstance(value, bool | np.bool_)]
        if booleans:
            shown = ", ".join(f"{rows(r)}: {array[r]!r}" for r in booleans[:5])
            problems.append(f"column {name}: booleans are not numbers ({shown}); expected positive integers")
            return np.ones(n_points, dtype=np.int64)
    try:
        floats = array.astype(np.float64)
    except (TypeError, ValueError):
        # Error path only: find the offending entries one by one to name them.
        bad_rows = [r for r, value in enumerate(array) if not _is_number(value)]
        shown = ", ".join(f"{rows(r)}: {str(array[r])!r}" for r in bad_rows[:5])
        problems.append(f"column {name}: not a number ({shown}); expected positive integers")
        return np.ones(n_points, dtype=np.int64)
    bad = ~np.isfinite(floats) | (floats != np.round(floats))
    if bad.any():
        shown = ", ".join(f"{rows(r)}: {str(array[r])!r}" for r in np.flatnonzero(bad)[:5])
        problems.append(f"column {name}: not an integer ({shown})")
        floats = np.where(bad, 1.0, floats)
    too_big = np.abs(floats) > EXACT_INTEGER_MAX
    if too_big.any():
        shown = ", ".join(f"{rows(r)}: {str(array[r])!r}" for r in np.flatnonzero(too_big)[:5])
        problems.append(f"column {name}: too large ({shown}); keep values below 2^53")
        floats = np.where(too_big, 1.0, floats)
    return floats.astype(np.int64)


def _is_number(value: object) -> bool:
    try:
        float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return True


def _check_rule(
    bad: NDArray[np.bool_], message: str, values: NDArray[np.int64], problems: list[str], rows: RowNames
) -> None:
    if bad.any():
        indices = np.flatnonzero(bad)
        shown = ", ".join(f"{rows(r)} ({values[r]})" for r in indices[:5])
        extra = f" and {len(indices) - 5} more" if len(indices) > 5 else ""
        problems.append(f"{message}: {shown}{extra}")


@dataclass(frozen=True)
class LayerOptions:
    """Per-point stride and group count, int64 arrays of shape (N,), all 1 for a plain layer."""

    stride_y: NDArray[np.int64]
    stride_x: NDArray[np.int64]
    groups: NDArray[np.int64]

    @property
    def plain(self) -> bool:
        """True when no point has a stride or groups, so the stride-1 closed forms cover all of them."""
        return not ((self.stride_y != 1).any() or (self.stride_x != 1).any() or (self.groups != 1).any())


def check_points(
    layers: ArrayLike, num_pe: ArrayLike, ktile: ArrayLike, *, rows: RowNames = ARRAY_ROWS
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    """Validate layer dims and knobs of unstrided, ungrouped layers; return them as int64 arrays.

    Args:
        layers: Layer dims, shape (N, 7) in :data:`LAYER_COLUMNS` order, or (7,).
        num_pe: PE counts, broadcastable to (N,).
        ktile: K tile sizes, broadcastable to (N,).
        rows: How messages name a row.

    Returns:
        ``(dims, num_pe, ktile)`` with shapes (N, 7), (N,), (N,).

    Raises:
        LayerTableError: Every problem found, each naming its column and rows.
    """
    dims, P, B, _ = check_design_points(layers, num_pe, ktile, rows=rows)
    return dims, P, B


def check_design_points(
    layers: ArrayLike,
    num_pe: ArrayLike,
    ktile: ArrayLike,
    *,
    stride_y: ArrayLike = 1,
    stride_x: ArrayLike = 1,
    groups: ArrayLike = 1,
    rows: RowNames = ARRAY_ROWS,
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64], LayerOptions]:
    """Validate layer dims, strides, group counts and knobs; return them as int64 arrays.

    Args:
        layers: Layer dims, shape (N, 7) in :data:`LAYER_COLUMNS` order, or (7,).
        num_pe: PE counts, broadcastable to (N,).
        ktile: K tile sizes, broadcastable to (N,).
        stride_y: Stride over the input rows Y, broadcastable to (N,).
        stride_x: Stride over the input columns X, broadcastable to (N,).
        groups: Group count of a grouped CONV, broadcastable to (N,); 1 for dense and
            depthwise layers (a depthwise layer is ``T=2`` with ``K=1``).
        rows: How messages name a row.

    Returns:
        ``(dims, num_pe, ktile, options)`` with shapes (N, 7), (N,), (N,) and (N,) arrays.

    Raises:
        LayerTableError: Every problem found, each naming its column and rows.
    """
    table = np.atleast_2d(np.asarray(layers))
    if table.ndim != 2 or table.shape[1] != len(LAYER_COLUMNS):
        raise LayerTableError(
            f"layer dims must have shape (N, 7) with columns {','.join(LAYER_COLUMNS)}; got shape {table.shape}"
        )
    n_points = max(table.shape[0], np.size(num_pe), np.size(ktile))
    if table.shape[0] == 1:
        table = np.broadcast_to(table, (n_points, 7))
    problems: list[str] = []
    columns = {
        name: _as_int_column(table[:, i], name, n_points, problems, rows) for i, name in enumerate(LAYER_COLUMNS)
    }
    P = _as_int_column(num_pe, "num_pe", n_points, problems, rows)
    B = _as_int_column(ktile, "ktile", n_points, problems, rows)
    options = {
        name: _as_int_column(value, name, n_points, problems, rows)
        for name, value in zip(LAYER_OPTION_COLUMNS, (stride_y, stride_x, groups), strict=True)
    }
    for name in ("K", "C", "Y", "X", "R", "S"):
        _check_rule(columns[name] < 1, f"column {name}: must be a positive integer", columns[name], problems, rows)
    T = columns["T"]
    _check_rule((T != CONV) & (T != DEPTHWISE), "column T: must be 1 (CONV) or 2 (depthwise)", T, problems, rows)
    R, S = columns["R"], columns["S"]
    _check_rule(R > columns["Y"], "column R: filter rows R exceed input rows Y", R, problems, rows)
    _check_rule(S > columns["X"], "column S: filter columns S exceed input columns X", S, problems, rows)
    _check_rule(P < 1, "column num_pe: must be >= 1", P, problems, rows)
    _check_rule(B < 1, "column ktile: must be >= 1", B, problems, rows)
    _check_options(columns, options, problems, rows)
    if not problems:
        _check_size(columns, P, B, problems, rows)
    if problems:
        raise LayerTableError(join_problems(problems))
    dims = np.stack([columns[name] for name in LAYER_COLUMNS], axis=1)
    return dims, P, B, LayerOptions(**options)


def _check_size(
    columns: dict[str, NDArray[np.int64]],
    P: NDArray[np.int64],
    B: NDArray[np.int64],
    problems: list[str],
    rows: RowNames,
) -> None:
    """Layers so large that the cost model's int64 counts would overflow (see :data:`EXACT_INTEGER_MAX`)."""
    size = np.ones(len(P), dtype=np.float64)
    for name in ("K", "C", "Y", "X", "R", "S"):
        size *= columns[name].astype(np.float64)
    size *= np.maximum(P, B).astype(np.float64)
    bad = size > EXACT_INTEGER_MAX
    if bad.any():
        indices = np.flatnonzero(bad)
        shown = ", ".join(f"{rows(r)} ({size[r]:.3g})" for r in indices[:5])
        extra = f" and {len(indices) - 5} more" if len(indices) > 5 else ""
        problems.append(
            f"columns K,C,Y,X,R,S: K*C*Y*X*R*S*max(num_pe, ktile) exceeds 2^53 ({shown}{extra}), beyond which "
            "the cost model's integer counts overflow; real layers are many orders of magnitude smaller"
        )


def _check_options(
    columns: dict[str, NDArray[np.int64]], options: dict[str, NDArray[np.int64]], problems: list[str], rows: RowNames
) -> None:
    """Strides and group counts: positive, and groups only on CONV layers whose K and C they divide."""
    for name in LAYER_OPTION_COLUMNS:
        _check_rule(
            options[name] < 1, f"column {name}: must be a positive integer (1 = none)", options[name], problems, rows
        )
    g = np.maximum(options["groups"], 1)
    K, C = columns["K"], columns["C"]
    _check_rule(
        (options["groups"] >= 1) & ((K % g != 0) | (C % g != 0)),
        "column groups: must divide both K and C (K/groups filters see C/groups channels)",
        options["groups"],
        problems,
        rows,
    )
    _check_rule(
        (g > 1) & (columns["T"] != CONV),
        "column groups: only CONV layers (T=1) may be grouped; a depthwise layer is T=2 with K=1 and groups=1",
        options["groups"],
        problems,
        rows,
    )


def evaluate(
    layers: ArrayLike,
    dataflow: ArrayLike,
    num_pe: ArrayLike,
    ktile: ArrayLike,
    *,
    stride_y: ArrayLike = 1,
    stride_x: ArrayLike = 1,
    groups: ArrayLike = 1,
    rows: RowNames = ARRAY_ROWS,
) -> CostResult:
    """Evaluate N design points with MAESTRO's analysis, exactly.

    Args:
        layers: Layer dims ``K C Y X R S T``, shape (N, 7) (or (7,) for one layer).
            ``Y`` and ``X`` are MAESTRO's input sizes, padding included.
        dataflow: ``dla``, ``shi`` or ``eye`` (or codes 0..2), scalar or shape (N,).
            Ignored for depthwise layers (T=2), which use the depthwise template.
        num_pe: Number of PEs, any integer >= 1, scalar or shape (N,).
        ktile: K tile (buffer) size, any integer >= 1, scalar or shape (N,).
        stride_y: Stride over Y, scalar or shape (N,); the output has
            ``(Y - R) // stride_y + 1`` rows. MAESTRO gets it as a ``Stride`` line.
        stride_x: Stride over X, scalar or shape (N,).
        groups: Group count of a grouped CONV (dividing K and C), scalar or shape (N,).
        rows: How error messages name a row (``line 2`` for a file, say).

    Returns:
        The outputs per point; see :class:`CostResult`.

    Raises:
        LayerTableError: Non-integer or non-positive dims, strides or groups, ``R > Y``,
            ``S > X``, ``T`` not 1 or 2, groups not dividing K and C or on a depthwise
            layer, an unknown dataflow, or knobs below 1.
    """
    dims, P, B, options = check_design_points(
        layers, num_pe, ktile, stride_y=stride_y, stride_x=stride_x, groups=groups, rows=rows
    )
    codes = dataflow_codes(dataflow, len(P), rows=rows)
    return evaluate_trusted(dims, codes, P, B, options=options)


_CONV_KERNELS = (dataflows.dla, dataflows.shi, dataflows.eye)
_COUNT_FIELDS = [f.name for f in fields(dataflows.TemplateCounts)]


def evaluate_trusted(
    dims: NDArray[np.int64],
    codes: NDArray[np.int64],
    num_pe: NDArray[np.int64],
    ktile: NDArray[np.int64],
    *,
    options: LayerOptions | None = None,
) -> CostResult:
    """Evaluate points that :func:`check_design_points` already accepted (the hot path).

    Args:
        dims: Layer dims, int64 shape (N, 7).
        codes: Dataflow codes 0..2, shape (N,).
        num_pe: PE counts, int64 shape (N,).
        ktile: K tile sizes, int64 shape (N,).
        options: Strides and group counts per point; None for plain layers (stride 1, one group).
    """
    if options is not None and options.plain:
        options = None
    group_dims = dims if options is None else _one_group(dims, options.groups)
    counts = _template_counts(group_dims, codes, num_pe, ktile, options)
    return _assemble(dims, group_dims, num_pe, counts, options)


def _one_group(dims: NDArray[np.int64], groups: NDArray[np.int64]) -> NDArray[np.int64]:
    """The shape one group runs: K/groups filters over C/groups channels."""
    one = dims.copy()
    one[:, 0] //= groups
    one[:, 1] //= groups
    return one


def _template_counts(
    dims: NDArray[np.int64],
    codes: NDArray[np.int64],
    num_pe: NDArray[np.int64],
    ktile: NDArray[np.int64],
    options: LayerOptions | None,
) -> dict[str, NDArray]:
    """Run every point through its template: closed forms at stride 1, the general engine otherwise."""
    n_points = len(num_pe)
    counts = {name: np.zeros(n_points, dtype=bool if name == "valid" else np.int64) for name in _COUNT_FIELDS}
    K, C, Y, X, R, S, T = dims.T
    depthwise = T == DEPTHWISE
    strided = None if options is None else (options.stride_y != 1) | (options.stride_x != 1)
    if strided is not None and not strided.any():
        strided = None  # plain points: the closed forms alone, no per-point stride bookkeeping
    templates = [((~depthwise) & (codes == code), code) for code in range(len(DATAFLOWS))]
    templates.append((depthwise, len(DATAFLOWS)))
    for mask, code in templates:
        closed = mask if strided is None else mask & ~strided
        if closed.any():
            m = closed
            if code == len(DATAFLOWS):
                part = dataflows.dpt(C[m], Y[m], X[m], R[m], S[m], num_pe[m], ktile[m])
            else:
                part = _CONV_KERNELS[code](K[m], C[m], Y[m], X[m], R[m], S[m], num_pe[m], ktile[m])
            for name in _COUNT_FIELDS:
                counts[name][m] = getattr(part, name)
        if options is not None and strided is not None and code == 0:
            # dla's closed form also holds for most strides (every stride 2).
            m = mask & strided & dataflows.dla_stride_is_closed(Y, X, R, S, options.stride_y, options.stride_x)
            if m.any():
                sy, sx = options.stride_y[m], options.stride_x[m]
                part = dataflows.dla(K[m], C[m], Y[m], X[m], R[m], S[m], num_pe[m], ktile[m], stride_y=sy, stride_x=sx)
                for name in _COUNT_FIELDS:
                    counts[name][m] = getattr(part, name)
                strided = strided & ~m
        if options is not None and strided is not None and (mask & strided).any():
            m = mask & strided
            template = "dpt" if code == len(DATAFLOWS) else DATAFLOWS[code]
            part = engine.analyse(
                template, K[m], C[m], Y[m], X[m], R[m], S[m], num_pe[m], ktile[m],
                options.stride_y[m], options.stride_x[m],
            )  # fmt: skip
            for name in _COUNT_FIELDS:
                counts[name][m] = getattr(part, name)
    return counts


def _assemble(
    dims: NDArray[np.int64],
    group_dims: NDArray[np.int64],
    num_pe: NDArray[np.int64],
    counts: dict[str, NDArray],
    options: LayerOptions | None,
) -> CostResult:
    """Turn one group's template counts into the reported outputs and blank out invalid points."""
    K, C, Y, X, R, S, T = group_dims.T
    depthwise = T == DEPTHWISE
    weight_words = np.where(depthwise, C * R * S, K * C * R * S)
    l2_traffic = (
        counts["l2_read_input"] + C * Y * X + counts["l2_read_weight"] + weight_words + counts["l2_write_output"]
    )
    # Only the single-level depthwise template has an L1 term (spec 2.9).
    l1_traffic = np.where(depthwise, counts["l2_read_input"] + counts["l2_read_weight"] + 4 * counts["num_macs"], 0)
    energy = hardware.energy_nj(l2_traffic=l2_traffic, l1_traffic=l1_traffic)
    runtime, macs = counts["runtime_cycles"], counts["num_macs"]
    if options is not None:
        # A grouped layer runs its groups one after another on the same sub-accelerator.
        runtime, macs, energy = runtime * options.groups, macs * options.groups, energy * options.groups
    valid = counts["valid"] & (energy > 0)
    runtime = np.where(valid, runtime, 0)
    macs = np.where(valid, macs, 0)
    l1 = np.where(valid, counts["l1_bytes"], 0)
    l2 = np.where(valid, counts["l2_bytes"], 0)
    nan = np.float64("nan")
    with np.errstate(divide="ignore", invalid="ignore"):
        throughput = np.where(valid, macs / np.maximum(runtime, 1), nan)
    return CostResult(
        valid=valid,
        runtime_cycles=runtime,
        throughput=throughput,
        energy_nj=np.where(valid, energy, nan),
        area=np.where(valid, hardware.area(num_pe, l1, l2), nan),
        power=np.where(valid, hardware.power(num_pe, l1, l2), nan),
        l1_bytes=l1,
        l2_bytes=l2,
        num_macs=macs,
        true_macs=np.where(valid, _true_macs(dims, options), 0),
    )


def _true_macs(dims: NDArray[np.int64], options: LayerOptions | None) -> NDArray[np.int64]:
    """The layer's real MAC count with the strided output size, whatever MAESTRO reports."""
    K, C, Y, X, R, S, T = dims.T
    if options is None:
        rows, columns, per_output = Y - R + 1, X - S + 1, C
    else:
        rows, columns = (Y - R) // options.stride_y + 1, (X - S) // options.stride_x + 1
        per_output = C // options.groups
    return np.where(T == DEPTHWISE, 1, K) * per_output * R * S * rows * columns
