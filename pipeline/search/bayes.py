"""Bayesian optimisation with a tree-structured Parzen estimator (TPE) over action-space indices.

The release ran a Gaussian-process BO on a continuous relaxation of the grid
indices with 10 initial points. Here every (layer, gene) is one integer index,
and after ``n_startup_trials`` trials (the first is the all-minimum design, so a
feasible design is always found; the others are uniform) each trial is proposed
by a multivariate TPE:

1. Split the trials so far by value: the best ``min(ceil(0.1 n), 25)`` are *good*,
   the rest *bad*.
2. Model each group as a mixture of one product kernel per trial (a Gaussian
   discretised onto the index grid and truncated to it, every gene of a trial
   kernelled jointly) plus one wide prior kernel. Older trials weigh less, and
   the bandwidth follows Scott's rule in all ``n_layers * n_genes`` dimensions.
   These are the rules of Optuna's ``TPESampler(multivariate=True)``, whose
   defaults they copy.
3. Draw ``n_ei_candidates`` designs from the good mixture ``l`` and propose the
   one that maximises ``l(x) / g(x)``, the expected improvement under TPE.

Why not Optuna's sampler itself, as earlier releases of ConfX did: it rebuilds its
estimators from Python objects trial by trial, so a search of 3,700 trials took
minutes (O(trials^2) with a large constant). Here a kernel is one row of a
precomputed table per gene size, and scoring the candidates is a gather over
the trials, so the same search takes seconds.

TPE needs a finite value for every trial, and only the *order* of the values
matters to it (it splits the trials by rank). So a feasible design reports its
lower-is-better fitness, and an infeasible one reports
``INFEASIBLE_VALUE * (1 + overshoot)``, with ``overshoot = used / budget - 1``
(``INVALID_OVERSHOOT`` for designs the cost model rejects): worse than any
feasible design, and the further over budget the worse.
"""

from __future__ import annotations

import functools
import logging
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.special import ndtr

from confx.costmodel.errors import ConfXError
from confx.envs.problem import Evaluation, Problem
from confx.pipeline.search.base import BestTracker, SearchResult, check_budget
from confx.pipeline.search.random_search import gene_sizes, minimum_indices, random_indices
from confx.pipeline.search.settings import BOSettings

logger = logging.getLogger(__name__)

INFEASIBLE_VALUE = 1e100
"""Penalty base of an infeasible trial; far above any objective the cost model can produce."""
INVALID_OVERSHOOT = 1e3
"""Overshoot charged to a design the cost model marks invalid (no constraint total exists)."""
GOOD_FRACTION = 0.1
"""Share of the trials that make the good group, up to ``MAX_GOOD`` (Optuna's default gamma)."""
MAX_GOOD = 25
FLAT_WEIGHTS = 25
"""The newest trials of a group weigh 1; older ones ramp down linearly (Optuna's default weights)."""
BANDWIDTH_SCALE = 0.2
"""Scott's-rule factor of the kernel width, as a share of a gene's index range."""
PRIOR_WEIGHT = 1.0
"""Weight of the wide prior kernel against a trial's kernel (of weight up to 1)."""
SMALLEST_MASS = 1e-300
"""Floor of a kernel's mass at an index, so that far tails stay finite in log space."""


def trial_value(problem: Problem, evaluation: Evaluation) -> float:
    """Finite lower-is-better value of one evaluated design for TPE (see the module docstring)."""
    if evaluation.feasible[0]:
        return float(problem.fitness(evaluation)[0])
    overshoot = evaluation.used[0] / problem.budget - 1.0 if evaluation.valid[0] else INVALID_OVERSHOOT
    return INFEASIBLE_VALUE * (1.0 + float(overshoot))


def recency_weights(count: int) -> NDArray[np.float64]:
    """Weights of a group's trials in trial order: the newest ``FLAT_WEIGHTS`` weigh 1, older ones less."""
    if count <= FLAT_WEIGHTS:
        return np.ones(count)
    return np.concatenate([np.linspace(1.0 / count, 1.0, num=count - FLAT_WEIGHTS), np.ones(FLAT_WEIGHTS)])


