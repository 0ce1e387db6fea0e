"""The exact optimum of a ConfuciuX problem (spec section 6).

Apart from the shared budget the problem separates per layer: every layer picks
one action (P, B [, dataflow]) and pays its area or power. This is a
multiple-choice knapsack. The solver evaluates every action on every layer in
one vectorised cost-model call, drops invalid and dominated options, and solves

* summed objectives (latency, energy, LEP, LAP, EAP) exactly. The LP relaxation
  (a greedy over each layer's convex hull) gives a feasible design, a Lagrange
  multiplier and a lower bound; options that cannot beat the design are dropped;
  then either a dynamic programme over the layers on Pareto states (weight,
  excess), pruned by the same Lagrangian bound (``method="dp"``, the default:
  no solver tolerance anywhere), or a 0/1 MILP solved by HiGHS through
  ``scipy.optimize.milp`` at zero gap (``method="milp"``) finds the optimum;
* ``thrpt_btnk`` (maximise the slowest layer's throughput) by a threshold
  search: at threshold t every layer takes its cheapest option with throughput
  >= t, and the best t is found by bisection over the distinct throughputs;
* ``thrpt_ave`` (total MACs over total cycles) by Dinkelbach's method, whose
  subproblems ``min sum(lambda * runtime - macs)`` are summed knapsacks.

Feasibility is always decided by the problem's own test (``Problem.evaluate``),
so a design the solver returns is feasible exactly as every other search sees it.
A result is labelled optimal only when every step is certified: by the DP's
exhaustive (pruned) search, exact up to float64 rounding of sums; by HiGHS's
bound, up to ``GAP_RTOL`` of the optimum's excess over the per-layer best terms;
by the threshold search, exactly.
"""

from __future__ import annotations

import itertools
import logging
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import csr_array

from confx.costmodel.errors import ConfXError
from confx.envs.problem import BUDGET_RTOL, SUMMED, Problem, layer_objective
from confx.pipeline.search.base import BestTracker, SearchResult
from confx.pipeline.search.settings import ExactSettings

logger = logging.getLogger(__name__)

MIP_TOLERANCE = 1e-7
"""HiGHS's ``mip_feasibility_tolerance``. HiGHS uses it twice: as the allowed violation of a
row (the budget row is scaled to the spare capacity) and as the smallest objective improvement
it searches for (the objective is scaled to the incumbent's excess over the per-layer best
terms). Tighter values make HiGHS crawl on power budgets, whose weights differ by tiny
K-tile-dependent amounts; budget slips are caught by the problem's own test instead."""

HIGHS_OPTIONS = {
    "mip_rel_gap": 0.0,
    "mip_abs_gap": 0.0,
    "mip_feasibility_tolerance": MIP_TOLERANCE,
    "primal_feasibility_tolerance": 1e-9,
}
"""HiGHS settings: zero gap, so that 'optimal' is certified down to ``MIP_TOLERANCE``."""

METHODS = ("dp", "milp")
"""Exact methods for the summed knapsack."""

MAX_DP_CANDIDATES = 8_000_000
"""States x options allowed in one DP step (64 MB per float array); beyond it the MILP takes over."""

DP_FIRST_FRACTION = 1 / 64
"""Limit of the first DP pass, as a fraction of the gap between the LP bound and the incumbent."""

MAX_SOLVES = 12
"""MILP solves allowed per knapsack (improved incumbents and excluded over-budget slips)."""

GAP_RTOL = 10 * MIP_TOLERANCE
"""Gap between an incumbent and HiGHS's bound, relative to the incumbent's excess over the
per-layer best terms, that counts as closed: HiGHS does not look for improvements below
``MIP_TOLERANCE`` and its LP bounds trail by about as much again."""

OPTIMALITY_RTOL = 1e-12
"""Floating-point rounding of a whole-model sum, relative to its value."""

MAX_DINKELBACH_STEPS = 50
"""Dinkelbach converges superlinearly; a handful of steps is typical."""

RATIO_RTOL = 1e-12
"""Relative improvement below which Dinkelbach's ratio counts as converged."""


