"""Searches over a :class:`confx.envs.problem.Problem`: exact optimum, baselines, ConfuciuX.

Every search is a function of the problem, a seed, its settings dataclass (see
:mod:`confx.pipeline.search.settings`) and its budget: whole-model evaluations for the
baselines, the release's epochs for the RL searches, nothing for the exact solver. Modules
are imported on demand, so that a baseline never pays for torch or RLlib.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

from confx.costmodel.errors import ConfXError
from confx.envs.problem import Problem
from confx.pipeline.search.base import Progress, SearchResult
from confx.pipeline.search.settings import (
    ALGORITHMS,
    DEFAULT_BUDGET,
    DEFAULT_EPOCHS,
    RL_ALGORITHMS,
    algorithm_spec,
    make_settings,
)


def get_search(algorithm: str) -> Callable[..., SearchResult]:
    """Return the search function of an algorithm.

    Raises:
        ConfXError: Unknown algorithm name.
    """
    module, _, function = algorithm_spec(algorithm).target.partition(":")
    search: Callable[..., SearchResult] = getattr(importlib.import_module(module), function)
    return search


def run_search(
    problem: Problem,
    algorithm: str,
    *,
    seed: int,
    budget: int = DEFAULT_BUDGET,
    epochs: int = DEFAULT_EPOCHS,
    settings: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
) -> SearchResult:
    """Run one search on a problem.

    Args:
        problem: The problem (its counters record the search's cost).
        algorithm: A name of :data:`ALGORITHMS`.
        seed: Seed of the search's random generator.
        budget: Whole-model evaluations (baselines only).
        epochs: The release's epochs E (RL searches only).
        settings: The algorithm's settings by name (defaults for the rest).
        progress: Receives progress events (RL searches only).

    Raises:
        ConfXError: Unknown algorithm or setting, a mistyped setting, a budget below 1.
    """
    spec = algorithm_spec(algorithm)
    knobs = make_settings(algorithm, settings)
    search = get_search(algorithm)
    if spec.budget_unit == "evaluations":
        if budget < 1:
            raise ConfXError(f"{algorithm}: budget must be at least 1 whole-model evaluation, got {budget}")
        return search(problem, budget=budget, seed=seed, settings=knobs)
    if spec.budget_unit == "epochs":
        if epochs < 3:
            raise ConfXError(f"{algorithm}: epochs must be at least 3, got {epochs}")
        return search(problem, epochs=epochs, seed=seed, settings=knobs, progress=progress)
    return search(problem, seed=seed, settings=knobs)


__all__ = ["ALGORITHMS", "DEFAULT_BUDGET", "DEFAULT_EPOCHS", "RL_ALGORITHMS", "get_search", "run_search"]