@functools.lru_cache(maxsize=16)
def log_kernel_table(size: int, sigma: float) -> NDArray[np.float64]:
    """(size, size) table: row ``mu`` is the log mass at each index of a Gaussian at ``mu`` truncated to the grid.

    Index ``v`` owns the interval ``[v - 0.5, v + 0.5]``; each row sums to 1. The untruncated mass
    depends only on ``v - mu``, so it is computed once per offset and gathered into the table.
    Cached (read-only): the good group's width stops changing once it holds ``MAX_GOOD`` trials.
    """
    offsets = np.arange(-(size - 1), size, dtype=np.float64)
    # Away from the centre a difference of the nearer tails keeps its precision.
    near = -np.abs(offsets)
    mass = ndtr((near + 0.5) / sigma) - ndtr((near - 0.5) / sigma)
    mass = np.maximum(mass, SMALLEST_MASS)
    grid = np.arange(size)
    table = mass[grid[None, :] - grid[:, None] + size - 1]
    return read_only(np.log(table / table.sum(axis=1, keepdims=True)))


@functools.lru_cache(maxsize=16)
def log_prior_row(size: int) -> NDArray[np.float64]:
    """Log mass at each index of the prior kernel: centred on the grid, as wide as it (cached, read-only)."""
    centre = (size - 1) / 2.0
    edges = np.arange(size + 1, dtype=np.float64) - 0.5 - centre
    mass = np.diff(ndtr(edges / size))
    return read_only(np.log(mass / mass.sum()))


def read_only(array: NDArray[np.float64]) -> NDArray[np.float64]:
    """``array``, locked against writes, so that a cached table cannot be changed by a caller."""
    array.setflags(write=False)
    return array


def log_sum_exp(terms: NDArray[np.float64]) -> NDArray[np.float64]:
    """``log(sum(exp(terms), axis=0))`` without overflow."""
    top = terms.max(axis=0)
    return np.log(np.exp(terms - top).sum(axis=0)) + top


@dataclass(frozen=True)
class ParzenEstimator:
    """A mixture of one product kernel per observed design plus a wide prior, over index vectors.

    Attributes:
        centres: The observed designs' indices, shape (k, d).
        log_weights: Log mixture weights, shape (k + 1,); the last is the prior's.
        sizes: Index range of each dimension, shape (d,).
        log_kernel: Per index range V: (V, V) table, row ``mu`` = log mass of the kernel centred at ``mu``.
        log_prior: Per index range V: (V,) log mass of the prior kernel.
    """

    centres: NDArray[np.int64]
    log_weights: NDArray[np.float64]
    sizes: NDArray[np.int64]
    log_kernel: dict[int, NDArray[np.float64]]
    log_prior: dict[int, NDArray[np.float64]]


def build_estimator(centres: NDArray[np.int64], sizes: NDArray[np.int64]) -> ParzenEstimator:
    """The TPE mixture of ``centres`` (k, d), given in trial order (older trials weigh less)."""
    count, dims = centres.shape
    weights = np.append(recency_weights(count), PRIOR_WEIGHT)
    log_kernel: dict[int, NDArray[np.float64]] = {}
    log_prior: dict[int, NDArray[np.float64]] = {}
    for size in {int(value) for value in sizes}:
        sigma = BANDWIDTH_SCALE * max(count, 1) ** (-1.0 / (dims + 4)) * size
        sigma = float(np.clip(sigma, size / min(100.0, count + 2.0), size))
        log_kernel[size] = log_kernel_table(size, sigma)
        log_prior[size] = log_prior_row(size)
    return ParzenEstimator(centres, np.log(weights / weights.sum()), sizes, log_kernel, log_prior)


def log_pdf(estimator: ParzenEstimator, points: NDArray[np.int64]) -> NDArray[np.float64]:
    """Log density of the mixture at index vectors ``points`` (c, d); returns (c,)."""
    kernels = np.zeros((len(estimator.centres), len(points)))
    gathered = np.empty_like(kernels)
    prior = np.zeros(len(points))
    for dim, size in enumerate(estimator.sizes.tolist()):
        # The table's columns at the points first (small), then one row per trial: a gather of whole rows.
        np.take(estimator.log_kernel[size][:, points[:, dim]], estimator.centres[:, dim], axis=0, out=gathered)
        kernels += gathered
        prior += estimator.log_prior[size][points[:, dim]]
    terms = np.vstack([kernels, prior[None, :]]) + estimator.log_weights[:, None]
    return log_sum_exp(terms)


