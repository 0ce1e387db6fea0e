"""Searches over a :class:`envs.problem.Problem`: exact optimum, baselines, ConfuciuX.

Every search is a function ``search(problem, *, budget, seed, **settings) ->
SearchResult``, where ``budget`` counts whole-model evaluations. Modules are
imported on demand, so that a baseline never pays for torch or RLlib.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable

from confx.costmodel.errors import ConfXError
from confx.envs.problem import Problem
from confx.pipeline.search.base import SearchResult

ALGORITHMS: dict[str, str] = {
    "exact": "confx.pipeline.search.exact",
    "random": "confx.pipeline.search.random_search",
    "anneal": "confx.pipeline.search.anneal",
    "ga": "confx.pipeline.search.genetic",
    "bo": "confx.pipeline.search.bayes",
    "confuciux": "confx.pipeline.search.confuciux:search",
    "reinforce": "confx.pipeline.search.confuciux:search_reinforce",
    "ppo": "confx.pipeline.search.ppo",
}
"""Algorithm name -> ``module`` defining ``search``, or ``module:function``."""

RL_ALGORITHMS = frozenset({"confuciux", "reinforce", "ppo"})
"""Searches whose budget is ``epochs`` (RL episodes / GA generations), not whole-model evaluations."""


def get_search(algorithm: str) -> Callable[..., SearchResult]:
    """Return the ``search`` function of an algorithm.

    Raises:
        ConfXError: Unknown algorithm name.
    """
    if algorithm not in ALGORITHMS:
        raise ConfXError(f"unknown algorithm {algorithm!r}; use one of {', '.join(ALGORITHMS)}")
    module, _, function = ALGORITHMS[algorithm].partition(":")
    return getattr(importlib.import_module(module), function or "search")


def run_search(problem: Problem, algorithm: str, *, budget: int, seed: int, **settings: object) -> SearchResult:
    """Run one search on a problem with a budget of whole-model evaluations and a seed."""
    if budget < 1 and algorithm != "exact" and algorithm not in RL_ALGORITHMS:
        raise ConfXError(f"budget must be at least 1 whole-model evaluation, got {budget}")
    search = get_search(algorithm)
    parameters = inspect.signature(search).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        known = [name for name in parameters if name not in ("problem", "budget", "seed")]
        unknown = sorted(set(settings) - set(known))
        if unknown:
            raise ConfXError(f"{algorithm}: unknown setting(s) {unknown}; known: {known}")
    return search(problem, budget=budget, seed=seed, **settings)