@dataclass(frozen=True)
class OptionTable:
    """Every action of the space evaluated on every layer.

    Attributes:
        actions: Action values, int64 shape (n_options, n_genes) (P, B [, dataflow, NoC, SIMD codes]).
        valid: Cost-model validity, shape (n_options, n_layers).
        term: Per-layer objective term in natural units, shape (n_options, n_layers).
        weight: Per-layer constraint (area or power), shape (n_options, n_layers).
        macs: Per-layer MAC count, shape (n_options, n_layers).
        runtime_cycles: Per-layer runtime, shape (n_options, n_layers).
    """

    actions: NDArray[np.int64]
    valid: NDArray[np.bool_]
    term: NDArray[np.float64]
    weight: NDArray[np.float64]
    macs: NDArray[np.float64]
    runtime_cycles: NDArray[np.float64]

    @property
    def n_layers(self) -> int:
        return int(self.valid.shape[1])

    def design(self, choice: NDArray[np.int64]) -> NDArray[np.int64]:
        """Design of values (n_layers, n_genes) from one option index per layer (n_layers,)."""
        return self.actions[choice].copy()


@dataclass
class Choice:
    """One option index per layer (n_layers,), and whether the step that chose it is certified."""

    option: NDArray[np.int64]
    certified: bool
    note: str = ""


# --- option table ---------------------------------------------------------------------------


def space_actions(problem: Problem) -> NDArray[np.int64]:
    """Every action value of the problem's space, int64 shape (n_options, n_genes)."""
    return np.asarray(list(itertools.product(*problem.space.gene_values)), dtype=np.int64)


def build_option_table(problem: Problem) -> OptionTable:
    """Evaluate every action on every layer in one vectorised call through the problem's memo."""
    actions = space_actions(problem)
    designs = np.broadcast_to(actions[:, None, :], (len(actions), problem.n_layers, actions.shape[1]))
    valid, metrics = problem.layer_costs(designs)
    if not valid.any(axis=0).all():
        dead = np.flatnonzero(~valid.any(axis=0)).tolist()
        raise ConfXError(
            f"layers {dead} of {problem.layers.name!r} have no valid action in space "
            f"{problem.space.name!r}; widen the action space"
        )
    return OptionTable(
        actions=actions,
        valid=valid,
        term=layer_objective(problem.objective, metrics),
        weight=np.asarray(metrics[problem.spec.constraint], dtype=np.float64),
        macs=np.asarray(metrics["num_macs"], dtype=np.float64),
        runtime_cycles=np.asarray(metrics["runtime_cycles"], dtype=np.float64),
    )


def cheapest_choice(table: OptionTable) -> NDArray[np.int64]:
    """The lightest valid option of every layer, shape (n_layers,)."""
    return np.argmin(np.where(table.valid, table.weight, np.inf), axis=0)


def pareto_options(weight: NDArray[np.float64], term: NDArray[np.float64]) -> NDArray[np.int64]:
    """Indices of the options no other option dominates (lighter-or-equal and better-or-equal).

    Args:
        weight: Constraint of each option of one layer, shape (n,).
        term: Objective term to minimise, shape (n,).

    Returns:
        Indices into the inputs, sorted by increasing weight (and strictly decreasing term).
    """
    order = np.lexsort((term, weight))
    sorted_term = term[order]
    best_before = np.minimum.accumulate(np.concatenate([[np.inf], sorted_term[:-1]]))
    return order[sorted_term < best_before]


# --- summed objectives: the multiple-choice knapsack, its LP relaxation and pruning ------


@dataclass(frozen=True)
class Knapsack:
    """The candidate options of every layer for one summed term and capacity.

    Weights and terms are offsets from each layer's lightest and best candidate (>= 0),
    so that HiGHS sees O(1) numbers and not areas of 1e14.

    Attributes:
        options: Per layer, option indices into the table, sorted by increasing weight.
        weights: Per layer, extra constraint over the layer's lightest option, shape (n_l,).
        terms: Per layer, objective term minus the layer's best candidate term, shape (n_l,).
        spare: Capacity left after every layer's lightest option (>= 0).
        offset: Sum over layers of the best candidate term, in the term's units.
        margin: Rounding allowance on weights: options heavier than ``spare + margin`` are dropped.
    """

    options: list[NDArray[np.int64]]
    weights: list[NDArray[np.float64]]
    terms: list[NDArray[np.float64]]
    spare: float
    offset: float
    margin: float

    def excess(self, picks: list[int]) -> tuple[float, float]:
        """Summed term above ``offset`` and summed extra weight of one position per layer."""
        term = sum(float(t[p]) for t, p in zip(self.terms, picks, strict=True))
        weight = sum(float(w[p]) for w, p in zip(self.weights, picks, strict=True))
        return term, weight

    @property
    def capacity_bound(self) -> float:
        """Largest extra weight a design the problem may accept can have: ``spare`` plus rounding.

        Options and states above it are dropped, and Lagrangian bounds use it, so that no
        design the problem's own budget test accepts is ever pruned.
        """
        return self.spare + self.margin

    def option_of(self, picks: list[int]) -> NDArray[np.int64]:
        """Table option indices (n_layers,) of one position per layer."""
        return np.array([options[p] for options, p in zip(self.options, picks, strict=True)], dtype=np.int64)