def sample(estimator: ParzenEstimator, rng: np.random.Generator, count: int) -> NDArray[np.int64]:
    """``count`` index vectors drawn from the mixture: a kernel by weight, then each dimension from it."""
    n_kernels = len(estimator.centres)
    chosen = rng.choice(n_kernels + 1, size=count, p=np.exp(estimator.log_weights))
    from_prior = chosen == n_kernels
    rows = np.minimum(chosen, max(n_kernels - 1, 0))
    points = np.empty((count, len(estimator.sizes)), dtype=np.int64)
    for dim, size in enumerate(estimator.sizes.tolist()):
        prior = np.broadcast_to(estimator.log_prior[size], (count, size))
        if n_kernels:
            log_mass = np.where(from_prior[:, None], prior, estimator.log_kernel[size][estimator.centres[rows, dim]])
        else:
            log_mass = prior
        cumulative = np.cumsum(np.exp(log_mass), axis=1)
        draws = rng.random(count) * cumulative[:, -1]
        points[:, dim] = np.minimum((cumulative < draws[:, None]).sum(axis=1), size - 1)
    return points


def propose(
    history: NDArray[np.int64],
    values: NDArray[np.float64],
    sizes: NDArray[np.int64],
    rng: np.random.Generator,
    n_candidates: int,
) -> NDArray[np.int64]:
    """The next trial's index vector (d,) from the trials so far: ``history`` (n, d), lower ``values`` better."""
    n_good = min(math.ceil(GOOD_FRACTION * len(values)), MAX_GOOD)
    order = np.argsort(values, kind="stable")
    good = build_estimator(history[np.sort(order[:n_good])], sizes)
    bad = build_estimator(history[np.sort(order[n_good:])], sizes)
    candidates = sample(good, rng, n_candidates)
    return candidates[int(np.argmax(log_pdf(good, candidates) - log_pdf(bad, candidates)))]


def search(
    problem: Problem,
    *,
    budget: int,
    seed: int,
    settings: BOSettings = BOSettings(),
) -> SearchResult:
    """TPE search, one whole-model evaluation per trial (``n_trials = budget``).

    Args:
        problem: The problem to search.
        budget: Whole-model evaluations allowed (one per trial).
        seed: Seed of the sampler.
        settings: The knobs: trials before TPE takes over (the release used 10 initial points),
            candidates drawn from the good mixture per proposal.

    Returns:
        The best feasible design found.

    Raises:
        ConfXError: Negative budget, ``n_startup_trials < 0`` or ``n_ei_candidates < 1``.
    """
    budget = check_budget(budget, "bo")
    n_startup_trials, n_ei_candidates = settings.n_startup_trials, settings.n_ei_candidates
    if n_startup_trials < 0 or n_ei_candidates < 1:
        raise ConfXError(
            f"bo: need n_startup_trials >= 0 and n_ei_candidates >= 1, got {n_startup_trials}, {n_ei_candidates}"
        )
    tracker = BestTracker(problem)
    rng = np.random.default_rng(seed)
    shape = (problem.n_layers, problem.space.n_genes)
    sizes = np.tile(gene_sizes(problem), problem.n_layers)
    history = np.empty((budget, len(sizes)), dtype=np.int64)
    values = np.empty(budget)
    for trial in range(budget):
        if trial == 0:
            indices = minimum_indices(problem).ravel()
        elif trial < n_startup_trials:
            indices = random_indices(problem, rng, 1)[0].ravel()
        else:
            indices = propose(history[:trial], values[:trial], sizes, rng, n_ei_candidates)
        design = problem.design_from_indices(indices.reshape(shape))
        evaluation = problem.evaluate(design)
        tracker.observe(design, evaluation)
        history[trial] = indices
        values[trial] = trial_value(problem, evaluation)
    logger.debug("bo ran %d trials, best %s", budget, tracker.best_objective)
    return tracker.result("bo", seed, note=f"TPE, {n_startup_trials} startup trials")
