"""The ConfuciuX problem that every search shares.

A problem is a network (layer table), a dataflow, an objective, a constraint
(area or power), a budget level ``mul`` and an action space. A *design* gives
every layer a PE count and a K-tile size (and a dataflow when it is chosen):
an int64 array of shape (n_layers, n_genes) holding *values*, not grid indices,
so that the GA may leave the grid. Every (layer, action) is evaluated once by
the cost model and memoised; whole-model evaluations of a population are one
vectorised gather over that memo.

This module imports numpy and the cost model only, so Ray workers load it fast.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from confx.costmodel import DATAFLOWS
from confx.costmodel.errors import ConfXError
from confx.costmodel.evaluate import evaluate_trusted
from confx.costmodel.hardware import area as hardware_area
from confx.costmodel.hardware import power as hardware_power
from confx.costmodel.layers import LayerTable, load_network
from confx.envs.space import ActionSpace, named_space

OBJECTIVES = ("latency", "energy", "LEP", "LAP", "EAP", "thrpt_ave", "thrpt_btnk")
MAXIMISED = frozenset({"thrpt_ave", "thrpt_btnk"})
SUMMED = frozenset({"latency", "energy", "LEP", "LAP", "EAP"})
CONSTRAINTS = ("area", "power")
DEFAULT_DATAFLOW, DEFAULT_OBJECTIVE, DEFAULT_CONSTRAINT, DEFAULT_MUL = "dla", "latency", "area", 0.5
"""The problem a command or config gets when it names none (the paper's headline setting)."""

GENE_NUM_PE, GENE_KTILE, GENE_DATAFLOW = 0, 1, 2
"""Columns of a design array."""

MEMO_MAX_BYTES = 2 * 1024**3
"""Largest per-(layer, dataflow, P, B) cost memo a problem may allocate (it is dense in P and B)."""

BUDGET_RTOL = 1e-12
"""Relative slack on the budget test, so that summation order never flips feasibility."""


def layer_objective(objective: str, metrics: dict[str, NDArray]) -> NDArray[np.float64]:
    """Per-layer term of an objective (the release's per-step ``judge`` value, as a magnitude).

    For summed objectives the whole-model value is the sum of these terms; for
    the throughput objectives it is the per-layer throughput.
    """
    runtime = metrics["runtime_cycles"].astype(np.float64)
    table = {
        "latency": lambda: runtime,
        "energy": lambda: metrics["energy_nj"],
        "LEP": lambda: metrics["energy_nj"] * runtime,
        "LAP": lambda: metrics["area"] * runtime,
        "EAP": lambda: metrics["area"] * metrics["energy_nj"],
        "thrpt_ave": lambda: metrics["throughput"],
        "thrpt_btnk": lambda: metrics["throughput"],
    }
    return np.asarray(table[objective](), dtype=np.float64)


@dataclass(frozen=True)
class ProblemSpec:
    """What defines a problem; small and picklable, so it travels to Ray workers."""

    model: str
    dataflow: str = DEFAULT_DATAFLOW
    objective: str = DEFAULT_OBJECTIVE
    constraint: str = DEFAULT_CONSTRAINT
    mul: float = DEFAULT_MUL
    space: ActionSpace = field(default_factory=ActionSpace)

    def check(self) -> None:
        """Raise :class:`ConfXError` naming every bad field at once."""
        problems = []
        if self.dataflow not in DATAFLOWS:
            problems.append(f"dataflow {self.dataflow!r} is unknown (use {', '.join(DATAFLOWS)})")
        if self.objective not in OBJECTIVES:
            problems.append(f"objective {self.objective!r} is unknown (use {', '.join(OBJECTIVES)})")
        if self.constraint not in CONSTRAINTS:
            problems.append(f"constraint {self.constraint!r} is unknown (use {', '.join(CONSTRAINTS)})")
        if not (0.0 <= self.mul <= 1.0):
            problems.append(f"mul {self.mul} is outside [0, 1]")
        if problems:
            raise ConfXError("; ".join(problems))


@dataclass(frozen=True)
class Evaluation:
    """Whole-model evaluation of N designs (all arrays shape (N,)).

    Attributes:
        objective: Whole-model objective in natural units (NaN where invalid).
        used: Summed constraint (area or power); NaN where invalid.
        valid: Every layer's point is valid for the cost model.
        feasible: Valid and within the budget.
    """

    objective: NDArray[np.float64]
    used: NDArray[np.float64]
    valid: NDArray[np.bool_]
    feasible: NDArray[np.bool_]


@dataclass(frozen=True)
class MemoCells:
    """Memo entries in transit: cell indices (4, M) = (layer, dataflow, P-1, B-1), and their outputs."""

    cells: NDArray[np.int64]
    valid: NDArray[np.bool_]
    values: dict[str, NDArray[np.float64]]


class LayerCostMemo:
    """Per-(layer, dataflow, P, B) cost-model outputs, filled on demand.

    A dense table over the value box ``P in 1..max P``, ``B in 1..max B``: any
    integer action within the space's bounds can be looked up, and each point
    is evaluated by the cost model at most once (``cost_model_calls`` counts them).
    """

    FIELDS = ("runtime_cycles", "energy_nj", "area", "power", "throughput", "num_macs", "l1_bytes", "l2_bytes")

    @classmethod
    def size_bytes(cls, n_layers: int, max_num_pe: int, max_ktile: int) -> int:
        """Bytes the memo of a table of n_layers needs: two flags and the fields per cell."""
        return n_layers * len(DATAFLOWS) * max_num_pe * max_ktile * (2 + 8 * len(cls.FIELDS))

    def __init__(self, layers: LayerTable, max_num_pe: int, max_ktile: int) -> None:
        shape = (layers.n_layers, len(DATAFLOWS), max_num_pe, max_ktile)
        self.layers = layers
        self.known = np.zeros(shape, dtype=bool)
        self.valid = np.zeros(shape, dtype=bool)
        # One trailing axis for all fields, so that a lookup is a single gather.
        self.table = np.zeros((*shape, len(self.FIELDS)), dtype=np.float64)
        self.cost_model_calls = 0
        self._log: list[NDArray[np.int64]] = []

    def lookup(
        self, layer: NDArray[np.int64], dataflow: NDArray[np.int64], num_pe: NDArray[np.int64], ktile: NDArray[np.int64]
    ) -> tuple[NDArray[np.bool_], dict[str, NDArray[np.float64]]]:
        """Outputs for points given by index arrays of one shape; evaluates unknown points once."""
        index = (layer, dataflow, num_pe - 1, ktile - 1)
        missing = ~self.known[index]
        if missing.any():
            cells = np.unique(np.stack([a[missing] for a in index]), axis=1)
            self._fill(tuple(cells))
        rows = self.table[index]
        return self.valid[index], {name: rows[..., i] for i, name in enumerate(self.FIELDS)}

    def _fill(self, cells: tuple[NDArray[np.int64], ...]) -> None:
        layer, dataflow, pe_index, tile_index = cells
        # Each layer's stride and group count go with it (the table's defaults are 1).
        options = self.layers.options(layer)
        result = evaluate_trusted(self.layers.dims[layer], dataflow, pe_index + 1, tile_index + 1, options=options)
        self._store(cells, result.valid, {name: getattr(result, name) for name in self.FIELDS})

    def _store(
        self, cells: tuple[NDArray[np.int64], ...], valid: NDArray[np.bool_], values: dict[str, NDArray]
    ) -> None:
        self.known[cells] = True
        self.valid[cells] = valid
        self.table[cells] = np.stack([values[name] for name in self.FIELDS], axis=-1)
        self.cost_model_calls += len(cells[0])
        self._log.append(np.stack(cells))

    def take_new_cells(self) -> MemoCells:
        """Cells evaluated since the last call, with their outputs (to merge into another memo)."""
        cells = np.concatenate(self._log, axis=1) if self._log else np.zeros((4, 0), dtype=np.int64)
        self._log = []
        return self.export(cells)

    def export(self, cells: NDArray[np.int64]) -> MemoCells:
        """Known cells (4, M) with their outputs."""
        index = tuple(cells)
        rows = self.table[index]
        return MemoCells(cells, self.valid[index], {name: rows[:, i] for i, name in enumerate(self.FIELDS)})

    def merge(self, new: MemoCells) -> int:
        """Add cells evaluated elsewhere (e.g. by a Ray task); return how many were unknown here."""
        unknown = ~self.known[tuple(new.cells)]
        if unknown.any():
            cells = tuple(new.cells[:, unknown])
            self._store(cells, new.valid[unknown], {name: v[unknown] for name, v in new.values.items()})
        return int(unknown.sum())


class Problem:
    """A search problem with its budget, memo and counters.

    Attributes:
        spec: What defines the problem.
        layers: The network.
        space: The action space.
        budget: Maximum summed constraint.
        constraint_range: ``(c_min, c_max)`` over the four uniform corner designs.
        sense: ``"min"`` or ``"max"``.
        model_evaluations: Whole-model evaluations so far (the budget unit of searches).
    """

    def __init__(self, spec: ProblemSpec, layers: LayerTable | None = None) -> None:
        spec.check()
        self.spec = spec
        self.layers = layers if layers is not None else load_network(spec.model)
        self.space = spec.space
        self.objective = spec.objective
        self.sense = "max" if spec.objective in MAXIMISED else "min"
        self.dataflow_code = DATAFLOWS.index(spec.dataflow)
        _check_memo_size(self.layers, self.space)
        self.memo = LayerCostMemo(self.layers, max(self.space.num_pe), max(self.space.ktile))
        self.model_evaluations = 0
        self.constraint_range = self._corner_range()
        c_min, c_max = self.constraint_range
        self.budget = c_min + (c_max - c_min) * spec.mul

    @property
    def n_layers(self) -> int:
        return self.layers.n_layers

    @property
    def cost_model_calls(self) -> int:
        return self.memo.cost_model_calls

    # --- designs -------------------------------------------------------------------------

    def design_from_indices(self, indices: NDArray[np.int64]) -> NDArray[np.int64]:
        """Map action-space indices (..., n_layers, n_genes) to a design of values."""
        design = np.empty_like(indices)
        design[..., GENE_NUM_PE] = np.asarray(self.space.num_pe)[indices[..., GENE_NUM_PE]]
        design[..., GENE_KTILE] = np.asarray(self.space.ktile)[indices[..., GENE_KTILE]]
        if self.space.choose_dataflow:
            design[..., GENE_DATAFLOW] = indices[..., GENE_DATAFLOW]
        return design

    def uniform_design(self, num_pe: int, ktile: int, dataflow: int | None = None) -> NDArray[np.int64]:
        """Every layer gets the same action, shape (n_layers, n_genes)."""
        genes = [num_pe, ktile] + (
            [self.dataflow_code if dataflow is None else dataflow] if self.space.choose_dataflow else []
        )
        return np.tile(np.asarray(genes, dtype=np.int64), (self.n_layers, 1))

    def _dataflows(self, designs: NDArray[np.int64]) -> NDArray[np.int64]:
        if self.space.choose_dataflow:
            return designs[..., GENE_DATAFLOW]
        return np.full(designs.shape[:-1], self.dataflow_code, dtype=np.int64)

    # --- per-layer costs ------------------------------------------------------------------

    def layer_costs(self, designs: NDArray[np.int64]) -> tuple[NDArray[np.bool_], dict[str, NDArray[np.float64]]]:
        """Per-layer validity and cost-model outputs of designs (..., n_layers, n_genes)."""
        designs = np.asarray(designs, dtype=np.int64)
        layer = np.broadcast_to(np.arange(self.n_layers), designs.shape[:-1])
        return self.memo.lookup(layer, self._dataflows(designs), designs[..., GENE_NUM_PE], designs[..., GENE_KTILE])

    def layer_terms(self, designs: NDArray[np.int64]) -> tuple[NDArray[np.bool_], NDArray, NDArray]:
        """Per-layer ``(valid, objective term, constraint)`` of designs (..., n_layers, n_genes)."""
        valid, metrics = self.layer_costs(designs)
        return valid, layer_objective(self.objective, metrics), metrics[self.spec.constraint]

    def layer_terms_at(
        self, layer: NDArray[np.int64], genes: NDArray[np.int64]
    ) -> tuple[NDArray[np.bool_], NDArray[np.float64], NDArray[np.float64]]:
        """``(valid, objective term, constraint)`` of single layers at single actions.

        Args:
            layer: Network indices of the layers, shape (M,).
            genes: Their actions as values, shape (M, n_genes).
        """
        genes = np.asarray(genes, dtype=np.int64)
        valid, metrics = self.memo.lookup(
            np.asarray(layer, dtype=np.int64), self._dataflows(genes), genes[:, GENE_NUM_PE], genes[:, GENE_KTILE]
        )
        return valid, layer_objective(self.objective, metrics), metrics[self.spec.constraint]

    def design_cells(self, designs: NDArray[np.int64]) -> MemoCells:
        """The memo cells (layer, action points) that designs (..., n_layers, n_genes) use, once each."""
        designs = np.asarray(designs, dtype=np.int64)
        layer = np.broadcast_to(np.arange(self.n_layers), designs.shape[:-1])
        index = (layer, self._dataflows(designs), designs[..., GENE_NUM_PE] - 1, designs[..., GENE_KTILE] - 1)
        cells = np.unique(np.stack([np.ravel(a) for a in index]), axis=1)
        return self.memo.export(cells)

    # --- whole-model evaluation -----------------------------------------------------------

    def evaluate(self, designs: NDArray[np.int64], *, count: bool = True) -> Evaluation:
        """Evaluate N designs (N, n_layers, n_genes) or one design (n_layers, n_genes).

        Counts one whole-model evaluation per design (unless ``count`` is False,
        for re-reading designs a search has already paid for). Invalid points
        fail under every objective; over-budget designs are infeasible.
        """
        designs = np.asarray(designs, dtype=np.int64)
        single = designs.ndim == 2
        batch = designs[None] if single else designs
        self._check_bounds(batch)
        valid_layers, metrics = self.layer_costs(batch)
        self.model_evaluations += len(batch) if count else 0
        valid = np.asarray(valid_layers.all(axis=1))
        used = np.where(valid, metrics[self.spec.constraint].sum(axis=1), np.nan)
        objective = np.where(valid, self.aggregate(metrics), np.nan)
        feasible = valid & (used <= self.budget * (1 + BUDGET_RTOL))
        return Evaluation(objective=objective, used=used, valid=valid, feasible=feasible)

    def aggregate(self, metrics: dict[str, NDArray]) -> NDArray[np.float64]:
        """Whole-model objective from per-layer metrics of shape (N, n_layers)."""
        if self.objective == "thrpt_ave":
            return metrics["num_macs"].sum(axis=1) / metrics["runtime_cycles"].sum(axis=1)
        terms = layer_objective(self.objective, metrics)
        if self.objective == "thrpt_btnk":
            return terms.min(axis=1)
        return terms.sum(axis=1)

    def fitness(self, evaluation: Evaluation) -> NDArray[np.float64]:
        """Objective turned into 'lower is better', with +inf for infeasible designs."""
        signed = evaluation.objective if self.sense == "min" else -evaluation.objective
        return np.where(evaluation.feasible, signed, np.inf)

    def _check_bounds(self, designs: NDArray[np.int64]) -> None:
        low, high = self.space.gene_bounds
        if designs.shape[-2:] != (self.n_layers, self.space.n_genes):
            raise ValueError(f"designs must have shape (N, {self.n_layers}, {self.space.n_genes}), got {designs.shape}")
        if (designs < np.asarray(low)).any() or (designs > np.asarray(high)).any():
            raise ValueError(f"design genes outside the action space bounds {low}..{high}")

    # --- budget ---------------------------------------------------------------------------

    def _corner_range(self) -> tuple[float, float]:
        """Smallest and largest total constraint over the uniform corner designs (spec 1)."""
        dataflows = range(len(DATAFLOWS)) if self.space.choose_dataflow else [self.dataflow_code]
        totals = []
        for num_pe in (min(self.space.num_pe), max(self.space.num_pe)):
            for ktile in (min(self.space.ktile), max(self.space.ktile)):
                for dataflow in dataflows:
                    totals.append(self._corner_total(num_pe, ktile, dataflow))
        return float(min(totals)), float(max(totals))

    def _corner_total(self, num_pe: int, ktile: int, dataflow: int) -> float:
        valid, metrics = self.layer_costs(self.uniform_design(num_pe, ktile, dataflow))
        used = metrics[self.spec.constraint]
        if not valid.all():
            # A degenerate layer has no MAESTRO result; charge it its PEs, bus and arbiter
            # (area and power depend on the buffers below 1e-5 relative).
            pe = np.full(int((~valid).sum()), num_pe, dtype=np.int64)
            one = np.ones_like(pe)
            charge = hardware_area if self.spec.constraint == "area" else hardware_power
            used = used.copy()
            used[~valid] = charge(pe, one, one)
        return float(used.sum())


def _check_memo_size(layers: LayerTable, space: ActionSpace) -> None:
    """Refuse an action space whose dense cost memo would not fit in memory (before allocating it)."""
    need = LayerCostMemo.size_bytes(layers.n_layers, max(space.num_pe), max(space.ktile))
    if need > MEMO_MAX_BYTES:
        raise ConfXError(
            f"action space: num_pe up to {max(space.num_pe):,} and ktile up to {max(space.ktile):,} need a "
            f"{need / 1024**3:.1f} GiB cost memo for the {layers.n_layers} layers of {layers.name} "
            f"(limit {MEMO_MAX_BYTES / 1024**3:.0f} GiB); use smaller --num-pe / --ktile values"
        )


def build_problem(
    model: str,
    *,
    dataflow: str = DEFAULT_DATAFLOW,
    objective: str = DEFAULT_OBJECTIVE,
    constraint: str = DEFAULT_CONSTRAINT,
    mul: float = DEFAULT_MUL,
    space: str | ActionSpace = "grid",
    choose_dataflow: bool = False,
    layers: LayerTable | None = None,
) -> Problem:
    """Build a problem from plain arguments (CLI and config entry point).

    Args:
        model: Built-in network name or layer-table CSV path; every process that rebuilds the
            problem (an RLlib env runner, say) loads the network from it.
        layers: The network already loaded from ``model`` (e.g. under a display name); None loads it.

    Raises:
        ConfXError: Unknown network, dataflow, objective, constraint or space;
            ``mul`` outside [0, 1].
    """
    action_space = named_space(space, choose_dataflow=choose_dataflow) if isinstance(space, str) else space
    spec = ProblemSpec(model, dataflow, objective, constraint, float(mul), action_space)
    spec.check()
    return Problem(spec, layers)


__all__ = [
    "CONSTRAINTS",
    "OBJECTIVES",
    "Evaluation",
    "Problem",
    "ProblemSpec",
    "build_problem",
    "layer_objective",
]