def prepare_knapsack(table: OptionTable, term: NDArray[np.float64], capacity: float) -> Knapsack:
    """Keep per layer the valid options that fit the capacity and that no other option dominates."""
    weight = np.where(table.valid, table.weight, np.inf)
    lightest = weight.min(axis=0)
    spare = max(capacity - float(lightest.sum()), 0.0)
    margin = 1e-14 * abs(capacity)  # far above the rounding of a sum, far below any weight step
    options, weights, terms, offset = [], [], [], 0.0
    for layer in range(table.n_layers):
        extra = weight[:, layer] - lightest[layer]
        fits = np.flatnonzero(table.valid[:, layer] & (extra <= spare + margin))  # see capacity_bound
        front = fits[pareto_options(extra[fits], term[fits, layer])]
        best = float(term[front, layer].min())
        options.append(front)
        weights.append(extra[front])
        terms.append(term[front, layer] - best)
        offset += best
    logger.debug("exact: %d candidate options on %d layers", sum(map(len, options)), table.n_layers)
    return Knapsack(options, weights, terms, spare, offset, margin)


def lower_hull(weight: NDArray[np.float64], term: NDArray[np.float64]) -> list[int]:
    """Positions of a layer's front (weight ascending, term descending) on its lower convex hull."""
    hull: list[int] = []
    for point in range(len(weight)):
        while len(hull) >= 2:
            a, b = hull[-2], hull[-1]
            turn = (weight[b] - weight[a]) * (term[point] - term[a]) - (term[b] - term[a]) * (weight[point] - weight[a])
            if turn > 0:  # a strict left turn: b stays on the hull
                break
            hull.pop()
        hull.append(point)
    return hull


def lp_relaxation(knapsack: Knapsack) -> tuple[list[int], float, float]:
    """Greedy solution of the knapsack's LP relaxation (Sinha and Zoltners).

    Every layer starts at its lightest option and moves up its lower convex hull; moves are
    taken in order of decreasing term saved per unit of weight until one does not fit.

    Returns:
        ``(integer design of the moves that fit, LP multiplier of the budget, LP bound on the excess)``.
        The design is feasible; the multiplier is the efficiency of the first move that did not fit
        (0 if all fit, and then the design takes every layer's best term and is optimal).
    """
    moves = []  # (efficiency, layer, position reached, weight step)
    for layer, (weight, term) in enumerate(zip(knapsack.weights, knapsack.terms, strict=True)):
        hull = lower_hull(weight, term)
        for a, b in itertools.pairwise(hull):
            moves.append((-(term[b] - term[a]) / (weight[b] - weight[a]), layer, b, weight[b] - weight[a]))
    moves.sort(key=lambda move: (-move[0], move[1], move[2]))
    picks, used, multiplier = [0] * len(knapsack.weights), 0.0, 0.0
    for efficiency, layer, position, step in moves:
        if used + step > knapsack.spare:
            multiplier = float(efficiency)
            break
        picks[layer], used = position, used + step
    bound = sum(float(np.min(t + multiplier * w)) for w, t in zip(knapsack.weights, knapsack.terms, strict=True))
    return picks, multiplier, bound - multiplier * knapsack.capacity_bound


def promising_options(knapsack: Knapsack, multiplier: float, bound: float, limit: float) -> list[NDArray[np.int64]]:
    """Per layer, positions of options that may be part of a design with excess <= ``limit``.

    A design holding option o of layer l has excess >= ``bound + reduced cost of o`` (Lagrangian
    bound at the LP multiplier), so options whose bound exceeds ``limit`` are dropped.
    """
    keep = []
    margin = 1e-9 * abs(limit) + 1e-12 * abs(knapsack.offset)  # rounding of the bound's sums
    for weight, term in zip(knapsack.weights, knapsack.terms, strict=True):
        priced = term + multiplier * weight
        reduced = priced - priced.min()
        keep.append(np.flatnonzero((bound + reduced <= limit + margin) & (term <= limit + margin)))
    return keep


