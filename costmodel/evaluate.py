"""Evaluate many design points at once: the cost model's public entry point.

A design point is one layer (``K C Y X R S T``), a dataflow and the two hardware
knobs ConfuciuX assigns per layer: ``num_pe`` (P) and ``ktile`` (B, MAESTRO's
KTileSz). :func:`evaluate` checks its input, then one vectorised kernel per
template computes every point with no Python loop over points.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
from numpy.typing import ArrayLike, NDArray

from confx.costmodel import dataflows, hardware
from confx.costmodel.errors import LayerTableError, join_problems

LAYER_COLUMNS = ("K", "C", "Y", "X", "R", "S", "T")
"""Layer-table columns: output/input channels, input rows/columns, filter rows/columns, type."""

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
)

COST_MODEL_VERSION = "maestro-4eb08d1-closed-forms-1"
"""Names the MAESTRO behaviour reproduced; part of every cache key and tracked run."""


@dataclass(frozen=True)
class CostResult:
    """Cost-model outputs for N design points, each array of shape (N,).

    Invalid points (``valid`` False) carry 0 in the integer fields and NaN in the
    float fields: they are failures, not results.
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
    if array.dtype.kind in "iu":
        return array.astype(np.int64)
    if array.dtype.kind == "b":
        problems.append(f"column {name}: booleans are not layer dimensions")
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


def check_points(
    layers: ArrayLike, num_pe: ArrayLike, ktile: ArrayLike, *, rows: RowNames = ARRAY_ROWS
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    """Validate layer dims and knobs; return them as int64 arrays.

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
    for name in ("K", "C", "Y", "X", "R", "S"):
        _check_rule(columns[name] < 1, f"column {name}: must be a positive integer", columns[name], problems, rows)
    T = columns["T"]
    _check_rule((T != CONV) & (T != DEPTHWISE), "column T: must be 1 (CONV) or 2 (depthwise)", T, problems, rows)
    R, S = columns["R"], columns["S"]
    _check_rule(R > columns["Y"], "column R: filter rows R exceed input rows Y", R, problems, rows)
    _check_rule(S > columns["X"], "column S: filter columns S exceed input columns X", S, problems, rows)
    _check_rule(P < 1, "column num_pe: must be >= 1", P, problems, rows)
    _check_rule(B < 1, "column ktile: must be >= 1", B, problems, rows)
    if problems:
        raise LayerTableError(join_problems(problems))
    dims = np.stack([columns[name] for name in LAYER_COLUMNS], axis=1)
    return dims, P, B


def evaluate(
    layers: ArrayLike,
    dataflow: ArrayLike,
    num_pe: ArrayLike,
    ktile: ArrayLike,
    *,
    rows: RowNames = ARRAY_ROWS,
) -> CostResult:
    """Evaluate N design points with MAESTRO's analysis, exactly.

    Args:
        layers: Layer dims ``K C Y X R S T``, shape (N, 7) (or (7,) for one layer).
        dataflow: ``dla``, ``shi`` or ``eye`` (or codes 0..2), scalar or shape (N,).
            Ignored for depthwise layers (T=2), which use the depthwise template.
        num_pe: Number of PEs, any integer >= 1, scalar or shape (N,).
        ktile: K tile (buffer) size, any integer >= 1, scalar or shape (N,).
        rows: How error messages name a row (``line 2`` for a file, say).

    Returns:
        The outputs per point; see :class:`CostResult`.

    Raises:
        LayerTableError: Non-integer or non-positive dims, ``R > Y``, ``S > X``,
            ``T`` not 1 or 2, an unknown dataflow, or knobs below 1.
    """
    dims, P, B = check_points(layers, num_pe, ktile, rows=rows)
    codes = dataflow_codes(dataflow, len(P), rows=rows)
    return evaluate_trusted(dims, codes, P, B)


_CONV_KERNELS = (dataflows.dla, dataflows.shi, dataflows.eye)
_COUNT_FIELDS = [f.name for f in fields(dataflows.TemplateCounts)]


def evaluate_trusted(
    dims: NDArray[np.int64], codes: NDArray[np.int64], num_pe: NDArray[np.int64], ktile: NDArray[np.int64]
) -> CostResult:
    """Evaluate points that :func:`check_points` already accepted (the hot path).

    Args:
        dims: Layer dims, int64 shape (N, 7).
        codes: Dataflow codes 0..2, shape (N,).
        num_pe: PE counts, int64 shape (N,).
        ktile: K tile sizes, int64 shape (N,).
    """
    n_points = len(num_pe)
    counts = {name: np.zeros(n_points, dtype=bool if name == "valid" else np.int64) for name in _COUNT_FIELDS}
    K, C, Y, X, R, S, T = dims.T
    depthwise = T == DEPTHWISE
    groups = [((~depthwise) & (codes == code), kernel) for code, kernel in enumerate(_CONV_KERNELS)]
    for mask, kernel in groups:
        if mask.any():
            part = kernel(K[mask], C[mask], Y[mask], X[mask], R[mask], S[mask], num_pe[mask], ktile[mask])
            for name in _COUNT_FIELDS:
                counts[name][mask] = getattr(part, name)
    if depthwise.any():
        m = depthwise
        part = dataflows.dpt(C[m], Y[m], X[m], R[m], S[m], num_pe[m], ktile[m])
        for name in _COUNT_FIELDS:
            counts[name][m] = getattr(part, name)
    return _assemble(dims, depthwise, num_pe, counts)


def _assemble(
    dims: NDArray[np.int64], depthwise: NDArray[np.bool_], num_pe: NDArray[np.int64], counts: dict[str, NDArray]
) -> CostResult:
    """Turn template counts into the reported outputs and blank out invalid points."""
    K, C, Y, X, R, S, _ = dims.T
    weight_words = np.where(depthwise, C * R * S, K * C * R * S)
    l2_traffic = (
        counts["l2_read_input"] + C * Y * X + counts["l2_read_weight"] + weight_words + counts["l2_write_output"]
    )
    # Only the single-level depthwise template has an L1 term (spec 2.9).
    l1_traffic = np.where(depthwise, counts["l2_read_input"] + counts["l2_read_weight"] + 4 * counts["num_macs"], 0)
    valid = counts["valid"]
    runtime = np.where(valid, counts["runtime_cycles"], 0)
    macs = np.where(valid, counts["num_macs"], 0)
    l1 = np.where(valid, counts["l1_bytes"], 0)
    l2 = np.where(valid, counts["l2_bytes"], 0)
    nan = np.float64("nan")
    with np.errstate(divide="ignore", invalid="ignore"):
        throughput = np.where(valid, macs / np.maximum(runtime, 1), nan)
    return CostResult(
        valid=valid,
        runtime_cycles=runtime,
        throughput=throughput,
        energy_nj=np.where(valid, hardware.energy_nj(l2_traffic=l2_traffic, l1_traffic=l1_traffic), nan),
        area=np.where(valid, hardware.area(num_pe, l1, l2), nan),
        power=np.where(valid, hardware.power(num_pe, l1, l2), nan),
        l1_bytes=l1,
        l2_bytes=l2,
        num_macs=macs,
    )
