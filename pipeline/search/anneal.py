"""Simulated annealing over action-space indices (the release's basin-hopping baseline, cleaned up).

The release ran scipy's basin hopping (step 2, temperature 10) on a continuous
relaxation of the grid indices. Here the walk stays on the indices:

* start: the all-minimum design, which is within budget;
* neighbour: one random layer's random gene moves by a non-zero step in
  ``[-max_step, max_step]``, clipped to the gene's index range (a move that the
  clipping cancels is redrawn, so no evaluation is spent on the current design);
* acceptance (Metropolis): with ``delta = (f_new - f_current) / |f_current|`` the
  relative change of the lower-is-better fitness, a neighbour is accepted when
  ``delta <= 0`` or with probability ``exp(-delta / T)``; infeasible neighbours
  are rejected;
* schedule: ``T`` falls geometrically from ``initial_temperature`` at the first
  proposal to ``final_temperature`` at the last one, so the whole budget is one
  cooling run. The defaults accept a 1% worse whole-model objective with
  probability ~0.37 at the start and practically never at the end.

If the start is infeasible (only possible when the dataflow is chosen per layer),
the walk first descends on the constraint: a valid neighbour is accepted when it
uses no more of the budget, until a feasible design is reached.
"""

from __future__ import annotations

import logging

import numpy as np
from numpy.typing import NDArray

from confx.costmodel.errors import ConfXError
from confx.envs.problem import Evaluation, Problem
from confx.pipeline.search.base import BestTracker, SearchResult, check_budget
from confx.pipeline.search.random_search import gene_sizes, minimum_indices
from confx.pipeline.search.settings import AnnealSettings

logger = logging.getLogger(__name__)


def temperature_schedule(n_proposals: int, *, initial: float, final: float) -> NDArray[np.float64]:
    """Geometric cooling from ``initial`` to ``final``, shape (n_proposals,) (relative-change units)."""
    if n_proposals <= 1:
        return np.full(n_proposals, initial, dtype=np.float64)
    return initial * (final / initial) ** (np.arange(n_proposals) / (n_proposals - 1))


def neighbour(
    indices: NDArray[np.int64], sizes: NDArray[np.int64], rng: np.random.Generator, *, max_step: int
) -> NDArray[np.int64]:
    """Move one random layer's random gene by a non-zero step, clipped to its index range.

    Args:
        indices: Current index design, shape (n_layers, n_genes).
        sizes: Number of choices per gene, shape (n_genes,); at least one gene has more than one.
        rng: Source of randomness.
        max_step: Largest step size in indices.

    Returns:
        A new index design that differs from ``indices`` in exactly one entry.
    """
    movable = np.flatnonzero(sizes > 1)
    while True:
        layer = rng.integers(indices.shape[0])
        gene = movable[rng.integers(len(movable))]
        step = rng.integers(1, max_step + 1) * rng.choice((-1, 1))
        moved = int(np.clip(indices[layer, gene] + step, 0, sizes[gene] - 1))
        if moved != indices[layer, gene]:
            result = indices.copy()
            result[layer, gene] = moved
            return result


def accept(
    current: Evaluation,
    candidate: Evaluation,
    fitness: tuple[float, float],
    temperature: float,
    rng: np.random.Generator,
) -> bool:
    """Metropolis test of a candidate against the current design (one design each).

    Args:
        current: Evaluation of the current design (arrays of shape (1,)).
        candidate: Evaluation of the neighbour.
        fitness: Lower-is-better fitness ``(current, candidate)``; +inf when infeasible.
        temperature: Current temperature, in units of relative fitness change.
        rng: Source of randomness for the Metropolis draw.
    """
    current_fitness, candidate_fitness = fitness
    if not candidate.feasible[0]:
        if current.feasible[0] or not candidate.valid[0]:
            return False
        # Infeasible start: descend on the constraint until the budget is met.
        return not current.valid[0] or candidate.used[0] <= current.used[0]
    if not current.feasible[0] or candidate_fitness <= current_fitness:
        return True
    delta = (candidate_fitness - current_fitness) / max(abs(current_fitness), np.finfo(np.float64).tiny)
    return bool(rng.random() < np.exp(-delta / temperature))


def search(
    problem: Problem,
    *,
    budget: int,
    seed: int,
    settings: AnnealSettings = AnnealSettings(),
) -> SearchResult:
    """Simulated annealing from the all-minimum design, one whole-model evaluation per step.

    Args:
        problem: The problem to search.
        budget: Whole-model evaluations allowed (the start design is the first).
        seed: Seed of the search's ``np.random.Generator``.
        settings: The knobs: the largest index step of a move (the release's basin-hopping step) and the
            temperatures at the first and last proposal, in relative fitness change.

    Returns:
        The best feasible design visited.

    Raises:
        ConfXError: Negative budget, ``max_step < 1`` or non-positive temperatures.
    """
    budget = check_budget(budget, "anneal")
    max_step, initial_temperature, final_temperature = (
        settings.max_step,
        settings.initial_temperature,
        settings.final_temperature,
    )
    if max_step < 1 or not (initial_temperature > 0 and final_temperature > 0):
        raise ConfXError(
            f"anneal: need max_step >= 1 and positive temperatures, got max_step={max_step}, "
            f"initial_temperature={initial_temperature}, final_temperature={final_temperature}"
        )
    rng = np.random.default_rng(seed)
    tracker = BestTracker(problem)
    if budget == 0:
        return tracker.result("anneal", seed, note="zero budget")
    sizes = gene_sizes(problem)
    indices = minimum_indices(problem)
    design = problem.design_from_indices(indices)
    current = problem.evaluate(design)
    tracker.observe(design, current)
    current_fitness = float(problem.fitness(current)[0])
    accepted = 0
    temperatures = temperature_schedule(budget - 1, initial=initial_temperature, final=final_temperature)
    if not (sizes > 1).any():
        temperatures = temperatures[:0]  # a one-design space: nothing to move
    for temperature in temperatures:
        candidate_indices = neighbour(indices, sizes, rng, max_step=max_step)
        candidate_design = problem.design_from_indices(candidate_indices)
        candidate = problem.evaluate(candidate_design)
        tracker.observe(candidate_design, candidate)
        candidate_fitness = float(problem.fitness(candidate)[0])
        if accept(current, candidate, (current_fitness, candidate_fitness), temperature, rng):
            indices, current, current_fitness = candidate_indices, candidate, candidate_fitness
            accepted += 1
    logger.debug("anneal accepted %d of %d proposals", accepted, len(temperatures))
    return tracker.result("anneal", seed, note=f"accepted {accepted} of {len(temperatures)} moves")
