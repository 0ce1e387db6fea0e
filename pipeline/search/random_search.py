"""Random search, and the action-space index helpers the other baselines share.

Baselines search over *action-space indices*: a design of indices has shape
(n_layers, n_genes) where column 0 indexes ``space.num_pe``, column 1 indexes
``space.ktile`` and, when the dataflow is chosen, column 2 is the dataflow code
itself. :meth:`envs.problem.Problem.design_from_indices` turns indices into the
design values that the problem evaluates.
"""

from __future__ import annotations

import logging

import numpy as np
from numpy.typing import NDArray

from confx.costmodel.errors import ConfXError
from confx.envs.problem import GENE_DATAFLOW, Problem
from confx.pipeline.search.base import BestTracker, SearchResult, check_budget
from confx.pipeline.search.settings import RandomSettings

logger = logging.getLogger(__name__)


def gene_sizes(problem: Problem) -> NDArray[np.int64]:
    """Number of choices of each gene, shape (n_genes,): ``[len(num_pe), len(ktile)(, n_dataflows)]``."""
    return np.asarray(problem.space.gene_sizes, dtype=np.int64)


def random_indices(problem: Problem, rng: np.random.Generator, count: int) -> NDArray[np.int64]:
    """Uniform random index designs over the action space.

    Args:
        problem: The problem whose action space is sampled.
        rng: Source of randomness.
        count: Number of designs N.

    Returns:
        Index designs, int64 shape (N, n_layers, n_genes), each gene uniform on its index range.
    """
    sizes = gene_sizes(problem)
    return rng.integers(0, sizes, size=(count, problem.n_layers, len(sizes)), dtype=np.int64)


def minimum_indices(problem: Problem) -> NDArray[np.int64]:
    """The all-minimum index design (every layer at min P and min B), shape (n_layers, n_genes).

    With a fixed dataflow this design is always within budget (the budget is at
    least the smallest uniform corner total). When the dataflow is chosen, every
    layer keeps the problem's dataflow.
    """
    indices = np.zeros((problem.n_layers, problem.space.n_genes), dtype=np.int64)
    if problem.space.choose_dataflow:
        indices[:, GENE_DATAFLOW] = problem.dataflow_code
    return indices


def search(problem: Problem, *, budget: int, seed: int, settings: RandomSettings = RandomSettings()) -> SearchResult:
    """Random search: evaluate uniform random designs until the budget is spent.

    Args:
        problem: The problem to search.
        budget: Whole-model evaluations allowed.
        seed: Seed of the search's ``np.random.Generator``.
        settings: The knobs (batch size).

    Returns:
        The best feasible design found (none if every sample was infeasible).

    Raises:
        ConfXError: Negative budget or batch size below 1.
    """
    budget = check_budget(budget, "random")
    batch_size = settings.batch_size
    if batch_size < 1:
        raise ConfXError(f"random: batch_size must be >= 1, got {batch_size}")
    rng = np.random.default_rng(seed)
    tracker = BestTracker(problem)
    spent = 0
    while spent < budget:
        # Bounded draws with array bounds take one draw per gene, so the batch size does not change the samples.
        count = min(batch_size, budget - spent)
        designs = problem.design_from_indices(random_indices(problem, rng, count))
        tracker.observe(designs, problem.evaluate(designs))
        spent += count
    logger.debug("random search spent %d evaluations, best %s", spent, tracker.best_objective)
    return tracker.result("random", seed, note=f"{spent} uniform random designs")
