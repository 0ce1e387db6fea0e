"""Energy, area and power of a design point, with MAESTRO 4eb08d1's constants.

These are the spec's sections 2.9, 2.10 and 5. Units are MAESTRO's: energy in nJ,
area in um^2 and power in mW nominally (the bus term is multiplied by the NoC
bandwidth, so the totals are not physical; area is in effect a function of the
PE count only).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

MAC_ENERGY_NJ = 0.00023
"""Energy of one MAC; access energies are multiples of it."""
L2_ACCESS_MULTIPLE = 18.61
L1_ACCESS_MULTIPLE = 1.68

NOC_BANDWIDTH = 81_920_000
"""``--noc_bw_cstr`` as ConfuciuX passes it; it also scales the bus area and power."""

MAC_AREA, MAC_POWER = 283.0, 1.2223
SRAM_AREA_PER_WORD, SRAM_POWER_PER_WORD = 0.104, 0.00345
BUS_AREA_FACTOR, BUS_POWER_FACTOR = 101.7938, 0.8 / 1000
BUS_SLOPE, BUS_INTERCEPT = 14.662, 28.895
ARBITER_AREA, ARBITER_POWER = 395.473, 0.34


def _arbiter_scale(num_pe: NDArray[np.int64]) -> NDArray[np.float64]:
    P = num_pe.astype(np.float64)
    return 1.2886 * P * P + 5.5814 * P - 23.711


def area(num_pe: NDArray[np.int64], l1_bytes: NDArray[np.int64], l2_bytes: NDArray[np.int64]) -> NDArray[np.float64]:
    """Accelerator area: P PEs (MAC + private L1), one L2, a bus and a matrix arbiter.

    Args:
        num_pe: PE count per point, shape (N,).
        l1_bytes: Per-PE L1 size in words, shape (N,).
        l2_bytes: L2 size in words, shape (N,).

    Returns:
        Area per point, shape (N,).
    """
    P = num_pe.astype(np.float64)
    per_pe = MAC_AREA + SRAM_AREA_PER_WORD * np.maximum(1, l1_bytes)
    l2 = SRAM_AREA_PER_WORD * np.maximum(1, l2_bytes)
    bus = BUS_AREA_FACTOR * (BUS_SLOPE * P + BUS_INTERCEPT) * NOC_BANDWIDTH
    arbiter = np.maximum(ARBITER_AREA, ARBITER_AREA * _arbiter_scale(num_pe))
    return P * per_pe + l2 + bus + arbiter


def power(num_pe: NDArray[np.int64], l1_bytes: NDArray[np.int64], l2_bytes: NDArray[np.int64]) -> NDArray[np.float64]:
    """Accelerator power, built from the same blocks as :func:`area`."""
    P = num_pe.astype(np.float64)
    per_pe = MAC_POWER + SRAM_POWER_PER_WORD * np.maximum(1, l1_bytes)
    l2 = SRAM_POWER_PER_WORD * np.maximum(1, l2_bytes)
    bus = BUS_POWER_FACTOR * (BUS_SLOPE * P + BUS_INTERCEPT) * NOC_BANDWIDTH
    arbiter = np.maximum(ARBITER_POWER, ARBITER_POWER * _arbiter_scale(num_pe) / 1000)
    return P * per_pe + l2 + bus + arbiter


def energy_nj(
    *,
    l2_traffic: NDArray[np.int64],
    l1_traffic: NDArray[np.int64],
) -> NDArray[np.float64]:
    """Activity-count energy: L2 accesses plus (single-level templates only) L1 accesses.

    MAESTRO has no compute term, and for the two-level templates its L1 term is
    zero (a reporting-order quirk), so callers pass ``l1_traffic = 0`` there.

    Args:
        l2_traffic: L2 reads and writes summed per point, shape (N,).
        l1_traffic: L1 reads and writes summed per point, shape (N,).
    """
    return MAC_ENERGY_NJ * (
        L2_ACCESS_MULTIPLE * l2_traffic.astype(np.float64) + L1_ACCESS_MULTIPLE * l1_traffic.astype(np.float64)
    )
