"""The exact optimum of a ConfuciuX problem (spec section 6).

Apart from the shared budget the problem separates per layer: every layer picks
one action (P, B [, dataflow]) and pays its area or power. This is a
multiple-choice knapsack. The solver builds the per-layer option table over the
whole action space in one vectorised cost-model call, drops invalid and
dominated options, and then solves

* summed objectives (latency, energy, LEP, LAP, EAP) as a 0/1 MILP with HiGHS
  (``scipy.optimize.milp``) at zero optimality gap;
* ``thrpt_btnk`` (maximise the slowest layer's throughput) by a threshold
  search: at threshold t every layer takes its cheapest option with throughput
  >= t, and the best t is found by bisection over the distinct throughputs;
* ``thrpt_ave`` (total MACs over total cycles) by Dinkelbach's method, whose
  subproblems ``min sum(lambda * runtime - macs)`` are the same MILP.

Feasibility is always decided by the problem's own test (``Problem.evaluate``),
so a design the solver returns is feasible exactly as every other search sees it.
A result is labelled optimal only when every step is certified.
"""

from __future__ import annotations

import itertools
import logging
import time
import warnings
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import csr_array

from costmodel.errors import ConfXError
from envs.problem import BUDGET_RTOL, SUMMED, Problem, layer_objective
from pipeline.search.base import BestTracker, SearchResult

logger = logging.getLogger(__name__)

HIGHS_OPTIONS = {
    "mip_rel_gap": 0.0,
    "mip_abs_gap": 0.0,
    "mip_feasibility_tolerance": 1e-9,
    "primal_feasibility_tolerance": 1e-9,
}
"""HiGHS settings: zero gap so that 'optimal' is certified; tight feasibility on the O(1)-scaled rows."""

WARM_UP_GAP = 1e-4
"""Relative gap of the first, quick solve that only seeds the exact ones."""

MAX_REFINES = 8
"""MILP re-solves allowed while rescaling the objective to the best design so far."""

GAP_RTOL = 1e-9
"""Gap between incumbent and HiGHS's bound, relative to the incumbent's excess over the per-layer best
terms, that counts as closed: HiGHS's LP tolerances, orders of magnitude below any design difference."""

OPTIMALITY_RTOL = 1e-12
"""Floating-point rounding of a whole-model sum, relative to its value."""

MAX_TIGHTENINGS = 8
"""Re-solves allowed when HiGHS's feasibility tolerance lets a solution slip over the budget."""

MAX_DINKELBACH_STEPS = 50
"""Dinkelbach converges superlinearly; a handful of steps is typical."""

RATIO_RTOL = 1e-12
"""Relative improvement below which Dinkelbach's ratio counts as converged."""


@dataclass(frozen=True)
class OptionTable:
    """Every action of the space evaluated on every layer.

    Attributes:
        actions: Action values, int64 shape (n_options, n_genes) (P, B [, dataflow code]).
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
    space = problem.space
    genes: list[tuple[int, ...]] = [space.num_pe, space.ktile]
    if space.choose_dataflow:
        genes.append(tuple(range(space.n_dataflows)))
    return np.asarray(list(itertools.product(*genes)), dtype=np.int64)


def build_option_table(problem: Problem) -> OptionTable:
    """Evaluate every action on every layer in one vectorised call through the problem's memo."""
    actions = space_actions(problem)
    designs = np.broadcast_to(actions[:, None, :], (len(actions), problem.n_layers, actions.shape[1]))
    valid, metrics = problem.layer_costs(designs)
    if not valid.any(axis=0).all():
        dead = np.flatnonzero(~valid.any(axis=0)).tolist()
        raise ConfXError(f"layers {dead} of {problem.layers.name!r} have no valid action in space "
                         f"{problem.space.name!r}; widen the action space")
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


