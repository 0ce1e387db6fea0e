"""Action spaces: which PE counts, K-tile sizes (and dataflows) a layer may be given."""

from __future__ import annotations

from dataclasses import dataclass

from confx.costmodel import DATAFLOWS
from confx.costmodel.errors import ConfXError

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
    """

    num_pe: tuple[int, ...] = GRID_NUM_PE
    ktile: tuple[int, ...] = GRID_KTILE
    choose_dataflow: bool = False
    name: str = "grid"

    def __post_init__(self) -> None:
        for label, values in (("num_pe", self.num_pe), ("ktile", self.ktile)):
            if not values:
                raise ConfXError(f"action space {self.name!r}: {label} is empty; give at least one value")
            if any(int(v) != v or v < 1 for v in values):
                raise ConfXError(f"action space {self.name!r}: {label} values must be integers >= 1, got {values}")
            if list(values) != sorted(set(values)):
                raise ConfXError(f"action space {self.name!r}: {label} values must be sorted and distinct: {values}")

    @property
    def n_dataflows(self) -> int:
        return len(DATAFLOWS) if self.choose_dataflow else 1

    @property
    def n_genes(self) -> int:
        """Decisions per layer: P and B, plus the dataflow when it is chosen."""
        return 3 if self.choose_dataflow else 2

    @property
    def gene_sizes(self) -> tuple[int, ...]:
        """Number of choices of each gene: P, B (and the dataflow when it is chosen)."""
        return (len(self.num_pe), len(self.ktile)) + ((len(DATAFLOWS),) if self.choose_dataflow else ())

    @property
    def gene_bounds(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """Lowest and highest value of each gene (dataflow genes are codes 0..2)."""
        low = (min(self.num_pe), min(self.ktile)) + ((0,) if self.choose_dataflow else ())
        high = (max(self.num_pe), max(self.ktile)) + ((len(DATAFLOWS) - 1,) if self.choose_dataflow else ())
        return low, high

    @property
    def size_per_layer(self) -> int:
        return len(self.num_pe) * len(self.ktile) * self.n_dataflows

    def with_dataflow_choice(self, choose: bool) -> ActionSpace:
        return ActionSpace(self.num_pe, self.ktile, choose, self.name)


def named_space(name: str, *, choose_dataflow: bool = False) -> ActionSpace:
    """The release's ``grid`` or the full ``integer`` space (P 1..128 x B 1..12)."""
    if name == "grid":
        return ActionSpace(GRID_NUM_PE, GRID_KTILE, choose_dataflow, "grid")
    if name == "integer":
        return ActionSpace(tuple(range(1, 129)), GRID_KTILE, choose_dataflow, "integer")
    raise ConfXError(f"unknown action space {name!r}; use 'grid' or 'integer'")
