"""Bayesian optimisation with Optuna's TPE sampler over action-space indices.

The release ran a Gaussian-process BO on a continuous relaxation of the grid
indices with 10 initial points. Here every (layer, gene) is one integer Optuna
parameter holding the index (``n_layers * n_genes`` parameters), sampled by the
tree-structured Parzen estimator (``TPESampler``) after ``n_startup_trials``
random trials. The first trial is the all-minimum design, so that a feasible
design is always found.

The multivariate TPE (one joint density over all parameters) is the default: on
MobileNet-V2 (104 parameters) it is both about twice as fast per trial as the
independent TPE (which splits the history once per parameter) and better at
equal trials. Either way TPE's cost per trial grows linearly with the number of
past trials (about 25 ms + 0.08 ms per past trial on MobileNet-V2), so a search
costs O(budget^2): ~1 min for 500 trials, ~11 min for 3,700.

TPE needs a finite value for every trial, and only the *order* of the values
matters to it (it splits the trials into a good and a bad group by rank). So a
feasible design reports its lower-is-better fitness, and an infeasible one
reports ``INFEASIBLE_VALUE * (1 + overshoot)``, with ``overshoot = used / budget - 1``
(``INVALID_OVERSHOOT`` for designs the cost model rejects): worse than any
feasible design, and the further over budget the worse.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import optuna

from confx.costmodel.errors import ConfXError
from confx.envs.problem import Evaluation, Problem
from confx.pipeline.search.base import BestTracker, SearchResult, check_budget
from confx.pipeline.search.random_search import gene_sizes, minimum_indices
from confx.pipeline.search.settings import BOSettings

logger = logging.getLogger(__name__)

INFEASIBLE_VALUE = 1e100
"""Penalty base of an infeasible trial; far above any objective the cost model can produce."""
INVALID_OVERSHOOT = 1e3
"""Overshoot charged to a design the cost model marks invalid (no constraint total exists)."""


def trial_value(problem: Problem, evaluation: Evaluation) -> float:
    """Finite lower-is-better value of one evaluated design for TPE (see the module docstring)."""
    if evaluation.feasible[0]:
        return float(problem.fitness(evaluation)[0])
    overshoot = evaluation.used[0] / problem.budget - 1.0 if evaluation.valid[0] else INVALID_OVERSHOOT
    return INFEASIBLE_VALUE * (1.0 + float(overshoot))


def index_distributions(problem: Problem) -> dict[str, optuna.distributions.IntDistribution]:
    """One integer index parameter per (layer, gene), named ``layer{l}_gene{g}``, in design order."""
    sizes = gene_sizes(problem)
    return {
        f"layer{layer}_gene{gene}": optuna.distributions.IntDistribution(0, int(size) - 1)
        for layer in range(problem.n_layers)
        for gene, size in enumerate(sizes)
    }


def run_trials(problem: Problem, tracker: BestTracker, study: optuna.Study, n_trials: int) -> None:
    """Ask, evaluate and tell ``n_trials`` trials, the first one being the all-minimum design."""
    distributions = index_distributions(problem)
    shape = (problem.n_layers, problem.space.n_genes)
    if n_trials:
        study.enqueue_trial(dict(zip(distributions, minimum_indices(problem).ravel().tolist(), strict=True)))
    for _ in range(n_trials):
        trial = study.ask(distributions)
        params = trial.params  # a deep copy per access: take it once
        indices = np.asarray([params[name] for name in distributions], dtype=np.int64).reshape(shape)
        design = problem.design_from_indices(indices)
        evaluation = problem.evaluate(design)
        tracker.observe(design, evaluation)
        study.tell(trial, trial_value(problem, evaluation))


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
        seed: Seed of the TPE sampler.
        settings: The knobs: random trials before TPE takes over (the release used 10 initial points),
            the multivariate TPE (one joint density instead of one per parameter), candidates drawn per
            parameter to maximise the expected improvement.

    Returns:
        The best feasible design found.

    Raises:
        ConfXError: Negative budget or ``n_startup_trials < 0``.
    """
    budget = check_budget(budget, "bo")
    n_startup_trials, multivariate, n_ei_candidates = (
        settings.n_startup_trials,
        settings.multivariate,
        settings.n_ei_candidates,
    )
    if n_startup_trials < 0 or n_ei_candidates < 1:
        raise ConfXError(
            f"bo: need n_startup_trials >= 0 and n_ei_candidates >= 1, got {n_startup_trials}, {n_ei_candidates}"
        )
    tracker = BestTracker(problem)
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        with warnings.catch_warnings():
            # The multivariate TPE is flagged experimental; the warning would repeat on every search.
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            sampler = optuna.samplers.TPESampler(
                seed=seed, n_startup_trials=n_startup_trials, multivariate=multivariate, n_ei_candidates=n_ei_candidates
            )
            run_trials(problem, tracker, optuna.create_study(direction="minimize", sampler=sampler), budget)
    finally:
        optuna.logging.set_verbosity(verbosity)
    logger.debug("bo ran %d trials, best %s", budget, tracker.best_objective)
    return tracker.result("bo", seed, note=f"TPE, {n_startup_trials} startup trials, multivariate={multivariate}")
