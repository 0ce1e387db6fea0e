"""Named hardware presets: the NoC, SIMD and off-chip knobs a design is evaluated under.

Why. ConfuciuX runs MAESTRO with a NoC 81,920,000 elements per cycle wide, where the NoC
never limits anything and its bus term makes area a function of the PE count alone
(``release``). An architect's accelerator has a NoC it can afford; ``edge`` is such a
design point, so that searches can be run on a physical model beside the release's.
"""

from __future__ import annotations

from dataclasses import dataclass

from confx.costmodel.errors import ConfXError
from confx.costmodel.general import NOC_BANDWIDTH, NOC_HOP_LATENCY, NOC_HOPS, OFFCHIP_BANDWIDTH, SIMD_LANES

UM2_PER_MM2 = 1e6
"""MAESTRO's area is in um^2; physical presets report and budget it in mm^2."""


@dataclass(frozen=True)
class HardwarePreset:
    """Hardware knobs MAESTRO takes as flags, with a name for reports.

    Attributes:
        name: The preset's label.
        noc_bw: NoC bandwidth, elements per cycle, on every cluster level (``--noc_bw_cstr``).
        noc_hops, noc_hop_latency: Their product is the head latency of every NoC transfer.
        simd_lanes: MACs per PE per cycle (``--num_simd_lanes``).
        offchip_bw: Off-chip bandwidth, elements per cycle (``--offchip_bw_cstr``).
    """

    name: str
    noc_bw: int = NOC_BANDWIDTH
    noc_hops: int = NOC_HOPS
    noc_hop_latency: int = NOC_HOP_LATENCY
    simd_lanes: int = SIMD_LANES
    offchip_bw: int = OFFCHIP_BANDWIDTH

    @property
    def physical(self) -> bool:
        """False for the release's unbounded NoC, whose area and power are not physical quantities."""
        return self.noc_bw != NOC_BANDWIDTH


RELEASE = HardwarePreset("release")
"""ConfuciuX's flags: NoC 81,920,000 elements/cycle, 1 hop of 1 cycle, 1 SIMD lane, MAESTRO's off-chip 70,000."""

EDGE = HardwarePreset("edge", noc_bw=64, noc_hops=2, noc_hop_latency=1, simd_lanes=1, offchip_bw=50)
"""A realistic edge accelerator (see the README's "Mappings, hardware presets and NoC decisions").

* NoC 64 elements/cycle: a 512-bit distribution bus at 8-bit data (one of the two widths of
  the MAESTRO reference rows after ``data/hw/accelerator_1.m``); for dla it is the knee at
  P = 64 (bw ~ P), so the NoC matters without dominating every layer.
* 2 hops of 1 cycle: a two-level tree (global buffer to row bus to PE).
* 1 SIMD lane: ConfuciuX's scalar-MAC PE (the PE count is the search's decision).
* Off-chip 50 elements/cycle: MAESTRO's ``data/hw/accelerator_1.m``, about 50 GB/s at 1 GHz
  (LPDDR5-class DRAM).
"""

PRESETS = {preset.name: preset for preset in (RELEASE, EDGE)}
"""Every named preset."""


def hardware_preset(name: str) -> HardwarePreset:
    """The preset of that name.

    Raises:
        ConfXError: Unknown name.
    """
    if name not in PRESETS:
        raise ConfXError(f"unknown hardware preset {name!r}; use one of {', '.join(PRESETS)}")
    return PRESETS[name]


def constraint_scale(constraint: str, *, physical: bool) -> float:
    """Factor from MAESTRO's unit of a constraint to its reported unit (um^2 to mm^2 for a physical area)."""
    return 1 / UM2_PER_MM2 if physical and constraint == "area" else 1.0
