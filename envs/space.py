"""Action spaces: which PE counts, K-tile sizes (and mappings, NoC widths, SIMD lanes) a layer may be given.

A space also fixes the hardware it is evaluated on (a :class:`~costmodel.presets.HardwarePreset`).
The NoC bandwidth and the SIMD lanes are the preset's unless the space lists values for them;
a knob with two or more values becomes a per-layer decision (a gene), like the release's
dataflow choice. Genes are, in order: P, B, then the dataflow, the NoC bandwidth and the
SIMD lanes where they are decisions. P and B genes hold values; the others hold codes into
their value lists, so that every search moves on them as on categories.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from confx.costmodel import DATAFLOWS
from confx.costmodel.errors import ConfXError
from confx.costmodel.general import NOC_BANDWIDTH
from confx.costmodel.presets import RELEASE, HardwarePreset

GRID_NUM_PE = (1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128)
"""ConfuciuX's PE action grid."""
GRID_KTILE = tuple(range(1, 13))
"""ConfuciuX's buffer (K-tile) action grid."""


@dataclass(frozen=True)
class ActionSpace:
    """The choices per layer.

    Attributes:
        num_pe: Sorted PE counts a layer may be given.
        ktile: Sorted K-tile sizes a layer may be given.
        choose_dataflow: Also choose the dataflow per layer (the release's ``n_act=3``).
        name: Label for reports.
        dataflows: The mappings a layer chooses from when ``choose_dataflow`` is set: templates,
            style names or ``.m`` paths (the release's three templates by default).
        noc_bw: NoC bandwidths (elements/cycle) to choose from; empty: the hardware's.
        simd_lanes: SIMD lane counts to choose from; empty: the hardware's.
        hardware: The fixed knobs (hops, hop latency, off-chip bandwidth, and the defaults above).
    """

    num_pe: tuple[int, ...] = GRID_NUM_PE
    ktile: tuple[int, ...] = GRID_KTILE
    choose_dataflow: bool = False
    name: str = "grid"
    dataflows: tuple[str, ...] = DATAFLOWS
    noc_bw: tuple[int, ...] = ()
    simd_lanes: tuple[int, ...] = ()
    hardware: HardwarePreset = RELEASE

    def __post_init__(self) -> None:
        if not self.dataflows or len(set(self.dataflows)) != len(self.dataflows):
            raise ConfXError(f"action space {self.name!r}: dataflows must be distinct and non-empty: {self.dataflows}")
        checked = (("num_pe", self.num_pe), ("ktile", self.ktile), ("noc_bw", self.noc_bw_values))
        for label, values in (*checked, ("simd_lanes", self.simd_lane_values)):
            if not values:
                raise ConfXError(f"action space {self.name!r}: {label} is empty; give at least one value")
            if any(int(v) != v or v < 1 for v in values):
                raise ConfXError(f"action space {self.name!r}: {label} values must be integers >= 1, got {values}")
            if list(values) != sorted(set(values)):
                raise ConfXError(f"action space {self.name!r}: {label} values must be sorted and distinct: {values}")

    @property
    def noc_bw_values(self) -> tuple[int, ...]:
        """The NoC bandwidths a layer may get (the hardware's alone unless the space lists some)."""
        return self.noc_bw or (self.hardware.noc_bw,)

    @property
    def simd_lane_values(self) -> tuple[int, ...]:
        """The SIMD lane counts a layer may get."""
        return self.simd_lanes or (self.hardware.simd_lanes,)

    @property
    def physical(self) -> bool:
        """Area and power are physical (mm^2, mW) unless a NoC is the release's unbounded one."""
        return NOC_BANDWIDTH not in self.noc_bw_values

    @property
    def n_dataflows(self) -> int:
        return len(self.dataflows) if self.choose_dataflow else 1

    @property
    def gene_names(self) -> tuple[str, ...]:
        """The genes of a layer, in design-column order."""
        optional = (
            ("dataflow", self.choose_dataflow),
            ("noc_bw", len(self.noc_bw_values) > 1),
            ("simd_lanes", len(self.simd_lane_values) > 1),
        )
        return ("num_pe", "ktile") + tuple(name for name, chosen in optional if chosen)

    def gene(self, name: str) -> int | None:
        """Column of a gene in a design, None when it is not a decision of this space."""
        return self.gene_names.index(name) if name in self.gene_names else None

    @property
    def n_genes(self) -> int:
        """Decisions per layer: P and B, plus the dataflow, NoC bandwidth and SIMD lanes where chosen."""
        return len(self.gene_names)

    @property
    def gene_values(self) -> tuple[tuple[int, ...], ...]:
        """What each gene may hold: P and B values, codes 0..n-1 for the categorical genes."""
        lengths = {"dataflow": len(self.dataflows), "noc_bw": len(self.noc_bw_values)}
        lengths["simd_lanes"] = len(self.simd_lane_values)
        values = {"num_pe": self.num_pe, "ktile": self.ktile}
        return tuple(values[g] if g in values else tuple(range(lengths[g])) for g in self.gene_names)

    @property
    def categorical(self) -> tuple[bool, ...]:
        """Per gene: holds a code (dataflow, NoC bandwidth, SIMD lanes) rather than a value."""
        return tuple(name not in ("num_pe", "ktile") for name in self.gene_names)

    @property
    def gene_sizes(self) -> tuple[int, ...]:
        """Number of choices of each gene."""
        return tuple(len(values) for values in self.gene_values)

    @property
    def gene_bounds(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """Lowest and highest value of each gene (categorical genes are codes 0..n-1)."""
        return tuple(min(v) for v in self.gene_values), tuple(max(v) for v in self.gene_values)

    @property
    def size_per_layer(self) -> int:
        size = 1
        for n in self.gene_sizes:
            size *= n
        return size

    def with_dataflow_choice(self, choose: bool) -> ActionSpace:
        return dataclasses.replace(self, choose_dataflow=choose)


def named_space(name: str, *, choose_dataflow: bool = False) -> ActionSpace:
    """The release's ``grid`` or the full ``integer`` space (P 1..128 x B 1..12)."""
    if name == "grid":
        return ActionSpace(GRID_NUM_PE, GRID_KTILE, choose_dataflow, "grid")
    if name == "integer":
        return ActionSpace(tuple(range(1, 129)), GRID_KTILE, choose_dataflow, "integer")
    raise ConfXError(f"unknown action space {name!r}; use 'grid' or 'integer'")


def design_space(
    base: ActionSpace,
    *,
    hardware: HardwarePreset | None = None,
    noc_bw: tuple[int, ...] = (),
    simd_lanes: tuple[int, ...] = (),
    dataflows: tuple[str, ...] = (),
) -> ActionSpace:
    """A space on given hardware: one value of a knob fixes it, several make it a per-layer decision.

    Args:
        base: The P and B choices (``named_space`` or custom); what the other arguments leave is kept.
        hardware: The fixed knobs; None keeps ``base``'s.
        noc_bw, simd_lanes: Values of the knob; one value replaces the preset's, several are a gene,
            none keeps ``base``'s.
        dataflows: Mappings to choose from per layer (turns the dataflow choice on); empty: keep ``base``'s.
    """
    fixed = base.hardware if hardware is None else hardware
    bandwidths, lanes = base.noc_bw, base.simd_lanes
    if len(noc_bw) == 1:
        fixed, bandwidths = dataclasses.replace(fixed, noc_bw=noc_bw[0]), ()
    elif noc_bw:
        bandwidths = tuple(noc_bw)
    if len(simd_lanes) == 1:
        fixed, lanes = dataclasses.replace(fixed, simd_lanes=simd_lanes[0]), ()
    elif simd_lanes:
        lanes = tuple(simd_lanes)
    space = dataclasses.replace(base, hardware=fixed, noc_bw=bandwidths, simd_lanes=lanes)
    if dataflows:
        space = dataclasses.replace(space, dataflows=tuple(dataflows), choose_dataflow=True)
    return space
