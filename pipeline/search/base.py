"""What every search returns, and the bookkeeping of its best design so far.

Searches are compared at equal budgets of whole-model evaluations, so every
search reports its best-so-far objective against ``model_evaluations`` and
``cost_model_calls`` (the problem's counters), through :class:`BestTracker`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from confx.costmodel.errors import ConfXError
from confx.envs.problem import Evaluation, Problem

Progress = Callable[[dict[str, object]], None]
"""Receives progress events: ``message`` (one human-readable line), ``stage``, ``best_objective``,
``model_evaluations`` and ``cost_model_calls``."""


def check_budget(budget: int, algorithm: str) -> int:
    """Validate a whole-model-evaluation budget.

    Raises:
        ConfXError: The budget is not a non-negative integer.
    """
    if isinstance(budget, int | np.integer) and not isinstance(budget, bool) and budget >= 0:
        return int(budget)
    raise ConfXError(f"{algorithm}: budget must be a whole number of model evaluations >= 0, got {budget!r}")


@dataclass
class SearchResult:
    """Outcome of one search on one problem.

    Attributes:
        algorithm: Name of the search (``exact``, ``random``, ...).
        seed: The seed it ran with.
        design: Best feasible design, shape (n_layers, n_genes), or None if none was found.
        objective_value: Whole-model objective of ``design`` (NaN if none).
        constraint_used: Summed constraint of ``design`` (NaN if none).
        feasible: Whether a feasible design was found.
        optimal: True only when the search certifies optimality.
        curve: Rows ``(model_evaluations, cost_model_calls, best_objective)``.
        wall_time_s: Wall-clock time of the search.
        note: Anything a reader must know (e.g. why optimality is not certified).
    """

    algorithm: str
    seed: int
    design: NDArray[np.int64] | None
    objective_value: float
    constraint_used: float
    feasible: bool
    optimal: bool
    curve: list[tuple[int, int, float]]
    wall_time_s: float
    note: str = ""


class BestTracker:
    """Keep the best feasible design seen and the best-so-far curve.

    Call :meth:`observe` after every ``problem.evaluate`` call with the same designs.
    """

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        self.start = time.perf_counter()
        self.best_fitness = np.inf
        self.best_design: NDArray[np.int64] | None = None
        self.best_objective = float("nan")
        self.best_used = float("nan")
        self.curve: list[tuple[int, int, float]] = []

    def observe(self, designs: NDArray[np.int64], evaluation: Evaluation) -> None:
        """Record a batch of evaluated designs (N, n_layers, n_genes) or one design."""
        designs = np.asarray(designs)
        if designs.ndim == 2:
            designs = designs[None]
        fitness = self.problem.fitness(evaluation)
        first_count = self.problem.model_evaluations - len(fitness)
        running = np.minimum.accumulate(np.minimum(fitness, self.best_fitness))
        improved = np.flatnonzero(running < np.concatenate([[self.best_fitness], running[:-1]]))
        for i in improved:
            self.curve.append((first_count + int(i) + 1, self.problem.cost_model_calls, float(evaluation.objective[i])))
        if len(improved):
            best = improved[-1]
            self.best_fitness = float(fitness[best])
            self.best_design = designs[best].copy()
            self.best_objective = float(evaluation.objective[best])
            self.best_used = float(evaluation.used[best])

    def adopt(self, design: NDArray[np.int64], evaluation: Evaluation) -> None:
        """Take a design found by an earlier stage as the best so far (no curve point, no counting)."""
        if evaluation.feasible[0] and self.problem.fitness(evaluation)[0] < self.best_fitness:
            self.best_fitness = float(self.problem.fitness(evaluation)[0])
            self.best_design = np.asarray(design).copy()
            self.best_objective = float(evaluation.objective[0])
            self.best_used = float(evaluation.used[0])

    def result(self, algorithm: str, seed: int, *, optimal: bool = False, note: str = "") -> SearchResult:
        """Close the curve at the final counters and return the search's result."""
        final = (self.problem.model_evaluations, self.problem.cost_model_calls, self.best_objective)
        if not self.curve or self.curve[-1][:2] != final[:2]:
            self.curve.append(final)
        return SearchResult(
            algorithm=algorithm,
            seed=seed,
            design=self.best_design,
            objective_value=self.best_objective,
            constraint_used=self.best_used,
            feasible=self.best_design is not None,
            optimal=optimal,
            curve=self.curve,
            wall_time_s=time.perf_counter() - self.start,
            note=note,
        )
