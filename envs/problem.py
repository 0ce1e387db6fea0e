"""The ConfuciuX problem that every search shares.

A problem is a network (layer table), a dataflow (a template, a style of the mapping
library or a ``.m`` file), an objective, a constraint (area or power), a budget level
``mul`` (or an absolute cap) and an action space, which also fixes the hardware. A
*design* gives every layer a PE count and a K-tile size (and a dataflow, NoC bandwidth
and SIMD lanes where the space makes them decisions): an int64 array of shape
(n_layers, n_genes) holding P and B *values*, not grid indices, so that the GA may leave
the grid, and codes for the other genes. Every (layer, action) is evaluated once by the
cost model and memoised; whole-model evaluations of a population are one vectorised
gather over that memo.

This module imports numpy and the cost model only, so Ray workers load it fast.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from confx.costmodel import general, mapped
from confx.costmodel.errors import ConfXError
from confx.costmodel.layers import LayerTable, load_network
from confx.costmodel.presets import HardwarePreset, constraint_scale, hardware_preset
from confx.envs.space import ActionSpace, design_space, named_space

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
    cap: float | None = None
    """An absolute budget in the constraint's reported unit (mm^2 or mW on a physical space), instead of ``mul``."""

    @property
    def mappings(self) -> tuple[str, ...]:
        """The mappings a design's dataflow codes index: the space's choices, or the problem's one."""
        return self.space.dataflows if self.space.choose_dataflow else (self.dataflow,)

    def check(self) -> None:
        """Raise :class:`ConfXError` naming every bad field at once."""
        problems = []
        for name in dict.fromkeys((self.dataflow, *self.mappings)):
            problem = mapped.mapping_problem(name)
            if problem:
                problems.append(problem)
        if self.objective not in OBJECTIVES:
            problems.append(f"objective {self.objective!r} is unknown (use {', '.join(OBJECTIVES)})")
        if self.constraint not in CONSTRAINTS:
            problems.append(f"constraint {self.constraint!r} is unknown (use {', '.join(CONSTRAINTS)})")
        if not (0.0 <= self.mul <= 1.0):
            problems.append(f"mul {self.mul} is outside [0, 1]")
        if self.cap is not None and not (np.isfinite(self.cap) and self.cap > 0):
            problems.append(f"cap {self.cap} must be a positive number")
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
    """Memo entries in transit: cell indices (6, M) = (layer, dataflow, P-1, B-1, NoC code, SIMD code), and outputs."""

    cells: NDArray[np.int64]
    valid: NDArray[np.bool_]
    values: dict[str, NDArray[np.float64]]


