"""Closed forms of MAESTRO's analysis for ConfuciuX's four mapping templates.

Each kernel evaluates one template for a batch of N design points and trusts its
input: int64 arrays of shape (N,), every dim >= 1, ``Y >= R``, ``X >= S``,
``num_pe >= 1``, ``ktile >= 1`` (the public :func:`costmodel.evaluate` checks
this). The formulas are those of the cost-model spec, section 4; they reproduce
MAESTRO 4eb08d1 exactly, including its quirks (partial K tiles cost a full
tile, shi/eye over-count MACs on a partial last row group, dpt's edge fold).

Every kernel returns the per-point counts that runtime, energy, area and power
are built from, as a :class:`TemplateCounts`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class TemplateCounts:
    """Integer outputs of one template for N points (all shape (N,), int64).

    Attributes:
        valid: False where MAESTRO degenerates (spec section 6.2).
        runtime_cycles: Total cycles, including the first tile's load.
        num_macs: MAC count as MAESTRO reports it (quirks included).
        l1_bytes: Per-PE L1 requirement (MAESTRO's element count).
        l2_bytes: Shared L2 requirement (one double-buffered tile set).
        l2_read_input: L2 reads of the input tensor.
        l2_read_weight: L2 reads of the weight tensor.
        l2_write_output: L2 writes of (partial) outputs.
    """

    valid: NDArray[np.bool_]
    runtime_cycles: IntArray
    num_macs: IntArray
    l1_bytes: IntArray
    l2_bytes: IntArray
    l2_read_input: IntArray
    l2_read_weight: IntArray
    l2_write_output: IntArray


def _ceil_div(a: IntArray, b: IntArray) -> IntArray:
    return -(-a // b)


def _k_tiles(K: IntArray, B: IntArray) -> tuple[IntArray, IntArray, IntArray]:
    """Return ``kB = min(B, K)``, ``T_K = ceil(K/B)`` and ``Kf``, the K slots processed.

    ``Kf`` rounds a partial last K tile up to a full tile of B.
    """
    kB = np.minimum(B, K)
    T_K = _ceil_div(K, B)
    return kB, T_K, kB + (T_K - 1) * B


def _l1_conv(R: IntArray, S: IntArray, B: IntArray) -> IntArray:
    """L1 of the two-level templates: input RS + weight B*RS + output B*RS, double-buffered."""
    return 2 * R * S * (1 + 2 * B)


def dla(
    K: IntArray,
    C: IntArray,
    Y: IntArray,
    X: IntArray,
    R: IntArray,
    S: IntArray,
    P: IntArray,
    B: IntArray,
    *,
    stride_y: IntArray | int = 1,
    stride_x: IntArray | int = 1,
) -> TemplateCounts:
    """NVDLA-like: K tiles over time, C across the P PEs (spec 4.1).

    With a stride, MAESTRO's Y/X windows step by the stride, so the same form holds with the
    strided output size, a Y step bringing ``min(R, stride_y)`` new rows and an X step
    ``min(S, stride_x)`` new columns, as long as :func:`dla_stride_is_closed` holds; the
    general engine covers the other points.
    """
    Yo, Xo = (Y - R) // stride_y + 1, (X - S) // stride_x + 1
    RS = R * S
    kB, T_K, _ = _k_tiles(K, B)
    T_C = _ceil_div(C, P)
    cP = np.minimum(P, C)
    Cf = cP + (T_C - 1) * P
    runtime = T_K * T_C * Yo * Xo * (RS * kB + 1) + 1
    macs = K * C * RS * Yo * Xo
    l2 = 2 * cP * RS + 2 * kB * cP * RS + 2 * kB
    # A Y step re-reads the full window when X has more than one position (X was reset).
    y_step = np.where(X > S, RS, S * np.minimum(R, stride_y))
    l2_read_input = (
        cP * RS
        + T_K * (T_C - 1) * P * RS
        + T_K * Cf * (Yo - 1) * y_step
        + T_K * Cf * Yo * (Xo - 1) * R * np.minimum(S, stride_x)
    )
    return TemplateCounts(
        valid=np.ones(K.shape, dtype=bool),
        runtime_cycles=runtime,
        num_macs=macs,
        l1_bytes=_l1_conv(R, S, B),
        l2_bytes=l2,
        l2_read_input=l2_read_input,
        l2_read_weight=RS * kB * T_K * Cf,
        l2_write_output=K * T_C * Yo * Xo,
    )


def dla_stride_is_closed(
    Y: IntArray, X: IntArray, R: IntArray, S: IntArray, stride_y: IntArray, stride_x: IntArray
) -> NDArray[np.bool_]:
    """Where :func:`dla` is exact for a strided layer: ``(Y - R) mod stride_y`` is 0 or ``stride_y - 1``, same for X.

    Why: otherwise MAESTRO's last window is an edge tile whose output extent
    ``rem - stride + 1`` is negative, and where both axes have one the two negative extents
    multiply into extra positive MACs (alexnet's 11x11 stride-4 layer counts 3,029 output
    positions instead of 55x55); with extent 0 the edge contributes nothing. Every stride-2
    layer qualifies.
    """
    rem_y, rem_x = (Y - R) % stride_y, (X - S) % stride_x
    return ((rem_y == 0) | (rem_y == stride_y - 1)) & ((rem_x == 0) | (rem_x == stride_x - 1))


def shi(
    K: IntArray, C: IntArray, Y: IntArray, X: IntArray, R: IntArray, S: IntArray, P: IntArray, B: IntArray
) -> TemplateCounts:
    """ShiDianNao-like output stationary: R output rows per step, X' across PEs (spec 4.2)."""
    Yo, Xo = Y - R + 1, X - S + 1
    RS = R * S
    kB, T_K, Kf = _k_tiles(K, B)
    T_Y = _ceil_div(Yo, R)
    t_Y = Yo % R
    T_X = _ceil_div(Xo, P)
    valid = ~((R > 1) & (Y < 2 * R - 1)) & ~((P <= X) & (X < P + S - 1))
    runtime: IntArray = T_K * T_X * C * (Yo * kB * RS + T_Y) + 1  # type: ignore[assignment]  # numpy stubs: int
    # Quirk: a partial last row group is counted as R rows (R-1 extra rows of MACs).
    Yhat = Yo + (t_Y > 0) * (R - 1)
    macs = K * C * RS * Xo * Yhat
    rows = 2 * R - 1
    Xf0 = np.minimum(P + S - 1, X)
    Xfs = Xf0 + (T_X - 1) * (P + S - 1)
    x_step = np.where(C > 1, P + S - 1, P)
    l2_read_input = rows * (Xf0 + T_K * (T_Y - 1) * Xf0 + T_K * T_Y * (T_X - 1) * x_step + T_K * T_Y * (C - 1) * Xfs)
    return TemplateCounts(
        valid=valid,
        runtime_cycles=runtime,
        num_macs=macs,
        l1_bytes=_l1_conv(R, S, B),
        l2_bytes=2 * rows * Xf0 + 2 * kB * RS + 2 * kB * R * np.minimum(P, Xo),
        l2_read_input=l2_read_input,
        l2_read_weight=RS * Kf * (1 + (C - 1) * T_Y * T_X),
        l2_write_output=K * C * Xo * Yhat,
    )


def eye(
    K: IntArray, C: IntArray, Y: IntArray, X: IntArray, R: IntArray, S: IntArray, P: IntArray, B: IntArray
) -> TemplateCounts:
    """Eyeriss-like row stationary: Y' rows across PEs, one channel per step (spec 4.3)."""
    Yo, Xo = Y - R + 1, X - S + 1
    RS = R * S
    kB, T_K, Kf = _k_tiles(K, B)
    T_Y = _ceil_div(Yo, P)
    t_Y = Yo % P
    T_X = _ceil_div(Xo, S)
    t_X = Xo % S
    valid = ~((P <= Y) & (Y < P + R - 1)) & ~((S > 1) & (X < 2 * S - 1))
    single_pe_edge = np.minimum(P, Yo) == 1

    def step_cycles(x: IntArray) -> IntArray:
        """Cycles of one top step whose X tile holds x output columns."""
        folds = _ceil_div(x, P)
        quirk = single_pe_edge & (x > P) & (x % P != 0)
        return kB * RS * (folds + quirk * (S - 1)) + 1

    has_tail = (t_X > 0).astype(np.int64)
    x_tiles = (T_X - has_tail) * step_cycles(S) + has_tail * step_cycles(np.maximum(t_X, 1))
    runtime = C * T_K * T_Y * x_tiles + 1
    Yhat = Yo + ((Yo > P) & (t_Y > 0)) * (R - 1)
    macs = K * C * RS * Xo * Yhat
    Yf0 = np.minimum(P + R - 1, Y)
    Xf0 = np.minimum(2 * S - 1, X)
    Yfs = Yf0 + (T_Y - 1) * (P + R - 1)
    l2_read_input = C * Yf0 * Xf0 + C * T_K * (T_Y - 1) * (P + R - 1) * Xf0 + C * T_K * Yfs * (T_X - 1) * S
    return TemplateCounts(
        valid=valid,
        runtime_cycles=runtime,
        num_macs=macs,
        l1_bytes=_l1_conv(R, S, B),
        l2_bytes=2 * Yf0 * Xf0 + 2 * kB * RS + 2 * kB * np.minimum(P, Yo) * S,
        l2_read_input=l2_read_input,
        l2_read_weight=RS * C * Kf,
        l2_write_output=C * K * Xo * Yhat,
    )


def dpt(C: IntArray, Y: IntArray, X: IntArray, R: IntArray, S: IntArray, P: IntArray, B: IntArray) -> TemplateCounts:
    """Depthwise template: B channels per PE, single level (spec 4.4). K plays no role."""
    Yo, Xo = Y - R + 1, X - S + 1
    RS = R * S
    BP = B * P
    folded = C > BP
    ns = np.where(folded, C // BP - 1, 0)
    rem = np.where(folded, C % BP, 0)
    e = (rem > 0).astype(np.int64)
    # Edge-fold bookkeeping of MAESTRO, by the size of the remainder fold.
    small, exact, divides = rem < B, rem == B, rem % B == 0
    middle = np.where(exact, B, rem - B)  # B <= rem < 2B
    large = rem >= 2 * B
    compute_channels = np.where(small, rem, np.where(large, B, middle))
    read_channels = np.where(small, B, np.where(large, np.where(divides, rem, rem - B), middle))
    output_channels = np.where(small, rem, np.where(large, np.where(divides, rem, rem - B), middle))
    first_fold_out = np.where(C >= BP, BP, np.where(C <= B, C, C - B * (C % B == 0)))
    first = np.minimum(C, BP)

    runtime = Yo * Xo * RS * (np.minimum(B, C) + ns * B + e * compute_channels) + 1
    macs = Yo * Xo * RS * (first + ns * BP + e * output_channels)
    Cg = first + ns * BP + e * read_channels
    y_step = np.where(Xo > 1, RS, S)
    return TemplateCounts(
        valid=np.ones(C.shape, dtype=bool),
        runtime_cycles=runtime,
        num_macs=macs,
        l1_bytes=6 * B * RS,
        l2_bytes=4 * RS * first + 2 * first_fold_out,
        l2_read_input=RS * Cg + Cg * ((Yo - 1) * y_step + Yo * (Xo - 1) * R),
        l2_read_weight=RS * Cg,
        l2_write_output=Yo * Xo * (first_fold_out + ns * BP + e * output_channels),
    )