# --- summed objectives: multiple-choice knapsack as a MILP ----------------------------------


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
    """

    options: list[NDArray[np.int64]]
    weights: list[NDArray[np.float64]]
    terms: list[NDArray[np.float64]]
    spare: float
    offset: float

    def excess(self, picks: list[int]) -> tuple[float, float]:
        """Summed term above ``offset`` and summed extra weight of one position per layer."""
        term = sum(float(t[p]) for t, p in zip(self.terms, picks, strict=True))
        weight = sum(float(w[p]) for w, p in zip(self.weights, picks, strict=True))
        return term, weight


def prepare_knapsack(table: OptionTable, term: NDArray[np.float64], capacity: float) -> Knapsack:
    """Keep per layer the valid options that fit the capacity and that no other option dominates."""
    weight = np.where(table.valid, table.weight, np.inf)
    lightest = weight.min(axis=0)
    spare = max(capacity - float(lightest.sum()), 0.0)
    options, weights, terms, offset = [], [], [], 0.0
    for layer in range(table.n_layers):
        extra = weight[:, layer] - lightest[layer]
        fits = np.flatnonzero(table.valid[:, layer] & (extra <= spare))
        front = fits[pareto_options(extra[fits], term[fits, layer])]
        best = float(term[front, layer].min())
        options.append(front)
        weights.append(extra[front])
        terms.append(term[front, layer] - best)
        offset += best
    logger.debug("exact: %d candidate options on %d layers", sum(map(len, options)), table.n_layers)
    return Knapsack(options, weights, terms, spare, offset)


def knapsack_milp(
    knapsack: Knapsack, *, term_scale: float, term_limit: float, rel_gap: float = 0.0
) -> tuple[list[int], bool, float]:
    """Solve the knapsack with HiGHS, ignoring options whose term alone exceeds ``term_limit``.

    Args:
        knapsack: The candidates.
        term_scale: Objective unit (the excess of a known design), so that the optimum is O(1)
            and HiGHS's tolerances stay far below the differences between designs.
        term_limit: Excess of a known feasible design; a costlier option cannot be in a better one.
        rel_gap: HiGHS's ``mip_rel_gap``; 0 for an exact solve.

    Returns:
        ``(position chosen in each layer, HiGHS reports optimal, HiGHS's lower bound on the excess)``.
    """
    keep = [np.flatnonzero(t <= term_limit) for t in knapsack.terms]
    sizes = [len(k) for k in keep]
    layer_of = np.repeat(np.arange(len(sizes)), sizes)
    weight = np.concatenate([w[k] for w, k in zip(knapsack.weights, keep, strict=True)])
    term = np.concatenate([t[k] for t, k in zip(knapsack.terms, keep, strict=True)])
    one_hot = csr_array((np.ones(len(layer_of)), (layer_of, np.arange(len(layer_of)))))
    # With no spare capacity only zero-extra options are left and the budget row is all zeros.
    budget_row = weight[None, :] / knapsack.spare if knapsack.spare > 0 else weight[None, :]
    constraints = [LinearConstraint(one_hot, 1.0, 1.0), LinearConstraint(budget_row, -np.inf, 1.0)]
    with warnings.catch_warnings():
        # scipy passes options it does not know (the gaps and tolerances) to HiGHS verbatim.
        warnings.filterwarnings("ignore", message="Unrecognized options detected", category=RuntimeWarning)
        result = milp(term / term_scale, integrality=np.ones(len(term)), bounds=Bounds(0, 1),
                      constraints=constraints, options=HIGHS_OPTIONS | {"mip_rel_gap": rel_gap})
    if result.x is None:
        raise ConfXError(f"the exact solver found no feasible design: {result.message}")
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    picks = [int(k[np.argmax(result.x[s:s + n])]) for k, s, n in zip(keep, starts, sizes, strict=True)]
    return picks, result.status == 0, float(result.mip_dual_bound) * term_scale


def closed_gap(excess: float, bound: float, offset: float) -> bool:
    """Whether HiGHS's bound certifies an incumbent: equal up to HiGHS's LP tolerances and rounding.

    HiGHS reports 'optimal' at ``mip_rel_gap=0`` with a bound that may trail by its LP
    tolerances (seen up to ~4e-10 of the objective unit, which here is the incumbent's
    excess over the per-layer best terms).
    """
    return excess - bound <= GAP_RTOL * excess + OPTIMALITY_RTOL * (abs(offset) + abs(excess))


def min_sum_choice(
    table: OptionTable, term: NDArray[np.float64], capacity: float
) -> tuple[Choice, float, float]:
    """Best option per layer for a summed term (n_options, n_layers) under an absolute capacity.

    A quick solve at a small gap first finds a near-optimal design; exact solves then run
    with the objective in units of the best design so far, until one no longer improves on
    it. HiGHS's absolute tolerances so act on differences near the optimum, not on the
    whole range of per-layer terms, and options costlier than the incumbent are dropped.

    Returns:
        The choice, a lower bound on the optimum summed term, and the sum of per-layer best terms.
    """
    knapsack = prepare_knapsack(table, term, capacity)
    picks = [0] * table.n_layers  # position 0 is each layer's lightest option
    excess, _ = knapsack.excess(picks)
    limit, certified, bound, rel_gap = excess, excess == 0.0, 0.0, WARM_UP_GAP
    for _ in range(MAX_REFINES):
        if excess == 0.0:
            break
        trial, certified, bound = knapsack_milp(knapsack, term_scale=excess, term_limit=limit, rel_gap=rel_gap)
        trial_excess, trial_weight = knapsack.excess(trial)
        if not trial_excess < excess and rel_gap == 0.0:
            certified = certified and closed_gap(excess, bound, knapsack.offset)
            break
        rel_gap = 0.0
        if not trial_excess < excess:
            continue
        picks, excess = trial, trial_excess
        if trial_weight <= knapsack.spare:
            limit = excess
    else:
        certified = False
    option = np.array([opts[p] for opts, p in zip(knapsack.options, picks, strict=True)], dtype=np.int64)
    return Choice(option, certified), bound + knapsack.offset, knapsack.offset


def feasible_min_sum(
    problem: Problem, table: OptionTable, tracker: BestTracker, term: NDArray[np.float64]
) -> Choice:
    """:func:`min_sum_choice` at the problem's budget, re-solved tighter while its answer fails the budget test.

    HiGHS accepts rows violated by its feasibility tolerance. If the answer is over
    the budget by the problem's own test, the capacity is lowered by the excess and the
    MILP solved again. The answer stays certified only if it reaches the first
    solve's lower bound, since designs inside the excluded sliver are not searched.
    """
    capacity = problem.budget * (1 + BUDGET_RTOL)
    choice, bound, offset = min_sum_choice(table, term, capacity)
    for _ in range(MAX_TIGHTENINGS):
        design = table.design(choice.option)
        evaluation = problem.evaluate(design)
        tracker.observe(design, evaluation)
        if evaluation.feasible[0]:
            break
        excess = float(evaluation.used[0]) - capacity
        capacity -= 2 * excess
        logger.info("exact: solution over budget by %.3g; re-solving with capacity %.9g", excess, capacity)
        choice, _, _ = min_sum_choice(table, term, capacity)
    else:
        raise ConfXError(f"the exact solver could not meet budget {problem.budget:.9g} within tolerance")
    if capacity < problem.budget * (1 + BUDGET_RTOL):
        reached = float(term[choice.option, np.arange(table.n_layers)].sum())
        if not closed_gap(reached - offset, bound - offset, offset):
            choice.certified = False
            choice.note = "a slightly better design may lie within the MILP's feasibility tolerance of the budget"
    return choice


# --- throughput objectives ------------------------------------------------------------------


def bottleneck_choice(problem: Problem, table: OptionTable, tracker: BestTracker) -> Choice:
    """Maximise the minimum per-layer throughput by bisection over the distinct throughput levels.

    At threshold t each layer takes its cheapest option with throughput >= t; feasibility
    only gets harder as t grows, and the best design's bottleneck is one of the levels.
    """
    throughput = np.where(table.valid, table.term, -np.inf)
    weight = np.where(table.valid, table.weight, np.inf)
    levels = np.unique(throughput[table.valid])

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


def ratio_choice(problem: Problem, table: OptionTable, tracker: BestTracker) -> Choice:
    """Maximise total MACs over total cycles by Dinkelbach's method.

    With lambda the best ratio so far, ``min sum(lambda * runtime - macs)`` is a summed
    knapsack. A design with a ratio above lambda exists iff its optimum is negative;
    lambda then moves to that design's ratio and otherwise lambda is optimal.
    """
    layers = np.arange(table.n_layers)

    def ratio(option: NDArray[np.int64]) -> float:
        return float(table.macs[option, layers].sum() / table.runtime_cycles[option, layers].sum())

    best = Choice(cheapest_choice(table), certified=True)
    for _ in range(MAX_DINKELBACH_STEPS):
        level = ratio(best.option)
        step = feasible_min_sum(problem, table, tracker, level * table.runtime_cycles - table.macs)
        if not ratio(step.option) > level * (1 + RATIO_RTOL):
            best.certified = best.certified and step.certified
            best.note = step.note
            return best
        best = step
    best.certified = False
    best.note = f"Dinkelbach did not converge in {MAX_DINKELBACH_STEPS} steps"
    return best


# --- entry points ---------------------------------------------------------------------------


def check_budget(problem: Problem, table: OptionTable, tracker: BestTracker) -> None:
    """Raise :class:`ConfXError` if even the lightest valid design exceeds the budget."""
    design = table.design(cheapest_choice(table))
    evaluation = problem.evaluate(design)
    tracker.observe(design, evaluation)
    if not evaluation.feasible[0]:
        raise ConfXError(
            f"budget {problem.budget:.9g} ({problem.spec.constraint}, mul {problem.spec.mul}) is below the "
            f"cheapest design {float(evaluation.used[0]):.9g} of {problem.layers.name!r}; raise mul"
        )


def solve_with_table(problem: Problem, table: OptionTable, *, seed: int = 0) -> SearchResult:
    """Exact optimum of a problem from an option table built for the same network, objective and space.

    The table does not depend on the budget, so a sweep over ``mul`` builds it once.

    Raises:
        ConfXError: The budget is below the cheapest design.
    """
    tracker = BestTracker(problem)
    check_budget(problem, table, tracker)
    if problem.objective in SUMMED:
        choice = feasible_min_sum(problem, table, tracker, table.term)
    elif problem.objective == "thrpt_btnk":
        choice = bottleneck_choice(problem, table, tracker)
    else:
        choice = ratio_choice(problem, table, tracker)
    design = table.design(choice.option)
    evaluation = problem.evaluate(design)
    tracker.observe(design, evaluation)
    assert evaluation.feasible[0], "the exact solver's design must pass the problem's budget test"
    note = choice.note if not choice.certified else ""
    return tracker.result("exact", seed, optimal=choice.certified, note=note)


def search(problem: Problem, *, budget: int = 0, seed: int = 0) -> SearchResult:
    """Exact optimum of ``problem`` (``budget`` is ignored: the solver needs no evaluations to search).

    Args:
        problem: The problem; its whole action space is evaluated once.
        budget: Ignored (the option table plus a few whole-model checks are all it costs).
        seed: Recorded only; the solver is deterministic.

    Returns:
        The optimum, with ``optimal=True`` when HiGHS (or the threshold search) certifies it.

    Raises:
        ConfXError: The budget is below the cheapest design, or a layer has no valid action.
    """
    start = time.perf_counter()
    result = solve_with_table(problem, build_option_table(problem), seed=seed)
    result.wall_time_s = time.perf_counter() - start
    return result