def closed_gap(excess: float, bound: float, offset: float, *, rtol: float = 0.0) -> bool:
    """Whether a lower bound on the excess certifies an incumbent, up to rounding and ``rtol * excess``.

    For HiGHS's bound ``rtol`` is ``GAP_RTOL``: at ``mip_rel_gap=0`` HiGHS prunes every node
    whose bound is within ``MIP_TOLERANCE`` objective units of the incumbent, and the unit
    here is the incumbent's excess.
    """
    return excess - bound <= rtol * excess + OPTIMALITY_RTOL * (abs(offset) + abs(excess))


# --- summed objectives: exact MILP with HiGHS -----------------------------------------------


def knapsack_milp(
    knapsack: Knapsack, keep: list[NDArray[np.int64]], *, term_scale: float, forbidden: list[list[int]]
) -> tuple[list[int], bool, float]:
    """Solve the knapsack over the kept options with HiGHS at zero gap.

    Args:
        knapsack: The candidates.
        keep: Per layer, positions of the options the MILP may choose.
        term_scale: Objective unit (the excess of a known design), so that the optimum is O(1)
            and HiGHS's tolerances act on differences near the optimum.
        forbidden: Designs (a position per layer) excluded by no-good cuts.

    Returns:
        ``(position chosen in each layer, HiGHS reports optimal, HiGHS's lower bound on the excess)``.
    """
    sizes = [len(k) for k in keep]
    layer_of = np.repeat(np.arange(len(sizes)), sizes)
    weight = np.concatenate([w[k] for w, k in zip(knapsack.weights, keep, strict=True)])
    term = np.concatenate([t[k] for t, k in zip(knapsack.terms, keep, strict=True)])
    one_hot = csr_array((np.ones(len(layer_of)), (layer_of, np.arange(len(layer_of)))))
    unit = max(knapsack.spare, knapsack.margin, np.finfo(float).tiny)  # the budget row in O(1) units
    constraints = [
        LinearConstraint(one_hot, 1.0, 1.0),
        LinearConstraint(weight[None, :] / unit, -np.inf, knapsack.spare / unit),
    ]
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    if forbidden:
        constraints.append(no_good_cuts(keep, starts, forbidden))
    with warnings.catch_warnings():
        # scipy passes options it does not know (the gaps and tolerances) to HiGHS verbatim.
        warnings.filterwarnings("ignore", message="Unrecognized options detected", category=RuntimeWarning)
        result = milp(
            term / term_scale,
            integrality=np.ones(len(term)),
            bounds=Bounds(0, 1),
            constraints=constraints,
            options=dict(HIGHS_OPTIONS),
        )
    if result.x is None:
        raise ConfXError(f"the exact solver found no feasible design: {result.message}")
    picks = [int(k[np.argmax(result.x[s : s + n])]) for k, s, n in zip(keep, starts, sizes, strict=True)]
    return picks, result.status == 0, float(result.mip_dual_bound) * term_scale


def no_good_cuts(
    keep: list[NDArray[np.int64]], starts: NDArray[np.int64], forbidden: list[list[int]]
) -> LinearConstraint:
    """Rows ``sum of a design's variables <= n_layers - 1`` that exclude exactly those designs."""
    n_layers, n_vars = len(keep), int(starts[-1] + len(keep[-1]))
    rows = np.zeros((len(forbidden), n_vars))
    for row, design in enumerate(forbidden):
        for layer, position in enumerate(design):
            found = np.searchsorted(keep[layer], position)
            if found < len(keep[layer]) and keep[layer][found] == position:
                rows[row, starts[layer] + found] = 1.0
    return LinearConstraint(csr_array(rows), -np.inf, n_layers - 1.0)