class LayerCostMemo:
    """Per-(layer, dataflow, P, B, NoC bandwidth, SIMD lanes) cost-model outputs, filled on demand.

    A dense table over the value box ``P in 1..max P``, ``B in 1..max B`` and the codes of
    the other genes: any integer action within the space's bounds can be looked up, and each
    point is evaluated by the cost model at most once (``cost_model_calls`` counts them).
    """

    FIELDS = (
        "runtime_cycles", "energy_nj", "area", "power", "throughput", "num_macs", "l1_bytes", "l2_bytes", "true_macs"
    )  # fmt: skip
    """Every numeric output a solution table shows, so that it is read from here (exact: integers below 2**53)."""

    @classmethod
    def size_bytes(cls, n_layers: int, space: ActionSpace, n_mappings: int) -> int:
        """Bytes the memo of a table of n_layers needs: two flags and the fields per cell."""
        cells = n_layers * n_mappings * max(space.num_pe) * max(space.ktile)
        return cells * len(space.noc_bw_values) * len(space.simd_lane_values) * (2 + 8 * len(cls.FIELDS))

    def __init__(
        self,
        layers: LayerTable,
        space: ActionSpace,
        mappings: tuple[str, ...],
        *,
        shared: LayerCostMemo | None = None,
    ) -> None:
        """``shared``: a memo of the same problem to take known outputs from (see :meth:`prefill`).

        Outputs taken from it are stored and counted here exactly as if this memo had called
        the cost model: ``cost_model_calls`` stays the number of distinct points this memo's
        searches asked for, whatever another search computed before.
        """
        self.shared = shared
        hardware_axes = (len(space.noc_bw_values), len(space.simd_lane_values))
        shape = (layers.n_layers, len(mappings), max(space.num_pe), max(space.ktile), *hardware_axes)
        self.layers = layers
        self.mappings = mappings
        self.noc_bw = np.asarray(space.noc_bw_values, dtype=np.int64)
        self.simd_lanes = np.asarray(space.simd_lane_values, dtype=np.int64)
        self.hardware = space.hardware
        self.known = np.zeros(shape, dtype=bool)
        self.valid = np.zeros(shape, dtype=bool)
        # One trailing axis for all fields, so that a lookup is a single gather.
        self.table = np.zeros((*shape, len(self.FIELDS)), dtype=np.float64)
        self.cost_model_calls = 0
        self._log: list[NDArray[np.int64]] = []

    def lookup(
        self,
        layer: NDArray[np.int64],
        dataflow: NDArray[np.int64],
        num_pe: NDArray[np.int64],
        ktile: NDArray[np.int64],
        noc: NDArray[np.int64] | int = 0,
        simd: NDArray[np.int64] | int = 0,
    ) -> tuple[NDArray[np.bool_], dict[str, NDArray[np.float64]]]:
        """Outputs for points given by index arrays of one shape; evaluates unknown points once.

        ``dataflow``, ``noc`` and ``simd`` are codes into the problem's mappings and the space's values.
        """
        index = (layer, dataflow, num_pe - 1, ktile - 1, noc, simd)
        missing = ~self.known[index]
        if missing.any():
            cells = np.unique(np.stack([np.broadcast_to(a, missing.shape)[missing] for a in index]), axis=1)
            self._fill(tuple(cells))
        rows = self.table[index]
        return self.valid[index], {name: rows[..., i] for i, name in enumerate(self.FIELDS)}

    def _fill(self, cells: tuple[NDArray[np.int64], ...]) -> None:
        if self.shared is None:
            self._compute(cells)
            return
        self.shared.ensure(cells)
        known = self.shared.export(np.stack(cells))
        self._store(cells, known.valid, known.values)

    def peek(
        self, *point: NDArray[np.int64] | int
    ) -> tuple[NDArray[np.bool_], NDArray[np.bool_], dict[str, NDArray[np.float64]]]:
        """``(known, valid, outputs)`` at points given as for :meth:`lookup`; evaluates nothing, counts nothing."""
        layer, dataflow, num_pe, ktile, *hardware = point
        noc, simd = (*hardware, 0, 0)[:2]
        index = (layer, dataflow, np.asarray(num_pe) - 1, np.asarray(ktile) - 1, noc, simd)
        known = self.known[index]
        rows = self.table[index]
        return known, self.valid[index], {name: rows[..., i] for i, name in enumerate(self.FIELDS)}

    def ensure(self, cells: tuple[NDArray[np.int64], ...]) -> None:
        """Compute the cells (index arrays) not known yet; not logged for :meth:`take_new_cells`."""
        missing = ~self.known[cells]
        if missing.any():
            self._compute(tuple(axis[missing] for axis in cells), log=False)

    def prefill(self, space: ActionSpace, *, max_cells: int = 500_000) -> None:
        """Compute every cell of the space's own values in one vectorised call (skipped above ``max_cells``).

        Why: a sweep's group runs several searches on one problem; each search's memo takes
        its points from this one (``shared``), so a search that evaluates one design at a time
        (annealing) no longer pays the cost model's per-call overhead for every step.
        """
        axes = (
            np.arange(self.layers.n_layers),
            np.arange(len(self.mappings)),
            np.asarray(space.num_pe) - 1,
            np.asarray(space.ktile) - 1,
            np.arange(len(self.noc_bw)),
            np.arange(len(self.simd_lanes)),
        )
        if int(np.prod([len(axis) for axis in axes])) <= max_cells:
            self.ensure(tuple(grid.ravel() for grid in np.meshgrid(*axes, indexing="ij")))

    def _compute(self, cells: tuple[NDArray[np.int64], ...], *, log: bool = True) -> None:
        layer, dataflow, pe_index, tile_index, noc, simd = cells
        valid = np.zeros(len(layer), dtype=bool)
        values = {name: np.zeros(len(layer)) for name in self.FIELDS}
        hw = self.hardware
        for code in np.unique(dataflow):
            m = dataflow == code
            # Each layer's stride and group count go with it (the table's defaults are 1).
            result = mapped.evaluate_points(
                self.layers.dims[layer[m]],
                self.layers.options(layer[m]),
                self.mappings[code],
                pe_index[m] + 1,
                tile_index[m] + 1,
                noc_bw=self.noc_bw[noc[m]],
                simd_lanes=self.simd_lanes[simd[m]],
                noc_latency=hw.noc_hops * hw.noc_hop_latency,
                offchip_bw=hw.offchip_bw,
            )
            valid[m] = result.valid
            for name in self.FIELDS:
                values[name][m] = getattr(result, name)
        self._store(cells, valid, values, log=log)

    def _store(
        self,
        cells: tuple[NDArray[np.int64], ...],
        valid: NDArray[np.bool_],
        values: dict[str, NDArray],
        *,
        log: bool = True,
    ) -> None:
        self.known[cells] = True
        self.valid[cells] = valid
        self.table[cells] = np.stack([values[name] for name in self.FIELDS], axis=-1)
        self.cost_model_calls += len(cells[0])
        if log:
            self._log.append(np.stack(cells))

    def take_new_cells(self) -> MemoCells:
        """Cells evaluated since the last call, with their outputs (to merge into another memo)."""
        cells = np.concatenate(self._log, axis=1) if self._log else np.zeros((6, 0), dtype=np.int64)
        self._log = []
        return self.export(cells)

    def export(self, cells: NDArray[np.int64]) -> MemoCells:
        """Known cells (6, M) with their outputs."""
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
        budget: Maximum summed constraint, in MAESTRO's units (um^2, mW).
        constraint_range: ``(c_min, c_max)`` over the uniform corner designs.
        mappings: What the dataflow codes of a design name.
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
        self.mappings = spec.mappings
        self.dataflow_code = self.mappings.index(spec.dataflow) if spec.dataflow in self.mappings else 0
        _check_memo_size(self.layers, self.space, len(self.mappings))
        self.memo = LayerCostMemo(self.layers, self.space, self.mappings)
        self.model_evaluations = 0
        self.constraint_range = self._corner_range()
        c_min, c_max = self.constraint_range
        self.budget = c_min + (c_max - c_min) * spec.mul
        if spec.cap is not None:
            self.budget = spec.cap / self.constraint_scale

    @property
    def constraint_scale(self) -> float:
        """MAESTRO's constraint unit to the reported one (um^2 to mm^2 on a physical space)."""
        return constraint_scale(self.spec.constraint, physical=self.space.physical)

    @property
    def n_layers(self) -> int:
        return self.layers.n_layers

    @property
    def cost_model_calls(self) -> int:
        return self.memo.cost_model_calls

    # --- designs -------------------------------------------------------------------------

    def design_from_indices(self, indices: NDArray[np.int64]) -> NDArray[np.int64]:
        """Map action-space indices (..., n_layers, n_genes) to a design (P and B values, codes otherwise)."""
        design = np.array(indices, dtype=np.int64, copy=True)
        design[..., GENE_NUM_PE] = np.asarray(self.space.num_pe)[indices[..., GENE_NUM_PE]]
        design[..., GENE_KTILE] = np.asarray(self.space.ktile)[indices[..., GENE_KTILE]]
        return design

    def uniform_design(
        self, num_pe: int, ktile: int, dataflow: int | None = None, noc: int = 0, simd: int = 0
    ) -> NDArray[np.int64]:
        """Every layer gets the same action, shape (n_layers, n_genes); NoC and SIMD as codes."""
        codes = {"dataflow": self.dataflow_code if dataflow is None else dataflow, "noc_bw": noc, "simd_lanes": simd}
        genes = [num_pe, ktile] + [codes[name] for name in self.space.gene_names[2:]]
        return np.tile(np.asarray(genes, dtype=np.int64), (self.n_layers, 1))

    def _dataflows(self, designs: NDArray[np.int64]) -> NDArray[np.int64]:
        if self.space.choose_dataflow:
            return designs[..., GENE_DATAFLOW]
        return np.full(designs.shape[:-1], self.dataflow_code, dtype=np.int64)

    def _code(self, designs: NDArray[np.int64], gene: str) -> NDArray[np.int64] | int:
        column = self.space.gene(gene)
        return 0 if column is None else designs[..., column]

    def hardware_values(self, designs: NDArray[np.int64]) -> dict[str, NDArray[np.int64]]:
        """NoC bandwidth and SIMD lanes of every layer of designs (..., n_layers, n_genes), as values."""
        shape = designs.shape[:-1]
        noc = np.broadcast_to(self._code(designs, "noc_bw"), shape)
        simd = np.broadcast_to(self._code(designs, "simd_lanes"), shape)
        return {"noc_bw": self.memo.noc_bw[noc], "simd_lanes": self.memo.simd_lanes[simd]}

    def _index(self, layer: NDArray[np.int64], designs: NDArray[np.int64]) -> tuple:
        """Memo lookup arguments of designs (..., n_genes) at layers of the same leading shape."""
        return (
            layer,
            self._dataflows(designs),
            designs[..., GENE_NUM_PE],
            designs[..., GENE_KTILE],
            self._code(designs, "noc_bw"),
            self._code(designs, "simd_lanes"),
        )

    # --- per-layer costs ------------------------------------------------------------------

    def layer_costs(self, designs: NDArray[np.int64]) -> tuple[NDArray[np.bool_], dict[str, NDArray[np.float64]]]:
        """Per-layer validity and cost-model outputs of designs (..., n_layers, n_genes)."""
        designs = np.asarray(designs, dtype=np.int64)
        layer = np.broadcast_to(np.arange(self.n_layers), designs.shape[:-1])
        return self.memo.lookup(*self._index(layer, designs))

    def known_layer_costs(
        self, design: NDArray[np.int64]
    ) -> tuple[NDArray[np.bool_], NDArray[np.bool_], dict[str, NDArray[np.float64]]]:
        """``(known, valid, outputs)`` of a design's layers already evaluated, here or in the shared memo.

        For reports on a finished search: reading them neither evaluates nor counts anything.
        """
        memo = self.memo.shared or self.memo
        design = np.asarray(design, dtype=np.int64)
        return memo.peek(*self._index(np.arange(self.n_layers), design))

    def known_values(self, design: NDArray[np.int64], gene: int) -> NDArray[np.bool_]:
        """Which values of a PE or K-tile gene this problem's searches already evaluated, per layer.

        Entry ``[l, v - 1]`` says whether layer l at value v of ``gene``, with its other genes
        as in ``design``, is in this problem's own memo (so that a search can reuse what it
        paid for: reading it evaluates and counts nothing).

        Returns:
            Shape (n_layers, max value of the gene).
        """
        if gene not in (GENE_NUM_PE, GENE_KTILE):
            raise ValueError(f"known_values reads the PE or K-tile gene, not gene {gene}")
        layer, dataflow, num_pe, ktile, noc, simd = self._index(np.arange(self.n_layers), np.asarray(design))
        if gene == GENE_NUM_PE:
            return np.asarray(self.memo.known[layer, dataflow, :, ktile - 1, noc, simd], dtype=bool)
        return np.asarray(self.memo.known[layer, dataflow, num_pe - 1, :, noc, simd], dtype=bool)

    def known_points_per_layer(self) -> NDArray[np.int64]:
        """Distinct points of each layer this problem's searches evaluated (their cost-model calls per layer)."""
        return np.asarray(self.memo.known.reshape(self.n_layers, -1).sum(axis=1), dtype=np.int64)

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
        valid, metrics = self.memo.lookup(*self._index(np.asarray(layer, dtype=np.int64), genes))
        return valid, layer_objective(self.objective, metrics), metrics[self.spec.constraint]

    def design_cells(self, designs: NDArray[np.int64]) -> MemoCells:
        """The memo cells (layer, action points) that designs (..., n_layers, n_genes) use, once each."""
        designs = np.asarray(designs, dtype=np.int64)
        layer = np.broadcast_to(np.arange(self.n_layers), designs.shape[:-1])
        layer, dataflow, num_pe, ktile, noc, simd = self._index(layer, designs)
        index = (layer, dataflow, num_pe - 1, ktile - 1, noc, simd)
        cells = np.unique(np.stack([np.ravel(np.broadcast_to(a, layer.shape)) for a in index]), axis=1)
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
        """Smallest and largest total constraint over the uniform corner designs (spec 1).

        Corners are the extreme P and B, every dataflow of the choice, and the extreme NoC
        bandwidth and SIMD lanes where they are decisions.
        """
        dataflows = range(len(self.mappings)) if self.space.choose_dataflow else [self.dataflow_code]
        space = self.space
        totals = []
        for num_pe, ktile, dataflow, noc, simd in itertools.product(
            sorted({min(space.num_pe), max(space.num_pe)}),
            sorted({min(space.ktile), max(space.ktile)}),
            dataflows,
            sorted({0, len(space.noc_bw_values) - 1}),
            sorted({0, len(space.simd_lane_values) - 1}),
        ):
            totals.append(self._corner_total(num_pe, ktile, dataflow, noc, simd))
        return float(min(totals)), float(max(totals))

    def _corner_total(self, num_pe: int, ktile: int, dataflow: int, noc: int, simd: int) -> float:
        valid, metrics = self.layer_costs(self.uniform_design(num_pe, ktile, dataflow, noc, simd))
        used = metrics[self.spec.constraint]
        if not valid.all():
            # A degenerate layer has no MAESTRO result; charge it its PEs, bus and arbiter
            # (area and power depend on the buffers below 1e-5 relative).
            pe = np.full(int((~valid).sum()), num_pe, dtype=np.int64)
            one = np.ones_like(pe)
            hw = {"noc_bw": self.memo.noc_bw[noc] + 0 * pe, "simd_lanes": self.memo.simd_lanes[simd] + 0 * pe}
            charge = general.area if self.spec.constraint == "area" else general.power
            used = used.copy()
            used[~valid] = charge(pe, one, one, **hw)
        return float(used.sum())