def milp_choice(
    knapsack: Knapsack,
    multiplier: float,
    lp_bound: float,
    incumbent: list[int],
    within_budget: Callable[[NDArray[np.int64]], bool],
) -> Choice:
    """The knapsack's optimum by HiGHS, re-solved until it stops improving on the incumbent.

    Each solve drops the options whose Lagrangian bound exceeds the incumbent's excess and
    scales the objective to that excess, so that HiGHS's absolute tolerances act on
    differences near the optimum. An answer that fails ``within_budget`` (HiGHS allows rows
    to be violated by its tolerance) is excluded by a no-good cut, which keeps the search exact.
    """
    picks, (excess, _) = incumbent, knapsack.excess(incumbent)
    forbidden: list[list[int]] = []
    for _ in range(MAX_SOLVES):
        keep = promising_options(knapsack, multiplier, lp_bound, excess)
        logger.debug("exact: MILP over %d of %d options", sum(map(len, keep)), sum(map(len, knapsack.terms)))
        trial, solved, milp_bound = knapsack_milp(knapsack, keep, term_scale=excess, forbidden=forbidden)
        trial_excess, _ = knapsack.excess(trial)
        if not within_budget(knapsack.option_of(trial)):
            forbidden.append(trial)
        elif trial_excess < excess:
            picks, excess = trial, trial_excess
        else:
            certified = solved and closed_gap(excess, milp_bound, knapsack.offset, rtol=GAP_RTOL)
            return Choice(knapsack.option_of(picks), certified, "" if certified else "HiGHS left a gap")
    return Choice(knapsack.option_of(picks), False, f"HiGHS did not settle within {MAX_SOLVES} MILP solves")


# --- summed objectives: exact dynamic programme (the default) -------------------------------


def lagrangian_rest(knapsack: Knapsack, multiplier: float) -> NDArray[np.float64]:
    """Per layer l, ``sum over later layers of min(term + multiplier * weight)``, shape (n_layers,)."""
    priced = np.array([np.min(t + multiplier * w) for w, t in zip(knapsack.weights, knapsack.terms, strict=True)])
    return np.concatenate([np.cumsum(priced[::-1])[::-1][1:], [0.0]])


def backtrack(trace: list[tuple[NDArray[np.int64], NDArray[np.int64]]], state: int) -> list[int]:
    """Positions per layer of a final DP state, from the per-layer (parent state, position) arrays."""
    picks = []
    for parents, positions in reversed(trace):
        picks.append(int(positions[state]))
        state = int(parents[state])
    return picks[::-1]


def dp_pass(
    knapsack: Knapsack, multiplier: float, rest: NDArray[np.float64], limit: float
) -> tuple[list[tuple[NDArray[np.int64], NDArray[np.int64]]], NDArray[np.float64]] | None:
    """One DP pass over the layers, keeping every partial design that may end with excess <= ``limit``.

    A state is a choice for the first layers. It survives if it fits the capacity, if no
    other state is lighter-or-equal and better-or-equal, and if its Lagrangian bound (its
    excess plus the LP bound of the remaining layers at ``multiplier``) is at most ``limit``.

    Returns:
        ``(per layer (parent state, position) arrays, final states' excess)``; the final
        states are empty if no design reaches ``limit``; None if a step would exceed
        ``MAX_DP_CANDIDATES``.
    """
    state_weight, state_excess, trace = np.zeros(1), np.zeros(1), []
    for layer, (weight, term) in enumerate(zip(knapsack.weights, knapsack.terms, strict=True)):
        if len(state_weight) * len(weight) > MAX_DP_CANDIDATES:
            return None
        total_weight = np.add.outer(state_weight, weight).ravel()
        total_excess = np.add.outer(state_excess, term).ravel()
        bound = total_excess + np.maximum(0.0, rest[layer] - multiplier * (knapsack.capacity_bound - total_weight))
        alive = np.flatnonzero((total_weight <= knapsack.capacity_bound) & (bound <= limit))
        alive = alive[pareto_options(total_weight[alive], total_excess[alive])]
        trace.append(np.divmod(alive, len(weight)))
        state_weight, state_excess = total_weight[alive], total_excess[alive]
    return trace, state_excess


def dp_choice(
    knapsack: Knapsack,
    multiplier: float,
    lp_bound: float,
    incumbent: list[int],
    within_budget: Callable[[NDArray[np.int64]], bool],
) -> Choice | None:
    """Exact optimum by DP passes with a growing limit between the LP bound and the incumbent.

    A pass with limit L keeps every design with excess <= L, so the best design it finds is
    the optimum. Optima sit close to the LP bound, and a pass's cost grows with L, so the
    limit starts at ``DP_FIRST_FRACTION`` of the gap and doubles until a pass finds a design.
    Only float64 sums are involved; no solver tolerance.

    Returns:
        The optimum (certified), or None if the DP's state set grows too large.
    """
    excess, _ = knapsack.excess(incumbent)
    rounding = OPTIMALITY_RTOL * (abs(excess) + abs(knapsack.offset))  # of the Lagrangian bound's sums
    rest = lagrangian_rest(knapsack, multiplier)
    fraction = DP_FIRST_FRACTION
    while True:
        limit = min(lp_bound + fraction * (excess - lp_bound), excess) + rounding
        outcome = dp_pass(knapsack, multiplier, rest, limit)
        if outcome is None:
            return None
        trace, final_excess = outcome
        for state in np.argsort(final_excess, kind="stable"):  # the best, unless rounding fails its budget test
            picks = backtrack(trace, int(state))
            if within_budget(knapsack.option_of(picks)):
                return Choice(knapsack.option_of(picks), certified=True)
        if fraction >= 1.0:
            return Choice(knapsack.option_of(incumbent), certified=False, note="no DP state passed the budget test")
        fraction *= 2


# --- summed objectives: entry --------------------------------------------------------------


def min_sum_choice(
    table: OptionTable,
    term: NDArray[np.float64],
    capacity: float,
    within_budget: Callable[[NDArray[np.int64]], bool],
    *,
    method: str = "dp",
    good_enough: float = -np.inf,
) -> Choice:
    """Best option per layer for a summed term (n_options, n_layers) under an absolute capacity.

    Args:
        table: The option table.
        term: Per-layer term to minimise, shape (n_options, n_layers).
        capacity: Largest total weight accepted.
        within_budget: The authoritative budget test of a design given as option indices (n_layers,).
        method: ``dp`` (falls back to the MILP if its state set grows too large) or ``milp``.
        good_enough: Return the LP relaxation's design, uncertified, if its summed term is below this.

    Returns:
        One option per layer, and whether its optimality is certified.
    """
    knapsack = prepare_knapsack(table, term, capacity)
    picks, multiplier, lp_bound = lp_relaxation(knapsack)
    if not within_budget(knapsack.option_of(picks)):  # rounding at the very edge of the budget
        picks = [0] * table.n_layers  # every layer's lightest option: the cheapest design
    excess, _ = knapsack.excess(picks)
    if closed_gap(excess, lp_bound, knapsack.offset):
        return Choice(knapsack.option_of(picks), certified=True)  # the LP optimum is integral
    if excess + knapsack.offset < good_enough:
        return Choice(knapsack.option_of(picks), certified=False, note="good enough, not optimised")
    if method == "dp":
        choice = dp_choice(knapsack, multiplier, lp_bound, picks, within_budget)
        if choice is not None:
            return choice
        logger.warning("exact: the DP's state set outgrew %d candidates; solving with HiGHS", MAX_DP_CANDIDATES)
    return milp_choice(knapsack, multiplier, lp_bound, picks, within_budget)


def feasible_min_sum(
    problem: Problem,
    table: OptionTable,
    tracker: BestTracker,
    term: NDArray[np.float64],
    *,
    method: str,
    good_enough: float = -np.inf,
) -> Choice:
    """:func:`min_sum_choice` at the problem's budget, with the problem's own budget test."""

    def within_budget(option: NDArray[np.int64]) -> bool:
        design = table.design(option)
        evaluation = problem.evaluate(design)
        tracker.observe(design, evaluation)
        return bool(evaluation.feasible[0])

    capacity = problem.budget * (1 + BUDGET_RTOL)
    return min_sum_choice(table, term, capacity, within_budget, method=method, good_enough=good_enough)


# --- throughput objectives ------------------------------------------------------------------


def bottleneck_choice(problem: Problem, table: OptionTable, tracker: BestTracker) -> Choice:
    """Maximise the minimum per-layer throughput by bisection over the distinct throughput levels.

    At threshold t each layer takes its cheapest option with throughput >= t; feasibility
    only gets harder as t grows, and the best design's bottleneck is one of the levels.
    """
    throughput = np.where(table.valid, table.term, -np.inf)
    weight = np.where(table.valid, table.weight, np.inf)
    levels = np.unique(throughput[table.valid])
    levels = levels[levels <= throughput.max(axis=0).min()]  # higher levels leave some layer without an option

    def cheapest_at(level: float) -> tuple[NDArray[np.int64], bool]:
        option = np.argmin(np.where(throughput >= level, weight, np.inf), axis=0)
        design = table.design(option)
        evaluation = problem.evaluate(design)
        tracker.observe(design, evaluation)
        return option, bool(evaluation.feasible[0])

    best, _ = cheapest_at(levels[0])  # every valid option qualifies: the cheapest design, checked feasible
    low, high = 0, len(levels) - 1
    while low < high:
        middle = (low + high + 1) // 2
        option, feasible = cheapest_at(levels[middle])
        if feasible:
            low, best = middle, option
        else:
            high = middle - 1
    return Choice(best, certified=True)