def _check_memo_size(layers: LayerTable, space: ActionSpace, n_mappings: int) -> None:
    """Refuse an action space whose dense cost memo would not fit in memory (before allocating it)."""
    need = LayerCostMemo.size_bytes(layers.n_layers, space, n_mappings)
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
    cap: float | None = None,
    hardware: str | HardwarePreset | None = None,
    noc_bw: tuple[int, ...] = (),
    simd_lanes: tuple[int, ...] = (),
    mappings: tuple[str, ...] = (),
) -> Problem:
    """Build a problem from plain arguments (CLI and config entry point).

    Args:
        model: Built-in network name or layer-table CSV path; every process that rebuilds the
            problem (an RLlib env runner, say) loads the network from it.
        dataflow: A template, library style or ``.m`` path.
        space: A named space or an :class:`ActionSpace` (which also carries the hardware).
        layers: The network already loaded from ``model`` (e.g. under a display name); None loads it.
        cap: Absolute budget in the constraint's reported unit (mm^2/mW on a physical space); None uses ``mul``.
        hardware: A preset (or its name) for the space's fixed knobs; None keeps the space's (the release's).
        noc_bw, simd_lanes: The knob's values: one fixes it, several make it a per-layer decision.
        mappings: Mappings each layer chooses from (turns the dataflow choice on).

    Raises:
        ConfXError: Unknown network, dataflow, objective, constraint or space;
            ``mul`` outside [0, 1].
    """
    action_space = named_space(space, choose_dataflow=choose_dataflow) if isinstance(space, str) else space
    if hardware is not None or noc_bw or simd_lanes or mappings:
        preset = hardware_preset(hardware) if isinstance(hardware, str) else hardware
        action_space = design_space(
            action_space, hardware=preset, noc_bw=tuple(noc_bw), simd_lanes=tuple(simd_lanes), dataflows=tuple(mappings)
        )
    spec = ProblemSpec(model, dataflow, objective, constraint, float(mul), action_space, cap)
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