def ratio_choice(problem: Problem, table: OptionTable, tracker: BestTracker, *, method: str) -> Choice:
    """Maximise total MACs over total cycles by Dinkelbach's method.

    With lambda the ratio of the best design so far, a design has a higher ratio iff its
    ``sum(lambda * runtime - macs)`` is negative, and minimising that sum is a summed
    knapsack. Any negative design moves lambda on (the LP relaxation's design is taken when
    it is negative, which saves exact solves); when the exact minimum is not negative,
    lambda is optimal.
    """
    layers = np.arange(table.n_layers)
    best = cheapest_choice(table)
    for _ in range(MAX_DINKELBACH_STEPS):
        level = float(table.macs[best, layers].sum() / table.runtime_cycles[best, layers].sum())
        term = level * table.runtime_cycles - table.macs
        slack = RATIO_RTOL * level * float(table.runtime_cycles[best, layers].sum())  # rounding of the sums
        step = feasible_min_sum(problem, table, tracker, term, method=method, good_enough=-slack)
        if float(term[step.option, layers].sum()) < -slack:
            best = step.option
            continue
        return Choice(best, step.certified, step.note)
    return Choice(best, certified=False, note=f"Dinkelbach did not converge in {MAX_DINKELBACH_STEPS} steps")


# --- entry points ---------------------------------------------------------------------------


def check_cheapest_fits(problem: Problem, table: OptionTable, tracker: BestTracker) -> None:
    """Raise :class:`ConfXError` if even the lightest valid design exceeds the budget."""
    design = table.design(cheapest_choice(table))
    evaluation = problem.evaluate(design)
    tracker.observe(design, evaluation)
    if not evaluation.feasible[0]:
        raise ConfXError(
            f"budget {problem.budget:.9g} ({problem.spec.constraint}, mul {problem.spec.mul}) is below the "
            f"cheapest design {float(evaluation.used[0]):.9g} of {problem.layers.name!r}; raise mul"
        )


def solve_with_table(problem: Problem, table: OptionTable, *, seed: int = 0, method: str = "dp") -> SearchResult:
    """Exact optimum of a problem from an option table built for the same network, objective and space.

    The table does not depend on the budget, so a sweep over ``mul`` builds it once.

    Raises:
        ConfXError: The budget is below the cheapest design, or ``method`` is unknown.
    """
    if method not in METHODS:
        raise ConfXError(f"exact solver method {method!r} is unknown; use one of {', '.join(METHODS)}")
    tracker = BestTracker(problem)
    check_cheapest_fits(problem, table, tracker)
    if problem.objective in SUMMED:
        choice = feasible_min_sum(problem, table, tracker, table.term, method=method)
    elif problem.objective == "thrpt_btnk":
        choice = bottleneck_choice(problem, table, tracker)
    else:
        choice = ratio_choice(problem, table, tracker, method=method)
    design = table.design(choice.option)
    evaluation = problem.evaluate(design)
    tracker.observe(design, evaluation)
    assert evaluation.feasible[0], "the exact solver's design must pass the problem's budget test"
    note = choice.note if not choice.certified else ""
    return tracker.result("exact", seed, optimal=choice.certified, note=note)


def search(problem: Problem, *, seed: int = 0, settings: ExactSettings = ExactSettings()) -> SearchResult:
    """Exact optimum of ``problem`` (no budget: the option table plus a few whole-model checks are all it costs).

    Args:
        problem: The problem; its whole action space is evaluated once.
        seed: Recorded only; the solver is deterministic.
        settings: ``method``: ``dp`` (default) or ``milp`` for the summed knapsacks (see the module docstring).

    Returns:
        The optimum, with ``optimal=True`` when every step certifies it.

    Raises:
        ConfXError: The budget is below the cheapest design, a layer has no valid action,
            or ``method`` is unknown.
    """
    start = time.perf_counter()
    result = solve_with_table(problem, build_option_table(problem), seed=seed, method=settings.method)
    result.wall_time_s = time.perf_counter() - start
    return result
